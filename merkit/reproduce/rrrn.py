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
from typing import Any

import numpy as np
import pandas as pd

from merkit import experiments
from merkit.config import Profile
from merkit.data import DataSource
from merkit.experiments import RunResult
from merkit.losses import CrossEntropyObjective
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
    objective = occ.rrrn_loss if method == "rrrn" else CrossEntropyObjective()
    return DeepRecipe(
        method=method, model=MODEL_NAMES[method], config=config, objective=objective,
        input_size=occ.input_size, preprocess=profile.preprocess, train=occ.train_of(method), protocol=occ.protocol,
        seeds=profile.seeds, execution=profile.execution, augment=occ.augment,
        weights=dict(occ.weights).get(method), keep=("alpha",) if method == "rrrn" else (),
        label=COLUMN_LABELS[method],
    )


def starting_weights(profile: Profile) -> pd.DataFrame:
    """Which weights each deep column starts from: ``"random"`` or the file's name and SHA-256."""
    return tables.starting_weights([recipe(profile, m) for m in DEEP])


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

    Columns: method, label, condition, condition_label, fold, metric, ours, std, ci_low,
    ci_high, se, n_seeds, published, and the paired difference to RRRN (diff, diff_low,
    diff_high, diff_se, mde, significant). Includes the paper's averages:
    ``method="mean_of_methods"`` per condition and ``condition="avg"`` per method.

    Intervals are subject-clustered bootstraps (:func:`merkit.experiments.intervals`, the
    profile's ``bootstrap``) on each cell's test subjects (per HDE fold; CDE: all folds
    pooled); an average's interval is the bootstrap of the average itself (the same drawn
    subjects for every method or condition averaged). Each method's difference to RRRN is
    paired: the same condition and fold, the same drawn subjects; ``significant``: its
    interval excludes 0; ``mde`` = 2.80 x its bootstrap SE (80 % power at alpha = 0.05).
    """
    metrics = ("war", "uar") if protocol == "hde" else ("f1", "wf1")
    per_fold = protocol == "hde"
    groups, boot = tables.subjects(ws), profile.bootstrap
    all_runs: list[RunResult] = []
    cells: dict[tuple[str, str], list[RunResult]] = {}  # (condition, method) -> runs
    rows = []
    for condition in profile.occlusion.conditions:
        runs = run_condition(ws, profile, condition, protocol, progress=progress)
        for method, results in runs.items():
            all_runs.extend(results)
            cells[condition, method] = results
            summary = experiments.summarize(results, LABELS, by=("method",), fold_level=per_fold,
                                            groups=groups, bootstrap=boot)
            for r in summary[summary["metric"].isin(metrics)].itertuples():
                rows.append({"method": method, "condition": condition,
                             "fold": r.fold if per_fold else "loso", "metric": r.metric,
                             "ours": r.mean, "std": r.std, "ci_low": r.ci_low, "ci_high": r.ci_high, "se": r.se,
                             "n_seeds": r.n_seeds})
    table = pd.DataFrame(rows)
    conditions = list(dict.fromkeys(c for c, _ in cells))
    methods = list(dict.fromkeys(m for _, m in cells))

    def runs_of(condition: str, method: str, fold: str) -> list[RunResult]:
        return [r for r in cells[condition, method] if not per_fold or r.info["fold"] == fold]

    def interval(terms: list[tuple[float, list[RunResult]]]) -> dict[str, Any]:
        return experiments.intervals(terms, LABELS, groups, metrics, bootstrap=boot)

    averages, diffs = [], []
    for fold in dict.fromkeys(table["fold"]):
        for condition in conditions:  # the "Avg." column: mean over methods
            found = interval([(1 / len(methods), runs_of(condition, m, fold)) for m in methods])
            averages += [{"method": "mean_of_methods", "condition": condition, "fold": fold, "metric": k,
                          "ci_low": v.low, "ci_high": v.high, "se": v.se} for k, v in found.items()]
        for method in methods:  # the "Avg." row: mean over conditions
            found = interval([(1 / len(conditions), runs_of(c, method, fold)) for c in conditions])
            averages += [{"method": method, "condition": "avg", "fold": fold, "metric": k,
                          "ci_low": v.low, "ci_high": v.high, "se": v.se} for k, v in found.items()]
        if "rrrn" not in methods:
            continue
        for method in (m for m in methods if m != "rrrn"):  # paired: each method minus RRRN
            for condition in conditions:
                found = interval([(1.0, runs_of(condition, method, fold)), (-1.0, runs_of(condition, "rrrn", fold))])
                diffs += [{"method": method, "condition": condition, "fold": fold, "metric": k}
                          | tables.difference_row(v) for k, v in found.items()]
            share = 1 / len(conditions)
            found = interval([(share, runs_of(c, method, fold)) for c in conditions]
                             + [(-share, runs_of(c, "rrrn", fold)) for c in conditions])
            diffs += [{"method": method, "condition": "avg", "fold": fold, "metric": k}
                      | tables.difference_row(v) for k, v in found.items()]
    keys = ["method", "condition", "fold", "metric"]
    method_avg = table.groupby(["condition", "fold", "metric"], sort=False, as_index=False)["ours"].mean()
    method_avg["method"] = "mean_of_methods"
    cond_avg = table.groupby(["method", "fold", "metric"], sort=False, as_index=False)["ours"].mean()
    cond_avg["condition"] = "avg"
    avg = pd.concat([method_avg, cond_avg], ignore_index=True).merge(pd.DataFrame(averages), on=keys, how="left")
    table = pd.concat([table, avg], ignore_index=True)
    table = tables.with_differences(table, pd.DataFrame(diffs, columns=[*keys, *tables.DIFF_COLUMNS]), on=keys)
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
