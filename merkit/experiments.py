"""The grid of runs: one run = (method settings, protocol fold, seed) on one data set.

Each finished run's predictions and training curves are stored under a key that hashes
everything the result depends on (method settings, fold indices, seed, the content
fingerprints of the clips the run reads (``RunSpec.data_key``), :data:`CODE_VERSION`), with
SHA-256 checksums that are checked on every read (:class:`RunStore`). A grid is resumable: kill it, start it again, and finished runs are read
back, never recomputed. Runs go to worker processes on one machine (joblib/loky), or, with
``ExecutionConfig.executor == "slurm"``, to the tasks of a Slurm job array (:mod:`merkit.cluster`,
via submitit), each saving its own result atomically the moment it finishes; the store is the only
coordination. Metrics are computed afterwards, pooled over the folds of a protocol from the
stored predictions (the MEGC 2018 convention), then mean ± std over seeds. A run that failed on
Slurm never becomes a number: :func:`run_grid` raises :class:`GridIncomplete` (naming each
missing run, its job ids and logs) once every other run is stored, and a re-run computes only
what is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from merkit import cluster, metrics, paths
from merkit.cluster import SlurmConfig
from merkit.io import (
    atomic_path,
    die_with_parent,
    file_fingerprint,
    parent_alive,
    pid_alive,
    read_json,
    remove_stale_temps,
    stable_hash,
    to_json,
    write_json,
)

#: Bump when training/evaluation semantics change, so stale results are not reused.
CODE_VERSION = "4"  # 2: BatchNorm recalibration (merkit.train.recalibrate_batch_norm); 3: fused Adam kernel; 4: clips without AU codes are left out of the AU loss


#: where :func:`run_grid` (and the flow preprocessing) runs: this machine, or Slurm job arrays
EXECUTORS: tuple[str, ...] = ("local", "slurm")


@dataclass(frozen=True)
class ExecutionConfig:
    """How a grid is executed (never part of a run key): ``n_jobs`` worker processes, each
    with ``threads_per_job`` torch threads (a lone run gets every core); or (``executor=
    "slurm"``) one Slurm array task per pending run, or per ensemble, submitted as ``slurm``
    says. Environment overrides: :func:`execution_from_env`."""

    n_jobs: int = 2
    threads_per_job: int = 1
    #: train the runs of one table row (its folds x seeds) as batched ensembles
    #: (:mod:`merkit.ensemble`): ``"auto"`` = on CUDA only (on this project's 2-core CPU the
    #: vmapped convolutions are slower than the plain loop, ``make bench train`` measures it)
    ensemble: Literal["auto", "on", "off"] = "auto"
    #: at most this many members per ensemble (a GPU holds one row's 47 LOSO folds at once)
    ensemble_size: int = 64
    #: ``"local"`` (this machine) or ``"slurm"`` (job arrays, :mod:`merkit.cluster`)
    executor: Literal["local", "slurm"] = "local"
    #: the Slurm submission (partition, CPUs, GPUs, memory, time, retries, ...)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"ExecutionConfig.executor must be 'local' or 'slurm', not {self.executor!r}")
        if self.ensemble not in ("auto", "on", "off"):
            raise ValueError(f"ExecutionConfig.ensemble must be 'auto', 'on' or 'off', not {self.ensemble!r}")
        if self.ensemble_size < 1:
            raise ValueError(f"ExecutionConfig.ensemble_size must be >= 1, got {self.ensemble_size}")


#: the environment variable that selects the executor (``make reproduce EXECUTOR=slurm`` sets it)
EXECUTOR_ENV = "MERKIT_EXECUTOR"


def execution_from_env(execution: ExecutionConfig, environ: Mapping[str, str] | None = None) -> ExecutionConfig:
    """``execution`` with the environment's overrides (default ``os.environ``): ``MERKIT_EXECUTOR``
    (``local`` | ``slurm``) and the ``MERKIT_SLURM_*`` variables of :func:`merkit.cluster.
    slurm_from_env`. The Makefile maps ``make reproduce EXECUTOR=slurm SLURM_PARTITION=gpu ...``
    onto them (merkit never reads ``SLURM_*``: Slurm sets those inside its jobs). Unset or
    blank variables change nothing; a bad value is a ``ValueError`` naming the variable.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(EXECUTOR_ENV, "").strip().lower()
    if raw and raw not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV} (make reproduce EXECUTOR=...) must be 'local' or 'slurm', "
                         f"not {environ[EXECUTOR_ENV]!r}")
    slurm = cluster.slurm_from_env(execution.slurm, environ)
    changes: dict[str, Any] = {"executor": raw} if raw and raw != execution.executor else {}
    if slurm != execution.slurm:
        changes["slurm"] = slurm
    return dataclasses.replace(execution, **changes) if changes else execution


@dataclass(frozen=True)
class RunSpec:
    """What one run computes. ``settings`` is any JSON-able frozen dataclass or dict."""

    method: str
    protocol: str  # "hde" | "cde" | "au" | "occ-hde" ...
    fold: str
    train: tuple[int, ...]
    test: tuple[int, ...]
    seed: int
    settings: Any
    data_key: str
    condition: str = "unocc"

    def key(self) -> str:
        """Hash of every field (nested dataclasses included) and :data:`CODE_VERSION`."""
        return stable_hash({"spec": self, "code": CODE_VERSION}, length=24)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "protocol": self.protocol, "fold": self.fold,
                "seed": self.seed, "condition": self.condition, "n_train": len(self.train),
                "n_test": len(self.test)}


@dataclass
class RunResult:
    """Stored outcome of one run. Arrays are per TEST clip, in ``spec.test`` order."""

    key: str
    info: dict[str, Any]
    test: np.ndarray  # (n,) positions in the clip table
    y_true: np.ndarray  # (n,) class labels (1..C) — or (n, K) AU targets for the AU task
    y_pred: np.ndarray  # (n,) predicted labels — or (n, K) 0/1
    scores: np.ndarray  # (n, C) class probabilities or (n, K) AU probabilities
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class RunCorruptedWarning(UserWarning):
    """A stored run failed its checksum (or could not be read); it was deleted and is recomputed."""


def _payload_sha(payload: dict[str, Any]) -> str:
    return hashlib.sha256(to_json(payload, indent=None).encode("utf-8")).hexdigest()


class RunStore:
    """Content-addressed, checksummed store of run results under ``<cache>/runs/``.

    Each run is ``<key>.npz`` (arrays) and ``<key>.json`` (written last: the completion marker)
    holding the payload (key, info, history, seconds, n), ``npz_sha256`` (SHA-256 of the npz
    file's bytes) and ``sha256`` (SHA-256 of the canonical JSON of everything else). Reading
    checks both: a run whose files fail a checksum, cannot be parsed or disagree with their key
    is never served: :meth:`has` warns (:class:`RunCorruptedWarning`, naming the run key,
    method, fold and seed), deletes it and reports it missing, so the grid recomputes it.
    Opening a store removes the temporary files killed writers left (stale ones only, see
    :func:`merkit.io.remove_stale_temps`).
    """

    _cleaned: set[str] = set()

    def __init__(self, root: Path | None = None, *, clean: bool = True) -> None:
        self.root = root or (paths.cache_dir() / "runs")
        # clean=False in Slurm tasks: a temp file's writer may be alive on another node, where
        # this node cannot see its pid (the grid's own process cleans before it submits)
        if clean and str(self.root) not in RunStore._cleaned:
            RunStore._cleaned.add(str(self.root))
            remove_stale_temps(self.root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.npz", folder / f"{key}.json"

    def marked(self, key: str) -> bool:
        """Whether run ``key``'s completion marker exists (unverified: :meth:`has` checks it)."""
        return self._paths(key)[1].exists()

    def has(self, key: str) -> bool:
        npz, meta = self._paths(key)
        if not (npz.exists() and meta.exists()):
            return False
        try:
            self.load(key)
        except Exception as exc:  # corrupted: recompute, never use
            warnings.warn(f"run {key} ({self._describe(meta)}): stored result is corrupted ({exc}); "
                          "deleted, it will be recomputed", RunCorruptedWarning, stacklevel=2)
            npz.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            return False
        return True

    @staticmethod
    def _describe(meta: Path) -> str:
        """``method ..., fold ..., seed ...`` as far as the (possibly damaged) marker says."""
        try:
            info = read_json(meta).get("info", {})
            return ", ".join(f"{k} {info.get(k, '?')}" for k in ("method", "fold", "seed"))
        except Exception:
            return "method ?, fold ?, seed ? (marker unreadable)"

    def save(self, result: RunResult) -> None:
        npz, meta = self._paths(result.key)
        arrays = {"test": result.test, "y_true": result.y_true, "y_pred": result.y_pred,
                  "scores": result.scores} | {f"extra_{k}": v for k, v in result.extras.items()}
        with atomic_path(npz, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
            npz_sha = file_fingerprint(tmp)
        # The JSON is written last: it is the completion marker.
        payload = {"key": result.key, "info": result.info, "history": result.history,
                   "seconds": result.seconds, "n": int(len(result.test)), "npz_sha256": npz_sha}
        payload = json.loads(to_json(payload, indent=None))  # the checksum covers what is read back
        write_json(meta, payload | {"sha256": _payload_sha(payload)})

    def load(self, key: str) -> RunResult:
        npz, meta = self._paths(key)
        info = read_json(meta)
        sha = info.pop("sha256", None) if isinstance(info, dict) else None
        if sha is None:
            raise ValueError(f"{meta}: no checksum (written by an older merkit)")
        if _payload_sha(info) != sha:
            raise ValueError(f"{meta}: checksum mismatch (the JSON record was altered)")
        if info.get("key") != key:
            raise ValueError(f"{meta}: holds run {info.get('key')!r}, not {key!r}")
        if file_fingerprint(npz) != info.get("npz_sha256"):
            raise ValueError(f"{npz}: checksum mismatch (the arrays were altered)")
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        if len(arrays["test"]) != info["n"]:
            raise ValueError(f"{npz}: {len(arrays['test'])} rows, marker says {info['n']}")
        extras = {k[len("extra_"):]: v for k, v in arrays.items() if k.startswith("extra_")}
        return RunResult(key, info["info"], arrays["test"], arrays["y_true"], arrays["y_pred"],
                         arrays["scores"], info["history"], info["seconds"], extras)


Runner = Callable[[RunSpec], RunResult]


class ParentDiedError(RuntimeError):
    """A worker's parent died before the worker could save its run (the run is not written)."""


#: what a local run records about where it ran (``RunResult.info``; never part of a key)
LOCAL_INFO: Mapping[str, Any] = {"executor": "local"}


def _execute(spec: RunSpec, runner: Runner, store_root: str, threads: int,
             parent_pid: int | None = None) -> str:
    """One run in a worker (``parent_pid``: die with the grid's process); returns its key."""
    return _execute_many([spec], runner, store_root, threads, parent_pid, batched=False)[0]


def _execute_many(specs: Sequence[RunSpec], runner: Any, store_root: str, threads: int,
                  parent_pid: int | None = None, *, batched: bool = True,
                  where: Mapping[str, Any] = LOCAL_INFO, clean_store: bool = True) -> list[str]:
    """The runs of ``specs`` not yet stored, each saved the moment all are done; their keys.

    ``batched``: as one ensemble (``runner.run_many``, wall time shared out), else one by one
    (``runner(spec)``). A worker whose grid process died (``parent_pid``) writes nothing.
    ``where``: recorded in each run's ``info`` (``executor``, and on Slurm ``slurm_job_id``).
    ``clean_store``: remove killed writers' temp files when the store opens (not in Slurm tasks).
    """
    if parent_pid is not None:
        die_with_parent(parent_pid)  # a SIGKILLed grid stops its loky workers within a second
    import torch

    torch.set_num_threads(threads)
    store = RunStore(Path(store_root), clean=clean_store)
    todo = [s for s in specs if not store.has(s.key())]
    if todo:
        start = time.perf_counter()
        results = runner.run_many(todo) if batched else [runner(s) for s in todo]
        seconds = (time.perf_counter() - start) / len(todo)
        if parent_pid is not None and not parent_alive(parent_pid):
            os._exit(1)  # orphaned: nobody will read these runs; write nothing
        for spec, result in zip(todo, results, strict=True):
            result.key = spec.key()
            result.info = (spec.describe() | result.info | ({"ensemble": len(todo)} if batched else {})
                           | dict(where))
            result.seconds = seconds  # an ensemble's wall time is shared out
            store.save(result)
    return [s.key() for s in specs]


@dataclass(frozen=True)
class MissingRun:
    """A run of a grid that is not in the store after its Slurm tasks ended: what it is, and
    each attempt's Slurm job id, error and stdout/stderr logs (``note`` when no task failed)."""

    key: str
    method: str
    protocol: str
    fold: str
    seed: int
    condition: str
    attempts: tuple[cluster.Attempt, ...] = ()
    note: str = ""

    def describe(self) -> str:
        """``method ..., protocol ..., fold ..., seed ..., condition ... (run key ...)`` and the attempts."""
        head = (f"  method {self.method}, protocol {self.protocol}, fold {self.fold}, seed {self.seed}, "
                f"condition {self.condition} (run key {self.key})")
        body = [f"    {self.note}"] if self.note else []
        body += [f"    job {a.job_id} (attempt {n}): {a.error or 'failed'}\n      stdout: {a.stdout}\n"
                 f"      stderr: {a.stderr}" for n, a in enumerate(self.attempts, 1)]
        return "\n".join([head, *body])


class GridIncomplete(RuntimeError):
    """Runs of a grid failed on Slurm on every attempt; every other run is stored.

    Raised by :func:`run_grid` instead of returning a partial grid, so a missing run never
    becomes a number (no table cell is computed from fewer folds or seeds than it has).
    ``missing``: the :class:`MissingRun` s, with job ids and log paths; ``stored``/``total``:
    the grid's runs in the store / in all. Running the grid again submits only the missing runs.
    """

    def __init__(self, desc: str, missing: Sequence[MissingRun], stored: int, total: int) -> None:
        self.desc, self.missing, self.stored, self.total = desc, tuple(missing), stored, total
        lines = [f"{desc}: {len(self.missing)} of {total} run(s) failed on Slurm and are not stored "
                 f"({stored} of {total} are); no result is computed from an incomplete grid. Run it "
                 f"again to compute only the missing runs (raise MERKIT_SLURM_RETRIES / make "
                 f"SLURM_RETRIES=... to retry more). Missing:"]
        lines += [m.describe() for m in self.missing]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class _GridPayload:
    """What every Slurm task of one grid shares (pickled once, :func:`merkit.cluster.run_array`)."""

    runner: Any
    store_root: str
    batched: bool
    threads: int


def _slurm_task(payload: _GridPayload, chunk: Sequence[RunSpec]) -> list[str]:
    """One Slurm array task: the runs of ``chunk`` not yet stored (the store is re-checked, so a
    run another task or grid finished meanwhile is not computed twice), each saved to the
    shared store with its Slurm job id in ``info``."""
    where = {"executor": "slurm", "slurm_job_id": cluster.current_job_id()}
    return _execute_many(chunk, payload.runner, payload.store_root, cluster.task_cpus(payload.threads),
                         batched=payload.batched, where=where, clean_store=False)


def _identity(spec: RunSpec, key: str | None = None) -> dict[str, Any]:
    """What names a run in manifests and grid records: its key, method, protocol, fold, seed, condition."""
    return {"key": key or spec.key(), "method": spec.method, "protocol": spec.protocol, "fold": spec.fold,
            "seed": spec.seed, "condition": spec.condition}


def _describe_chunk(chunk: Sequence[RunSpec]) -> dict[str, Any]:
    return {"runs": [_identity(s) for s in chunk]}


def _run_on_slurm(todo: Sequence[RunSpec], runner: Any, store: RunStore, config: SlurmConfig, *,
                  ensemble_size: int, desc: str, progress: bool, total: int) -> None:
    """The pending runs as the tasks of Slurm job arrays; :class:`GridIncomplete` for what is
    still missing once every task has finished or failed on every attempt."""
    batched = ensemble_size > 0 and hasattr(runner, "run_many")
    chunks = ([list(todo[i:i + ensemble_size]) for i in range(0, len(todo), ensemble_size)] if batched
              else [[s] for s in todo])
    payload = _GridPayload(runner, str(Path(store.root).resolve()), batched, config.cpus_per_task)
    outcome = cluster.run_array(_slurm_task, chunks, config, shared=payload, desc=desc,
                                describe=_describe_chunk, progress=progress)
    attempts = {s.key(): f.attempts for f in outcome.failed for s in f.item}
    missing = []
    for s in todo:
        key = s.key()
        if store.has(key):
            continue
        note = "" if key in attempts else (
            f"its Slurm task finished but the run is not in the store {store.root}: is the store on a "
            "file system the compute nodes share (MERKIT_DATA)?")
        missing.append(MissingRun(key, s.method, s.protocol, s.fold, s.seed, s.condition,
                                  attempts.get(key, ()), note))
    if missing:
        raise GridIncomplete(desc, missing, total - len(missing), total)


#: format tag of a grid record (:class:`GridRecord`)
GRID_FORMAT = "merkit.grid/1"


@dataclass
class GridRecord:
    """What one :func:`run_grid` call was asked to compute, for ``python -m merkit.experiments
    status``: ``<store>/../grids/<notebook>/<desc>-<hash of the run keys>.json`` (notebook from
    :data:`merkit.cluster.NOTEBOOK_ENV`, ``interactive`` outside ``python -m merkit.run``),
    written atomically when the grid starts and again when it ends::

        {"format": "merkit.grid/1", "desc": "mer_augcn hde unocc", "notebook": str | null,
         "executor": "local" | "slurm", "host": str, "pid": int, "started": ISO time,
         "finished": ISO time | null, "error": str | null,
         "runs": [{"key", "method", "protocol", "fold", "seed", "condition"}, ...]}
    """

    path: Path
    record: dict[str, Any]

    @classmethod
    def start(cls, store: RunStore, specs: Sequence[RunSpec], keys: Sequence[str], desc: str,
              executor: str) -> GridRecord:
        notebook = os.environ.get(cluster.NOTEBOOK_ENV) or None
        path = (grids_dir(store) / cluster.slug(notebook or "interactive")
                / f"{cluster.slug(desc)}-{stable_hash(keys, 10)}.json")
        record = {"format": GRID_FORMAT, "desc": desc, "notebook": notebook, "executor": executor,
                  "host": socket.gethostname(), "pid": os.getpid(), "started": cluster.now(), "finished": None,
                  "error": None, "runs": [_identity(s, k) for s, k in zip(specs, keys, strict=True)]}
        grid = cls(path, record)
        with contextlib.suppress(OSError):  # a read-only store still runs its grid
            write_json(path, record)
        return grid

    def finish(self, error: str | None = None) -> None:
        self.record |= {"finished": cluster.now(), "error": error}
        with contextlib.suppress(OSError):
            write_json(self.path, self.record)


def grids_dir(store: RunStore) -> Path:
    """Where the store's :class:`GridRecord` s are: ``grids/`` beside ``runs/``."""
    return Path(store.root).parent / "grids"


def run_grid(
    specs: Sequence[RunSpec],
    runner: Runner,
    *,
    n_jobs: int = 1,
    threads_per_job: int | None = None,
    store: RunStore | None = None,
    progress: bool = True,
    desc: str = "runs",
    ensemble_size: int = 0,
    executor: Literal["local", "slurm"] = "local",
    slurm: SlurmConfig | None = None,
) -> list[RunResult]:
    """Run every spec not already stored; return all results in ``specs`` order.

    ``runner`` must be picklable (a module-level function or a frozen dataclass with
    ``__call__``) when ``n_jobs > 1`` or on Slurm. Each worker stores its result as soon as
    it finishes, so an interrupted grid resumes where it stopped. Workers die with this process
    (:func:`merkit.io.die_with_parent`): after a SIGKILL of it (or of its process group) they
    exit within a second and write no run.

    ``ensemble_size > 0`` (and a runner with ``run_many``, e.g.
    :class:`~merkit.reproduce.runners.DeepRunner`): the pending runs train as batched
    ensembles of up to that many members (:mod:`merkit.ensemble`), in this process, one
    after the other (the device is the parallelism); every member is saved as its own run.

    ``executor="slurm"``: each pending run (or each ensemble of up to ``ensemble_size``) is one
    task of a Slurm job array submitted as ``slurm`` says (:func:`merkit.cluster.run_array`);
    stored runs are never submitted, each task re-checks the store, writes its runs to it
    (``info["executor"] = "slurm"``, ``info["slurm_job_id"] = "<array job>_<task>"``) and a
    failed task is resubmitted up to ``slurm.max_retries`` times. A run still missing then is
    never a number: :class:`GridIncomplete` lists it (method, fold, seed, job ids, logs) once
    all the others are stored. Local runs record ``info["executor"] = "local"``. Interrupting
    the wait (KeyboardInterrupt) cancels the submitted jobs.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be 'local' or 'slurm', not {executor!r}")
    store = store or RunStore()
    keys = [s.key() for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("two specs in the grid have the same key (duplicate runs)")
    todo = [s for s, k in zip(specs, keys, strict=True) if not store.has(k)]
    record = GridRecord.start(store, specs, keys, desc, executor)
    try:
        _run_pending(todo, runner, store, n_jobs=n_jobs, threads_per_job=threads_per_job, progress=progress,
                     desc=desc, ensemble_size=ensemble_size, executor=executor, slurm=slurm, total=len(specs))
    except BaseException as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        record.finish(error=f"{type(exc).__name__}: {first}")
        raise
    record.finish()
    return [store.load(k) for k in keys]


def _run_pending(todo: Sequence[RunSpec], runner: Runner, store: RunStore, *, n_jobs: int,
                 threads_per_job: int | None, progress: bool, desc: str, ensemble_size: int,
                 executor: str, slurm: SlurmConfig | None, total: int) -> None:
    """:func:`run_grid`'s work: the runs of ``todo`` computed and stored, here or on Slurm."""
    if todo and executor == "slurm":
        _run_on_slurm(todo, runner, store, slurm or SlurmConfig(), ensemble_size=ensemble_size, desc=desc,
                      progress=progress, total=total)
    elif todo:
        cores = os.cpu_count() or 1
        parallel = n_jobs > 1 and len(todo) > 1
        # a lone run (or a sequential grid) gets every core; parallel workers share them
        threads = (threads_per_job or max(1, cores // n_jobs)) if parallel else cores
        if ensemble_size > 0 and hasattr(runner, "run_many"):
            chunks = [todo[i:i + ensemble_size] for i in range(0, len(todo), ensemble_size)]
            for chunk in _progress(chunks, progress, f"{desc} (ensembles)"):
                _execute_many(chunk, runner, str(store.root), cores)
        elif parallel:
            from joblib import Parallel, delayed

            Parallel(n_jobs=n_jobs, backend="loky")(
                delayed(_execute)(s, runner, str(store.root), threads, os.getpid())
                for s in _progress(todo, progress, desc)
            )
        else:
            for s in _progress(todo, progress, desc):
                _execute(s, runner, str(store.root), threads)


def _progress(items: Sequence[Any], enabled: bool, desc: str) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, total=len(items))


def pooled(results: Sequence[RunResult], labels: Sequence[int]) -> dict[str, float]:
    """MEGC metrics on the predictions of all folds concatenated (one score per protocol)."""
    y_true = np.concatenate([r.y_true for r in results])
    y_pred = np.concatenate([r.y_pred for r in results])
    return metrics.classification_scores(y_true, y_pred, labels)


def pooled_confusion(results: Sequence[RunResult], labels: Sequence[int]) -> np.ndarray:
    y_true = np.concatenate([r.y_true for r in results])
    y_pred = np.concatenate([r.y_pred for r in results])
    return metrics.confusion(y_true, y_pred, labels)


def summarize(
    results: Sequence[RunResult],
    labels: Sequence[int],
    by: Sequence[str] = ("method", "protocol", "condition"),
    fold_level: bool = False,
    *,
    groups: np.ndarray | None = None,
    bootstrap: metrics.BootstrapConfig | None = None,
) -> pd.DataFrame:
    """Pooled metrics per group and seed, then mean ± std over seeds.

    ``fold_level=True`` also groups by fold (e.g. the two HDE folds are reported apart).
    Columns: the group keys, ``metric``, ``mean``, ``std``, ``n_seeds``, ``values``; with
    ``groups`` (the subject of every clip of the clip table, indexed by ``RunResult.test``)
    also ``ci_low``, ``ci_high``, ``se``: the subject-clustered bootstrap interval of each
    cell on its pooled predictions (:func:`intervals`; ``bootstrap``: its settings).
    """
    keys = list(by) + (["fold"] if fold_level else [])
    cells: dict[tuple[Any, ...], dict[int, list[RunResult]]] = {}
    for r in results:
        group = tuple(r.info.get(k) for k in keys)
        cells.setdefault(group, {}).setdefault(int(r.info["seed"]), []).append(r)
    rows = []
    for group, by_seed in cells.items():
        per_seed = {seed: pooled(rs, labels) for seed, rs in sorted(by_seed.items())}
        found = {} if groups is None else intervals([r for rs in by_seed.values() for r in rs], labels, groups,
                                                    metrics.CLASS_METRICS, bootstrap=bootstrap)
        for metric in metrics.CLASS_METRICS:
            values = [scores[metric] for scores in per_seed.values()]
            ci = found.get(metric)
            rows.append(dict(zip(keys, group, strict=True)) | {
                "metric": metric, "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "n_seeds": len(values), "values": values,
            } | ({} if ci is None else {"ci_low": ci.low, "ci_high": ci.high, "se": ci.se}))
    return pd.DataFrame(rows)


#: a linear combination of table cells: ``[(coefficient, the runs of one cell), ...]``
Terms = Sequence[tuple[float, Sequence[RunResult]]]


def intervals(
    terms: Sequence[RunResult] | Terms,
    labels: Sequence[int] | None,
    groups: np.ndarray,
    which: Sequence[metrics.MetricSpec],
    *,
    per_fold: bool = False,
    bootstrap: metrics.BootstrapConfig | None = None,
) -> dict[metrics.MetricSpec, metrics.Interval]:
    """Subject-clustered bootstrap intervals of one table cell, or of a contrast of cells, from runs.

    ``terms``: the runs of one cell, or ``[(coefficient, runs), ...]``: ``[(1, a), (-1, b)]`` is
    the paired difference of two rows, ``[(1/M, runs_m) for each m]`` their average. ``groups``:
    the subject of every clip of the clip table (``RunResult.test`` indexes it). ``which``: the
    metrics (:data:`merkit.metrics.MetricSpec`; ``labels`` for the class metrics).

    ``per_fold=False``: a cell is scored on the predictions of all its folds pooled (the MEGC
    convention), resampling all its test subjects at once; ``per_fold=True``: each fold is
    scored apart and the cell is the mean over its folds (the HDE "avg"), each fold resampling
    its own test subjects. A cell's seeds: the statistic of a resample is the mean over seeds
    (the same drawn subjects for every seed). Every term must have the same test clips per
    fold and seed (rows of one table share their folds): runs are matched by fold, seed and
    ``RunResult.test``, and a mismatch raises ``ValueError``. The method:
    :func:`merkit.metrics.bootstrap_terms`.
    """
    if terms and isinstance(terms[0], RunResult):
        terms = [(1.0, terms)]  # type: ignore[list-item]
    subject_of = np.asarray(groups)

    def stratum(r: RunResult) -> str:
        return str(r.info["fold"]) if per_fold else "pooled"

    layout: list[tuple[float, dict[str, dict[int, list[RunResult]]]]] = []
    for coefficient, runs in terms:  # type: ignore[misc]
        cells: dict[str, dict[int, list[RunResult]]] = {}
        for r in runs:
            cells.setdefault(stratum(r), {}).setdefault(int(r.info["seed"]), []).append(r)
        layout.append((float(coefficient), cells))
    strata = list(dict.fromkeys(k for _, cells in layout for k in cells))
    if not strata:
        raise ValueError("intervals: no runs")
    counts: list[list[np.ndarray]] = [[] for _ in layout]
    for k in strata:
        reference: np.ndarray | None = None
        for _, cells in layout:
            if k not in cells:
                raise ValueError(f"intervals: fold {k!r} is missing from one of the terms")
            for seed, rs in cells[k].items():
                clips = np.sort(np.concatenate([np.asarray(r.test) for r in rs]))
                if reference is None:
                    reference = clips
                elif not np.array_equal(reference, clips):
                    raise ValueError(f"intervals: fold {k!r}, seed {seed}: the terms do not share their test clips")
        assert reference is not None
        subjects = np.unique(subject_of[reference])
        for j, (_, cells) in enumerate(layout):
            per_seed = [sum(metrics.subject_counts(r.y_true, r.y_pred, subject_of[np.asarray(r.test)],
                                                   labels=labels, subjects=subjects)[1] for r in cells[k][seed])
                        for seed in sorted(cells[k])]
            counts[j].append(np.stack(per_seed, axis=1))  # (S_k, seeds, *shape)
    built = [metrics.Term(c, tuple(cs)) for (c, _), cs in zip(layout, counts, strict=True)]
    config = bootstrap or metrics.BootstrapConfig()
    found = metrics.bootstrap_terms(built, list(which), **config.options())
    return dict(zip(which, found, strict=True))


# --- python -m merkit.experiments status --------------------------------------------------------

#: the columns of ``status``: a run is stored (``done``), on Slurm and running or waiting in the
#: queue (``running`` / ``pending``; a local grid's process still computing: ``pending``),
#: ``failed`` (its last Slurm attempt failed, or it left the queue without a result), or
#: ``stopped`` (not stored, not queued, and its grid's process is gone or cancelled its task)
STATES: tuple[str, ...] = ("done", "running", "pending", "failed", "stopped")
_RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT"}


@dataclass(frozen=True)
class GridStatus:
    """One grid's runs by state (:data:`STATES`); ``failures``: (run, job id, error, stderr log)."""

    notebook: str
    desc: str
    executor: str
    started: str
    counts: dict[str, int]
    failures: tuple[tuple[str, str, str, str], ...] = ()


def _latest_tasks(folder: Path) -> dict[str, dict[str, Any]]:
    """Run key -> its latest Slurm task (the manifest row, with ``attempt`` and ``array``)."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted((folder / "manifests").glob("*.json")):
        try:
            manifest = cluster.read_manifest(path)
        except (ValueError, OSError, json.JSONDecodeError):
            continue
        for task in manifest.get("tasks", []):
            item = task.get("item")
            for run in item.get("runs", []) if isinstance(item, dict) else []:
                row = task | {"attempt": manifest.get("attempt", 1), "array": manifest["array_job_id"],
                              "submitted": manifest.get("submitted", "")}
                old = latest.get(run.get("key"))
                if old is None or (row["submitted"], row["attempt"]) >= (old["submitted"], old["attempt"]):
                    latest[run["key"]] = row
    return latest


def _alive_here(record: dict[str, Any]) -> bool:
    """The grid's process still runs (only knowable on the host that started it)."""
    if record.get("finished") or record.get("host") != socket.gethostname():
        return False
    pid = record.get("pid")
    return isinstance(pid, int) and 0 < pid < 2 ** 31 and pid_alive(pid)


def grid_status(store: RunStore | None = None, slurm: SlurmConfig | None = None, *,
                every: bool = False) -> list[GridStatus]:
    """The state of every recorded grid (:class:`GridRecord`), the latest record per (notebook,
    grid) unless ``every``: from the run store, the Slurm manifests under ``slurm.folder()``
    and ``squeue``."""
    store = store or RunStore(clean=False)
    records = []
    for path in sorted(grids_dir(store).glob("*/*.json")):
        try:
            record = read_json(path)
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(record, dict) and record.get("format") == GRID_FORMAT:
            records.append(record)
    records.sort(key=lambda r: r.get("started", ""))
    if not every:
        latest = {(r.get("notebook"), r["desc"]): r for r in records}
        records = sorted(latest.values(), key=lambda r: r.get("started", ""))
    tasks = _latest_tasks((slurm or SlurmConfig()).folder())
    arrays = sorted({t["array"] for t in tasks.values() if t.get("state") == "submitted"})
    queue = cluster.queue_states(arrays) if arrays and cluster.slurm_available() else {}
    out = []
    for record in records:
        counts = dict.fromkeys(STATES, 0)
        failures = []
        alive = _alive_here(record)
        for run in record["runs"]:
            key = run["key"]
            task = tasks.get(key)
            if store.marked(key):
                state = "done"
            elif task is not None and record.get("executor") == "slurm":
                job = task["job_id"]
                if queue is not None and job in queue:
                    state = "running" if queue[job] in _RUNNING else "pending"
                elif task.get("state") == "submitted" and (alive or queue is None):
                    state = "pending"  # between two polls of its grid (or squeue did not answer)
                elif task.get("state") == "cancelled":
                    state = "stopped"  # its grid was stopped and cancelled it (or scancel)
                else:
                    state = "failed"
                    failures.append((f"{run['method']} {run['protocol']} fold {run['fold']} seed {run['seed']}",
                                     job, task.get("error") or "left the queue without a result",
                                     task.get("stderr", "")))
            else:
                state = "pending" if alive else "stopped"
            counts[state] += 1
        out.append(GridStatus(record.get("notebook") or "interactive", record["desc"], record.get("executor", "?"),
                              record.get("started", ""), counts, tuple(failures)))
    return out


def format_status(grids: Sequence[GridStatus], *, max_failures: int = 20) -> str:
    """Per notebook (table) its grids' runs by state and a total line; then the failed runs."""
    if not grids:
        return "no grid recorded in this run store yet (run a notebook, or make reproduce)"
    head = ["table / grid", "executor", "runs", *STATES]
    rows: list[list[str]] = []
    for notebook in dict.fromkeys(g.notebook for g in grids):
        mine = [g for g in grids if g.notebook == notebook]
        total = {s: sum(g.counts[s] for g in mine) for s in STATES}
        rows.append([notebook, "", str(sum(total.values())), *(str(total[s]) for s in STATES)])
        rows += [[f"  {g.desc}", g.executor, str(sum(g.counts.values())), *(str(g.counts[s]) for s in STATES)]
                 for g in mine]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [head, *rows]]
    failures = [(g.notebook, *f) for g in grids for f in g.failures]
    if failures:
        lines += ["", f"failed runs ({len(failures)}; a re-run submits only what is not stored):"]
        lines += [f"  {nb}: {run}: job {job}: {error}\n    log: {log}"
                  for nb, run, job, error, log in failures[:max_failures]]
        if len(failures) > max_failures:
            lines.append(f"  ... and {len(failures) - max_failures} more")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m merkit.experiments status [--all] [--store DIR]`` (``make status``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m merkit.experiments",
                                     description="The state of the recorded grids of runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("status", help="per table: runs done, running, pending, failed, stopped")
    st.add_argument("--all", action="store_true", help="every grid record, not the latest per grid")
    st.add_argument("--store", type=Path, default=None, help="the run store (default <cache>/runs)")
    args = parser.parse_args(argv)
    slurm = execution_from_env(ExecutionConfig()).slurm
    print(format_status(grid_status(RunStore(args.store, clean=False), slurm, every=args.all)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
