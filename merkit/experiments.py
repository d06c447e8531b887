"""The grid of runs: one run = (method settings, protocol fold, seed) on one data set.

Each finished run's predictions and training curves are stored under a key that hashes
everything the result depends on (method settings, fold indices, seed, the content
fingerprints of the clips the run reads (``RunSpec.data_key``), :data:`CODE_VERSION`), with
SHA-256 checksums that are checked on every read (:class:`RunStore`). A grid is resumable: kill it, start it again, and finished runs are read
back, never recomputed. Runs go to worker processes on one machine (joblib/loky), each saving
its own result atomically the moment it finishes. Metrics are computed afterwards, pooled over
the folds of a protocol from the stored predictions (the MEGC 2018 convention), then
mean ± std over seeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from merkit import metrics, paths
from merkit.io import (
    atomic_path,
    die_with_parent,
    file_fingerprint,
    parent_alive,
    read_json,
    remove_stale_temps,
    stable_hash,
    to_json,
    write_json,
)

#: Bump when training/evaluation semantics change, so stale results are not reused.
CODE_VERSION = "3"  # 2: BatchNorm recalibration (merkit.train.recalibrate_batch_norm); 3: fused Adam kernel


@dataclass(frozen=True)
class ExecutionConfig:
    """How a grid is executed (never part of a run key): ``n_jobs`` worker processes, each
    with ``threads_per_job`` torch threads (a lone run gets every core)."""

    n_jobs: int = 2
    threads_per_job: int = 1
    #: train the runs of one table row (its folds x seeds) as batched ensembles
    #: (:mod:`merkit.ensemble`): ``"auto"`` = on CUDA only (on this project's 2-core CPU the
    #: vmapped convolutions are slower than the plain loop, ``make bench train`` measures it)
    ensemble: Literal["auto", "on", "off"] = "auto"
    #: at most this many members per ensemble (a GPU holds one row's 47 LOSO folds at once)
    ensemble_size: int = 64

    def __post_init__(self) -> None:
        if self.ensemble not in ("auto", "on", "off"):
            raise ValueError(f"ExecutionConfig.ensemble must be 'auto', 'on' or 'off', not {self.ensemble!r}")
        if self.ensemble_size < 1:
            raise ValueError(f"ExecutionConfig.ensemble_size must be >= 1, got {self.ensemble_size}")


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

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or (paths.cache_dir() / "runs")
        if str(self.root) not in RunStore._cleaned:
            RunStore._cleaned.add(str(self.root))
            remove_stale_temps(self.root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.npz", folder / f"{key}.json"

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


def _execute(spec: RunSpec, runner: Runner, store_root: str, threads: int,
             parent_pid: int | None = None) -> str:
    """One run in a worker (``parent_pid``: die with the grid's process); returns its key."""
    return _execute_many([spec], runner, store_root, threads, parent_pid, batched=False)[0]


def _execute_many(specs: Sequence[RunSpec], runner: Any, store_root: str, threads: int,
                  parent_pid: int | None = None, *, batched: bool = True) -> list[str]:
    """The runs of ``specs`` not yet stored, each saved the moment all are done; their keys.

    ``batched``: as one ensemble (``runner.run_many``, wall time shared out), else one by one
    (``runner(spec)``). A worker whose grid process died (``parent_pid``) writes nothing.
    """
    if parent_pid is not None:
        die_with_parent(parent_pid)  # a SIGKILLed grid stops its loky workers within a second
    import torch

    torch.set_num_threads(threads)
    store = RunStore(Path(store_root))
    todo = [s for s in specs if not store.has(s.key())]
    if todo:
        start = time.perf_counter()
        results = runner.run_many(todo) if batched else [runner(s) for s in todo]
        seconds = (time.perf_counter() - start) / len(todo)
        if parent_pid is not None and not parent_alive(parent_pid):
            os._exit(1)  # orphaned: nobody will read these runs; write nothing
        for spec, result in zip(todo, results, strict=True):
            result.key = spec.key()
            result.info = spec.describe() | result.info | ({"ensemble": len(todo)} if batched else {})
            result.seconds = seconds  # an ensemble's wall time is shared out
            store.save(result)
    return [s.key() for s in specs]


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
) -> list[RunResult]:
    """Run every spec not already stored; return all results in ``specs`` order.

    ``runner`` must be picklable (a module-level function or a frozen dataclass with
    ``__call__``) when ``n_jobs > 1``. Each worker stores its result as soon as it finishes,
    so an interrupted grid resumes where it stopped. Workers die with this process
    (:func:`merkit.io.die_with_parent`): after a SIGKILL of it (or of its process group) they
    exit within a second and write no run.

    ``ensemble_size > 0`` (and a runner with ``run_many``, e.g.
    :class:`~merkit.reproduce.runners.DeepRunner`): the pending runs train as batched
    ensembles of up to that many members (:mod:`merkit.ensemble`), in this process, one
    after the other (the device is the parallelism); every member is saved as its own run.
    """
    store = store or RunStore()
    keys = [s.key() for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("two specs in the grid have the same key (duplicate runs)")
    todo = [s for s, k in zip(specs, keys, strict=True) if not store.has(k)]
    if todo:
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
    return [store.load(k) for k in keys]


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
