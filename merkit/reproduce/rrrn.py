"""RRRN Tables III–IV: six methods under 13 occlusion conditions, HDE and CDE, declared as recipes.

Each condition is its own data set, as the paper's Mask-/Glass-/RMask- databases: every frame
of every clip carries the same occluder (placed from that frame's landmarks), training and test
clips alike. Columns: LBP-TOP, LBP-SIP and 3DHOG with a linear SVM (:mod:`handcrafted`), VGG16,
ResNet18 and RRRN on TV-L1 flows of the occluded faces. Rows: Un-occ, Mask, Glass and
Occ-5 % … Occ-50 % (a random block covering that fraction of the landmark face box).

Table III (HDE) reports WAR/UAR per fold; Table IV (CDE) F1/WF1 pooled over folds. Both add
the paper's averages: over methods per condition ("Avg." column) and over conditions per
method ("Avg." row). Epochs are fixed by the profile; the last epoch's model is evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from merkit import experiments
from merkit.config import Profile
from merkit.data import DataSource
from merkit.experiments import RunResult
from merkit.losses import CrossEntropyObjective, RRRNObjective
from merkit.paper import CONDITION_LABELS, METHOD_LABELS
from merkit.reproduce import handcrafted, tables
from merkit.reproduce.tables import LABELS, DeepRecipe, Workspace, join_published

HANDCRAFTED: tuple[str, ...] = ("lbp_top", "lbp_sip", "hog3d")
DEEP: tuple[str, ...] = ("vgg16", "resnet18", "rrrn")
METHODS: tuple[str, ...] = HANDCRAFTED + DEEP
#: the occlusion tables' column labels (RRRN prints "Avg." for the mean of the methods)
COLUMN_LABELS: dict[str, str] = {m: METHOD_LABELS[m] for m in METHODS} | {"mean_of_methods": "Avg."}
#: method -> registered model name
MODEL_NAMES: dict[str, str] = {"vgg16": "vgg16", "resnet18": "resnet18_flow", "rrrn": "rrrn"}


def workspace(source: DataSource) -> Workspace:
    """MEGC 2018 classes I–V of ``source``."""
    return tables.workspace(source)


def recipe(profile: Profile, method: str) -> DeepRecipe:
    """The recipe of one deep column (VGG16, ResNet18 or RRRN) under ``profile``."""
    occ = profile.occlusion
    config = {"vgg16": occ.vgg, "resnet18": occ.resnet, "rrrn": occ.rrrn}[method]
    objective = RRRNObjective() if method == "rrrn" else CrossEntropyObjective()
    return DeepRecipe(
        method=method, model=MODEL_NAMES[method], config=config, objective=objective,
        input_size=occ.input_size, preprocess=profile.preprocess, train=occ.train, protocol=occ.protocol,
        seeds=profile.seeds, execution=profile.execution, augment=occ.augment,
        weights=dict(occ.weights).get(method), keep=("alpha",) if method == "rrrn" else (),
        label=COLUMN_LABELS[method],
    )


def run_condition(ws: Workspace, profile: Profile, condition: str, protocol: tables.Protocol, *,
                  methods: Sequence[str] = METHODS, progress: bool = True) -> dict[str, list[RunResult]]:
    """Every method's runs under one condition."""
    seed = profile.occlusion.occlusion_seed
    out = {}
    for m in methods:
        if m in HANDCRAFTED:
            r = handcrafted.recipe(profile, m, protocol_section="occlusion")
            out[m] = handcrafted.run_descriptor(ws, r, protocol, condition=condition, occlusion_seed=seed,
                                                progress=progress)
        else:
            out[m] = tables.run_recipe(ws, recipe(profile, m), protocol, condition=condition,
                                       occlusion=handcrafted.occlusion_spec(condition, seed), progress=progress)
    return out


def occlusion_table(ws: Workspace, profile: Profile, protocol: tables.Protocol, *,
                    progress: bool = True) -> tuple[pd.DataFrame, list[RunResult]]:
    """Table III (``protocol="hde"``) or Table IV (``"cde"``) in long form with the published values.

    Columns: method, label, condition, condition_label, fold, metric, ours, std, n_seeds,
    published. Includes the paper's averages: ``method="mean_of_methods"`` per condition and
    ``condition="avg"`` per method.
    """
    metrics = ("war", "uar") if protocol == "hde" else ("f1", "wf1")
    all_runs: list[RunResult] = []
    rows = []
    for condition in profile.occlusion.conditions:
        runs = run_condition(ws, profile, condition, protocol, progress=progress)
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
    table["label"] = table["method"].map(COLUMN_LABELS)
    table = join_published(table, "rrrn.table3" if protocol == "hde" else "rrrn.table4")
    table["condition_label"] = table["condition"].map(lambda c: CONDITION_LABELS.get(c, "Avg."))
    return table.drop(columns=["task", "au"]), all_runs


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
