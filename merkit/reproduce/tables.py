"""The table engine every paper module uses: workspace, recipes, folds, runs and scoring.

A paper module (:mod:`~merkit.reproduce.augcn`, :mod:`~merkit.reproduce.rrrn`,
:mod:`~merkit.reproduce.handcrafted`) only *declares* its rows: for each row it builds one
frozen recipe from the profile (:class:`DeepRecipe` or :class:`SVMRecipe`) and hands it to
:func:`run_recipe`. Everything else is here, written once:

* :class:`Workspace` -- a clip table and its flows, built lazily and cached on disk;
* :func:`folds` -- HDE, the SAMM->CASME II ablation fold, CDE (LOSO or grouped, per the
  recipe's :class:`~merkit.protocols.ProtocolConfig`), and the AU task's folds;
* :func:`run_recipe` -- every (fold, seed) run of one row, through the resumable run store;
* :func:`score` -- pooled metrics per row, mean ± std over seeds, a subject-clustered bootstrap
  interval per cell (``ci_low``, ``ci_high``, ``se``), joined with the published reference on
  :data:`merkit.paper.KEY`;
* :func:`paired_differences` -- each row minus a reference row on the same resampled subjects
  (``diff``, ``diff_low``, ``diff_high``, ``significant``, ``mde``), shown by
  :func:`difference_view` and :func:`difference_notes`.

Nothing below this package sees a profile: the recipe carries exactly what a row needs, with
the flow input size in one field (:attr:`DeepRecipe.input_size`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from merkit import experiments, paper, protocols
from merkit.data import DataSource, clip_fingerprints
from merkit.data.fingerprint import combine as combine_fingerprints
from merkit.experiments import ExecutionConfig, RunResult, RunSpec
from merkit.facs import MEGC_CLASSES, ROMAN, TABLE_VII_AUS
from merkit.io import stable_hash
from merkit.metrics import BootstrapConfig, minimum_detectable_effect
from merkit.models.pretrained import describe_weights
from merkit.preprocess.pipeline import FlowSet, PreprocessConfig, build_flowset
from merkit.protocols import ProtocolConfig
from merkit.reproduce.runners import DeepRunner, FlowData, ModelBuilder, SVMRunner
from merkit.train import TrainConfig, resolve_device

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
                "task": self.task, "weights": describe_weights(self.weights)}


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


def starting_weights(recipes: Sequence[DeepRecipe]) -> pd.DataFrame:
    """Which weights each row starts from (method, label, weights: ``"random"`` or the file's
    name and SHA-256), as every report that trains states it."""
    return pd.DataFrame([{"method": r.method, "label": r.label or method_label(r.method),
                          "weights": describe_weights(r.weights)} for r in recipes])


def with_out_size(cfg: PreprocessConfig, size: int) -> PreprocessConfig:
    """``cfg`` with the flow output side set to ``size`` (28 / 112 / 224 ...)."""
    return dataclasses.replace(cfg, flow=dataclasses.replace(cfg.flow, out_size=size))


# --- workspace --------------------------------------------------------------------------------


@dataclass
class Workspace:
    """A clip table and its flows (per preprocessing and occlusion), built lazily, cached on disk.

    ``label_column``: the integer class of every clip (``objective_class`` 1..5 for MEGC 2018;
    the MEGC 2019 composite's ``emotion_label`` 1..3); ``classes``: the labels the tables
    score and ``class_names`` their display names (confusion axes, predictions CSV).
    """

    source: DataSource
    df: pd.DataFrame
    classes: tuple[int, ...] = LABELS
    label_column: str = "objective_class"
    class_names: tuple[str, ...] = CLASS_NAMES
    flows: dict[Any, FlowSet] = field(default_factory=dict)
    augmented: dict[Any, np.ndarray] = field(default_factory=dict)  # per flow key: clips with augmented pairs
    cache: dict[str, Any] = field(default_factory=dict)  # in-memory memo (fingerprint, volumes)

    def flowset(self, cfg: PreprocessConfig, train_rows: np.ndarray | None = None, *,
                occlusion: Any | None = None, progress: bool = True,
                execution: ExecutionConfig | None = None) -> FlowSet:
        """Flows under ``cfg``; clips in ``train_rows`` (default: all) get their augmented pairs.

        ``execution``: with ``executor="slurm"`` the missing clips are computed by Slurm array
        tasks (:func:`merkit.preprocess.pipeline.build_flowset`'s ``slurm``); else on this machine.

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
        slurm = execution.slurm if execution is not None and execution.executor == "slurm" else None
        self.flows[memo_key] = build_flowset(self.df, cfg, train_mask=mask, occlusion=occlusion,
                                             progress=progress, slurm=slurm)
        self.augmented[memo_key] = mask
        return self.flows[memo_key]

    @property
    def labels(self) -> np.ndarray:
        """(n_clips,) the class of every clip (:attr:`label_column`)."""
        return self.df[self.label_column].to_numpy()

    def clip_fingerprints(self) -> list[str]:
        """Content fingerprint per clip (row) of ``df``: annotation + every used frame's bytes
        (:func:`merkit.data.clip_fingerprints`), computed once per workspace."""
        if "clip_fingerprints" not in self.cache:
            self.cache["clip_fingerprints"] = clip_fingerprints(self.df)
        return self.cache["clip_fingerprints"]

    def fingerprint(self) -> str:
        """The clips' content fingerprint (:func:`merkit.data.fingerprint`), once per workspace."""
        if "fingerprint" not in self.cache:
            self.cache["fingerprint"] = combine_fingerprints(self.clip_fingerprints())
        return self.cache["fingerprint"]

    def data_key(self, cfg: PreprocessConfig, condition: str = "unocc", occlusion: Any | None = None,
                 *, rows: Sequence[int] | np.ndarray | None = None) -> str:
        """Hash of the clips a run reads, the flow settings (and the occluder).

        ``rows``: the run's clips (its train + test positions, in that order): only their
        content fingerprints enter the key, so editing a frame recomputes only the runs whose
        clips use it. ``None``: every clip of the workspace.
        """
        if rows is None:
            data = self.fingerprint()
        else:
            prints = self.clip_fingerprints()
            data = combine_fingerprints([prints[int(i)] for i in np.asarray(rows, dtype=np.int64)])
        parts: list[Any] = [data, cfg]
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
           data_key: str | Callable[[protocols.Fold], str], condition: str) -> list[RunSpec]:
    """``data_key``: one key, or a function of the fold (the clips its runs read)."""
    key_of = data_key if callable(data_key) else (lambda _f: data_key)
    settings = recipe.settings()  # once per row (it may hash a weights file)
    return [RunSpec(recipe.method, protocol, f.name, tuple(f.train.tolist()), tuple(f.test.tolist()), seed,
                    settings, key_of(f), condition)
            for f in fold_list for seed in recipe.seeds]


def _fold_rows(fold: protocols.Fold) -> np.ndarray:
    """The clips a fold's runs read: train then test positions."""
    return np.concatenate([np.asarray(fold.train, np.int64), np.asarray(fold.test, np.int64)])


def model_aus(recipe: DeepRecipe) -> tuple[int, ...]:
    """The AUs of a row's AU detectors, in its output order (``()`` without detectors)."""
    return tuple(getattr(recipe.config, "resolved_aus", ())) if recipe.model == "mer_augcn" else ()


def runner(ws: Workspace, recipe: DeepRecipe, train_rows: np.ndarray, *, occlusion: Any | None = None,
           progress: bool = True) -> DeepRunner:
    """The row's :class:`DeepRunner` over the workspace's flows (``train_rows``' augmented pairs)."""
    fs = ws.flowset(recipe.flows, train_rows, occlusion=occlusion, progress=progress, execution=recipe.execution)
    aus_of_model = model_aus(recipe)
    # clips without any AU code (SMIC) get -1 targets: the AU loss leaves them out
    aus = (protocols.au_targets(ws.df, aus_of_model, uncoded=-1) if aus_of_model
           else np.zeros((len(ws.df), 0), np.int64))
    data = FlowData(fs.x, fs.clip, fs.is_original, ws.labels, aus)
    return DeepRunner(
        data, ModelBuilder(recipe.model, recipe.config, recipe.input_size, recipe.weights), recipe.objective,
        recipe.train, augment=recipe.augment, task=recipe.task,
        au_columns=tuple(list(aus_of_model).index(a) for a in TABLE_VII_AUS) if recipe.task == "au" else (),
        keep=recipe.keep, n_classes=len(ws.classes),
    )


def run_recipe(ws: Workspace, recipe: DeepRecipe, protocol: Protocol, *, condition: str = "unocc",
               occlusion: Any | None = None, progress: bool = True) -> list[RunResult]:
    """Every (fold, seed) run of one deep row (cached, resumable, parallel)."""
    fold_list = folds(ws, protocol, recipe.protocol)
    train_rows = np.unique(np.concatenate([f.train for f in fold_list])) if recipe.augment else np.array([], np.int64)
    run_one = runner(ws, recipe, train_rows, occlusion=occlusion, progress=progress)
    specs = _specs(recipe, protocol, fold_list,
                   lambda f: ws.data_key(recipe.flows, condition, occlusion, rows=_fold_rows(f)), condition)
    ex = recipe.execution
    batched = ex.ensemble == "on" or (ex.ensemble == "auto" and resolve_device(recipe.train.device).type == "cuda")
    results = experiments.run_grid(specs, run_one, n_jobs=ex.n_jobs, threads_per_job=ex.threads_per_job,
                                   progress=progress, desc=f"{recipe.method} {protocol} {condition}",
                                   ensemble_size=ex.ensemble_size if batched else 0,
                                   executor=ex.executor, slurm=ex.slurm)
    # which AU each probability column is (for the predictions CSV; not stored, not a key)
    au_names = list(TABLE_VII_AUS) if recipe.task == "au" else list(model_aus(recipe))
    for r in results:
        r.info = r.info | {"aus": au_names}
    return results


def run_svm(ws: Workspace, recipe: SVMRecipe, protocol: Protocol, features: np.ndarray, *,
            condition: str = "unocc", progress: bool = True) -> list[RunResult]:
    """Every (fold, seed) SVM run of one handcrafted row on precomputed ``features`` (n_clips, F)."""
    fold_list = folds(ws, protocol, recipe.protocol)
    runner = SVMRunner(features, ws.labels, ws.df["subject"].to_numpy(), recipe.svm, n_classes=len(ws.classes))
    def data_key(fold: protocols.Fold) -> str:  # the fold's clips and their features only
        rows = _fold_rows(fold)
        used = np.ascontiguousarray(features[rows])
        return stable_hash([ws.data_key(recipe.preprocess, rows=rows), condition, used.shape,
                            hashlib.sha256(used.tobytes()).hexdigest()])

    specs = _specs(recipe, protocol, fold_list, data_key, condition)
    ex = recipe.execution
    return experiments.run_grid(specs, runner, n_jobs=ex.n_jobs, threads_per_job=1, progress=progress,
                                desc=f"{recipe.method} {protocol} {condition}", executor=ex.executor,
                                slurm=ex.slurm)


# --- per-clip predictions -----------------------------------------------------------------------

#: the leading columns of :func:`predictions`
PREDICTION_COLUMNS: tuple[str, ...] = ("method", "protocol", "condition", "fold", "seed", "dataset", "subject",
                                       "clip")


def iter_runs(results: Any) -> list[RunResult]:
    """Every :class:`RunResult` in ``results``: one, or dicts / lists / tuples of them, nested
    as the table functions return them (``{method: [runs]}``, ``{(method, condition): ...}``)."""
    if isinstance(results, RunResult):
        return [results]
    if isinstance(results, dict):
        return [r for value in results.values() for r in iter_runs(value)]
    if isinstance(results, (list, tuple)):
        return [r for value in results for r in iter_runs(value)]
    return []


def predictions(results: Any, df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, test clip) of ``results`` (as :func:`iter_runs` reads them), for
    re-scoring with any metric: :data:`PREDICTION_COLUMNS`, then

    * classification: ``true_class``, ``predicted_class`` (1..C: the objective classes, or the
      workspace's labels, e.g. MEGC 2019's 1 negative, 2 positive, 3 surprise),
      ``p_class_<c>`` (the model's probability of class c; an SVM's one-hot decision) and,
      for a model with AU detectors, ``p_au<n>`` (the probability of AU n);
    * the AU task (Table VII): ``true_au<n>``, ``pred_au<n>`` (0/1) and ``p_au<n>``.

    ``df``: the clip table the runs index (``ws.df``). A run shared by two rows appears once
    per row it belongs to. Runs stored before their AU list was recorded name AU columns
    ``p_au_col<j>``.
    """
    def au_names(names: list[str], n: int) -> list[str]:
        return names if len(names) == n else [f"au_col{j}" for j in range(n)]

    frames = []
    for r in iter_runs(results):
        test = np.asarray(r.test, dtype=np.int64)
        clips = df.iloc[test]
        part = {name: [r.info.get(name)] * len(test) for name in PREDICTION_COLUMNS[:5]}
        part |= {"dataset": clips["dataset"].to_numpy(), "subject": clips["subject"].to_numpy(),
                 "clip": clips["clip"].to_numpy()}
        names = [f"au{a}" for a in r.info.get("aus", [])]
        scores = np.asarray(r.scores, dtype=np.float64)
        if np.asarray(r.y_true).ndim == 2:  # the AU task
            for j, name in enumerate(au_names(names, scores.shape[1])):
                part |= {f"true_{name}": np.asarray(r.y_true)[:, j], f"pred_{name}": np.asarray(r.y_pred)[:, j],
                         f"p_{name}": scores[:, j]}
        else:
            part |= {"true_class": np.asarray(r.y_true), "predicted_class": np.asarray(r.y_pred)}
            part |= {f"p_class_{c + 1}": scores[:, c] for c in range(scores.shape[1])}
            au = r.extras.get("au_probs")
            if au is not None:
                au = np.asarray(au, dtype=np.float64)
                part |= {f"p_{name}": au[:, j] for j, name in enumerate(au_names(names, au.shape[1]))}
        frames.append(pd.DataFrame(part))
    if not frames:
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    return pd.concat(frames, ignore_index=True)


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


#: the interval columns of every long table (NaN where a cell has none, e.g. literature rows)
INTERVAL_COLUMNS: tuple[str, ...] = ("ci_low", "ci_high", "se")
#: the paired-difference columns (:func:`paired_differences`)
DIFF_COLUMNS: tuple[str, ...] = ("diff", "diff_low", "diff_high", "diff_se", "mde", "significant")


def subjects(ws: Workspace) -> np.ndarray:
    """The subject of every clip of the workspace (unique across data sets): the bootstrap's clusters."""
    return ws.df["subject"].to_numpy()


def score(
    results: Sequence[RunResult],
    table_id: str,
    *,
    metrics: Sequence[str],
    pooled_over_folds: bool,
    fold_label: str | None = None,
    with_average: bool = False,
    labels: dict[str, str] | None = None,
    groups: np.ndarray | None = None,
    bootstrap: BootstrapConfig | None = None,
    classes: Sequence[int] = LABELS,
) -> pd.DataFrame:
    """Long table: method, label, fold, metric, ours (mean over seeds), std, ci_low, ci_high, se,
    n_seeds, published.

    Metrics are pooled over the folds of a protocol (``pooled_over_folds``, the MEGC
    convention) or per fold (HDE); ``with_average`` adds the mean of the folds as ``"avg"``.
    ``labels`` names rows the paper does not print. ``groups`` (:func:`subjects`): the subject
    of every clip; with it each cell gets its subject-clustered bootstrap interval
    (:func:`merkit.experiments.intervals`, ``bootstrap`` settings): on the cell's pooled
    predictions (all folds for CDE, one fold per HDE cell), and for ``"avg"`` the bootstrap of
    the mean of the folds' metrics, resampling subjects within each fold. Without ``groups``
    the interval columns are NaN. ``classes``: the labels scored (the workspace's ``classes``).
    """
    summary = experiments.summarize(results, classes, by=("method",), fold_level=not pooled_over_folds,
                                    groups=groups, bootstrap=bootstrap)
    summary = summary[summary["metric"].isin(metrics)].copy()
    if pooled_over_folds:
        summary["fold"] = fold_label or "pooled"
    if with_average:
        avg = (summary.groupby(["method", "metric"], sort=False)
               .agg(mean=("mean", "mean"), n_seeds=("n_seeds", "min")).reset_index())
        avg["fold"], avg["std"] = "avg", np.nan
        if groups is not None:
            found = {m: experiments.intervals([r for r in results if r.info["method"] == m], classes, groups,
                                              tuple(metrics), per_fold=True, bootstrap=bootstrap)
                     for m in avg["method"].unique()}
            for col, attr in zip(INTERVAL_COLUMNS, ("low", "high", "se"), strict=True):
                avg[col] = [getattr(found[m][k], attr) for m, k in zip(avg["method"], avg["metric"], strict=True)]
        summary = pd.concat([summary, avg], ignore_index=True)
    for col in INTERVAL_COLUMNS:
        if col not in summary:
            summary[col] = np.nan
    table = summary.rename(columns={"mean": "ours"})[["method", "fold", "metric", "ours", "std", *INTERVAL_COLUMNS,
                                                      "n_seeds"]]
    out = join_published(table, table_id)
    if labels:
        out["label"] = [labels.get(m, lab) for m, lab in zip(out["method"], out["label"], strict=True)]
    return out[["method", "label", "fold", "metric", "ours", "std", *INTERVAL_COLUMNS, "n_seeds", "published"]]


def difference_row(interval: Any) -> dict[str, Any]:
    """The :data:`DIFF_COLUMNS` of one paired-difference :class:`~merkit.metrics.Interval`."""
    return {"diff": interval.estimate, "diff_low": interval.low, "diff_high": interval.high,
            "diff_se": interval.se, "mde": float(minimum_detectable_effect(interval.se)),
            "significant": interval.excludes_zero}


def paired_differences(
    results: dict[str, Sequence[RunResult]],
    reference: str,
    groups: np.ndarray,
    *,
    metrics: Sequence[str],
    per_fold: bool,
    fold_label: str | None = None,
    bootstrap: BootstrapConfig | None = None,
    labels: Sequence[int] | None = LABELS,
) -> pd.DataFrame:
    """Each row minus the ``reference`` row, with a paired subject-clustered bootstrap interval.

    Both rows predicted the same test clips (same folds): a resample draws the test subjects
    once and scores both rows on them, so the interval is that of the difference itself
    (:func:`merkit.experiments.intervals` with terms ``[(1, row), (-1, reference)]``), per fold
    (``per_fold``) or pooled over folds (labelled ``fold_label``). Columns: method, fold,
    metric, ``diff`` (= ours(row) - ours(reference)), ``diff_low``, ``diff_high``, ``diff_se``
    (the bootstrap SE of the difference), ``significant`` (the interval excludes 0) and ``mde``,
    the minimum detectable effect: ``mde = (z_0.975 + z_0.80) x diff_se = 2.80 x diff_se``, the
    true difference this test set detects with 80 % power at alpha = 0.05 (two-sided),
    computed from the data (:func:`merkit.metrics.minimum_detectable_effect`).
    """
    ref = list(results[reference])
    rows = []
    for method, runs in results.items():
        if method == reference:
            continue
        folds_ = list(dict.fromkeys(str(r.info["fold"]) for r in runs)) if per_fold else [None]
        for fold in folds_:
            a = [r for r in runs if fold is None or r.info["fold"] == fold]
            b = [r for r in ref if fold is None or r.info["fold"] == fold]
            found = experiments.intervals([(1.0, a), (-1.0, b)], labels, groups, tuple(metrics), bootstrap=bootstrap)
            for metric, interval in found.items():
                rows.append({"method": method, "fold": fold if fold is not None else (fold_label or "pooled"),
                             "metric": metric} | difference_row(interval))
    return pd.DataFrame(rows, columns=["method", "fold", "metric", *DIFF_COLUMNS])


def with_differences(table: pd.DataFrame, diffs: pd.DataFrame,
                     on: Sequence[str] = ("method", "fold", "metric")) -> pd.DataFrame:
    """``table`` with the columns of :func:`paired_differences` joined on ``on`` (NaN / False
    where a row has no difference, e.g. the reference row itself)."""
    out = table.drop(columns=[c for c in DIFF_COLUMNS if c in table]).merge(diffs, on=list(on), how="left")
    out["significant"] = out["significant"].astype("boolean").fillna(False).astype(bool)
    return out


def difference_view(table: pd.DataFrame, index: str | list[str], columns: str | list[str], *,
                    digits: int = 3, mark: str = "*") -> pd.DataFrame:
    """Wide view of the paired differences: ``+0.012 [-0.031, 0.055]``, with ``mark`` appended
    where the interval excludes 0; rows without a difference (the reference) are left out."""
    sub = table[table["diff"].notna()] if "diff" in table else table.iloc[0:0]
    cells = [f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]" + (f" {mark}" if sig else "")
             for d, lo, hi, sig in zip(sub["diff"], sub["diff_low"], sub["diff_high"], sub["significant"],
                                       strict=True)]
    sub = sub.assign(cell=cells)
    wide = sub.pivot_table(index=index, columns=columns, values="cell", aggfunc="first", sort=False)
    names = [columns] if isinstance(columns, str) else list(columns)
    if "metric" in names:  # metric-major: every row's WAR, then every row's UAR ...
        level = names.index("metric")
        rank = {m: i for i, m in enumerate(METRIC_ORDER)}

        def metric_of(c: Any) -> Any:
            return c[level] if isinstance(c, tuple) else c

        wide = wide[sorted(wide.columns, key=lambda c: rank.get(metric_of(c), len(rank)))]
    wide = wide.rename(columns=dict(METRIC_NAMES))
    wide.columns.name = None
    return wide.fillna("")


def difference_notes(table: pd.DataFrame, reference: str, bootstrap: BootstrapConfig | None = None, *,
                     mark: str = "*") -> str:
    """The legend of :func:`difference_view` and the table's minimum detectable effect.

    MDE = (z_0.975 + z_0.80) x SE = 2.80 x the bootstrap SE of the paired difference: the
    difference detectable with 80 % power at alpha = 0.05 (two-sided); reported per metric as
    the median over the table's comparisons (and its range), computed from the data. A
    comparison whose two rows predict every test clip alike has SE 0 and says nothing about
    the test set's power: it is left out of the MDE.
    """
    cfg = bootstrap or BootstrapConfig()
    level = f"{100 * cfg.confidence:g} %"
    lines = [f"{mark} = the {level} interval of the difference to {reference} excludes 0 "
             f"(paired subject-clustered bootstrap, {cfg.n_resamples} resamples of the test subjects)"]
    sub = table[table["mde"].notna() & (table["mde"] > 0)] if "mde" in table else table.iloc[0:0]
    for metric, group in sub.groupby("metric", sort=False):
        m = group["mde"]
        lines.append(f"minimum detectable effect ({METRIC_NAMES.get(metric, metric)}): {m.median():.3f} "
                     f"(median over {len(m)} comparisons, range {m.min():.3f}–{m.max():.3f})")
    if sub.empty:
        lines.append("minimum detectable effect: no comparison with a non-zero standard error")
    lines.append("MDE = (z_0.975 + z_0.80) × SE = 2.80 × the bootstrap SE of the paired difference: "
                 "the true difference detected with 80 % power at α = 0.05")
    return "\n".join(lines)


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
                         "metric": pub["metric"], "ours": np.nan, "std": np.nan,
                         **dict.fromkeys(INTERVAL_COLUMNS, np.nan), "n_seeds": 0,
                         "published": pub["value"]}).reset_index(drop=True)


def with_column_key(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``column`` = "<fold> <METRIC>" (e.g. "SAMM→CASME II UAR") for wide display."""
    out = table.copy()
    out["column"] = [f"{FOLD_NAMES.get(f, f)} {METRIC_NAMES.get(m, m)}"
                     for f, m in zip(out["fold"], out["metric"], strict=True)]
    return out


def confusion(results: Sequence[RunResult], classes: Sequence[int] = LABELS) -> np.ndarray:
    """Pooled confusion matrix (C x C, 5 x 5 by default) of a row's runs (all folds, all seeds)."""
    return experiments.pooled_confusion(results, classes)


def confusions(results: dict[str, list[RunResult]], labels: dict[str, str] | None = None, *,
               classes: Sequence[int] = LABELS) -> dict[str, np.ndarray]:
    """Pooled confusion matrix per row, keyed by its label."""
    labels = labels or {}
    return {labels.get(m, method_label(m)): confusion(rs, classes) for m, rs in results.items()}


def curves(results: dict[str, list[RunResult]], labels: dict[str, str] | None = None) -> dict[str, list[dict[str, float]]]:
    """The training curves of each row's first run (first fold, first seed)."""
    labels = labels or {}
    return {labels.get(m, method_label(m)): rs[0].history for m, rs in results.items() if rs}
