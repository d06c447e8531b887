"""Notebook 11: the embedded benchmark's known-answer controls.

The ``shuffled-aus`` variant of the synthetic set (:data:`merkit.data.synthetic.VARIANTS`) has
the standard set's frames, timing and objective classes, but its sheets' AU codes are permuted
across the clips of each data set, so the AU labels say nothing about the motion. Two answers
are then known in advance:

1. **The AU branch cannot help.** AUFeat. (the Dual-Inception backbone plus AU detectors trained
   on the sheets' AUs, MER-auGCN Table III) against the backbone alone, on the SAMM -> CASME II
   fold: on the control the paired difference's 95 % interval must cover 0
   (:func:`gain_table`).
2. **AU detection falls to chance against the motion.** AUFeat.'s detectors scored on the same
   test clips against the true AUs (the generator's ground truth) and against the sheet, beside
   the permutation chance level: the F1 the same predictions reach when they are assigned to
   the test clips at random (:func:`au_detection_table`).

Both run only on the embedded data (licensed sets have no ground truth and no control);
:func:`control_source` raises otherwise. Runs are the Table III recipes (cached: the standard
set's rows are Table III's own runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from merkit import protocols
from merkit.config import Profile
from merkit.data import DataSource, resolve
from merkit.experiments import RunResult
from merkit.facs import TABLE_VII_AUS
from merkit.metrics import au_f1
from merkit.reproduce import augcn, tables
from merkit.reproduce.tables import Workspace

#: the two rows compared: the backbone, and the backbone with AU detectors (AUFeat.)
METHODS: tuple[str, str] = ("dual_inception", "aufeat")

#: data variant -> how the reports name it
SETS: dict[str, str] = {"standard": "standard set", "shuffled-aus": "control (shuffled AUs)"}


def control_source(profile: Profile, source: DataSource) -> DataSource:
    """The ``shuffled-aus`` control of the synthetic ``source`` (same scale and seed).

    Raises ``ValueError`` for licensed data (it has no control).
    """
    if not source.is_synthetic:
        raise ValueError("the known-answer controls need the embedded synthetic data set "
                         "(DATA='synthetic'); licensed data has no shuffled-AU control")
    config = dataclasses.replace(profile.data, source="synthetic", synthetic_scale=source.scale,
                                 synthetic_variant="shuffled-aus")
    return resolve(config)


def workspaces(profile: Profile, source: DataSource) -> dict[str, Workspace]:
    """``{"standard": ..., "shuffled-aus": ...}``: the I–V workspaces of both variants."""
    return {"standard": augcn.workspace(source),
            "shuffled-aus": augcn.workspace(control_source(profile, source))}


def gain_table(sets: dict[str, Workspace], profile: Profile, *, progress: bool = True
               ) -> tuple[pd.DataFrame, dict[str, dict[str, list[RunResult]]]]:
    """Backbone and AUFeat. on each set: WAR / UAR with intervals, and AUFeat. - backbone.

    Long table: set, method, label, fold, metric, ours, std, ci_low, ci_high, se, n_seeds,
    published, and on the AUFeat. rows the paired difference to the backbone (``diff``,
    ``diff_low``, ``diff_high``, ``diff_se``, ``mde``, ``significant``;
    :func:`merkit.reproduce.tables.paired_differences`). Returns the runs per set too.
    """
    frames, runs = [], {}
    for name, ws in sets.items():
        results = {m: augcn.run_method(ws, profile, m, "ablation", progress=progress) for m in METHODS}
        groups = tables.subjects(ws)
        flat = [r for rs in results.values() for r in rs]
        table = tables.score(flat, "augcn.table3", metrics=("war", "uar"), pooled_over_folds=False,
                             groups=groups, bootstrap=profile.bootstrap)
        diffs = tables.paired_differences(results, METHODS[0], groups, metrics=("war", "uar"),
                                          per_fold=True, bootstrap=profile.bootstrap)
        table = tables.ordered(tables.with_differences(table, diffs), METHODS)
        frames.append(table.assign(set=SETS[name]))
        runs[name] = results
    out = pd.concat(frames, ignore_index=True)
    return out[["set", *[c for c in out.columns if c != "set"]]], runs


def predictions(sets: dict[str, Workspace], runs: dict[str, dict[str, list[RunResult]]]) -> pd.DataFrame:
    """Per-clip predictions of every run on both sets (:func:`merkit.reproduce.tables.predictions`),
    with the ``set`` column of :func:`gain_table` first."""
    frames = [tables.predictions(runs[name], ws.df).assign(set=SETS[name]) for name, ws in sets.items()]
    out = pd.concat(frames, ignore_index=True)
    return out[["set", *[c for c in out.columns if c != "set"]]]


def verdict(table: pd.DataFrame) -> pd.DataFrame:
    """Per set and metric: AUFeat. - backbone, its interval, and whether the control's answer
    holds (on the control the interval must cover 0; on the standard set it is reported)."""
    rows = []
    sub = table[table["diff"].notna()]
    for (name, metric), group in sub.groupby(["set", "metric"], sort=False):
        r = group.iloc[0]
        covers = bool(r["diff_low"] <= 0.0 <= r["diff_high"])
        expected = "interval covers 0" if name == SETS["shuffled-aus"] else "(reported)"
        holds = covers if name == SETS["shuffled-aus"] else None
        rows.append({"set": name, "metric": metric, "diff": r["diff"], "diff_low": r["diff_low"],
                     "diff_high": r["diff_high"], "mde": r["mde"], "expected": expected,
                     "holds": holds})
    return pd.DataFrame(rows)


def chance_f1(truth: np.ndarray, pred: np.ndarray, *, n_permutations: int = 1000,
              seed: int = 0) -> tuple[float, float, float]:
    """The permutation chance level of the mean per-AU F1: ``(mean, 2.5 %, 97.5 %)``.

    ``truth``, ``pred``: ``(n, K)`` 0/1. Each permutation assigns the predicted AU vectors to
    the clips at random (keeping how often each AU is predicted and its co-occurrences), so
    its F1 is what predictions unrelated to the clips reach.
    """
    rng = np.random.default_rng(seed)
    values = np.array([au_f1(truth, pred[rng.permutation(len(pred))]).mean()
                       for _ in range(n_permutations)])
    return float(values.mean()), float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def au_detection_table(sets: dict[str, Workspace], runs: dict[str, dict[str, list[RunResult]]],
                       profile: Profile, aus: Sequence[int] | None = None) -> pd.DataFrame:
    """AUFeat.'s AU detectors (threshold 0.5) on its test clips, against truth and sheet.

    One row per (set, target): the mean over seeds of the mean per-AU F1 over ``aus`` (default:
    the Table VII AUs AUFeat. has a detector for; its graph's 12 AUs lack AU14), the
    permutation chance band of the same predictions (:func:`chance_f1`, first seed) and whether
    the score lies above the band. Against the truth on the control the answer is known: inside
    the band (chance). Columns: set, target (``"truth"`` | ``"sheet"``), f1, chance,
    chance_low, chance_high, above_chance, aus, n_clips, n_seeds.
    """
    model_aus = list(augcn.recipe(profile, METHODS[1]).config.resolved_aus)
    if aus is None:
        aus = [a for a in TABLE_VII_AUS if a in model_aus]
    missing = [a for a in aus if a not in model_aus]
    if missing:
        raise ValueError(f"AUFeat. has no detector for AU {missing}")
    columns = [model_aus.index(a) for a in aus]
    rows = []
    for name, ws in sets.items():
        results = runs[name][METHODS[1]]
        targets = {"truth": augcn.true_au_targets(ws, aus), "sheet": protocols.au_targets(ws.df, aus)}
        for target, y in targets.items():
            scores, band = [], None
            for k, r in enumerate(results):
                if "au_probs" not in r.extras:
                    raise ValueError(f"run {r.key} kept no AU probabilities")
                pred = (r.extras["au_probs"][:, columns] >= 0.5).astype(np.int64)
                truth = y[r.test]
                scores.append(float(au_f1(truth, pred).mean()))
                if k == 0:
                    band = chance_f1(truth, pred, seed=profile.bootstrap.seed)
            assert band is not None
            f1 = float(np.mean(scores))
            rows.append({"set": SETS[name], "target": target, "f1": f1, "chance": band[0],
                         "chance_low": band[1], "chance_high": band[2],
                         "above_chance": bool(f1 > band[2]), "aus": "+".join(map(str, aus)),
                         "n_clips": int(len(results[0].test)),
                         "n_seeds": len(results)})
    return pd.DataFrame(rows)
