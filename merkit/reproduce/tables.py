"""The table engine every paper module uses: workspace, recipes, folds, runs and scoring.

A paper module (:mod:`~merkit.reproduce.augcn`, :mod:`~merkit.reproduce.rrrn`,
:mod:`~merkit.reproduce.handcrafted`) only *declares* its rows: for each row it builds one
frozen recipe from the profile (:class:`DeepRecipe` or :class:`SVMRecipe`) and hands it to
:func:`run_recipe`. Everything else is here, written once:

* :class:`Workspace` -- a clip table and its flows, built lazily and cached on disk;
* :func:`folds` -- HDE, the SAMM->CASME II ablation fold, CDE (LOSO or grouped, per the
  recipe's :class:`~merkit.protocols.ProtocolConfig`), and the AU task's folds;
* :func:`run_recipe` -- every (fold, seed) run of one row, through the resumable run store;
* :func:`score` -- pooled metrics per row, mean ± std over seeds, joined with the published
  reference on :data:`merkit.paper.KEY`.

Nothing below this package sees a profile: the recipe carries exactly what a row needs, with
the flow input size in one field (:attr:`DeepRecipe.input_size`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from merkit import experiments, paper, protocols
from merkit.data import DataSource, data_fingerprint
from merkit.experiments import ExecutionConfig, RunResult, RunSpec
from merkit.facs import MEGC_CLASSES, ROMAN, TABLE_VII_AUS
from merkit.io import stable_hash
from merkit.preprocess.pipeline import FlowSet, PreprocessConfig, build_flowset
from merkit.protocols import ProtocolConfig
from merkit.reproduce.runners import DeepRunner, FlowData, ModelBuilder, SVMRunner
from merkit.train import TrainConfig

#: The MEGC 2018 objective classes every classification table scores (I–V).
LABELS: tuple[int, ...] = MEGC_CLASSES
#: their Roman numerals, for confusion-matrix axes
CLASS_NAMES: tuple[str, ...] = tuple(ROMAN[c] for c in MEGC_CLASSES)

Protocol = Literal["hde", "ablation", "cde", "au"]

#: The fold of the ablation tables (MER-auGCN Tables III–V are printed on SAMM -> CASME II).
ABLATION_FOLD = "samm->casme2"

#: display names of folds (the published reference's, plus "pooled")
FOLD_NAMES: dict[str, str] = dict(paper.FOLD_LABELS) | {"loso": "CDE", "pooled": "pooled"}


# --- recipes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeepRecipe:
    """Everything one deep table row needs, built once from the profile.

    ``method``: the row key (as :data:`merkit.paper.KEY`'s ``method``); ``model``: the
    :func:`merkit.models.create_model` name and ``config`` its typed config; ``objective``: the
    loss adapter from :mod:`merkit.losses`; ``input_size``: the flow side (the one field that
    sets it: the preprocessing output and the model input both come from here);
    ``preprocess``: the flows' settings (their output size is :attr:`flows`' business);
    ``augment``: training clips use their augmented pairs; ``task``: ``"classify"`` or ``"au"``
    (Table VII); ``keep``: model outputs stored per test clip (e.g. RRRN's ``alpha``).
    """

    method: str
    model: str
    config: Any
    objective: Any
    input_size: int
    preprocess: PreprocessConfig
    train: TrainConfig
    protocol: ProtocolConfig
    seeds: tuple[int, ...]
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    augment: bool = True
    task: Literal["classify", "au"] = "classify"
    weights: str | None = None
    keep: tuple[str, ...] = ()
    label: str = ""

    @property
    def flows(self) -> PreprocessConfig:
        """The preprocessing of this row: the profile's, with the output side = ``input_size``."""
        return with_out_size(self.preprocess, self.input_size)

    def settings(self) -> dict[str, Any]:
        """What a run's result depends on besides its fold, seed and data (hashed into the run key)."""
        return {"model": self.model, "config": self.config, "objective": self.objective,
                "input_size": self.input_size, "train": self.train, "augment": self.augment,
                "task": self.task, "weights": self.weights}


@dataclass(frozen=True)
class SVMRecipe:
    """A handcrafted row: descriptor + linear SVM (C chosen over training subjects only).

    ``preprocess`` gives the face boxes (and, for HOOF, the TV-L1 flow at the crop size).
    """

    method: str
    descriptor: Any
    volume: Any
    svm: Any
    preprocess: PreprocessConfig
    protocol: ProtocolConfig
    seeds: tuple[int, ...]
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    label: str = ""

    def settings(self) -> dict[str, Any]:
        return {"descriptor": self.descriptor, "volume": self.volume, "svm": self.svm}


def with_out_size(cfg: PreprocessConfig, size: int) -> PreprocessConfig:
    """``cfg`` with the flow output side set to ``size`` (28 / 112 / 224 ...)."""
    return dataclasses.replace(cfg, flow=dataclasses.replace(cfg.flow, out_size=size))


# --- workspace --------------------------------------------------------------------------------


@dataclass
class Workspace:
    """A clip table and its flows (per preprocessing and occlusion), built lazily, cached on disk."""

    source: DataSource
    df: pd.DataFrame
    flows: dict[Any, FlowSet] = field(default_factory=dict)
    augmented: dict[Any, np.ndarray] = field(default_factory=dict)  # per flow key: clips with augmented pairs
    cache: dict[str, Any] = field(default_factory=dict)  # in-memory memo (fingerprint, volumes)

    def flowset(self, cfg: PreprocessConfig, train_rows: np.ndarray | None = None, *,
                occlusion: Any | None = None, progress: bool = True) -> FlowSet:
        """Flows under ``cfg``; clips in ``train_rows`` (default: all) get their augmented pairs.

        Test clips only need their original pair, so a protocol whose folds never train on a
        clip (e.g. the SAMM->CASME II ablations) does not pay for that clip's augmentation.
        A later call that needs more augmented clips rebuilds from the per-clip cache. Occluded
        flows are kept for one occlusion at a time (the tables go condition by condition).
        """
        memo_key = (cfg, None if occlusion is None else occlusion.key)
        wanted = np.zeros(len(self.df), dtype=bool)
        wanted[np.arange(len(self.df)) if train_rows is None else np.asarray(train_rows, dtype=np.int64)] = True
        held = self.flows.get(memo_key)
        if held is not None and not (wanted & ~self.augmented[memo_key]).any():
            return held
        mask = wanted | self.augmented.get(memo_key, np.zeros(len(self.df), dtype=bool))
        if occlusion is not None:  # one occluded condition in memory at a time
            for k in [k for k in self.flows if k[1] is not None and k != memo_key]:
                del self.flows[k], self.augmented[k]
        self.flows[memo_key] = build_flowset(self.df, cfg, train_mask=mask, occlusion=occlusion,
                                             progress=progress)
        self.augmented[memo_key] = mask
        return self.flows[memo_key]

    def fingerprint(self) -> str:
        """The clips' data fingerprint, computed once per workspace."""
        if "fingerprint" not in self.cache:
            self.cache["fingerprint"] = data_fingerprint(self.df)
        return self.cache["fingerprint"]

    def data_key(self, cfg: PreprocessConfig, condition: str = "unocc", occlusion: Any | None = None) -> str:
        """Hash of the clips and the flow settings (and the occluder) a run reads."""
        parts: list[Any] = [self.fingerprint(), cfg]
        if occlusion is not None:
            parts += [condition, occlusion.key]
        return stable_hash(parts)


def workspace(source: DataSource, *, classes: Sequence[int] | None = MEGC_CLASSES,
              au_task: bool = False) -> Workspace:
    """MEGC 2018 classes I–V of ``source``, or (``au_task``) every clip carrying a Table VII AU."""
    if au_task:
        df = source.load(None)
        df = df[protocols.au_task_mask(df, TABLE_VII_AUS)].reset_index(drop=True)
    else:
        df = source.load(tuple(classes) if classes is not None else None).reset_index(drop=True)
    return Workspace(source, df)


# --- folds and runs ---------------------------------------------------------------------------


def folds(ws: Workspace, protocol: Protocol, config: ProtocolConfig) -> list[protocols.Fold]:
    """The folds of ``protocol`` on the workspace: ``"hde"`` / ``"au"`` (both HDE folds),
    ``"ablation"`` (SAMM -> CASME II), ``"cde"`` (per ``config``: LOSO or grouped folds)."""
    if protocol == "ablation":
        return [f for f in protocols.hde_folds(ws.df) if f.name == ABLATION_FOLD]
    return protocols.folds(ws.df, "hde" if protocol == "au" else protocol, config)


def _specs(recipe: DeepRecipe | SVMRecipe, protocol: str, fold_list: Sequence[protocols.Fold],
           data_key: str, condition: str) -> list[RunSpec]:
    return [RunSpec(recipe.method, protocol, f.name, tuple(f.train.tolist()), tuple(f.test.tolist()), seed,
                    recipe.settings(), data_key, condition)
            for f in fold_list for seed in recipe.seeds]


def run_recipe(ws: Workspace, recipe: DeepRecipe, protocol: Protocol, *, condition: str = "unocc",
               occlusion: Any | None = None, progress: bool = True) -> list[RunResult]:
    """Every (fold, seed) run of one deep row (cached, resumable, parallel)."""
    fold_list = folds(ws, protocol, recipe.protocol)
    train_rows = np.unique(np.concatenate([f.train for f in fold_list])) if recipe.augment else np.array([], np.int64)
    fs = ws.flowset(recipe.flows, train_rows, occlusion=occlusion, progress=progress)
    model_aus = getattr(recipe.config, "resolved_aus", ()) if recipe.model == "mer_augcn" else ()
    aus = protocols.au_targets(ws.df, model_aus) if model_aus else np.zeros((len(ws.df), 0), np.int64)
    data = FlowData(fs.x, fs.clip, fs.is_original, ws.df["objective_class"].to_numpy(), aus)
    runner = DeepRunner(
        data, ModelBuilder(recipe.model, recipe.config, recipe.input_size, recipe.weights), recipe.objective,
        recipe.train, augment=recipe.augment, task=recipe.task,
        au_columns=tuple(list(model_aus).index(a) for a in TABLE_VII_AUS) if recipe.task == "au" else (),
        keep=recipe.keep,
    )
    specs = _specs(recipe, protocol, fold_list, ws.data_key(recipe.flows, condition, occlusion), condition)
    ex = recipe.execution
    return experiments.run_grid(specs, runner, n_jobs=ex.n_jobs, threads_per_job=ex.threads_per_job,
                                progress=progress, desc=f"{recipe.method} {protocol} {condition}")


def run_svm(ws: Workspace, recipe: SVMRecipe, protocol: Protocol, features: np.ndarray, *,
            condition: str = "unocc", progress: bool = True) -> list[RunResult]:
    """Every (fold, seed) SVM run of one handcrafted row on precomputed ``features`` (n_clips, F)."""
    fold_list = folds(ws, protocol, recipe.protocol)
    runner = SVMRunner(features, ws.df["objective_class"].to_numpy(), ws.df["subject"].to_numpy(), recipe.svm)
    data_key = stable_hash([ws.data_key(recipe.preprocess), condition, features.shape, float(features.sum())])
    specs = _specs(recipe, protocol, fold_list, data_key, condition)
    return experiments.run_grid(specs, runner, n_jobs=recipe.execution.n_jobs, threads_per_job=1,
                                progress=progress, desc=f"{recipe.method} {protocol} {condition}")


# --- scoring ----------------------------------------------------------------------------------


def task_of(fold: str) -> str:
    """The published reference's task of a fold name (``"loso"`` -> ``"cde"``, else ``"hde"``)."""
    return "cde" if fold in ("loso", "pooled") else "hde"


def join_published(table: pd.DataFrame, table_id: str, *, task: str | None = None) -> pd.DataFrame:
    """Add ``published`` (and the printed ``label``) from the reference, joined on :data:`paper.KEY`.

    ``table`` has ``method``, ``fold``, ``metric`` and optionally ``condition`` / ``au``
    columns; ``task`` defaults to :func:`task_of` the fold.
    """
    out = table.copy()
    if "condition" not in out:
        out["condition"] = "unocc"
    if "au" not in out:
        out["au"] = None
    out["task"] = task if task is not None else [task_of(f) for f in out["fold"]]
    pub = paper.published(table_id)

    def key(rec: Any) -> tuple[Any, ...]:
        return tuple(None if (k == "au" and pd.isna(getattr(rec, k))) else getattr(rec, k) for k in paper.KEY)

    values = {key(r): r.value for r in pub.itertuples()}
    labels = {r.method: r.label for r in pub.itertuples()}
    out["published"] = [values.get(key(r), np.nan) for r in out.itertuples()]
    if "label" not in out:
        out["label"] = [labels.get(m) or method_label(m) for m in out["method"]]
    return out


def score(
    results: Sequence[RunResult],
    table_id: str,
    *,
    metrics: Sequence[str],
    pooled_over_folds: bool,
    fold_label: str | None = None,
    with_average: bool = False,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Long table: method, label, fold, metric, ours (mean over seeds), std, n_seeds, published.

    Metrics are pooled over the folds of a protocol (``pooled_over_folds``, the MEGC
    convention) or per fold (HDE); ``with_average`` adds the mean of the folds as ``"avg"``.
    ``labels`` names rows the paper does not print.
    """
    summary = experiments.summarize(results, LABELS, by=("method",), fold_level=not pooled_over_folds)
    summary = summary[summary["metric"].isin(metrics)].copy()
    if pooled_over_folds:
        summary["fold"] = fold_label or "pooled"
    if with_average:
        avg = (summary.groupby(["method", "metric"], sort=False)
               .agg(mean=("mean", "mean"), n_seeds=("n_seeds", "min")).reset_index())
        avg["fold"], avg["std"] = "avg", np.nan
        summary = pd.concat([summary, avg], ignore_index=True)
    table = summary.rename(columns={"mean": "ours"})[["method", "fold", "metric", "ours", "std", "n_seeds"]]
    out = join_published(table, table_id)
    if labels:
        out["label"] = [labels.get(m, lab) for m, lab in zip(out["method"], out["label"], strict=True)]
    return out[["method", "label", "fold", "metric", "ours", "std", "n_seeds", "published"]]


def ordered(table: pd.DataFrame, rows: Sequence[str]) -> pd.DataFrame:
    """Rows in the paper's order, metrics in the order WAR, UAR, F1, WF1."""
    key = {m: i for i, m in enumerate(rows)}
    metric = {m: i for i, m in enumerate(METRIC_ORDER)}
    order = sorted(range(len(table)), key=lambda i: (key.get(table["method"].iat[i], len(key)),
                                                     metric.get(table["metric"].iat[i], 99)))
    return table.iloc[order].reset_index(drop=True)


METRIC_ORDER: tuple[str, ...] = ("war", "uar", "f1", "wf1", "au_f1", "au_f1_mean")
METRIC_NAMES = paper.METRIC_LABELS


def method_label(method: str) -> str:
    """The row's display label (:data:`merkit.paper.METHOD_LABELS`; the key when unknown)."""
    return paper.METHOD_LABELS.get(method, method)


def literature_rows(table_id: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Rows only the paper has (methods we do not re-implement): published value, ours empty."""
    pub = paper.published(table_id)
    pub = pub[(~pub["reproducible"]) & pub["metric"].isin(metrics)]
    return pd.DataFrame({"method": pub["method"], "label": pub["label"], "fold": pub["fold"],
                         "metric": pub["metric"], "ours": np.nan, "std": np.nan, "n_seeds": 0,
                         "published": pub["value"]}).reset_index(drop=True)


def with_column_key(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``column`` = "<fold> <METRIC>" (e.g. "SAMM→CASME II UAR") for wide display."""
    out = table.copy()
    out["column"] = [f"{FOLD_NAMES.get(f, f)} {METRIC_NAMES.get(m, m)}"
                     for f, m in zip(out["fold"], out["metric"], strict=True)]
    return out


def confusion(results: Sequence[RunResult]) -> np.ndarray:
    """Pooled confusion matrix (5 x 5) of a row's runs (all folds, all seeds)."""
    return experiments.pooled_confusion(results, LABELS)


def confusions(results: dict[str, list[RunResult]], labels: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Pooled confusion matrix per row, keyed by its label."""
    labels = labels or {}
    return {labels.get(m, method_label(m)): confusion(rs) for m, rs in results.items()}


def curves(results: dict[str, list[RunResult]], labels: dict[str, str] | None = None) -> dict[str, list[dict[str, float]]]:
    """The training curves of each row's first run (first fold, first seed)."""
    labels = labels or {}
    return {labels.get(m, method_label(m)): rs[0].history for m, rs in results.items() if rs}
