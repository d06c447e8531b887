"""The MEGC 2019 composite (notebook 12): five methods on SMIC-HS + CASME II + SAMM, 3 classes.

Neither paper reports this benchmark; it is the one MER work since 2019 compares on. The clips
are :func:`merkit.data.megc2019.load`'s (442 clips of 68 subjects on the licensed sets; the
embedded synthetic set is generated to the same composition), labelled ``emotion_label``
1 = negative, 2 = positive, 3 = surprise (:data:`CLASSES`, :data:`CLASS_NAMES`).

Rows (:data:`METHODS`): MER-auGCN (the full model with a 3-class head), its Dual-Inception
backbone, RRRN, the ResNet18 flow baseline and LBP-TOP + linear SVM, each with the recipe of
its own table (:mod:`augcn`, :mod:`rrrn`, :mod:`handcrafted`) and the composite's protocol
(``profile.megc2019.protocol``): leave-one-subject-out, 68 folds, in the paper profile.
MER-auGCN's AU-detection loss is masked for clips without AU codes (SMIC is not FACS coded:
:class:`merkit.losses.JointObjective`); its classification loss uses every clip.

Metrics (the MEGC 2019 definition, :func:`merkit.metrics.uf1_uar_by_group`): predictions of
all folds pooled, then UF1 = the mean over the three classes of per-class F1 from the pooled
TP / FP / FN, UAR = the mean of per-class recalls; for the composite and for each data set
(its clips' pooled predictions). Every cell carries a subject-clustered bootstrap interval and
every row its paired difference to MER-auGCN. Epochs are fixed by the profile: the model after
the last epoch is scored, never a selection on a test subject.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from merkit import experiments
from merkit.config import Profile
from merkit.data import DataSource, megc2019
from merkit.data._common import DataWarning
from merkit.experiments import RunResult
from merkit.reproduce import augcn, handcrafted, rrrn, tables
from merkit.reproduce.tables import DeepRecipe, SVMRecipe, Workspace

#: the composite's labels (``emotion_label``) and their names
CLASSES: tuple[int, ...] = tuple(range(1, len(megc2019.EMOTION_CLASSES) + 1))
CLASS_NAMES: tuple[str, ...] = megc2019.EMOTION_CLASSES
#: every row this module knows, in display order
METHODS: tuple[str, ...] = ("mer_augcn", "dual_inception", "rrrn", "resnet18", "lbp_top")
#: the row every other row's paired difference is taken to
REFERENCE = "mer_augcn"
#: the MEGC 2019 metrics (UF1 is the pooled macro F1, ``"f1"``), then WAR for reference
METRICS: tuple[str, ...] = ("f1", "uar", "war")
#: the scopes of the table: the composite, then each data set
SCOPES: tuple[str, ...] = ("composite", *megc2019.DATASETS)


def workspace(src: DataSource) -> Workspace:
    """The composite's clips (:func:`merkit.data.megc2019.load`) labelled 1..3.

    A composition different from the published one is not dropped: it is in
    ``ws.df.attrs["count_mismatches"]`` and :func:`composition` shows it cell by cell."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # shown by composition(), cell by cell
        df = megc2019.load(src.root("casme2"), src.root("samm"), src.root("smic"), counts="warn")
    attrs = dict(df.attrs)
    df = df.assign(emotion_label=megc2019.labels(df) + 1)
    df.attrs = attrs | {"source": src.label, "synthetic": src.is_synthetic}
    return Workspace(src, df, classes=CLASSES, label_column="emotion_label", class_names=CLASS_NAMES)


def composition(ws: Workspace) -> pd.DataFrame:
    """Clips per data set and class, and subjects, beside the published composition:
    columns dataset, cell, ours, published, matches."""
    rows = []
    for name, (per_class, n_subjects) in megc2019.PUBLISHED.items():
        part = ws.df[ws.df["dataset"] == name]
        for cls, expected in per_class.items():
            rows.append({"dataset": name, "cell": cls, "ours": int((part["emotion_class"] == cls).sum()),
                         "published": expected})
        rows.append({"dataset": name, "cell": "subjects", "ours": int(part["subject"].nunique()),
                     "published": n_subjects})
    out = pd.DataFrame(rows)
    out["matches"] = out["ours"] == out["published"]
    return out


def recipe(profile: Profile, method: str) -> DeepRecipe | SVMRecipe:
    """One row's recipe: its own table's (MER-auGCN / RRRN / handcrafted) with a 3-class head,
    the composite's protocol and seeds (``profile.megc2019``)."""
    sec = profile.megc2019
    common: dict[str, Any] = {"protocol": sec.protocol, "seeds": sec.seeds or profile.seeds}
    if method == "lbp_top":
        return dataclasses.replace(handcrafted.recipe(profile, method), **common)
    if method in ("mer_augcn", "dual_inception"):
        base = augcn.recipe(profile, method)
    elif method in ("rrrn", "resnet18"):
        base = rrrn.recipe(profile, method)
    else:
        raise ValueError(f"unknown MEGC 2019 row {method!r}; choose from {METHODS}")
    config = dataclasses.replace(base.config, num_classes=len(CLASSES))
    if sec.augment is not None:
        common["augment"] = sec.augment
    return dataclasses.replace(base, config=config, **common)


def starting_weights(profile: Profile) -> pd.DataFrame:
    """What each deep row starts from (random unless the profile names a weights file)."""
    deep = [r for r in (recipe(profile, m) for m in profile.megc2019.methods) if isinstance(r, DeepRecipe)]
    return tables.starting_weights(deep)


def run(ws: Workspace, profile: Profile, *, progress: bool = True) -> dict[str, list[RunResult]]:
    """Every row's runs on the composite (cached, resumable; the profile's executor)."""
    out: dict[str, list[RunResult]] = {}
    for method in profile.megc2019.methods:
        r = recipe(profile, method)
        if isinstance(r, SVMRecipe):
            out[method] = handcrafted.run_descriptor(ws, r, "cde", progress=progress)
        else:
            out[method] = tables.run_recipe(ws, r, "cde", progress=progress)
    return out


def restrict(results: Sequence[RunResult], keep: np.ndarray) -> list[RunResult]:
    """The runs with only their test clips where ``keep`` (a mask over the clip table) holds;
    a run left with no test clip is dropped."""
    out = []
    for r in results:
        sel = np.asarray(keep, dtype=bool)[np.asarray(r.test, dtype=np.int64)]
        if not sel.any():
            continue
        extras = {k: np.asarray(v)[sel] for k, v in r.extras.items()}
        out.append(dataclasses.replace(r, test=np.asarray(r.test)[sel], y_true=np.asarray(r.y_true)[sel],
                                       y_pred=np.asarray(r.y_pred)[sel], scores=np.asarray(r.scores)[sel],
                                       extras=extras))
    return out


def composite_table(ws: Workspace, results: dict[str, list[RunResult]], profile: Profile) -> pd.DataFrame:
    """Long table: method, label, dataset (``"composite"`` or a data set), fold (``"pooled"``),
    metric (``f1`` = UF1, ``uar``, ``war``), ours (mean over seeds), std, ci_low, ci_high, se,
    n_seeds, and the paired difference to MER-auGCN on the same resampled subjects (diff,
    diff_low, diff_high, diff_se, mde, significant)."""
    groups, boot = tables.subjects(ws), profile.bootstrap
    parts = []
    for scope in SCOPES:
        keep = np.ones(len(ws.df), bool) if scope == "composite" else (ws.df["dataset"] == scope).to_numpy()
        sub = {m: restrict(rs, keep) for m, rs in results.items()}
        sub = {m: rs for m, rs in sub.items() if rs}
        if not sub:
            continue
        summary = experiments.summarize([r for rs in sub.values() for r in rs], ws.classes, by=("method",),
                                        groups=groups, bootstrap=boot)
        summary = summary[summary["metric"].isin(METRICS)].rename(columns={"mean": "ours"})
        summary["fold"] = "pooled"
        table = summary[["method", "fold", "metric", "ours", "std", *tables.INTERVAL_COLUMNS, "n_seeds"]]
        if REFERENCE in sub:
            diffs = tables.paired_differences(sub, REFERENCE, groups, metrics=METRICS, per_fold=False,
                                              fold_label="pooled", bootstrap=boot, labels=ws.classes)
            table = tables.with_differences(table, diffs)
        parts.append(table.assign(dataset=scope))
    out = pd.concat(parts, ignore_index=True)
    labels = {m: recipe(profile, m).label or tables.method_label(m) for m in results}
    out["label"] = out["method"].map(labels)
    rank = {m: i for i, m in enumerate(METHODS)}
    metric_rank = {m: i for i, m in enumerate(METRICS)}
    out = out.sort_values(by=["dataset", "method", "metric"], key=lambda c: c.map(
        {"dataset": {s: i for i, s in enumerate(SCOPES)}, "method": rank, "metric": metric_rank}[c.name]),
        kind="stable")
    first = ["method", "label", "dataset", "fold", "metric", "ours", "std", *tables.INTERVAL_COLUMNS, "n_seeds"]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)


def view(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Wide display: rows = methods, columns = (scope, UF1 / UAR), cells ``0.512 [0.44, 0.58]``."""
    sub = table[table["metric"].isin(("f1", "uar"))]
    cells = [f"{o:.{digits}f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{o:.{digits}f}"
             for o, lo, hi in zip(sub["ours"], sub["ci_low"], sub["ci_high"], strict=True)]
    names = {"f1": "UF1", "uar": "UAR"}
    scope = {"composite": "Composite", "smic": "SMIC-HS", "casme2": "CASME II", "samm": "SAMM"}
    sub = sub.assign(cell=cells, scope=sub["dataset"].map(scope), name=sub["metric"].map(names))
    wide = sub.pivot_table(index="label", columns=["scope", "name"], values="cell", aggfunc="first", sort=False)
    wide.columns.names = [None, None]
    wide.index.name = None
    return wide


def confusions(ws: Workspace, results: dict[str, list[RunResult]]) -> dict[str, np.ndarray]:
    """Pooled 3 x 3 confusion matrix of each row on the composite (all folds and seeds)."""
    return tables.confusions(results, classes=ws.classes)


def fold_summary(ws: Workspace, profile: Profile) -> str:
    """One line: how the composite is split (LOSO or grouped folds) and scored."""
    fold_list = tables.folds(ws, "cde", profile.megc2019.protocol)
    n_subjects = ws.df["subject"].nunique()
    how = ("leave-one-subject-out" if len(fold_list) == n_subjects
           else f"{len(fold_list)} subject-grouped folds (reduced from {n_subjects}-fold LOSO)")
    return (f"{len(ws.df)} clips of {n_subjects} subjects; {how}; no subject is on both sides of a fold; "
            "UF1 and UAR from the predictions pooled over all folds")
