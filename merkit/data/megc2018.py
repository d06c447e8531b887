"""The MEGC 2018 composite data set: CASME II + SAMM, objective classes I–V.

MER-auGCN Table II: 185 CASME II clips of 26 subjects and 68 SAMM clips of 21 subjects, 253
clips of 47 subjects, labelled with the objective classes I–V (Davison et al., 2018). This is
the generic composite (:func:`merkit.data.composite.load`) over the registered ``"casme2"``
and ``"samm"`` data sets, keeping the rows whose ``objective_class`` is in ``classes``.
"""

from __future__ import annotations

import os

import pandas as pd

from merkit.data import composite
from merkit.data._common import ApexRule, OnMissing
from merkit.data.casme2 import Variant
from merkit.facs import MEGC_CLASSES

#: The data sets of the MEGC 2018 composite, in loading order.
DATASETS: tuple[str, ...] = ("casme2", "samm")


def load(
    casme2_root: str | os.PathLike[str],
    samm_root: str | os.PathLike[str],
    classes: tuple[int, ...] = MEGC_CLASSES,
    *,
    casme2_variant: Variant = "raw",
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
    ``"unused_objective_rows"`` (from CASME II). See :func:`merkit.data.composite.load`.
    """
    return composite.load(
        {"casme2": casme2_root, "samm": samm_root},
        classes,
        on_missing=on_missing,
        apex_rule=apex_rule,
        options={"casme2": {"variant": casme2_variant}},
    )
