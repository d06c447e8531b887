"""RRRN Tables III–IV: six methods under 13 occlusion conditions, HDE and CDE.

Each condition is its own data set, as the paper's Mask-/Glass-/RMask- databases: every frame
of every clip carries the same occluder (placed from that frame's landmarks), training and test
clips alike. Columns: LBP-TOP, LBP-SIP and 3DHOG with a linear SVM (:mod:`handcrafted`), VGG16,
ResNet18 and RRRN on TV-L1 flows of the occluded faces. Rows: Un-occ, Mask, Glass and
Occ-5 % … Occ-50 % (a random block covering that fraction of the landmark face box).

Table III (HDE) reports WAR/UAR per fold; Table IV (CDE) F1/WF1 pooled over folds. Both add
the paper's averages: over methods per condition ("Avg." column) and over conditions per
method ("Avg." row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from merkit import experiments, paper, protocols, workflow
from merkit.experiments import RunResult, RunSpec
from merkit.io import stable_hash
from merkit.preprocess.occlusion import CONDITION_LABELS
from merkit.reproduce import handcrafted
from merkit.reproduce.augcn import LABELS, Workspace
from merkit.reproduce.runners import DeepRunner, FlowData

HANDCRAFTED: tuple[str, ...] = ("lbp_top", "lbp_sip", "hog3d")
DEEP: tuple[str, ...] = ("vgg16", "resnet18", "rrrn")
METHODS: tuple[str, ...] = HANDCRAFTED + DEEP
METHOD_LABELS: dict[str, str] = {"lbp_top": "LBP-TOP", "lbp_sip": "LBP-SIP", "hog3d": "3DHOG",
                                 "vgg16": "VGG16", "resnet18": "ResNet18", "rrrn": "RRRN",
                                 "mean_of_methods": "Avg."}
_REGISTRY_NAME = {"vgg16": "vgg16", "resnet18": "resnet18_flow", "rrrn": "rrrn"}


@dataclass(frozen=True)
class OccModelBuilder:
    """Picklable ``seed -> model`` for the occlusion tables' deep columns."""

    method: str
    input_size: int
    overrides: tuple[tuple[str, Any], ...] = ()
    weights: str | None = None

    def __call__(self, seed: int) -> Any:
        import torch

        from merkit.models import create_model

        torch.manual_seed(seed)
        kwargs: dict[str, Any] = dict(self.overrides) | {"weights": self.weights}
        if self.method != "vgg16":
            kwargs["input_size"] = self.input_size
        return create_model(_REGISTRY_NAME[self.method], **kwargs)


@dataclass(frozen=True)
class RRRNLossFactory:
    """Picklable factory of Eq. 9 (CE + lambda1 RB + lambda2 Cor) in ``fit``'s form."""

    lambda1: float = 1.0
    lambda2: float = 0.2
    beta: float = 0.02

    def __call__(self) -> Any:
        from merkit.losses import rrrn_total_loss

        def loss_fn(output: Any, y: Any, au: Any) -> tuple[Any, dict[str, float]]:
            out = rrrn_total_loss(output.logits, y, output.alpha, output.region_logits,
                                  self.lambda1, self.lambda2, self.beta)
            return out.total, {"ce": float(out.cls.detach()), "rb": float(out.rb.detach()),
                               "cor": float(out.cor.detach())}

        return loss_fn


@dataclass(frozen=True)
class CrossEntropy:
    """Picklable factory of plain CE (the VGG16 / ResNet18 baselines)."""

    def __call__(self) -> Any:
        from merkit.train import cross_entropy_loss

        return cross_entropy_loss


def folds(ws: Workspace, protocol: str) -> list[protocols.Fold]:
    """HDE's two folds, or the CDE folds of the profile's occlusion section."""
    occ = ws.rep.profile.occlusion
    if protocol == "hde":
        return protocols.hde_folds(ws.df)
    if occ.cde == "loso":
        return protocols.cde_folds(ws.df)
    return protocols.group_kfold(ws.df, min(occ.cde_folds, ws.df["subject"].nunique()), seed=0)


def condition_flows(ws: Workspace, condition: str) -> Any:
    """Flows of every clip with the condition's occluder (cached on disk per condition)."""
    occ = ws.rep.profile.occlusion
    memo = ws.cache.setdefault("occluded_flows", {})
    if condition not in memo:
        memo.clear()  # one condition in memory at a time
        memo[condition] = workflow.build_flows(ws.rep, ws.df, out_size=occ.input_size,
                                               occlusion=handcrafted.occlusion_spec(ws, condition),
                                               augment=occ.augment)
    return memo[condition]


def run_deep(ws: Workspace, method: str, condition: str, protocol: str, *,
             progress: bool = True) -> list[RunResult]:
    occ = ws.rep.profile.occlusion
    fs = condition_flows(ws, condition)
    data = FlowData(fs.x, fs.clip, fs.is_original, ws.df["objective_class"].to_numpy(),
                    np.zeros((len(ws.df), 0), np.int64))
    overrides = {"vgg16": occ.vgg, "resnet18": occ.resnet, "rrrn": occ.rrrn}[method]
    weights = dict(occ.weights).get(method)
    builder = OccModelBuilder(method, occ.input_size, overrides, weights)
    loss = RRRNLossFactory() if method == "rrrn" else CrossEntropy()
    runner = DeepRunner(data, builder, loss, occ.train, augment=occ.augment,
                        keep=("alpha",) if method == "rrrn" else ())
    settings = {"builder": builder, "loss": loss, "train": occ.train, "augment": occ.augment}
    data_key = stable_hash([ws.data_key(occ.input_size), condition, occ.occlusion_seed, fs.occlusion])
    specs = [RunSpec(method, protocol, f.name, tuple(f.train.tolist()), tuple(f.test.tolist()), seed,
                     settings, data_key, condition)
             for f in folds(ws, protocol) for seed in ws.rep.profile.seeds]
    exp = ws.rep.profile.experiment
    return experiments.run_grid(specs, runner, n_jobs=exp.n_jobs, threads_per_job=exp.threads_per_job,
                                progress=progress, desc=f"{method} {protocol} {condition}")


def run_condition(ws: Workspace, condition: str, protocol: str, *,
                  methods: Sequence[str] = METHODS, progress: bool = True) -> dict[str, list[RunResult]]:
    """Every method's runs under one condition."""
    out = {}
    for m in methods:
        if m in HANDCRAFTED:
            out[m] = handcrafted.run_descriptor(ws, m, protocol, condition=condition,
                                                folds=folds(ws, protocol), progress=progress)
        else:
            out[m] = run_deep(ws, m, condition, protocol, progress=progress)
    return out


def occlusion_table(ws: Workspace, protocol: str, *, progress: bool = True) -> tuple[pd.DataFrame, list[RunResult]]:
    """Table III (``protocol="hde"``) or Table IV (``"cde"``) in long form with the published values.

    Columns: method, label, condition, condition_label, fold, metric, ours, std, n_seeds,
    published. Includes the paper's averages: ``method="mean_of_methods"`` per condition and
    ``condition="avg"`` per method.
    """
    occ = ws.rep.profile.occlusion
    metrics = ("war", "uar") if protocol == "hde" else ("f1", "wf1")
    all_runs: list[RunResult] = []
    rows = []
    for condition in occ.conditions:
        runs = run_condition(ws, condition, protocol, progress=progress)
        for method, results in runs.items():
            all_runs.extend(results)
            summary = experiments.summarize(results, LABELS, by=("method",), fold_level=protocol == "hde")
            for r in summary[summary["metric"].isin(metrics)].itertuples():
                rows.append({"method": method, "condition": condition,
                             "fold": r.fold if protocol == "hde" else "loso", "metric": r.metric,
                             "ours": r.mean, "std": r.std, "n_seeds": r.n_seeds})
    table = pd.DataFrame(rows)
    method_avg = table.groupby(["condition", "fold", "metric"], sort=False, as_index=False)["ours"].mean()
    method_avg["method"] = "mean_of_methods"
    cond_avg = table.groupby(["method", "fold", "metric"], sort=False, as_index=False)["ours"].mean()
    cond_avg["condition"] = "avg"
    table = pd.concat([table, method_avg, cond_avg], ignore_index=True)
    pub = paper.published("rrrn.table3" if protocol == "hde" else "rrrn.table4")
    lookup = {(r.method, r.fold, r.condition, r.metric): r.value for r in pub.itertuples()}
    table["published"] = [lookup.get((m, f, c, k), np.nan) for m, f, c, k in
                          zip(table["method"], table["fold"], table["condition"], table["metric"], strict=True)]
    table["label"] = table["method"].map(METHOD_LABELS)
    table["condition_label"] = table["condition"].map(lambda c: CONDITION_LABELS.get(c, "Avg."))
    return table, all_runs


def attention_by_condition(results: Sequence[RunResult], conditions: Sequence[str]) -> np.ndarray:
    """Mean RI attention weight per region under each condition: (n_conditions, 6)."""
    out = []
    for c in conditions:
        alphas = [r.extras["alpha"] for r in results if r.info.get("condition") == c and "alpha" in r.extras]
        out.append(np.concatenate(alphas).mean(axis=0) if alphas else np.full(6, np.nan))
    return np.array(out)


def view(table: pd.DataFrame, fold: str, metric: str) -> pd.DataFrame:
    """One block of the paper's layout: rows = conditions (+ Avg.), columns = methods (+ Avg.)."""
    sub = table[(table["fold"] == fold) & (table["metric"] == metric)]
    methods = {m: i for i, m in enumerate((*METHODS, "mean_of_methods"))}
    conditions = {c: i for i, c in enumerate(dict.fromkeys([*sub["condition"][sub["condition"] != "avg"], "avg"]))}
    order = sorted(range(len(sub)), key=lambda i: (conditions[sub["condition"].iat[i]],
                                                   methods[sub["method"].iat[i]]))
    return sub.iloc[order]
