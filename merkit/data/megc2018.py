"""The MEGC 2018 composite data set: CASME II + SAMM, objective classes I–V.

MER-auGCN Table II: 185 CASME II clips of 26 subjects and 68 SAMM clips of 21 subjects, 253
clips of 47 subjects, labelled with the objective classes I–V (Davison et al., 2018). This
module concatenates :func:`merkit.data.casme2.load` and :func:`merkit.data.samm.load` (same
columns, subjects already unique across datasets: ``"casme2/sub01"`` vs ``"samm/006"``) and
keeps the rows whose ``objective_class`` is in ``classes``.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pandas as pd

from merkit.data import casme2, samm
from merkit.data._common import ApexRule, OnMissing

#: The objective classes of MEGC 2018 (I–V).
MEGC2018_CLASSES: tuple[int, ...] = (1, 2, 3, 4, 5)


def load(
    casme2_root: str | os.PathLike[str],
    samm_root: str | os.PathLike[str],
    classes: tuple[int, ...] = MEGC2018_CLASSES,
    *,
    casme2_variant: casme2.Variant = "raw",
    on_missing: OnMissing = "error",
    apex_rule: ApexRule = "middle",
) -> pd.DataFrame:
    """CASME II + SAMM -> one DataFrame (columns ``merkit.data.COLUMNS``), classes filtered.

    ``classes``: the objective classes kept (default I–V, the MEGC 2018 set; pass
    ``(1, ..., 7)`` to keep every clip, e.g. for the AU detection task). The other arguments
    go to both loaders (``casme2_variant`` to CASME II only).

    ``df.attrs``: ``"classes"``; ``"skipped"`` (both loaders' skipped clips, one list);
    ``"excluded_by_class"`` (``{dataset: {class: count}}`` of the clips the filter removed, so
    nothing disappears unaccounted); ``"casme2"`` / ``"samm"`` (each loader's
    own attrs: files, sheet, header row, variant, frame root);
    ``"unused_objective_rows"`` (from CASME II).
    """
    wanted = tuple(sorted({int(c) for c in classes}))
    if not wanted or not all(1 <= c <= 7 for c in wanted):
        raise ValueError(f"classes must be a non-empty subset of 1..7, not {classes!r}")
    parts = [
        casme2.load(casme2_root, variant=casme2_variant, on_missing=on_missing, apex_rule=apex_rule),
        samm.load(samm_root, on_missing=on_missing, apex_rule=apex_rule),
    ]
    attrs: dict[str, Any] = {
        "classes": list(wanted),
        "skipped": [s for part in parts for s in part.attrs.get("skipped", [])],
        "unused_objective_rows": list(parts[0].attrs.get("unused_objective_rows", [])),
        "excluded_by_class": {},
    }
    for part in parts:
        name = part.attrs["dataset"]
        attrs[name] = {
            k: v for k, v in part.attrs.items() if k not in ("skipped", "unused_objective_rows")
        }
        dropped = part.loc[~part["objective_class"].isin(wanted), "objective_class"]
        attrs["excluded_by_class"][name] = {
            str(k): int(v) for k, v in sorted(Counter(dropped.tolist()).items())
        }
    df = pd.concat(parts, ignore_index=True)
    df = df[df["objective_class"].isin(wanted)]
    df = df.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)
    df.attrs = attrs
    return df
