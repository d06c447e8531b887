"""The cost before the run: runs, training sample-steps, flow pairs and hours per notebook.

``python -m merkit.reproduce --profile paper --plan`` (``make plan``) trains nothing and
computes no flow. For every notebook that trains (03-07, 09-11) and for notebook 02's flows it
replays the notebook's calls with the same functions the notebooks use
(:func:`merkit.reproduce.augcn.recipe`, :func:`merkit.reproduce.rrrn.recipe`,
:func:`merkit.reproduce.handcrafted.recipe`, :func:`merkit.reproduce.tables.folds`, the rows
of :data:`~merkit.reproduce.augcn.ABLATIONS`, :data:`~merkit.reproduce.rrrn.METHODS`,
:data:`~merkit.reproduce.controls.METHODS`, the profile's conditions and seeds), builds each
run's :class:`~merkit.experiments.RunSpec` with :func:`merkit.reproduce.tables._specs` and
counts:

* **deep runs**: one per (row, fold, seed[, condition]). A run two notebooks share (MER-auGCN
  on SAMM -> CASME II in Tables III, IV and V; Table III's backbone and AUFeat. rows in
  notebook 11) is one :meth:`RunSpec.key`, stored once, so it is *new* only in the first
  notebook of ``make reproduce``'s order. The spec's ``data_key`` is a stand-in (the
  workspace's clip names, the flow settings, the condition and occluder) for the clips'
  content fingerprints, so no frame is read; within one data set both deduplicate alike.
* **training sample-steps** of a run: its training samples (each training clip's flow pairs
  when the row augments, :func:`merkit.preprocess.augment.augment_pairs`, 70 in the paper
  profile; its original pair otherwise) x ``recipe.train.epochs``.
* **SVM runs** of the handcrafted rows, deduplicated alike (Table VI's HDE LBP-TOP and 3DHOG
  runs are RRRN Table III's un-occluded ones).
* **flow pairs**: the TV-L1 pairs of every flow setting a notebook asks for (the profile's
  preprocessing at the row's output size, per occlusion condition; a clip's augmented pairs
  where some fold trains on it, else its original pair; a short clip's repeated pairs once,
  as the pipeline computes them), replaying :meth:`Workspace.flowset`'s in-memory memo. A
  (setting, clip, pair list) is one cache entry, *new* only where no earlier notebook
  computed it (notebook 02 computes every clip's augmented flows at the MER-auGCN setting;
  notebook 08's flows are a subset of those).

Hours use **measured** throughputs only, from the bench result files ``make bench`` writes
(``reports/bench/``, :func:`default_bench_dir`); ``--throughput FILE ...`` adds a column for
another machine's files. Schema (other fields are ignored)::

    train.json (this machine, CPU)  /  train-cuda.json (a GPU)
    {"machine": str, "device": "cpu" | "cuda", "timestamp": "<ISO 8601>",
     "throughput": [{"model": str, "input_size": int, "batch_size": int, "amp": str,
                     "samples_per_second": float,
                     # optional:
                     "method": str, "profile": str, "threads": int,
                     "ensemble_members": int, "ensemble_samples_per_second": float}, ...]}

    flow.json (this machine)
    {"machine": str, "device": "cpu", "timestamp": "<ISO 8601>",
     "flow_throughput": [{"crop_size": int, "pairs_per_second": float, "n_jobs": int,
                          # optional: the TV-L1 parameters measured (FlowConfig names)
                          "tvl1_params": {"nscales": 5, "warps": 1, ...}}, ...]}

Matching. ``model`` is the registered model (``DeepRecipe.model``: ``"mer_augcn"``,
``"vgg16"``, ``"resnet18_flow"``, ``"rrrn"``); ``method`` the table row it was measured for.
For MER-auGCN rows the method picks the network (:func:`merkit.models.table_variants`:
``dual_inception``, ``resnet18``, ``aufeat`` ...; the "w/o DA" row is ``mer_augcn``'s network,
Table VII's is ``au_task``); an entry without ``method`` is the full ``mer_augcn`` network.
A run is matched to an entry of its model and network, preferring the plan's ``profile``
(same widths and heads), then the nearest input size, then the same batch size, then the
``amp`` its ``TrainConfig.amp`` resolves to on the file's device. When the sizes differ the
rate is scaled by ``(measured size / wanted size)^2`` and the listing says "scaled from N px"
(and names a batch, amp or profile that differs). Flows match the entry with the same TV-L1
parameters (where the entry states them) and the nearest crop size (scaled alike), then the
same ``n_jobs``. No entry: ``not measured: run `make bench``` and the work is left out of the
hours (the cell gets a ``+``); nothing is invented. Several files for one column (a GPU
machine's ``train-cuda.json`` and its ``flow.json``) are merged, the later timestamp winning.

Execution (:class:`merkit.experiments.ExecutionConfig`), per row's grid of runs: on a CPU
the runs go to ``n_jobs`` workers of ``threads_per_job`` threads, so a grid of several runs
trains at ``min(n_jobs, runs)`` x the entry's rate (the rate of one worker; an entry whose
``threads`` exceed ``threads_per_job`` is taken as the whole machine's). Where the row trains
as batched ensembles (``ensemble="on"``, or ``"auto"`` on CUDA) the grid trains at
``ensemble_samples_per_second`` x ``min(members, ensemble_members)``: the measured ensemble's
total, never extrapolated to more members; without an ensemble rate, one model at a time.

Not in the hours (no benchmark measures them): SVM fits and the descriptors' features,
evaluation passes, notebook 02's calibration probes, data loading. Runs already in the run
store and flows already cached count as if the run started from nothing.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from merkit import paths
from merkit.config import Profile
from merkit.data import DataSource, resolve
from merkit.experiments import ExecutionConfig
from merkit.io import stable_hash
from merkit.preprocess.augment import AugmentConfig, augment_pairs
from merkit.preprocess.flow import FlowConfig
from merkit.preprocess.pipeline import PreprocessConfig
from merkit.reproduce import augcn, controls, handcrafted, megc2019, preprocessing, rrrn, tables
from merkit.reproduce.tables import DeepRecipe, SVMRecipe, Workspace

TRAIN_FILE = "train.json"
"""This machine's training throughputs in the bench directory (``train-cuda.json`` on a GPU)."""
FLOW_FILE = "flow.json"
"""This machine's flow throughputs in the bench directory."""
NOT_MEASURED = "not measured: run `make bench`"

#: the TV-L1 fields of :class:`FlowConfig` (what a flow entry's ``tvl1_params`` may state)
TVL1_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FlowConfig)
                                     if f.name not in ("crop_size", "out_size", "head_motion", "normalisation"))


def default_bench_dir() -> Path:
    """``reports/bench`` (under ``MERKIT_REPORTS`` when set): where ``make bench`` writes."""
    return paths.reports_dir() / "bench"


# --- what is looked up --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainNeed:
    """What a deep row's training throughput is looked up by."""

    model: str  # the registered model (DeepRecipe.model)
    network: str  # MER-auGCN rows: the table variant; the others: the row
    profile: str
    input_size: int
    batch_size: int
    amp: str  # TrainConfig.amp ("auto" | "bf16" | "off")

    def describe(self) -> str:
        name = f"{self.model}:{self.network}" if self.model == "mer_augcn" and self.network != self.model else self.model
        return f"{name} {self.input_size} px, batch {self.batch_size}"


@dataclass(frozen=True)
class FlowNeed:
    crop_size: int
    n_jobs: int
    tvl1: tuple[tuple[str, Any], ...]

    def describe(self) -> str:
        return f"TV-L1 crop {self.crop_size} px ({_tvl1_name(dict(self.tvl1))}), {self.n_jobs} workers"


def _tvl1_name(params: dict[str, Any]) -> str:
    quick = {"warps": 1, "outer_iterations": 1}
    if all(params.get(k) == v for k, v in quick.items()):
        return "quick TV-L1"
    return f"TV-L1 {params.get('warps')} warps x {params.get('outer_iterations')} outer"


def network_of(recipe: DeepRecipe) -> str:
    """The network a deep row trains: the table variant of a MER-auGCN row, else the row."""
    if recipe.model == "mer_augcn":
        return "au_task" if recipe.task == "au" else augcn.METHODS.get(recipe.method, (recipe.method, True))[0]
    return recipe.method


def _entry_network(model: str, method: str | None) -> str | None:
    if method is None:
        return "mer_augcn" if model == "mer_augcn" else None  # None: any row of that model
    if model == "mer_augcn":
        return augcn.METHODS.get(method, (method, True))[0]
    return method


# --- measured throughputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class BenchFile:
    """One bench result file: where it is and what it says it measured."""

    path: Path
    machine: str
    device: str
    timestamp: str

    def describe(self) -> str:
        return f"{self.path} ({self.device or 'device ?'}; {self.machine or 'machine ?'}; {self.timestamp or 'no timestamp'})"


@dataclass(frozen=True)
class TrainEntry:
    model: str
    method: str | None
    profile: str | None
    input_size: int
    batch_size: int
    amp: str
    samples_per_second: float
    source: BenchFile
    threads: int | None = None
    ensemble_members: int | None = None
    ensemble_samples_per_second: float | None = None

    @property
    def network(self) -> str | None:
        return _entry_network(self.model, self.method)


@dataclass(frozen=True)
class FlowEntry:
    crop_size: int
    pairs_per_second: float
    n_jobs: int
    source: BenchFile
    tvl1_params: tuple[tuple[str, Any], ...] | None = None


@dataclass(frozen=True)
class Match:
    """The entry a run's training or a flow setting is matched to, and the size scaling
    ``(measured / wanted)^2``."""

    entry: TrainEntry | FlowEntry
    scale: float
    notes: tuple[str, ...]

    @property
    def per_second(self) -> float:
        e = self.entry
        return (e.samples_per_second if isinstance(e, TrainEntry) else e.pairs_per_second) * self.scale

    def describe(self) -> str:
        e = self.entry
        size = e.input_size if isinstance(e, TrainEntry) else e.crop_size
        how = f"scaled from {size} px" if self.scale != 1 else "measured"
        return f"{_rate(self.per_second)}/s ({', '.join([how, *self.notes])})"


TrainMatch = FlowMatch = Match


@dataclass(frozen=True)
class Throughputs:
    """The measured throughputs of one machine: one hours column of the plan."""

    label: str
    files: tuple[BenchFile, ...] = ()
    train: tuple[TrainEntry, ...] = ()
    flow: tuple[FlowEntry, ...] = ()
    missing: tuple[Path, ...] = ()  # files looked for and not found

    @property
    def device(self) -> str:
        devices = [f.device for f in self.files if f.device]
        return "cuda" if "cuda" in devices else (devices[0] if devices else "cpu")

    def _amp(self, amp: str) -> str:
        return {"auto": "bf16" if self.device == "cuda" else "off"}.get(amp, amp)

    def train_match(self, need: TrainNeed) -> TrainMatch | None:
        """The entry of ``need``'s model and network nearest to it (``None``: not measured)."""
        found = [e for e in self.train if e.model == need.model and e.network in (None, need.network)]
        if not found:
            return None
        want_amp = self._amp(need.amp)
        best = min(found, key=lambda e: (e.profile not in (None, need.profile),
                                         abs(math.log(e.input_size / need.input_size)),
                                         e.batch_size != need.batch_size,
                                         abs(math.log(e.batch_size / need.batch_size)),
                                         self._amp(e.amp) != want_amp))
        notes = []
        if best.batch_size != need.batch_size:
            notes.append(f"batch {best.batch_size}")
        if self._amp(best.amp) != want_amp:
            notes.append(f"amp {best.amp}")
        if best.profile not in (None, need.profile):
            notes.append(f"{best.profile} profile's row")
        return TrainMatch(best, (best.input_size / need.input_size) ** 2, tuple(notes))

    def flow_match(self, need: FlowNeed) -> FlowMatch | None:
        """The entry with ``need``'s TV-L1 parameters and the nearest crop size, or ``None``."""
        want = dict(need.tvl1)
        found = [e for e in self.flow
                 if e.tvl1_params is None or all(want.get(k) == v for k, v in e.tvl1_params)]
        if not found:
            return None
        best = min(found, key=lambda e: (abs(math.log(e.crop_size / need.crop_size)), abs(e.n_jobs - need.n_jobs)))
        notes = []
        if best.n_jobs != need.n_jobs:
            notes.append(f"{best.n_jobs} workers")
        if best.tvl1_params is None:
            notes.append("TV-L1 settings not stated")
        return FlowMatch(best, (best.crop_size / need.crop_size) ** 2, tuple(notes))

    def describe(self) -> str:
        if not self.files:
            looked = ", ".join(str(p) for p in self.missing) or "no file"
            return f"{self.label}: no bench results ({looked} not found): {NOT_MEASURED}"
        lacking = f"; not found: {', '.join(str(p) for p in self.missing)}" if self.missing else ""
        return f"{self.label}: " + "; ".join(f.describe() for f in self.files) + lacking


def _get(obj: Any, name: str, kind: Callable[[Any], Any], where: str, default: Any = ...) -> Any:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if name not in obj or obj[name] is None:
        if default is not ...:
            return default
        raise ValueError(f"{where}: missing field {name!r}")
    try:
        return kind(obj[name])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: bad field {name!r} ({err})") from None


def read_bench_files(files: Iterable[str | Path], label: str | None = None) -> Throughputs:
    """Merge bench result files (the schema of the module docstring) into one column.

    Entries with the same key are taken from the file with the latest timestamp. Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` for a malformed one, naming it.
    """
    read: list[tuple[BenchFile, dict[str, Any]]] = []
    for f in files:
        path = Path(f)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"bench result file {path} does not exist (`make bench` writes it)") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not JSON ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object with 'throughput' or 'flow_throughput'")
        read.append((BenchFile(path, str(data.get("machine") or ""), str(data.get("device") or ""),
                               str(data.get("timestamp") or "")), data))
    read.sort(key=lambda r: r[0].timestamp)  # later files win below
    train: dict[tuple[Any, ...], TrainEntry] = {}
    flow: dict[tuple[Any, ...], FlowEntry] = {}
    for bench, data in read:
        for i, e in enumerate(data.get("throughput") or []):
            where = f"{bench.path}: throughput[{i}]"
            t = TrainEntry(
                _get(e, "model", str, where), _get(e, "method", str, where, None),
                _get(e, "profile", str, where, None), _get(e, "input_size", int, where),
                _get(e, "batch_size", int, where), _get(e, "amp", str, where, ""),
                _get(e, "samples_per_second", float, where), bench, _get(e, "threads", int, where, None),
                _get(e, "ensemble_members", int, where, None),
                _get(e, "ensemble_samples_per_second", float, where, None))
            if not (t.samples_per_second > 0 and t.input_size > 0 and t.batch_size > 0):
                raise ValueError(f"{where}: input_size, batch_size and samples_per_second must be positive")
            train[t.model, t.method, t.profile, t.input_size, t.batch_size, t.amp] = t
        for i, e in enumerate(data.get("flow_throughput") or []):
            where = f"{bench.path}: flow_throughput[{i}]"
            params = _get(e, "tvl1_params", dict, where, None)
            fe = FlowEntry(_get(e, "crop_size", int, where), _get(e, "pairs_per_second", float, where),
                           _get(e, "n_jobs", int, where, 1), bench,
                           None if params is None else tuple(sorted((k, v) for k, v in params.items()
                                                                    if k in TVL1_FIELDS)))
            if not (fe.pairs_per_second > 0 and fe.crop_size > 0):
                raise ValueError(f"{where}: crop_size and pairs_per_second must be positive")
            flow[fe.crop_size, fe.n_jobs, fe.tvl1_params] = fe
    benches = tuple(b for b, _ in read)
    if label is None:
        label = next((b.device for b in benches if b.device == "cuda"), None) or (
            benches[0].path.stem if benches else "?")
    return Throughputs(label, benches, tuple(train.values()), tuple(flow.values()))


def machine_throughputs(bench_dir: str | Path | None = None) -> Throughputs:
    """This machine's column: ``train.json`` and ``flow.json`` in ``bench_dir`` (default
    :func:`default_bench_dir`); a missing file means nothing of it is measured."""
    root = Path(bench_dir) if bench_dir is not None else default_bench_dir()
    wanted = [root / TRAIN_FILE, root / FLOW_FILE]
    found = read_bench_files([p for p in wanted if p.is_file()], label="this machine")
    return dataclasses.replace(found, missing=tuple(p for p in wanted if not p.is_file()))


# --- what the notebooks would run ---------------------------------------------------------------


@dataclass(frozen=True)
class DeepRun:
    key: str
    method: str
    protocol: str
    fold: str
    seed: int
    condition: str
    need: TrainNeed
    train_samples: int
    epochs: int
    grid: int  # the run_grid call (one row, protocol, condition) it belongs to
    execution: ExecutionConfig

    @property
    def sample_steps(self) -> int:
        return self.train_samples * self.epochs


@dataclass(frozen=True)
class SVMRun:
    key: str
    method: str
    protocol: str
    fold: str
    seed: int
    condition: str


#: one flow cache entry: (face config, flow config, rotation mode, augmentation or None, occluder, clip)
FlowKey = tuple[Any, ...]


@dataclass
class NotebookPlan:
    """What one notebook would compute; ``new_*``: what no earlier notebook of the plan did."""

    stem: str
    title: str
    deep: dict[str, DeepRun] = field(default_factory=dict)
    svm: dict[str, SVMRun] = field(default_factory=dict)
    flows: dict[FlowKey, int] = field(default_factory=dict)  # cache entry -> TV-L1 pairs computed
    flow_needs: dict[FlowKey, FlowNeed] = field(default_factory=dict)  # per setting (key[:-1])
    new_deep: list[DeepRun] = field(default_factory=list)
    new_svm: list[SVMRun] = field(default_factory=list)
    new_flows: dict[FlowKey, int] = field(default_factory=dict)
    note: str = ""

    @property
    def flow_pairs(self) -> int:
        return sum(self.flows.values())

    @property
    def new_flow_pairs(self) -> int:
        return sum(self.new_flows.values())

    @property
    def sample_steps(self) -> int:
        return sum(r.sample_steps for r in self.deep.values())

    @property
    def new_sample_steps(self) -> int:
        return sum(r.sample_steps for r in self.new_deep)

    def new_flow_work(self) -> dict[FlowNeed, int]:
        """New TV-L1 pairs per flow throughput lookup."""
        out: Counter[FlowNeed] = Counter()
        for key, pairs in self.new_flows.items():
            out[self.flow_needs[key[:-1]]] += pairs
        return dict(out)


@dataclass
class Plan:
    profile: Profile
    source: DataSource
    notebooks: list[NotebookPlan]
    clips: int  # classes I-V
    au_clips: int  # the AU task set

    @property
    def new_deep(self) -> list[DeepRun]:
        return [r for nb in self.notebooks for r in nb.new_deep]

    @property
    def new_svm(self) -> list[SVMRun]:
        return [r for nb in self.notebooks for r in nb.new_svm]

    def new_flow_work(self) -> dict[FlowNeed, int]:
        out: Counter[FlowNeed] = Counter()
        for nb in self.notebooks:
            out.update(nb.new_flow_work())
        return dict(out)


@dataclass
class _WS:
    """A workspace as the planner sees it: its clips' names and pair counts, and an identity."""

    ws: Workspace
    id: str
    names: list[str]
    _counts: dict[tuple[Any, bool], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def counts(self, cfg: AugmentConfig, augment: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per clip: (samples stored, distinct pairs computed), with or without augmentation."""
        key = (cfg, augment)
        if key not in self._counts:
            stored, distinct = [], []
            for on, ap, off in zip(self.ws.df["onset"], self.ws.df["apex"], self.ws.df["offset"], strict=True):
                pairs = augment_pairs(int(on), int(ap), int(off), cfg, augment=augment)
                stored.append(len(pairs))
                distinct.append(len({(p, a) for p, a, _ in pairs}))
            self._counts[key] = (np.array(stored, np.int64), np.array(distinct, np.int64))
        return self._counts[key]


def _ws(ws: Workspace, source: DataSource, extra: str = "") -> _WS:
    names = [f"{s}/{c}" for s, c in zip(ws.df["subject"], ws.df["clip"], strict=True)]
    ident = stable_hash([source.kind, source.scale, source.variant, [str(p) for p in source.roots.values()],
                         names, extra])
    return _WS(ws, ident, names)


def _occ_key(occlusion: Any | None) -> str | None:
    return None if occlusion is None else str(occlusion.key)


class _Session:
    """One notebook's kernel: replays :meth:`Workspace.flowset`'s in-memory memo, records runs."""

    def __init__(self, nb: NotebookPlan, profile: Profile, grids: Iterable[int]) -> None:
        self.nb = nb
        self.profile = profile
        self.grids = iter(grids)
        self.memo: dict[tuple[str, Any, str | None], np.ndarray] = {}

    # -- flows -----------------------------------------------------------------------------------
    def build(self, w: _WS, cfg: PreprocessConfig, mask: np.ndarray, occlusion: Any | None = None) -> None:
        """What :func:`merkit.preprocess.pipeline.build_flowset` reads or computes: one cache
        entry per clip (its augmented pairs where ``mask``, else its original pair)."""
        occ = _occ_key(occlusion)
        _, with_aug = w.counts(cfg.augment, True)
        _, without = w.counts(cfg.augment, False)
        tvl1 = tuple((k, getattr(cfg.flow, k)) for k in TVL1_FIELDS)
        for i, name in enumerate(w.names):
            augmented = bool(mask[i]) and cfg.augment.enabled
            setting = (cfg.face, cfg.flow, cfg.augment.rotate_on, cfg.augment if augmented else None, occ)
            self.nb.flows[(*setting, name)] = int(with_aug[i] if augmented else without[i])
            self.nb.flow_needs[setting] = FlowNeed(int(cfg.flow.crop_size), int(cfg.n_jobs), tvl1)

    def flowset(self, w: _WS, cfg: PreprocessConfig, train_rows: np.ndarray, *,
                occlusion: Any | None = None) -> None:
        """:meth:`merkit.reproduce.tables.Workspace.flowset`, computing nothing."""
        memo_key = (w.id, cfg, _occ_key(occlusion))
        wanted = np.zeros(len(w.names), dtype=bool)
        wanted[np.asarray(train_rows, dtype=np.int64)] = True
        held = self.memo.get(memo_key)
        if held is not None and not (wanted & ~held).any():
            return
        mask = wanted | (held if held is not None else False)
        if occlusion is not None:  # one occluded condition in memory at a time
            for k in [k for k in self.memo if k[0] == w.id and k[2] is not None and k != memo_key]:
                del self.memo[k]
        self.memo[memo_key] = mask
        self.build(w, cfg, mask, occlusion)

    # -- runs ------------------------------------------------------------------------------------
    def deep(self, w: _WS, recipe: DeepRecipe, protocol: tables.Protocol, *, condition: str = "unocc",
             occlusion: Any | None = None) -> list[DeepRun]:
        """:func:`merkit.reproduce.tables.run_recipe`: its flows and its grid of (fold, seed) runs."""
        fold_list = tables.folds(w.ws, protocol, recipe.protocol)
        train_rows = (np.unique(np.concatenate([f.train for f in fold_list])) if recipe.augment
                      else np.array([], np.int64))
        self.flowset(w, recipe.flows, train_rows, occlusion=occlusion)
        data_key = stable_hash(["plan", w.id, recipe.flows, condition, _occ_key(occlusion)])
        specs = tables._specs(recipe, protocol, fold_list, data_key, condition)
        stored, _ = w.counts(recipe.flows.augment, recipe.augment)
        samples = {f.name: int(stored[np.asarray(f.train, np.int64)].sum()) for f in fold_list}
        need = TrainNeed(recipe.model, network_of(recipe), self.profile.name, int(recipe.input_size),
                         int(recipe.train.batch_size), str(recipe.train.amp))
        grid = next(self.grids)
        runs = [DeepRun(s.key(), s.method, s.protocol, s.fold, s.seed, s.condition, need, samples[s.fold],
                        int(recipe.train.epochs), grid, recipe.execution) for s in specs]
        for r in runs:
            self.nb.deep.setdefault(r.key, r)
        return runs

    def svm(self, w: _WS, recipe: SVMRecipe, protocol: tables.Protocol, *, condition: str = "unocc",
            occlusion_seed: int = 0) -> list[SVMRun]:
        """:func:`merkit.reproduce.handcrafted.run_descriptor`: its features' flows, its SVM runs."""
        none = np.array([], np.int64)
        self.flowset(w, recipe.preprocess, none)  # the face boxes
        occlusion = handcrafted.occlusion_spec(condition, occlusion_seed)
        if recipe.descriptor.name == "hoof":  # the original pair at the crop size
            crop = tables.with_out_size(recipe.preprocess, recipe.preprocess.flow.crop_size)
            self.flowset(w, crop, none, occlusion=occlusion)
        fold_list = tables.folds(w.ws, protocol, recipe.protocol)
        # the features depend on the occluder (none for "unocc", whatever the seed)
        data_key = stable_hash(["plan", w.id, recipe.preprocess, condition, _occ_key(occlusion)])
        runs = [SVMRun(s.key(), s.method, s.protocol, s.fold, s.seed, s.condition)
                for s in tables._specs(recipe, protocol, fold_list, data_key, condition)]
        for r in runs:
            self.nb.svm.setdefault(r.key, r)
        return runs


class _Planner:
    """The workspaces of one data source, loaded once, and each notebook's calls replayed."""

    def __init__(self, profile: Profile, source: DataSource) -> None:
        self.profile = profile
        self.source = source
        self._ws: dict[str, _WS] = {}

    def workspace(self, which: str) -> _WS:
        if which not in self._ws:
            if which == "standard":
                self._ws[which] = _ws(augcn.workspace(self.source), self.source)
            elif which == "au":
                self._ws[which] = _ws(augcn.workspace(self.source, au_task=True), self.source)
            elif which == "occlusion":  # rrrn.workspace: the same I-V clip table
                self._ws[which] = _ws(rrrn.workspace(self.source), self.source)
            elif which == "megc2019":  # megc2019.workspace on the composite's data sets
                data = dataclasses.replace(self.profile.data, datasets=self.profile.megc2019.datasets)
                src = resolve(data, generate=self.source.is_synthetic)
                self._ws[which] = _ws(megc2019.workspace(src), src)
            elif which == "shuffled-aus":
                # the control has the standard set's frames, timing and classes (only the sheets'
                # AU codes are permuted): the same folds and flows, its own runs
                standard = self.workspace("standard")
                self._ws[which] = _ws(standard.ws, self.source, extra="shuffled-aus")
            else:
                raise KeyError(which)
        return self._ws[which]

    # -- one method per notebook, in the notebook's call order -----------------------------------
    def nb02(self, s: _Session) -> None:
        w = self.workspace("standard")  # preprocessing.clip_flows(source.load(), profile)
        s.build(w, preprocessing.flow_config(self.profile), np.ones(len(w.names), dtype=bool))

    def _ablation(self, s: _Session, name: str) -> None:
        w = self.workspace("standard")  # augcn.ablation_table
        for method in augcn.ABLATIONS[name][1]:
            s.deep(w, augcn.recipe(self.profile, method), "ablation")

    def nb03(self, s: _Session) -> None:
        self._ablation(s, "table3")

    def nb04(self, s: _Session) -> None:
        self._ablation(s, "table4")

    def nb05(self, s: _Session) -> None:
        self._ablation(s, "table5")

    def nb06(self, s: _Session) -> None:
        w = self.workspace("standard")
        deep = augcn.recipe(self.profile, "mer_augcn")  # augcn.hde_cde_rows
        s.deep(w, deep, "hde")
        s.deep(w, deep, "cde")
        for name in inspect.signature(handcrafted.table6_rows).parameters["names"].default:
            r = handcrafted.recipe(self.profile, name)  # handcrafted.table6_rows
            s.svm(w, r, "hde")
            s.svm(w, r, "cde")

    def nb07(self, s: _Session) -> None:
        s.deep(self.workspace("au"), augcn.recipe(self.profile, "mer_augcn", au_task=True), "au")

    def _occlusion(self, s: _Session, protocol: tables.Protocol) -> None:
        w = self.workspace("occlusion")  # rrrn.occlusion_table -> rrrn.run_condition
        seed = self.profile.occlusion.occlusion_seed
        for condition in self.profile.occlusion.conditions:
            for m in rrrn.METHODS:
                if m in rrrn.HANDCRAFTED:
                    r = handcrafted.recipe(self.profile, m, protocol_section="occlusion")
                    s.svm(w, r, protocol, condition=condition, occlusion_seed=seed)
                else:
                    s.deep(w, rrrn.recipe(self.profile, m), protocol, condition=condition,
                           occlusion=handcrafted.occlusion_spec(condition, seed))

    def nb09(self, s: _Session) -> None:
        self._occlusion(s, "hde")

    def nb10(self, s: _Session) -> None:
        self._occlusion(s, "cde")

    def nb11(self, s: _Session) -> None:
        if not self.source.is_synthetic:
            s.nb.note = "licensed data: the controls need the synthetic set; nothing runs"
            return
        for which in controls.SETS:  # controls.gain_table
            w = self.workspace(which)
            for m in controls.METHODS:
                s.deep(w, augcn.recipe(self.profile, m), "ablation")


    def nb12(self, s: _Session) -> None:
        try:
            w = self.workspace("megc2019")
        except (RuntimeError, FileNotFoundError) as error:  # e.g. SMIC_ROOT not set
            s.nb.note = f"not planned: {error}"
            return
        for m in self.profile.megc2019.methods:  # megc2019.run
            r = megc2019.recipe(self.profile, m)
            if isinstance(r, SVMRecipe):
                s.svm(w, r, "cde")
            else:
                s.deep(w, r, "cde")


#: (notebook stem, title, planner method), in ``make reproduce``'s order
NOTEBOOKS: tuple[tuple[str, str, str], ...] = (
    ("02-preprocessing", "02 preprocessing: every clip's flows", "nb02"),
    ("03-table3-module-ablation", "03 MER-auGCN Table III (modules)", "nb03"),
    ("04-table4-attention-loss", "04 MER-auGCN Table IV (attention, loss)", "nb04"),
    ("05-table5-graph", "05 MER-auGCN Table V (graph)", "nb05"),
    ("06-table6-state-of-the-art", "06 MER-auGCN Table VI (HDE, CDE)", "nb06"),
    ("07-table7-au-detection", "07 MER-auGCN Table VII (AU detection)", "nb07"),
    ("09-rrrn-table3-occluded-hde", "09 RRRN Table III (occluded HDE)", "nb09"),
    ("10-rrrn-table4-occluded-cde", "10 RRRN Table IV (occluded CDE)", "nb10"),
    ("11-benchmark-controls", "11 benchmark controls", "nb11"),
    ("12-megc2019-composite", "12 MEGC 2019 composite", "nb12"),
)


def plan(profile: Profile, source: DataSource | None = None, *, only: Sequence[str] = ()) -> Plan:
    """Every notebook's runs and flows under ``profile``; nothing is trained or computed.

    ``source``: default ``resolve(profile.data)``. ``only``: notebook stems or their number
    prefixes (``"03"``); the notebooks left out count as not run.
    """
    import itertools

    source = source if source is not None else resolve(profile.data)
    planner = _Planner(profile, source)
    grids = itertools.count()
    seen_runs: set[str] = set()
    seen_flows: set[FlowKey] = set()
    out = []
    for stem, title, method in NOTEBOOKS:
        if only and not any(stem == o or stem.startswith(o) for o in only):
            continue
        nb = NotebookPlan(stem, title)
        getattr(planner, method)(_Session(nb, profile, grids))
        nb.new_deep = [r for k, r in nb.deep.items() if k not in seen_runs]
        nb.new_svm = [r for k, r in nb.svm.items() if k not in seen_runs]
        nb.new_flows = {k: v for k, v in nb.flows.items() if k not in seen_flows}
        seen_runs |= set(nb.deep) | set(nb.svm)
        seen_flows |= set(nb.flows)
        out.append(nb)
    return Plan(profile, source, out, len(planner.workspace("standard").names),
                len(planner.workspace("au").names))


# --- hours --------------------------------------------------------------------------------------


def grid_rate(match: TrainMatch, execution: ExecutionConfig, runs: int, device: str) -> tuple[float, str]:
    """Samples/s a grid of ``runs`` runs of one row trains at, and how (module docstring)."""
    e = match.entry
    batched = execution.ensemble == "on" or (execution.ensemble == "auto" and device == "cuda")
    if batched:
        members = min(runs, execution.ensemble_size)
        if e.ensemble_samples_per_second and e.ensemble_members:
            k = min(members, e.ensemble_members)
            return e.ensemble_samples_per_second * match.scale * k, f"ensembles, {e.ensemble_members} members measured"
        return match.per_second, "one model at a time (no ensemble rate measured)"
    if device == "cpu" and execution.n_jobs > 1 and runs > 1 and (e.threads is None
                                                                   or e.threads <= execution.threads_per_job):
        workers = min(execution.n_jobs, runs)
        return match.per_second * workers, f"x{execution.n_jobs} workers"
    return match.per_second, ""


@dataclass(frozen=True)
class Estimate:
    """Hours of the measured part of some work, and what was left out (no measured rate)."""

    hours: float
    left_out: tuple[str, ...] = ()
    work: bool = True  # there is something to do at all
    how: tuple[str, ...] = ()  # execution notes of the measured part

    def cell(self) -> str:
        if not self.work:
            return "-"
        if self.left_out and self.hours == 0:
            return "n/m"
        return _hours(self.hours) + ("+" if self.left_out else "")


def train_seconds(runs: Iterable[DeepRun], tp: Throughputs) -> tuple[float, list[TrainNeed], set[str]]:
    """Seconds of the measured ``runs`` (grid by grid), the needs not measured, execution notes."""
    grids: dict[int, list[DeepRun]] = {}
    for r in runs:
        grids.setdefault(r.grid, []).append(r)
    seconds, left, how = 0.0, [], set()
    for members in grids.values():
        need = members[0].need
        match = tp.train_match(need)
        if match is None:
            if need not in left:
                left.append(need)
            continue
        rate, note = grid_rate(match, members[0].execution, len(members), tp.device)
        seconds += sum(r.sample_steps for r in members) / rate
        if note:
            how.add(note)
    return seconds, left, how


def estimate(deep: Iterable[DeepRun], flows: dict[FlowNeed, int], tp: Throughputs, *, svm: int = 0) -> Estimate:
    """Hours of ``deep`` runs and ``flows`` (pairs per lookup) at ``tp``'s measured rates."""
    deep = list(deep)
    seconds, left_needs, how = train_seconds(deep, tp)
    left = [n.describe() for n in left_needs]
    for need, pairs in flows.items():
        if not pairs:
            continue
        match = tp.flow_match(need)
        if match is None:
            left.append(need.describe())
        else:
            seconds += pairs / match.per_second
    if svm:
        left.append("SVM fits and descriptor features")
    work = bool(deep) or any(flows.values()) or bool(svm)
    return Estimate(seconds / 3600, tuple(left), work, tuple(sorted(how)))


def notebook_estimate(nb: NotebookPlan, tp: Throughputs) -> Estimate:
    """The hours of what this notebook computes new (see :class:`NotebookPlan`)."""
    return estimate(nb.new_deep, nb.new_flow_work(), tp, svm=len(nb.new_svm))


def plan_estimate(p: Plan, tp: Throughputs) -> Estimate:
    """The hours of the whole plan (each run and flow once)."""
    return estimate(p.new_deep, p.new_flow_work(), tp, svm=len(p.new_svm))


# --- printing -----------------------------------------------------------------------------------


def _count(n: int) -> str:
    if n < 10_000:
        return f"{n:,}"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)  # pragma: no cover


def _hours(h: float) -> str:
    if h == 0:
        return "0"
    if h < 0.01:
        return "<0.01"
    return f"{h:.2f}" if h < 10 else (f"{h:.1f}" if h < 100 else f"{h:,.0f}")


def _rate(x: float) -> str:
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def _render(header: Sequence[str], rows: Sequence[Sequence[str]], total: Sequence[str] | None = None) -> list[str]:
    """Aligned columns (the first left-aligned, the others right-aligned); ``total`` after a rule."""
    every = [header, *rows, *([total] if total is not None else [])]
    widths = [max(len(str(r[i])) for r in every) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    rule = "-" * len(line(header))
    out = [line(header), rule, *[line(r) for r in rows]]
    return out + ([rule, line(total)] if total is not None else [])


def render(p: Plan, columns: Sequence[Throughputs]) -> str:
    """The plan as text: the per-notebook table, the rates behind its hours, and the notes."""
    prof = p.profile
    lines = [f"plan of profile {prof.name!r} ({prof.description}); seeds {list(prof.seeds)}",
             f"data: {p.source.label}: {p.clips} clips of classes I–V, {p.au_clips} in the AU task set",
             "throughputs (measured, from the latest bench results):"]
    lines += [f"  {tp.describe()}" for tp in columns]
    lines.append("")
    header = ["notebook", "deep runs new/all", "SVM runs new/all", "sample-steps new", "flow pairs new/all",
              *[f"h {tp.label}" for tp in columns]]
    rows = [[nb.title, f"{len(nb.new_deep):,}/{len(nb.deep):,}", f"{len(nb.new_svm):,}/{len(nb.svm):,}",
             _count(nb.new_sample_steps), f"{_count(nb.new_flow_pairs)}/{_count(nb.flow_pairs)}",
             *[notebook_estimate(nb, tp).cell() for tp in columns]] for nb in p.notebooks]
    totals = [plan_estimate(p, tp) for tp in columns]
    total = ["total (each run and flow once)", f"{len(p.new_deep):,}", f"{len(p.new_svm):,}",
             _count(sum(r.sample_steps for r in p.new_deep)), _count(sum(nb.new_flow_pairs for nb in p.notebooks)),
             *[t.cell() for t in totals]]
    lines += _render(header, rows, total)
    lines += [f"  {nb.title}: {nb.note}" for nb in p.notebooks if nb.note]
    lines += ["", "new: not computed by an earlier notebook of `make reproduce` (the run store and the flow "
              "cache keep it); all: what the notebook asks for. sample-steps = training samples x epochs.",
              "h: estimated hours of the new work at measured rates; + = leaves out work with no measured "
              "rate (listed below); n/m = none of it measured."]
    for tp, t in zip(columns, totals, strict=True):
        if t.how:
            lines.append(f"{tp.label}: deep grids train as {'; '.join(t.how)} (ExecutionConfig)")
    # the rates behind the hours
    per_need: dict[TrainNeed, list[DeepRun]] = {}
    for r in p.new_deep:
        per_need.setdefault(r.need, []).append(r)
    trows = []
    for need, runs in sorted(per_need.items(), key=lambda kv: -sum(r.sample_steps for r in kv[1])):
        cells = []
        for tp in columns:
            match = tp.train_match(need)
            if match is None:
                cells.append(NOT_MEASURED)
            else:
                seconds, _, _ = train_seconds(runs, tp)
                cells.append(f"{match.describe()}, {_hours(seconds / 3600)} h")
        trows.append([need.describe(), f"{len(runs):,}", _count(sum(r.sample_steps for r in runs)), *cells])
    if trows:
        lines += ["", "training throughput per model, input size and batch size (samples/s of one model):"]
        lines += [f"  {x}" for x in _render(["model", "runs", "sample-steps", *[tp.label for tp in columns]], trows)]
    frows = []
    for need, pairs in sorted(p.new_flow_work().items(), key=lambda kv: -kv[1]):
        if not pairs:
            continue
        cells = []
        for tp in columns:
            match = tp.flow_match(need)
            cells.append(NOT_MEASURED if match is None
                         else f"{match.describe()}, {_hours(pairs / match.per_second / 3600)} h")
        frows.append([need.describe(), _count(pairs), *cells])
    if frows:
        lines += ["", "flow throughput per crop size (TV-L1 pairs/s of the pipeline):"]
        lines += [f"  {x}" for x in _render(["flows", "pairs", *[tp.label for tp in columns]], frows)]
    lines += ["", "not in the hours: " + (f"{len(p.new_svm):,} SVM runs and their descriptor features (no "
                                           "benchmark measures them), " if p.new_svm else "")
              + "evaluation passes, data loading; runs already stored and flows already cached count as new."]
    return "\n".join(lines)


def throughput_columns(bench_dir: str | Path | None = None,
                       extra: Sequence[Sequence[str | Path]] = ()) -> list[Throughputs]:
    """This machine's column (``bench_dir``) and one column per group of ``extra`` files."""
    cols = [machine_throughputs(bench_dir)]
    labels = {cols[0].label}
    for files in extra:
        tp = read_bench_files(files)
        label, n = tp.label, 2
        while label in labels:
            label, n = f"{tp.label}-{n}", n + 1
        labels.add(label)
        cols.append(dataclasses.replace(tp, label=label))
    return cols


def cli(profile: Profile, source: DataSource | None = None, *, bench_dir: str | Path | None = None,
        throughput: Sequence[Sequence[str | Path]] = (), only: Sequence[str] = ()) -> int:
    """What ``python -m merkit.reproduce --plan`` prints; returns the exit status."""
    try:
        cols = throughput_columns(bench_dir, throughput)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}")
        return 2
    print(render(plan(profile, source, only=only), cols))
    return 0
