"""MER-auGCN Tables III–VII: the rows, each a recipe; the engine is :mod:`merkit.reproduce.tables`.

Rows are the paper's method keys (as in :mod:`merkit.paper`), each mapped to a model variant
(:func:`merkit.models.mer_augcn.table_variants`) and whether training clips are augmented.
Ablations (Tables III–V) run on the SAMM->CASME II fold, as in the paper; Table VI on both HDE
folds and the CDE protocol; Table VII on the AU-task clip set. A row shared by several tables
(``mer_augcn`` on SAMM->CASME II) is one cached run.

Metrics follow the paper: per HDE fold, and their average; CDE pooled over all its folds
(the MEGC 2018 convention); every value is the mean (± std) over the profile's seeds. Epochs
are fixed by the profile; the model after the last epoch is evaluated (no selection on a test
fold or subject).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from merkit import experiments, paper, protocols
from merkit.config import Profile
from merkit.data import DataSource
from merkit.experiments import RunResult
from merkit.facs import TABLE_VII_AUS
from merkit.losses import CrossEntropyObjective, JointObjective
from merkit.metrics import au_f1
from merkit.models import variant
from merkit.reproduce import tables
from merkit.reproduce.tables import (
    CLASS_NAMES,
    DeepRecipe,
    Workspace,
    confusion,
    confusions,
    curves,
    literature_rows,
    ordered,
    score,
    with_column_key,
)

__all__ = [
    "ABLATIONS",
    "CLASS_NAMES",
    "METHODS",
    "ablation_table",
    "au_table",
    "au_task_counts",
    "au_truth_table",
    "confusion",
    "confusions",
    "curves",
    "hde_cde_rows",
    "literature_rows",
    "recipe",
    "run_method",
    "true_au_targets",
    "with_column_key",
    "workspace",
]

#: method key -> (model variant, augmentation of training clips)
METHODS: dict[str, tuple[str, bool]] = {
    "resnet18": ("resnet18", True),
    "dual_inception": ("dual_inception", True),
    "aufeat": ("aufeat", True),
    "relfeat": ("relfeat", True),
    "confeat": ("confeat", True),
    "mer_augcn_no_da": ("mer_augcn", False),
    "mer_augcn": ("mer_augcn", True),
    "softmax_att": ("softmax_att", True),
    "focal_loss": ("focal_loss", True),
    "bal_loss_inverse": ("bal_loss_inverse", True),  # ours, not in the paper
    "dense_graph": ("dense_graph", True),
    "original_graph": ("original_graph", True),
}

#: notebook table -> (published table id, rows in the paper's order)
ABLATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "table3": ("augcn.table3", ("resnet18", "dual_inception", "aufeat", "relfeat", "confeat",
                                "mer_augcn_no_da", "mer_augcn")),
    "table4": ("augcn.table4", ("softmax_att", "focal_loss", "mer_augcn", "bal_loss_inverse")),
    "table5": ("augcn.table5", ("dense_graph", "original_graph", "mer_augcn")),
}

#: rows whose label is ours, not the printed one: the ResNet18 reading, the extra Table IV row
OWN_LABELS: tuple[str, ...] = ("resnet18", "bal_loss_inverse")


def workspace(source: DataSource, *, au_task: bool = False) -> Workspace:
    """MEGC 2018 classes I–V, or (``au_task``) every clip carrying a Table VII AU."""
    return tables.workspace(source, au_task=au_task)


def recipe(profile: Profile, method: str, *, au_task: bool = False) -> DeepRecipe:
    """The recipe of one row under ``profile`` (``au_task``: the Table VII AU-detection model)."""
    sec = profile.augcn
    name, augment = ("au_task", True) if au_task else METHODS[method]
    overrides: dict[str, object] = {"feature_dim": sec.feature_dim}
    if variant(name).model.backbone == "resnet18":  # the profile's ResNet18 reading
        overrides |= {"resnet_blocks": sec.resnet18_blocks, "resnet_widths": sec.resnet18_widths,
                      "resize": sec.resnet18_resize}
    v = variant(name, **overrides)
    size = sec.input_size
    if v.model.backbone == "resnet18":
        # center_crop: the flow is delivered larger and the model keeps its central
        # resnet18_input_size square (MERAuGCNConfig.crop_fraction)
        size = sec.resnet18_input_size
        if v.model.resize == "center_crop":
            size = round(sec.resnet18_input_size / v.model.crop_fraction)
    objective = JointObjective(v.loss) if v.model.au_detection else CrossEntropyObjective()
    return DeepRecipe(
        method=method, model="mer_augcn", config=v.model, objective=objective, input_size=size,
        preprocess=profile.preprocess, train=sec.train, protocol=sec.protocol, seeds=profile.seeds,
        execution=profile.execution, augment=augment, task="au" if au_task else "classify",
        label=v.label if name == method else tables.method_label(method), weights=dict(sec.weights).get(method),
    )


def starting_weights(profile: Profile, methods: Sequence[str]) -> pd.DataFrame:
    """What each row starts from: ``"random"`` or a weights file's name and SHA-256."""
    return tables.starting_weights([recipe(profile, m) for m in methods])


def run_method(ws: Workspace, profile: Profile, method: str, protocol: tables.Protocol, *,
               progress: bool = True) -> list[RunResult]:
    """Every (fold, seed) run of one row under one protocol (cached, resumable, parallel)."""
    return tables.run_recipe(ws, recipe(profile, method, au_task=protocol == "au"), protocol, progress=progress)


def ablation_table(ws: Workspace, profile: Profile, name: str, *,
                   progress: bool = True) -> tuple[pd.DataFrame, dict[str, list[RunResult]]]:
    """Tables III, IV, V: WAR/UAR on SAMM->CASME II for each row.

    Each cell has its subject-clustered bootstrap interval (``ci_low``, ``ci_high``, ``se``);
    each row but MER-auGCN its paired difference to ``mer_augcn`` on the same resampled test
    subjects (``diff``, ``diff_low``, ``diff_high``, ``significant``, and ``mde`` = 2.80 x the
    difference's bootstrap SE; :func:`merkit.reproduce.tables.paired_differences`).
    """
    table_id, rows = ABLATIONS[name]
    results = {m: run_method(ws, profile, m, "ablation", progress=progress) for m in rows}
    flat = [r for rs in results.values() for r in rs]
    labels = {m: recipe(profile, m).label for m in rows if m in OWN_LABELS}
    groups = tables.subjects(ws)
    table = score(flat, table_id, metrics=("war", "uar"), pooled_over_folds=False, labels=labels, groups=groups,
                  bootstrap=profile.bootstrap)
    diffs = tables.paired_differences(results, "mer_augcn", groups, metrics=("war", "uar"), per_fold=True,
                                      bootstrap=profile.bootstrap)
    return ordered(tables.with_differences(table, diffs), rows), results


def hde_cde_rows(ws: Workspace, profile: Profile, method: str = "mer_augcn", *,
                 progress: bool = True) -> tuple[pd.DataFrame, dict[str, list[RunResult]]]:
    """Table VI rows of a deep method: HDE per fold + average (WAR/UAR), CDE (F1/WF1)."""
    hde = run_method(ws, profile, method, "hde", progress=progress)
    cde = run_method(ws, profile, method, "cde", progress=progress)
    ci = {"groups": tables.subjects(ws), "bootstrap": profile.bootstrap}
    hde_table = score(hde, "augcn.table6", metrics=("war", "uar"), pooled_over_folds=False, with_average=True, **ci)
    cde_table = score(cde, "augcn.table6", metrics=("f1", "wf1"), pooled_over_folds=True, fold_label="loso", **ci)
    return pd.concat([hde_table, cde_table], ignore_index=True), {"hde": hde, "cde": cde}


def au_table(ws: Workspace, profile: Profile, *, progress: bool = True) -> tuple[pd.DataFrame, list[RunResult]]:
    """Table VII: per-AU F1 (AU1, 2, 4, 9, 12, 14, 17) per HDE fold and their average.

    Each cell has its subject-clustered bootstrap interval (``ci_low``, ``ci_high``, ``se``): per
    fold on that fold's test subjects; ``"avg"``: the mean of the two folds, each fold
    resampling its own subjects (:func:`merkit.experiments.intervals`).
    """
    results = run_method(ws, profile, "mer_augcn", "au", progress=progress)
    rows = []
    per_fold: dict[str, np.ndarray] = {}
    hde_names = protocols.hde_fold_names(ws.df)
    for fold in hde_names:
        per_fold[fold] = np.array([au_f1(r.y_true, r.y_pred) for r in results if r.info["fold"] == fold])  # (seeds, 7)
    per_fold["avg"] = np.mean([per_fold[f] for f in hde_names], axis=0)
    which = [("au_f1", j) for j in range(len(TABLE_VII_AUS))] + ["au_f1_mean"]
    groups = tables.subjects(ws)
    found = {fold: experiments.intervals([r for r in results if fold == "avg" or r.info["fold"] == fold], None,
                                         groups, which, per_fold=True, bootstrap=profile.bootstrap)
             for fold in per_fold}

    def spread(values: np.ndarray) -> float:
        return float(values.std(ddof=1)) if len(values) > 1 else 0.0

    def ci(fold: str, spec: object) -> dict[str, float]:
        interval = found[fold][spec]
        return {"ci_low": interval.low, "ci_high": interval.high, "se": interval.se}

    for fold, scores in per_fold.items():
        for j, au in enumerate(TABLE_VII_AUS):
            rows.append({"method": "mer_augcn", "label": f"AU{au}", "fold": fold, "metric": "au_f1", "au": au,
                         "ours": float(scores[:, j].mean()), "std": spread(scores[:, j]), "n_seeds": len(scores)}
                        | ci(fold, ("au_f1", j)))
        means = scores.mean(axis=1)
        rows.append({"method": "mer_augcn", "label": "Avg.", "fold": fold, "metric": "au_f1_mean", "au": None,
                     "ours": float(means.mean()), "std": spread(means), "n_seeds": len(scores)}
                    | ci(fold, "au_f1_mean"))
    table = tables.join_published(pd.DataFrame(rows), "augcn.table7", task="au")
    return table[["method", "label", "fold", "metric", "au", "ours", "std", "ci_low", "ci_high", "se", "n_seeds",
                  "published"]], results


def true_au_targets(ws: Workspace, aus: Sequence[int] = TABLE_VII_AUS) -> np.ndarray:
    """(n_clips, len(aus)) 0/1: which of ``aus`` each clip of ``ws.df`` TRULY shows.

    Synthetic data only: the generator's ground truth joined on (dataset, subject, clip); the
    loaders' ``aus`` (what the model trains on) are the sheets' coder-noisy codes.
    """
    truth = ws.source.ground_truth()
    by_clip = {(r.dataset, r.subject, r.clip): r.aus for r in truth.itertuples()}
    keys = list(zip(ws.df["dataset"], ws.df["subject"], ws.df["clip"], strict=True))
    missing = [k for k in keys if k not in by_clip]
    if missing:
        raise ValueError(f"{len(missing)} clips have no ground truth, e.g. {'/'.join(missing[0][1:])}")
    return np.array([[int(au in by_clip[k]) for au in aus] for k in keys], dtype=np.int64).reshape(
        len(keys), len(aus))


def au_truth_table(ws: Workspace, results: Sequence[RunResult]) -> pd.DataFrame:
    """Table VII's predictions scored twice (synthetic data only): per-AU F1 against the sheets'
    AU codes (``vs_sheet``: what the model trained on and :func:`au_table` reports) and against
    the generator's true AUs (``vs_truth``), per HDE fold and their average (mean over seeds).

    ``results``: :func:`au_table`'s runs. The sheets' codes are coder-noisy (missed, extra and
    wrong-side AUs, :mod:`merkit.data.synthetic`), or permuted across clips in the
    ``"shuffled-aus"`` variant. Columns: method, label (``"AU1"`` .. ``"Avg."``), fold, au,
    vs_sheet, vs_truth, delta (``vs_truth - vs_sheet``), n_clips (test clips), n_disagree (test
    clips whose sheet and truth differ on the AU; summed over folds for ``"avg"``), n_seeds.
    """
    truth = true_au_targets(ws)
    sheet = protocols.au_targets(ws.df, TABLE_VII_AUS)
    hde_names = protocols.hde_fold_names(ws.df)
    scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # fold -> (seeds, K) vs sheet, vs truth
    counts: dict[str, tuple[int, np.ndarray]] = {}
    for fold in hde_names:
        runs = [r for r in results if r.info["fold"] == fold]
        if not runs:
            raise ValueError(f"no AU-task run of fold {fold!r}")
        for r in runs:
            if not np.array_equal(r.y_true, sheet[r.test]):
                raise ValueError(f"run {r.key}: its targets are not this workspace's sheet AUs")
        scores[fold] = (np.array([au_f1(r.y_true, r.y_pred) for r in runs]),
                        np.array([au_f1(truth[r.test], r.y_pred) for r in runs]))
        test = runs[0].test
        counts[fold] = (len(test), (sheet[test] != truth[test]).sum(axis=0))
    scores["avg"] = (np.mean([scores[f][0] for f in hde_names], axis=0),
                     np.mean([scores[f][1] for f in hde_names], axis=0))
    counts["avg"] = (sum(counts[f][0] for f in hde_names), sum(counts[f][1] for f in hde_names))
    rows = []
    for fold, (vs_sheet, vs_truth) in scores.items():
        n_clips, disagree = counts[fold]
        labels = [(f"AU{au}", au, j) for j, au in enumerate(TABLE_VII_AUS)] + [("Avg.", None, None)]
        for label, au, j in labels:
            a = vs_sheet[:, j] if j is not None else vs_sheet.mean(axis=1)
            b = vs_truth[:, j] if j is not None else vs_truth.mean(axis=1)
            rows.append({"method": "mer_augcn", "label": label, "fold": fold, "au": au,
                         "vs_sheet": float(a.mean()), "vs_truth": float(b.mean()),
                         "delta": float(b.mean() - a.mean()), "n_clips": int(n_clips),
                         "n_disagree": int(disagree[j]) if j is not None else int(disagree.sum()),
                         "n_seeds": len(vs_sheet)})
    return pd.DataFrame(rows)


#: how the Table VII sample set is drawn (stated beside the counts)
AU_TASK_RULE = ("every clip carrying at least one of AU1, 2, 4, 9, 12, 14, 17 (any objective class, "
                "laterality dropped); STAPF's exact selection is not published")


def au_task_counts(ws: Workspace) -> pd.DataFrame:
    """Table VII's sample set per data set: our count beside the paper's 228 (CASME II) / 78 (SAMM).

    ``ws``: the AU-task workspace (``workspace(source, au_task=True)``). Columns: dataset, ours,
    published, rule.
    """
    published = paper.HYPERPARAMETERS["augcn"]["table7_samples"]
    ours = ws.df["dataset"].value_counts()
    names = list(dict.fromkeys([*published, *sorted(ours.index)]))
    return pd.DataFrame({
        "dataset": names,
        "ours": [int(ours.get(d, 0)) for d in names],
        "published": [published.get(d) for d in names],
        "rule": AU_TASK_RULE,
    })
