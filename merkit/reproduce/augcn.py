"""MER-auGCN Tables III–VII as grids of runs, with our numbers beside the published ones.

Rows are the paper's method keys (as in :mod:`merkit.paper`), each mapped to a model variant
(:func:`merkit.models.mer_augcn.table_variants`) and whether training clips are augmented.
Ablations (Tables III–V) run on the SAMM->CASME II fold, as in the paper; Table VI on both HDE
folds and the CDE protocol; Table VII on the AU-task clip set. A row shared by several tables
(``mer_augcn`` on SAMM->CASME II) is one cached run.

Metrics follow the paper: per HDE fold, and their average; CDE pooled over all its folds
(the MEGC 2018 convention); every value is the mean (± std) over the profile's seeds.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from merkit import experiments, paper, protocols
from merkit.experiments import RunResult, RunSpec
from merkit.facs import TABLE_VII_AUS
from merkit.io import stable_hash
from merkit.preprocess.pipeline import FlowSet, build_flowset
from merkit.report import Report, data_fingerprint
from merkit.reproduce.runners import DeepRunner, FlowData

LABELS: tuple[int, ...] = (1, 2, 3, 4, 5)
ABLATION_FOLD = "samm->casme2"

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
    "dense_graph": ("dense_graph", True),
    "original_graph": ("original_graph", True),
}

#: notebook table -> (published table id, rows in the paper's order)
ABLATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "table3": ("augcn.table3", ("resnet18", "dual_inception", "aufeat", "relfeat", "confeat",
                                "mer_augcn_no_da", "mer_augcn")),
    "table4": ("augcn.table4", ("softmax_att", "focal_loss", "mer_augcn")),
    "table5": ("augcn.table5", ("dense_graph", "original_graph", "mer_augcn")),
}


@dataclass(frozen=True)
class ModelBuilder:
    """Picklable ``seed -> MERAuGCN`` (any variant)."""

    config: Any  # MERAuGCNConfig

    def __call__(self, seed: int) -> Any:
        import torch

        from merkit.models import MERAuGCN

        torch.manual_seed(seed)
        return MERAuGCN(self.config)


@dataclass(frozen=True)
class JointLossFactory:
    """Picklable factory of Eq. 6's loss function."""

    config: Any  # LossConfig

    def __call__(self) -> Any:
        from merkit.losses import joint_loss_fn

        return joint_loss_fn(self.config)


def variant_for(rep: Report, method: str, *, au_task: bool = False) -> Any:
    """The model variant of a row with the profile's budget applied (d, ResNet input size)."""
    from merkit.models import variant

    exp = rep.profile.experiment
    name = "au_task" if au_task else METHODS[method][0]
    v = variant(name, feature_dim=exp.feature_dim)
    if v.model.backbone == "resnet18":
        v = dataclasses.replace(v, model=dataclasses.replace(v.model, input_size=exp.resnet_input))
    return v


@dataclass
class Workspace:
    """A clip table and its flows (per input size), built lazily and cached on disk."""

    rep: Report
    df: pd.DataFrame
    flows: dict[int, FlowSet] = field(default_factory=dict)
    augmented: dict[int, np.ndarray] = field(default_factory=dict)  # per size: clips with augmented pairs
    cache: dict[str, Any] = field(default_factory=dict)  # in-memory memo (e.g. volumes)

    def flowset(self, size: int, train_rows: np.ndarray | None = None) -> FlowSet:
        """Flows at ``size``; clips in ``train_rows`` (default: all) get their augmented pairs.

        Test clips only need their original pair, so a protocol whose folds never train on a
        clip (e.g. the SAMM->CASME II ablations) does not pay for that clip's augmentation.
        A later call that needs more augmented clips rebuilds from the per-clip cache.
        """
        from merkit import workflow

        wanted = np.zeros(len(self.df), dtype=bool)
        wanted[np.arange(len(self.df)) if train_rows is None else np.asarray(train_rows, dtype=np.int64)] = True
        held = self.flows.get(size)
        if held is not None and not (wanted & ~self.augmented[size]).any():
            return held
        mask = wanted | self.augmented.get(size, np.zeros(len(self.df), dtype=bool))
        cfg = workflow.preprocess_config(self.rep, out_size=size)
        self.flows[size] = build_flowset(self.df, cfg, train_mask=mask)
        self.augmented[size] = mask
        return self.flows[size]

    def data_key(self, size: int) -> str:
        """Hash of the clips (frame names and sizes, read once) and the flow settings at ``size``."""
        from merkit import workflow

        if "fingerprint" not in self.cache:
            self.cache["fingerprint"] = data_fingerprint(self.df)
        return stable_hash([self.cache["fingerprint"], workflow.preprocess_config(self.rep, out_size=size)])


def workspace(rep: Report, *, au_task: bool = False) -> Workspace:
    """MEGC 2018 classes I–V, or (``au_task``) every clip carrying a Table VII AU."""
    from merkit import workflow

    if au_task:
        df = workflow.load_clips(rep, classes=None)
        df = df[protocols.au_task_mask(df, TABLE_VII_AUS)].reset_index(drop=True)
    else:
        df = workflow.load_clips(rep).reset_index(drop=True)
    return Workspace(rep, df)


def folds_for(ws: Workspace, protocol: str) -> list[protocols.Fold]:
    exp = ws.rep.profile.experiment
    if protocol in ("hde", "au"):
        return protocols.hde_folds(ws.df)
    if protocol == "ablation":
        return [f for f in protocols.hde_folds(ws.df) if f.name == ABLATION_FOLD]
    if protocol == "cde":
        if exp.cde == "loso":
            return protocols.cde_folds(ws.df)
        return protocols.group_kfold(ws.df, min(exp.cde_folds, ws.df["subject"].nunique()), seed=0)
    raise ValueError(f"unknown protocol {protocol!r}")


def run_method(ws: Workspace, method: str, protocol: str, *, progress: bool = True) -> list[RunResult]:
    """Every (fold, seed) run of one row under one protocol (cached, resumable, parallel)."""
    rep = ws.rep
    au_task = protocol == "au"
    v = variant_for(rep, method, au_task=au_task)
    augment = METHODS[method][1]
    size = v.model.resolved_input_size
    folds = folds_for(ws, protocol)
    fs = ws.flowset(size, np.unique(np.concatenate([f.train for f in folds])) if augment else np.array([], np.int64))
    model_aus = v.model.resolved_aus  # the detectors' AU order (what MERAuGCN.aus will be)
    aus = protocols.au_targets(ws.df, model_aus) if model_aus else np.zeros((len(ws.df), 0), np.int64)
    data = FlowData(fs.x, fs.clip, fs.is_original, ws.df["objective_class"].to_numpy(), aus)
    exp = rep.profile.experiment
    runner = DeepRunner(
        data, ModelBuilder(v.model), JointLossFactory(v.loss), exp.train, augment=augment,
        task="au" if au_task else "classify",
        au_columns=tuple(list(model_aus).index(a) for a in TABLE_VII_AUS) if au_task else (),
    )
    settings = {"variant": v, "augment": augment, "train": exp.train, "task": runner.task}
    data_key = ws.data_key(size)
    specs = [
        RunSpec(method, protocol, fold.name, tuple(fold.train.tolist()), tuple(fold.test.tolist()), seed,
                settings, data_key)
        for fold in folds for seed in rep.profile.seeds
    ]
    return experiments.run_grid(specs, runner, n_jobs=exp.n_jobs, threads_per_job=exp.threads_per_job,
                                progress=progress, desc=f"{method} {protocol}")


def score_table(
    results: Sequence[RunResult],
    table_id: str,
    *,
    metrics: Sequence[str],
    pooled_over_folds: bool,
    fold_label: str | None = None,
    with_average: bool = False,
) -> pd.DataFrame:
    """Long table: method, fold, metric, ours (mean over seeds), std, n_seeds, published."""
    summary = experiments.summarize(results, LABELS, by=("method",), fold_level=not pooled_over_folds)
    summary = summary[summary["metric"].isin(metrics)].copy()
    if pooled_over_folds:
        summary["fold"] = fold_label or "pooled"
    if with_average:
        avg = (summary.groupby(["method", "metric"], sort=False)
               .agg(mean=("mean", "mean"), n_seeds=("n_seeds", "min")).reset_index())
        avg["fold"], avg["std"] = "avg", np.nan
        summary = pd.concat([summary, avg], ignore_index=True)
    return _attach_published(summary, table_id)


def _attach_published(summary: pd.DataFrame, table_id: str) -> pd.DataFrame:
    pub = paper.published(table_id)
    lookup = {(r.method, r.fold, r.metric): r.value for r in pub.itertuples()}
    labels = {r.method: r.label for r in pub.itertuples()}
    rows = []
    for r in summary.itertuples():
        rows.append({
            "method": r.method, "label": labels.get(r.method, r.method), "fold": r.fold, "metric": r.metric,
            "ours": r.mean, "std": r.std, "n_seeds": r.n_seeds,
            "published": lookup.get((r.method, r.fold, r.metric), np.nan),
        })
    return pd.DataFrame(rows)


def ablation_table(ws: Workspace, name: str, *, progress: bool = True) -> tuple[pd.DataFrame, dict[str, list[RunResult]]]:
    """Tables III, IV, V: WAR/UAR on SAMM->CASME II for each row."""
    table_id, rows = ABLATIONS[name]
    results = {m: run_method(ws, m, "ablation", progress=progress) for m in rows}
    flat = [r for rs in results.values() for r in rs]
    table = score_table(flat, table_id, metrics=("war", "uar"), pooled_over_folds=False)
    return _ordered(table, rows), results


def _ordered(table: pd.DataFrame, rows: Sequence[str]) -> pd.DataFrame:
    """Rows in the paper's order, metrics in the order WAR, UAR, F1, WF1."""
    from merkit.report import METRIC_ORDER

    key = {m: i for i, m in enumerate(rows)}
    metric = {m: i for i, m in enumerate(METRIC_ORDER)}
    order = sorted(range(len(table)), key=lambda i: (key.get(table["method"].iat[i], len(key)),
                                                     metric.get(table["metric"].iat[i], 99)))
    return table.iloc[order].reset_index(drop=True)


def hde_cde_rows(ws: Workspace, method: str = "mer_augcn", *, progress: bool = True) -> tuple[pd.DataFrame, dict[str, list[RunResult]]]:
    """Table VI rows of a deep method: HDE per fold + average (WAR/UAR), CDE (F1/WF1)."""
    hde = run_method(ws, method, "hde", progress=progress)
    cde = run_method(ws, method, "cde", progress=progress)
    hde_table = score_table(hde, "augcn.table6", metrics=("war", "uar"), pooled_over_folds=False,
                            with_average=True)
    cde_table = score_table(cde, "augcn.table6", metrics=("f1", "wf1"), pooled_over_folds=True,
                            fold_label="loso")
    return pd.concat([hde_table, cde_table], ignore_index=True), {"hde": hde, "cde": cde}


def au_table(ws: Workspace, *, progress: bool = True) -> tuple[pd.DataFrame, list[RunResult]]:
    """Table VII: per-AU F1 (AU1, 2, 4, 9, 12, 14, 17) per HDE fold and their average."""
    from merkit.metrics import au_f1

    results = run_method(ws, "mer_augcn", "au", progress=progress)
    pub = paper.published("augcn.table7")
    lookup = {(r.method, r.fold, r.metric, None if pd.isna(r.au) else int(r.au)): r.value for r in pub.itertuples()}
    rows = []
    per_fold: dict[str, np.ndarray] = {}
    for fold in protocols.HDE_FOLDS:
        fold_runs = [r for r in results if r.info["fold"] == fold]
        scores = np.array([au_f1(r.y_true, r.y_pred) for r in fold_runs])  # (seeds, 7)
        per_fold[fold] = scores
    per_fold["avg"] = np.mean([per_fold[f] for f in protocols.HDE_FOLDS], axis=0)
    for fold, scores in per_fold.items():
        for j, au in enumerate(TABLE_VII_AUS):
            rows.append({"method": "mer_augcn", "label": f"AU{au}", "fold": fold, "metric": "au_f1", "au": au,
                         "ours": float(scores[:, j].mean()),
                         "std": float(scores[:, j].std(ddof=1)) if len(scores) > 1 else 0.0,
                         "n_seeds": len(scores),
                         "published": lookup.get(("mer_augcn", fold, "au_f1", au), np.nan)})
        rows.append({"method": "mer_augcn", "label": "Avg.", "fold": fold, "metric": "au_f1", "au": None,
                     "ours": float(scores.mean(axis=1).mean()),
                     "std": float(scores.mean(axis=1).std(ddof=1)) if len(scores) > 1 else 0.0,
                     "n_seeds": len(scores),
                     "published": lookup.get(("mer_augcn", fold, "au_f1_mean", None), np.nan)})
    return pd.DataFrame(rows), results


def confusion(results: Sequence[RunResult]) -> np.ndarray:
    """Pooled confusion matrix (5 x 5) of a row's runs (all folds, all seeds)."""
    return experiments.pooled_confusion(results, LABELS)


@functools.lru_cache(maxsize=1)
def _published_labels() -> dict[str, str]:
    return {r.method: str(r.label) for r in paper.published_results().itertuples()}


def method_label(method: str) -> str:
    """The row label as the paper prints it (falls back to the key)."""
    return _published_labels().get(method, method)


def confusions(results: dict[str, list[RunResult]]) -> dict[str, np.ndarray]:
    """Pooled confusion matrix per row, keyed by the paper's label."""
    return {method_label(m): confusion(rs) for m, rs in results.items()}


def curves(results: dict[str, list[RunResult]]) -> dict[str, list[dict[str, float]]]:
    """The training curves of each row's first run (first fold, first seed)."""
    return {method_label(m): rs[0].history for m, rs in results.items() if rs}


FOLD_NAMES: dict[str, str] = {"casme2->samm": "CASME II→SAMM", "samm->casme2": "SAMM→CASME II",
                              "avg": "Avg.", "loso": "CDE", "pooled": "pooled"}


def literature_rows(table_id: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Rows only the paper has (methods we do not re-implement): published value, ours empty."""
    pub = paper.published(table_id)
    pub = pub[(~pub["reproducible"]) & pub["metric"].isin(metrics)]
    return pd.DataFrame({"method": pub["method"], "label": pub["label"], "fold": pub["fold"],
                         "metric": pub["metric"], "ours": np.nan, "std": np.nan, "n_seeds": 0,
                         "published": pub["value"]}).reset_index(drop=True)


def with_column_key(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``column`` = "<fold> <METRIC>" (e.g. "SAMM→CASME II UAR") for wide display."""
    from merkit.report import METRIC_NAMES

    out = table.copy()
    out["column"] = [f"{FOLD_NAMES.get(f, f)} {METRIC_NAMES.get(m, m)}" for f, m in zip(out["fold"], out["metric"],
                                                                                     strict=True)]
    return out
