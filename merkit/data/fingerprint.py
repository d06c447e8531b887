"""Content fingerprints of clip tables: SHA-256 over the frames' bytes and the annotation rows.

* :func:`fingerprint` (alias :func:`data_fingerprint`): one hex digest for a whole clip table;
  it is stored with every table's provenance.
* :func:`clip_fingerprints`: one digest per row (clip). A run's key hashes the fingerprints of
  the clips the run reads (its train and test rows, ``Workspace.data_key(..., rows=...)``), so
  editing one frame's pixels recomputes only the runs whose clips use that frame.
* :func:`file_digest` / :func:`file_digests`: SHA-256 of a file's bytes, cached.

A clip's fingerprint covers its annotation (dataset, subject, clip, onset, apex, offset,
apex_estimated, AUs, objective class) and, for every frame it uses (``frames``, onset..offset),
the file name and the SHA-256 of its bytes (``"missing"`` for an absent file). Paths are not
part of it: moving the data folder keeps every fingerprint.

Cost: hashing reads every frame once (the full synthetic set: see the number in the issue #13
report). A second call is cheap: digests are cached per file, keyed by ``(path, size,
mtime_ns)``, in memory and in ``merkit.paths.cache_dir() / "file_digests.json"`` (written
atomically, merged with what other processes wrote). An entry whose mtime is less than
:data:`RACY_SECONDS` old is never cached (as git does for "racily clean" files: a second edit
within the file system's timestamp granularity would otherwise keep the old digest), so any
edit of a frame is seen, whatever its size.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from merkit import paths
from merkit.io import atomic_write, file_fingerprint, stable_hash

RACY_SECONDS = 2.0
CACHE_FILE = "file_digests.json"
_MISSING = "missing"

_memory: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()
_loaded: set[str] = set()


def _cache_file() -> Path:
    return paths.cache_dir() / CACHE_FILE


def _read_disk(path: Path) -> dict[tuple[str, int, int], str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {(p, int(s), int(m)): str(d) for p, (s, m, d) in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # absent or damaged: it is only a cache


def _load_disk() -> None:
    path = _cache_file()
    if str(path) in _loaded:
        return
    _loaded.add(str(path))
    for key, digest in _read_disk(path).items():
        _memory.setdefault(key, digest)


def _save_disk(new: dict[tuple[str, int, int], str]) -> None:
    if not new:
        return
    path = _cache_file()
    merged = {p: (s, m, d) for (p, s, m), d in _read_disk(path).items()}
    merged.update({p: (s, m, d) for (p, s, m), d in new.items()})
    with contextlib.suppress(OSError):  # a read-only data folder: the memory cache still works
        atomic_write(path, json.dumps(merged, sort_keys=True, separators=(",", ":")))


def _stat_key(path: str) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def file_digests(files: Iterable[str | os.PathLike[str]], *, persist: bool = True) -> list[str]:
    """SHA-256 (hex) of each file's bytes, ``"missing"`` for an absent file; cached (see above)."""
    out: list[str] = []
    new: dict[tuple[str, int, int], str] = {}
    now = time.time_ns()
    with _lock:
        if persist:
            _load_disk()
        for f in files:
            path = os.fspath(f)  # strings, not Paths: this loop runs once per frame
            key = _stat_key(path)
            if key is None:
                out.append(_MISSING)
                continue
            digest = _memory.get(key)
            if digest is None:
                try:
                    digest = file_fingerprint(path)
                except FileNotFoundError:
                    out.append(_MISSING)
                    continue
                if now - key[2] > RACY_SECONDS * 1e9:
                    _memory[key] = digest
                    new[key] = digest
            out.append(digest)
        if persist:
            _save_disk(new)
    return out


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of one file's bytes (cached); ``"missing"`` when it does not exist."""
    return file_digests([path])[0]


def _annotation(row) -> list:
    return [str(row.dataset), str(row.subject), str(row.clip), int(row.onset), int(row.apex),
            int(row.offset), bool(getattr(row, "apex_estimated", False)),
            [int(a) for a in row.aus], int(row.objective_class)]


def clip_fingerprints(df: pd.DataFrame) -> list[str]:
    """One content fingerprint per row of ``df`` (24 hex characters), in row order.

    Each covers the row's annotation and the name and SHA-256 of every frame file it uses.
    """
    rows = list(df.itertuples(index=False))
    files = [os.fspath(f) for row in rows for f in row.frames]
    digests = iter(file_digests(files))
    out = []
    for row in rows:
        frames = [[os.path.basename(os.fspath(f)), next(digests)] for f in row.frames]
        out.append(stable_hash([_annotation(row), frames], length=24))
    return out


def combine(prints: Sequence[str]) -> str:
    """One digest for an ordered list of clip fingerprints (the table's or a run's rows)."""
    return stable_hash(list(prints))


def fingerprint(df: pd.DataFrame) -> str:
    """Content fingerprint of a clip table: SHA-256 over every used frame's bytes and the rows.

    Equal for two tables with the same clips, annotations and frame bytes (in the same row
    order), wherever the files lie; any edit of a frame's pixels (same size or not), a missing
    frame or a changed annotation changes it. ``combine(clip_fingerprints(df))``.
    """
    return combine(clip_fingerprints(df))


data_fingerprint = fingerprint
"""Alias of :func:`fingerprint` (the name the tables and reports used before issue #13)."""
