"""A composite data set: several registered data sets in one clip table, classes filtered.

:func:`load` calls each data set's registered loader on its root, concatenates the tables
(same columns; subjects are unique across data sets, ``"casme2/sub01"`` vs ``"samm/006"``) and
keeps the rows whose ``objective_class`` is in ``classes``. The MEGC 2018 composite
(:mod:`merkit.data.megc2018`) is this over CASME II and SAMM.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from merkit.data._common import ApexRule, OnMissing
from merkit.data.registry import get_dataset
from merkit.facs import MEGC_CLASSES, OBJECTIVE_CLASSES

#: Per-loader attrs that the composite gathers across data sets instead of nesting.
_GATHERED = ("skipped", "unused_objective_rows")


def check_classes(classes: Iterable[int]) -> tuple[int, ...]:
    """``classes`` as a sorted tuple; it must be a non-empty subset of 1..7."""
    wanted = tuple(sorted({int(c) for c in classes}))
    if not wanted or not set(wanted) <= set(OBJECTIVE_CLASSES):
        raise ValueError(f"classes must be a non-empty subset of 1..7, not {classes!r}")
    return wanted


def load(
    roots: Mapping[str, str | os.PathLike[str]],
    classes: Iterable[int] | None = MEGC_CLASSES,
    *,
    on_missing: OnMissing = "error",
    apex_rule: ApexRule = "middle",
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Registered data sets -> one DataFrame (columns ``merkit.data.COLUMNS``), classes filtered.

    ``roots``: data set name -> its root (every name registered, see
    :mod:`merkit.data.registry`); the loaders run in this order. ``classes``: the objective
    classes kept (default I–V, the MEGC 2018 set; :data:`merkit.facs.OBJECTIVE_CLASSES` keeps
    every coded clip; ``None`` keeps every clip, those of a data set without AU codes too, as the
    MEGC 2019 composite needs). ``on_missing`` / ``apex_rule`` go to every loader; ``options`` adds keyword
    arguments per data set (``{"casme2": {"variant": "cropped"}}``).

    Rows are sorted by dataset, subject, clip. ``df.attrs``: ``"classes"``; ``"skipped"`` (every
    loader's skipped clips, one list); ``"unused_objective_rows"`` (likewise, where a loader
    reports them); ``"excluded_by_class"`` (``{dataset: {class: count}}`` of the clips the
    filter removed, so nothing disappears unaccounted); and one key per data set holding that
    loader's own attrs (files, sheet, header row, frame root, ...).
    """
    if not roots:
        raise ValueError("a composite needs at least one data set root")
    wanted = None if classes is None else check_classes(classes)
    options = dict(options or {})
    unknown = set(options) - set(roots)
    if unknown:
        raise ValueError(f"options for data sets without a root: {sorted(unknown)}")
    parts: dict[str, pd.DataFrame] = {}
    for name, root in roots.items():
        entry = get_dataset(name)
        part = entry.load_function()(root, on_missing=on_missing, apex_rule=apex_rule,
                                     **dict(options.get(name, {})))
        _check_part(entry.label, name, part)
        parts[name] = part

    attrs: dict[str, Any] = {
        "classes": None if wanted is None else list(wanted),
        "skipped": [s for part in parts.values() for s in part.attrs.get("skipped", [])],
        "unused_objective_rows": [
            r for part in parts.values() for r in part.attrs.get("unused_objective_rows", [])
        ],
        "excluded_by_class": {},
    }
    for name, part in parts.items():
        attrs[name] = {k: v for k, v in part.attrs.items() if k not in _GATHERED}
        kept = part["objective_class"].isin(wanted) if wanted is not None else pd.Series(True, index=part.index)
        dropped = part.loc[~kept, "objective_class"]
        attrs["excluded_by_class"][name] = {
            str(k): int(v) for k, v in sorted(Counter(dropped.tolist()).items())
        }
    df = pd.concat(list(parts.values()), ignore_index=True)
    if wanted is not None:
        df = df[df["objective_class"].isin(wanted)]
    df = df.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)
    df.attrs = attrs
    return df


def _check_part(label: str, name: str, part: pd.DataFrame) -> None:
    """A loader's table must carry its registered name in ``dataset`` and as subject prefix
    (which keeps subjects unique across data sets, so no fold can leak an identity)."""
    other = set(part["dataset"]) - {name}
    if other:
        raise ValueError(f"the {label} loader returned rows of {sorted(other)}, not {name!r}")
    bad = [s for s in part["subject"] if not str(s).startswith(f"{name}/")]
    if bad:
        raise ValueError(f"the {label} loader returned subjects not starting {name}/: {bad[:3]}")

