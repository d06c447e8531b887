"""Content-addressed, checksummed, atomically written cache of preprocessing results.

One key function (:func:`cache_key`) serves writer and reader: the SHA-256 of the canonical JSON
of (stage name, stage version, stage config, input fingerprints, extra identity such as the
occlusion spec). The input fingerprints are SHA-256 digests of the **bytes** of every frame file
the stage reads (:func:`frame_fingerprints`): a clip reads ~10-20 JPEGs, hashing them costs
milliseconds, and unlike (size, mtime) it survives copies, ``touch`` and re-extraction of the
data set while catching any edit of the pixels. The file path is deliberately **not** part of
the key (moving the data folder keeps the cache valid); the clip's name is part of the entry's
file name only.

Entries are written with :func:`merkit.io.atomic_write` (temp file + rename), one per clip, so a
killed run leaves complete entries and no partial ones: the next run resumes where it stopped.
Every entry embeds a checksum of its content; a truncated file, a wrong array shape/dtype or a
checksum mismatch raises :class:`CacheCorrupted` in the readers, and :func:`load_arrays` /
:func:`load_json` turn that into a warning plus a miss, so the entry is recomputed and never used.

The frame digests go through :func:`merkit.data.fingerprint.file_digests` (cached in memory
per (path, size, mtime_ns); never trusted for files modified in the last 2 s). Temporary files
a killed writer left (``.<name>.<pid>-<random><suffix>``) are removed by :func:`clean_stale`,
which :func:`merkit.preprocess.pipeline.build_flowset` calls once per process and cache root.

Bump a stage's entry in :data:`STAGE_VERSIONS` whenever its code changes its output.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from merkit import paths
from merkit.io import atomic_write, remove_stale_temps, stable_hash, to_json

STAGE_VERSIONS: Mapping[str, int] = MappingProxyType({"face": 1, "flow": 2})
"""Version of each stage's code; part of every key of that stage (flow 2: flows start from the
first frame with a face, issue #13)."""

_CLEANED: set[str] = set()

_META = "__meta__"
_SHA = "__sha256__"


class CacheCorrupted(ValueError):
    """A cache entry exists but cannot be trusted (truncated, wrong shape, bad checksum)."""


class CacheCorruptedWarning(UserWarning):
    """A corrupted cache entry was found; it is recomputed."""


def cache_root() -> Path:
    """Root of the preprocessing cache: ``merkit.paths.cache_dir()`` (``$MERKIT_DATA/interim``)."""
    return paths.cache_dir()


def cache_key(
    stage: str,
    config: Any,
    fingerprints: Sequence[str],
    *,
    extra: Any = None,
    version: int | None = None,
) -> str:
    """The key of a cache entry; the writer and the reader both call this.

    ``config``: the stage's frozen dataclass(es) (any JSON-able object); ``fingerprints``: the
    input files' digests in the order the stage reads them; ``extra``: other identity (pairs,
    occlusion key); ``version``: defaults to ``STAGE_VERSIONS[stage]``. -> 24 hex characters.
    """
    if version is None:
        if stage not in STAGE_VERSIONS:
            raise KeyError(f"unknown cache stage {stage!r}; known: {sorted(STAGE_VERSIONS)}")
        version = STAGE_VERSIONS[stage]
    payload = {
        "stage": stage,
        "version": int(version),
        "config": config,
        "inputs": list(fingerprints),
        "extra": extra,
    }
    return stable_hash(payload, length=24)


def clean_stale(root: Path | None = None) -> list[Path]:
    """Remove stale temporary files of killed writers under ``root`` (once per process/root)."""
    folder = Path(root or cache_root())
    if str(folder) in _CLEANED:
        return []
    _CLEANED.add(str(folder))
    return remove_stale_temps(folder)


def frame_fingerprints(files: Iterable[Path], *, name: str = "clip") -> list[str]:
    """SHA-256 of each file's bytes; a missing/unreadable file raises naming ``name`` and the file."""
    # imported here: merkit.data imports pandas, which the flow workers never need
    from merkit.data.fingerprint import file_digests

    files = list(files)
    try:
        out = file_digests(files, persist=False)
    except OSError as err:
        raise FileNotFoundError(f"{name}: a frame file cannot be read ({err})") from None
    for f, digest in zip(files, out, strict=True):
        if digest == "missing":
            raise FileNotFoundError(f"{name}: frame file {f} does not exist")
    return out


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def entry_path(
    stage: str, parts: Sequence[str], key: str, suffix: str, root: Path | None = None
) -> Path:
    """``<root>/<stage>/<part>/.../<last part>-<key><suffix>`` with unsafe characters replaced."""
    clean = [_SAFE.sub("_", str(p)) or "_" for p in parts]
    folder = (root or cache_root()) / stage
    for p in clean[:-1]:
        folder = folder / p
    return folder / f"{clean[-1]}-{key}{suffix}"


# --- arrays (npz) --------------------------------------------------------------------------------


def _digest(arrays: Mapping[str, np.ndarray], meta_json: str) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    h.update(meta_json.encode())
    return h.hexdigest()


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray], meta: Any = None) -> Path:
    """Write arrays + JSON-able ``meta`` + their checksum to one compressed ``.npz``, atomically."""
    for reserved in (_META, _SHA):
        if reserved in arrays:
            raise ValueError(f"array name {reserved!r} is reserved")
    meta_json = to_json(meta, indent=None)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        **{k: np.asarray(v) for k, v in arrays.items()},
        **{_META: np.array(meta_json), _SHA: np.array(_digest(arrays, meta_json))},
    )
    return atomic_write(path, buffer.getvalue())


def read_arrays(
    path: Path, expected: Mapping[str, tuple[tuple[int | None, ...], Any]] | None = None
) -> tuple[dict[str, np.ndarray], Any]:
    """Read and verify an entry written by :func:`save_arrays` -> ``(arrays, meta)``.

    ``expected``: name -> (shape with ``None`` for free axes, dtype); every listed array must be
    present with that shape and dtype. Raises ``FileNotFoundError`` when absent and
    :class:`CacheCorrupted` when the file is truncated, malformed or fails its checksum.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as err:
        raise CacheCorrupted(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    if _META not in arrays or _SHA not in arrays:
        raise CacheCorrupted(f"{path}: no metadata/checksum")
    meta_json = str(arrays.pop(_META))
    sha = str(arrays.pop(_SHA))
    for name, (shape, dtype) in (expected or {}).items():
        if name not in arrays:
            raise CacheCorrupted(f"{path}: array {name!r} missing")
        a = arrays[name]
        if (
            a.dtype != np.dtype(dtype)
            or a.ndim != len(shape)
            or any(s is not None and s != t for s, t in zip(shape, a.shape, strict=True))
        ):
            raise CacheCorrupted(
                f"{path}: {name!r} is {a.dtype}{a.shape}, expected {np.dtype(dtype)}{shape}"
            )
    if _digest(arrays, meta_json) != sha:
        raise CacheCorrupted(f"{path}: checksum mismatch")
    try:
        meta = json.loads(meta_json)
    except json.JSONDecodeError as err:
        raise CacheCorrupted(f"{path}: bad metadata ({err})") from None
    return arrays, meta


def load_arrays(
    path: Path, expected: Mapping[str, tuple[tuple[int | None, ...], Any]] | None = None
) -> tuple[dict[str, np.ndarray], Any] | None:
    """:func:`read_arrays`, or ``None`` on a miss; a corrupted entry warns and counts as a miss."""
    return _hit_or_none(read_arrays, path, expected)


def _hit_or_none(read: Any, path: Path, *args: Any) -> Any | None:
    """``read(path, *args)``; ``None`` when the entry is missing or corrupted (with a warning)."""
    try:
        return read(path, *args)
    except FileNotFoundError:
        return None
    except CacheCorrupted as err:
        warnings.warn(
            f"corrupted cache entry, recomputing: {err}", CacheCorruptedWarning, stacklevel=3
        )
        return None


# --- JSON ----------------------------------------------------------------------------------------


def save_json(path: Path, obj: Any) -> Path:
    """Write ``{"sha256": ..., "data": obj}`` atomically (the checksum covers ``data``)."""
    data_json = to_json(obj, indent=None)
    sha = hashlib.sha256(data_json.encode()).hexdigest()
    return atomic_write(path, to_json({"sha256": sha, "data": json.loads(data_json)}) + "\n")


def read_json(path: Path) -> Any:
    """Read and verify :func:`save_json`'s file; ``FileNotFoundError`` / :class:`CacheCorrupted`."""
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        wrapper = json.loads(path.read_text(encoding="utf-8"))
        data, sha = wrapper["data"], wrapper["sha256"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise CacheCorrupted(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    if hashlib.sha256(to_json(data, indent=None).encode()).hexdigest() != sha:
        raise CacheCorrupted(f"{path}: checksum mismatch")
    return data


def load_json(path: Path) -> Any | None:
    """:func:`read_json`, or ``None`` on a miss; a corrupted entry warns and counts as a miss."""
    return _hit_or_none(read_json, path)
