"""Atomic file writes, content fingerprints and the one frame reader.

Every file merkit writes goes through :func:`atomic_write`: the bytes land in a temporary
file in the destination folder and are renamed over the target, so a killed run never
leaves a half-written file that looks complete. The temporary name carries the writer's pid
(``.<name>.<pid>-<random><suffix>``), so :func:`remove_stale_temps` (called when a run store or
the preprocessing cache starts) removes what a killed writer left behind, and only that.

Every frame file merkit reads goes through :func:`read_image`: it checks the file's structure
(a JPEG must end with its end-of-image marker ``FF D9``, a PNG with its ``IEND`` chunk, a BMP
must hold the size its header declares) before decoding, so a truncated JPEG, which libjpeg
half-decodes with only a "Premature end of JPEG file" on stderr, is an error naming the file
instead of a silently grey-filled frame. :func:`check_image_file` is the same structural check
without the decode (it reads only the file's first and last bytes; the loaders run it on every
frame at load time).

:func:`die_with_parent` makes a worker process (joblib/loky) exit within a second of its
parent's death, even a SIGKILL.

This module imports only numpy at import time; OpenCV is imported inside :func:`read_image`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

_TMP_TAG = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-)?[a-z0-9_]{8}(?P<suffix>\.[A-Za-z0-9]+)$")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it over ``target``.

    On an exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}-", suffix=suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_stale_temps(
    folder: str | os.PathLike[str],
    *,
    recursive: bool = True,
    min_age_s: float = 60.0,
    live_max_age_s: float = 3600.0,
) -> list[Path]:
    """Remove the temporary files killed :func:`atomic_path` writers left in ``folder``.

    A temp file (``.<name>.<pid>-<random><suffix>``) is stale when its writer pid is not alive
    on this machine (and the file is older than 5 s, so a pid just reused cannot race), or when
    it is older than ``live_max_age_s`` whatever the pid (pid reuse); one without a pid (older
    merkit versions) when it is older than ``min_age_s``. Live writers' files are never touched.
    Returns the removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    now = time.time()
    walker = os.walk(folder) if recursive else [(str(folder), [], os.listdir(folder))]
    for dirpath, _, names in walker:
        for name in names:
            if not name.startswith("."):
                continue
            match = _TMP_TAG.match(name)
            if match is None:
                continue
            path = Path(dirpath) / name
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
            pid = match.group("pid")
            if pid is None:
                stale = age > min_age_s
            else:
                stale = age > live_max_age_s or (age > 5.0 and not pid_alive(int(pid)))
            if stale:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def atomic_write(target: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (bytes, or str as UTF-8) to ``target`` atomically; return the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(target) as tmp:
        tmp.write_bytes(payload)
    return Path(target)


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any, *, indent: int | None = 2) -> str:
    """Canonical JSON (sorted keys) that also takes dataclasses, paths and numpy values."""
    return json.dumps(obj, default=_json_default, sort_keys=True, indent=indent)


def write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write(target, to_json(obj) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of ``obj`` (dataclasses, dicts, lists, paths...)."""
    return hashlib.sha256(to_json(obj, indent=None).encode("utf-8")).hexdigest()[:length]


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- frames --------------------------------------------------------------------------------------


class FrameError(FileNotFoundError, ValueError):
    """A frame file is missing, truncated or cannot be decoded (the message names the file)."""


_JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")
_PADDING = b"\x00\r\n\t "
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def image_problem(head: bytes, tail: bytes, size: int) -> str:
    """What is structurally wrong with an image file from its first and last bytes (``""``: ok).

    ``head``: at least the first 8 bytes; ``tail``: the last (up to 64) bytes; ``size``: the
    file's size. JPEG: must start with ``FF D8`` and end (trailing NUL/whitespace padding
    allowed) with the end-of-image marker ``FF D9``, which a truncated file lacks (inside the
    entropy-coded data ``FF`` is always followed by ``00`` or a restart marker, so ``FF D9``
    cannot appear there). PNG: must end with the ``IEND`` chunk. BMP: the file must be at
    least as long as its header declares. Other formats: no structural check.
    """
    if size == 0:
        return "is empty (0 bytes)"
    end = tail.rstrip(_PADDING)
    if head[:2] == b"\xff\xd8":
        if not end.endswith(b"\xff\xd9"):
            return "is a truncated or corrupt JPEG (no end-of-image marker FF D9 at its end)"
    elif head[:8] == _PNG_MAGIC:
        if not end.endswith(_PNG_END):
            return "is a truncated or corrupt PNG (no IEND chunk at its end)"
    elif head[:2] == b"BM" and len(head) >= 6:
        declared = int.from_bytes(head[2:6], "little")
        if declared > size:
            return f"is a truncated BMP ({size} bytes, its header declares {declared})"
    return ""


def check_image_file(path: str | os.PathLike[str]) -> str:
    """The structural check of :func:`read_image` on a file, reading only its ends (cheap).

    Returns ``""`` when the file looks complete, else the problem (``"does not exist"``,
    ``"is a truncated or corrupt JPEG (...)"``...). A wrong suffix is not a problem: the
    bytes decide the format.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(16)
            handle.seek(max(0, size - 64))
            tail = handle.read(64)
    except FileNotFoundError:
        return "does not exist"
    except IsADirectoryError:
        return "is a folder, not an image file"
    except OSError as err:
        return f"cannot be read ({err})"
    return image_problem(head, tail, size)


ImageMode = Literal["rgb", "gray", "unchanged"]


def read_image(path: str | os.PathLike[str], *, mode: ImageMode = "rgb", name: str = "") -> np.ndarray:
    """Read an image file: THE frame reader of merkit (flows, volumes, faces, occlusion).

    ``mode``: ``"rgb"`` -> ``(H, W, 3)`` uint8 RGB (a grayscale file is replicated to three
    equal channels); ``"gray"`` -> ``(H, W)`` uint8 ITU-R 601 luma of that RGB image (OpenCV's
    ``COLOR_BGR2GRAY``, the same values as :func:`merkit.preprocess.frames.to_gray` of the
    ``"rgb"`` image); ``"unchanged"`` -> the file's own channels and depth (alpha kept), colour
    channels in RGB(A) order. ``name`` (e.g. the clip) prefixes the error messages.

    The file is read once; its structure is checked (:func:`image_problem`) before OpenCV
    decodes the bytes. Raises :class:`FrameError` naming the file when it is missing,
    truncated (including a JPEG cut short, which OpenCV alone would half-decode) or cannot be
    decoded.
    """
    import cv2  # local: merkit.io stays light

    path = Path(path)
    who = f"{name}: " if name else ""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FrameError(f"{who}frame file {path} does not exist; check the data set's layout") from None
    except IsADirectoryError:
        raise FrameError(f"{who}frame file {path} is a folder, not an image") from None
    except OSError as err:
        raise FrameError(f"{who}frame file {path} cannot be read ({err})") from None
    problem = image_problem(data[:16], data[-64:], len(data))
    if problem:
        raise FrameError(f"{who}frame file {path} {problem}; re-extract or re-copy it")
    if mode not in ("rgb", "gray", "unchanged"):
        raise ValueError(f"read_image: mode must be 'rgb', 'gray' or 'unchanged', not {mode!r}")
    flag = cv2.IMREAD_UNCHANGED if mode == "unchanged" else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if image is None:
        raise FrameError(f"{who}frame file {path} cannot be decoded as an image; re-extract it")
    if mode == "rgb":
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if mode == "gray":
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


# --- workers -------------------------------------------------------------------------------------

_WATCHED: dict[str, int] = {}
_WATCH_LOCK = threading.Lock()


def die_with_parent(parent_pid: int, *, interval_s: float = 0.25) -> None:
    """In a worker process: exit at once (``os._exit``) when the process ``parent_pid`` dies.

    joblib's loky workers run in their own session, so a SIGKILL of the parent (or of its
    process group) does not reach them and they would keep computing and writing results. A
    daemon thread polls ``os.getppid()`` every ``interval_s``: when it is no longer
    ``parent_pid`` (the parent died and the worker was re-parented), the worker exits with
    status 1. On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` is not used because it fires when
    the *thread* that spawned the worker exits (loky spawns from helper threads). Idempotent per
    process; a no-op in the parent itself (``os.getpid() == parent_pid``).
    Call :func:`parent_alive` before writing a result, to close the polling window.
    """
    if os.getpid() == parent_pid:
        return
    with _WATCH_LOCK:
        if _WATCHED.get("parent") == parent_pid:
            return
        _WATCHED["parent"] = parent_pid

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(interval_s)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="merkit-die-with-parent", daemon=True).start()


def parent_alive(parent_pid: int) -> bool:
    """True in the parent itself, or in a worker whose parent ``parent_pid`` is still alive."""
    return os.getpid() == parent_pid or os.getppid() == parent_pid
