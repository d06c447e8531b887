"""The MEGC 2019 composite data set: SMIC-HS + CASME II + SAMM, three emotion classes.

The benchmark of the MEGC 2019 challenge (See et al., 2019): 442 clips of 68 subjects with the
emotion classes ``negative``, ``positive`` and ``surprise`` (column ``emotion_class``), mapped
from each data set's own labels (:data:`EMOTION_MAP`):

=========  ==========================================================  ========  ========
data set   negative                                                    positive  surprise
=========  ==========================================================  ========  ========
SMIC-HS    the ``negative`` folder                                     positive  surprise
CASME II   disgust, repression                                         happiness surprise
SAMM       anger, contempt, disgust, fear, sadness                     happiness surprise
=========  ==========================================================  ========  ========

Clips of any other emotion (CASME II ``others``, ``fear``, ``sadness``; SAMM ``other``) are
not in the composite; they are counted in ``df.attrs["excluded_by_emotion"]``, never dropped
unaccounted. The result is checked against the published composition (:data:`PUBLISHED`:
SMIC 70 / 51 / 43, CASME II 88 / 32 / 25, SAMM 92 / 26 / 15 clips; 16, 24 and 28 subjects).
A difference is reported cell by cell with the clips of that cell (``counts="warn"``, the
default, warns and stores the report in ``df.attrs["count_mismatches"]``; ``"error"`` raises).
The embedded synthetic set is not built to these counts, so its load reports them too.

Subjects are unique across data sets (``"smic/s1"``, ``"casme2/sub01"``, ``"samm/006"``), so
the 68-fold leave-one-subject-out protocol never puts one person on both sides.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd

from merkit.data import composite
from merkit.data._common import AnnotationError, ApexRule, DataWarning, OnMissing
from merkit.data.casme2 import Variant

#: The data sets of the MEGC 2019 composite, in loading order.
DATASETS: tuple[str, ...] = ("smic", "casme2", "samm")
#: The three classes, in label order (label ``i`` is ``EMOTION_CLASSES[i]``).
EMOTION_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")

#: data set -> its emotion label (lower case, as the loaders give it) -> the composite's class
EMOTION_MAP: Mapping[str, Mapping[str, str]] = {
    "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    "casme2": {"disgust": "negative", "repression": "negative", "happiness": "positive",
               "surprise": "surprise"},
    "samm": {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
             "sadness": "negative", "happiness": "positive", "surprise": "surprise"},
}

#: The published composition (MEGC 2019): data set -> (clips per class, subjects).
PUBLISHED: Mapping[str, tuple[Mapping[str, int], int]] = {
    "smic": ({"negative": 70, "positive": 51, "surprise": 43}, 16),
    "casme2": ({"negative": 88, "positive": 32, "surprise": 25}, 24),
    "samm": ({"negative": 92, "positive": 26, "surprise": 15}, 28),
}

Counts = Literal["warn", "error"]


class CompositionError(AnnotationError):
    """The composite's clips per class or subjects differ from the published composition."""


def emotion_classes(df: pd.DataFrame) -> pd.Series:
    """The composite class of every row of a loaders' table (``None`` where it has none)."""
    def one(dataset: str, emotion: str) -> str | None:
        return EMOTION_MAP.get(dataset, {}).get(str(emotion).strip().lower())

    return pd.Series([one(d, e) for d, e in zip(df["dataset"], df["emotion"], strict=True)], index=df.index,
                     dtype=object)


def composition_report(df: pd.DataFrame, published: Mapping[str, tuple[Mapping[str, int], int]] = PUBLISHED
                       ) -> list[dict[str, Any]]:
    """Every cell (data set, class, or its subjects) where ``df`` differs from ``published``:
    ``{"dataset", "cell", "published", "found", "clips"}`` with the clips of that cell."""
    out = []
    for name, (per_class, subjects) in published.items():
        part = df[df["dataset"] == name]
        for cls, expected in per_class.items():
            rows = part[part["emotion_class"] == cls]
            if len(rows) != expected:
                out.append({"dataset": name, "cell": cls, "published": expected, "found": len(rows),
                            "clips": [f"{s}/{c}" for s, c in zip(rows["subject"], rows["clip"], strict=True)]})
        found = part["subject"].nunique()
        if found != subjects:
            out.append({"dataset": name, "cell": "subjects", "published": subjects, "found": found,
                        "clips": sorted(part["subject"].unique().tolist())})
    return out


def _describe(report: list[dict[str, Any]], shown: int = 8) -> str:
    lines = ["the MEGC 2019 composite differs from the published composition:"]
    for r in report:
        what = "subjects" if r["cell"] == "subjects" else f"{r['cell']} clips"
        listed = ", ".join(r["clips"][:shown]) + (f", ... ({len(r['clips'])} in all)" if len(r["clips"]) > shown else "")
        lines.append(f"  {r['dataset']} {what}: published {r['published']}, found {r['found']}: {listed or '(none)'}")
    lines.append("Check the copies and the emotion labels (merkit.data.megc2019.EMOTION_MAP); every clip of a "
                 "differing cell is in df.attrs['count_mismatches'].")
    return "\n".join(lines)


def load(
    casme2_root: str | os.PathLike[str],
    samm_root: str | os.PathLike[str],
    smic_root: str | os.PathLike[str],
    *,
    casme2_variant: Variant = "raw",
    on_missing: OnMissing = "error",
    apex_rule: ApexRule = "middle",
    counts: Counts = "warn",
    smic_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """SMIC-HS + CASME II + SAMM -> one DataFrame: the loaders' columns (``merkit.data.COLUMNS``)
    plus ``emotion_class`` (``"negative"`` | ``"positive"`` | ``"surprise"``), rows sorted by
    dataset, subject, clip.

    ``counts``: a composition different from :data:`PUBLISHED` warns (:class:`DataWarning`,
    ``"warn"``) or raises :class:`CompositionError` (``"error"``), naming each differing cell
    and its clips. ``smic_options``: more arguments of :func:`merkit.data.smic.load`
    (``apex_table``, ``on_unknown``).

    ``df.attrs``: the composite's (``"skipped"``, one key per data set with its loader's
    attrs), ``"excluded_by_emotion"`` (``{dataset: {emotion: count}}`` of the clips outside
    the three classes), ``"count_mismatches"`` (:func:`composition_report`; empty when the
    composition is the published one) and ``"emotion_classes"``.
    """
    if counts not in ("warn", "error"):
        raise ValueError(f"counts must be 'warn' or 'error', not {counts!r}")
    df = composite.load({"smic": smic_root, "casme2": casme2_root, "samm": samm_root}, None,
                        on_missing=on_missing, apex_rule=apex_rule,
                        options={"casme2": {"variant": casme2_variant}, "smic": dict(smic_options or {})})
    attrs = {k: v for k, v in df.attrs.items() if k not in ("classes", "excluded_by_class")}
    classes = emotion_classes(df)
    outside = df[classes.isna()]
    attrs["excluded_by_emotion"] = {
        name: {str(e): int(n) for e, n in sorted(outside.loc[outside["dataset"] == name, "emotion"].value_counts().items())}
        for name in DATASETS}
    df = df[classes.notna()].assign(emotion_class=classes[classes.notna()]).reset_index(drop=True)
    report = composition_report(df)
    attrs |= {"count_mismatches": report, "emotion_classes": list(EMOTION_CLASSES)}
    df.attrs = attrs
    if report:
        if counts == "error":
            raise CompositionError(_describe(report))
        warnings.warn(_describe(report), DataWarning, stacklevel=2)
    return df


def labels(df: pd.DataFrame) -> pd.Series:
    """``emotion_class`` as the integer labels 0, 1, 2 (:data:`EMOTION_CLASSES` order)."""
    return df["emotion_class"].map({c: i for i, c in enumerate(EMOTION_CLASSES)}).astype("int64")
