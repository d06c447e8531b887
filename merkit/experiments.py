"""The grid of runs: one run = (method settings, protocol fold, seed) on one data set.

Each finished run's predictions and training curves are stored under a key that hashes
everything the result depends on (method settings, fold indices, seed, data fingerprint,
:data:`CODE_VERSION`). A grid is resumable: kill it, start it again, and finished runs are read
back, never recomputed. Runs go to worker processes on one machine (joblib/loky), each saving
its own result atomically the moment it finishes. Metrics are computed afterwards, pooled over
the folds of a protocol from the stored predictions (the MEGC 2018 convention), then
mean ± std over seeds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merkit import metrics, paths
from merkit.io import atomic_path, read_json, stable_hash, write_json

#: Bump when training/evaluation semantics change, so stale results are not reused.
CODE_VERSION = "1"


@dataclass(frozen=True)
class ExecutionConfig:
    """How a grid is executed (never part of a run key): ``n_jobs`` worker processes, each
    with ``threads_per_job`` torch threads (a lone run gets every core)."""

    n_jobs: int = 2
    threads_per_job: int = 1


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


class RunStore:
    """Content-addressed store of run results under ``<cache>/runs/`` (npz + json marker)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or (paths.cache_dir() / "runs")

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
            warnings.warn(f"run {key}: stored result unreadable ({exc}); it will be recomputed", stacklevel=2)
            npz.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            return False
        return True

    def save(self, result: RunResult) -> None:
        npz, meta = self._paths(result.key)
        arrays = {"test": result.test, "y_true": result.y_true, "y_pred": result.y_pred,
                  "scores": result.scores} | {f"extra_{k}": v for k, v in result.extras.items()}
        with atomic_path(npz, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        # The JSON is written last: it is the completion marker.
        write_json(meta, {"key": result.key, "info": result.info, "history": result.history,
                          "seconds": result.seconds, "n": int(len(result.test))})

    def load(self, key: str) -> RunResult:
        npz, meta = self._paths(key)
        info = read_json(meta)
        with np.load(npz) as data:
            arrays = {k: data[k] for k in data.files}
        if len(arrays["test"]) != info["n"]:
            raise ValueError(f"{npz}: {len(arrays['test'])} rows, marker says {info['n']}")
        extras = {k[len("extra_"):]: v for k, v in arrays.items() if k.startswith("extra_")}
        return RunResult(key, info["info"], arrays["test"], arrays["y_true"], arrays["y_pred"],
                         arrays["scores"], info["history"], info["seconds"], extras)


Runner = Callable[[RunSpec], RunResult]


def _execute(spec: RunSpec, runner: Runner, store_root: str, threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    store = RunStore(Path(store_root))
    key = spec.key()
    if store.has(key):
        return key
    start = time.perf_counter()
    result = runner(spec)
    result.key = key
    result.info = spec.describe() | result.info
    result.seconds = time.perf_counter() - start
    store.save(result)
    return key


def run_grid(
    specs: Sequence[RunSpec],
    runner: Runner,
    *,
    n_jobs: int = 1,
    threads_per_job: int | None = None,
    store: RunStore | None = None,
    progress: bool = True,
    desc: str = "runs",
) -> list[RunResult]:
    """Run every spec not already stored; return all results in ``specs`` order.

    ``runner`` must be picklable (a module-level function or a frozen dataclass with
    ``__call__``) when ``n_jobs > 1``. Each worker stores its result as soon as it finishes,
    so an interrupted grid resumes where it stopped.
    """
    import os

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
        if parallel:
            from joblib import Parallel, delayed

            Parallel(n_jobs=n_jobs, backend="loky")(
                delayed(_execute)(s, runner, str(store.root), threads) for s in _progress(todo, progress, desc)
            )
        else:
            for s in _progress(todo, progress, desc):
                _execute(s, runner, str(store.root), threads)
    return [store.load(k) for k in keys]


def _progress(items: Sequence[RunSpec], enabled: bool, desc: str) -> Iterable[RunSpec]:
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
) -> pd.DataFrame:
    """Pooled metrics per group and seed, then mean ± std over seeds.

    ``fold_level=True`` also groups by fold (e.g. the two HDE folds are reported apart).
    Columns: the group keys, ``metric``, ``mean``, ``std``, ``n_seeds``, ``values``.
    """
    keys = list(by) + (["fold"] if fold_level else [])
    groups: dict[tuple[Any, ...], dict[int, list[RunResult]]] = {}
    for r in results:
        group = tuple(r.info.get(k) for k in keys)
        groups.setdefault(group, {}).setdefault(int(r.info["seed"]), []).append(r)
    rows = []
    for group, by_seed in groups.items():
        per_seed = {seed: pooled(rs, labels) for seed, rs in sorted(by_seed.items())}
        for metric in ("war", "uar", "f1", "wf1"):
            values = [scores[metric] for scores in per_seed.values()]
            rows.append(dict(zip(keys, group, strict=True)) | {
                "metric": metric, "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "n_seeds": len(values), "values": values,
            })
    return pd.DataFrame(rows)
