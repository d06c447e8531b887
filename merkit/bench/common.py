"""What every benchmark shares: the :class:`Benchmark` record, output and timing helpers, demo clips.

A benchmark is a module of :mod:`merkit.bench` (``flow``, ``train``, ``features``,
``occlusion``) with

- ``arguments(parser: argparse.ArgumentParser) -> None``: adds its options;
- ``run(args: argparse.Namespace) -> dict``: prints a section that starts with
  ``== <name> benchmark`` and ends with :func:`ratio_line`, and returns its numbers with a
  finite, positive ``"ratio"`` (> 1: merkit faster) and an ``"alternative"`` description;
  the first line of ``run``'s docstring is the benchmark's summary, the whole docstring its
  ``--help`` text;
- ``QUICK: Mapping[str, Any]``: option destinations -> the tiny values ``--quick`` uses
  (explicit options still win).

:meth:`Benchmark.from_module` turns such a module into a :class:`Benchmark`;
``python -m merkit.bench`` (:mod:`merkit.bench.__main__`) lists and runs them.
Benchmarks write only to temporary folders (never the user's cache).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

RunFn = Callable[[argparse.Namespace], dict]
ArgsFn = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: its name, ``run`` function, the options it takes and its ``--quick`` sizes."""

    name: str
    run: RunFn
    arguments: ArgsFn | None = None
    quick: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_module(cls, module: ModuleType, name: str | None = None) -> Benchmark:
        """The benchmark defined by ``module``'s ``run``, ``arguments`` and ``QUICK``; ``name``
        defaults to the module's last dotted component (``merkit.bench.flow`` -> ``flow``)."""
        return cls(
            name=name or module.__name__.rsplit(".", 1)[-1],
            run=module.run,
            arguments=getattr(module, "arguments", None),
            quick=dict(getattr(module, "QUICK", {})),
        )

    @property
    def summary(self) -> str:
        """The first line of ``run``'s docstring."""
        return (self.run.__doc__ or self.name).strip().splitlines()[0]

    def parser(self) -> argparse.ArgumentParser:
        """The option parser (``python -m merkit.bench NAME --help``)."""
        parser = argparse.ArgumentParser(
            prog=f"python -m merkit.bench {self.name}",
            description=inspect.cleandoc(self.run.__doc__ or self.summary),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if self.arguments is not None:
            self.arguments(parser)
        quick = ", ".join(f"{k}={v}" for k, v in self.quick.items()) or "no change"
        parser.add_argument(
            "--quick", action="store_true", help=f"tiny sizes for smoke tests ({quick})"
        )
        return parser

    def parse_args(self, argv: Sequence[str] = ()) -> argparse.Namespace:
        """Parse ``argv``; ``--quick`` swaps in the tiny defaults (explicit options still win)."""
        parser = self.parser()
        argv = list(argv)
        if "--quick" in argv:
            parser.set_defaults(**self.quick)
        return parser.parse_args(argv)

    def __call__(self, argv: Sequence[str] = ()) -> dict:
        """Run with command-line options ``argv``; returns the result dict, checked to have a
        finite, positive float ``ratio`` (``RuntimeError`` otherwise)."""
        result = self.run(self.parse_args(argv))
        ratio = result.get("ratio") if isinstance(result, dict) else None
        if not isinstance(ratio, float) or not math.isfinite(ratio) or ratio <= 0:
            raise RuntimeError(
                f"benchmark {self.name!r} returned no finite positive 'ratio': {ratio!r}"
            )
        return result


# --- output helpers ------------------------------------------------------------------------------


def load_average() -> str:
    """``" (load average 3.4 5.2 4.0)"``, or ``""`` where the OS has no load average."""
    if not hasattr(os, "getloadavg"):
        return ""
    return " (load average {:.1f} {:.1f} {:.1f})".format(*os.getloadavg())


def machine_line(device: str | None = None, device_name: str | None = None) -> str:
    """``machine: 2 CPUs (load average 3.4 5.2 4.0), torch 2.13.0 with 2 threads, device cpu
    (AMD EPYC)``; torch is mentioned only when it is already imported."""
    parts = [f"{os.cpu_count()} CPUs{load_average()}"]
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    if device is not None:
        parts.append(f"device {device}" + (f" ({device_name})" if device_name else ""))
    return "machine: " + ", ".join(parts)


def device_name(device: Any) -> str:
    """A readable name of a torch device (or its string): the GPU model for CUDA, else the CPU
    model from ``/proc/cpuinfo`` (``platform.processor()`` where that is missing)."""
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "cpu"


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    indent: int = 2,
    align: str | None = None,
) -> None:
    """Print ``rows`` under ``headers`` (cells are ``str()``-ed; format numbers before).

    ``align``: one character per column, ``"l"`` or ``"r"``; default: the first column left,
    the others right.
    """
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    n = len(headers)
    align = align or "l" + "r" * (n - 1)
    if len(align) != n or set(align) - {"l", "r"}:
        raise ValueError(f"align must be {n} characters of 'l'/'r', got {align!r}")
    widths = [max(len(r[i]) for r in cells) for i in range(n)]
    pad = " " * indent
    for r in cells:
        line = [
            c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align, strict=True)
        ]
        print(pad + "  ".join(line).rstrip())


def ratio_line(ratio: float, alternative: str) -> str:
    """``ratio: 3.20x faster than <alternative>`` (or ``ratio: 0.80x, i.e. 1.25x slower than
    ...`` when merkit is slower)."""
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"a speed ratio must be finite and positive, got {ratio}")
    if ratio >= 1.0:
        return f"ratio: {ratio:.2f}x faster than {alternative}"
    return f"ratio: {ratio:.2f}x, i.e. {1 / ratio:.2f}x slower than {alternative}"


def ms(seconds: float) -> str:
    """Seconds as milliseconds with two decimals: ``0.01234`` -> ``"12.34"``."""
    return f"{1e3 * seconds:.2f}"


# --- timing helpers ------------------------------------------------------------------------------


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(threads)`` (``None``: leave it), restore it
    afterwards; yields the thread count in force inside the block."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def best_of(fn: Callable[[], object], repeats: int, *, warmup: bool = True) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``fn()`` in seconds, after one untimed
    warm-up call (imports, lookup tables) unless ``warmup`` is false."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def median_of(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median ``(wall, CPU)`` seconds of ``repeats`` calls of ``fn()`` (no warm-up). CPU time
    (``time.process_time``) is the robust number on a shared machine."""
    walls, cpus = [], []
    for _ in range(max(1, repeats)):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return float(np.median(walls)), float(np.median(cpus))


# --- demo clips ----------------------------------------------------------------------------------


def make_demo_clips(
    root: Path,
    n_clips: int = 4,
    n_frames: int = 11,
    *,
    size: int = 256,
    shift: tuple[float, float] = (1.2, -0.9),
    grayscale: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Tiny clips of a real face (``skimage.data.astronaut``) in the loaders' DataFrame schema.

    Clip ``i`` has ``n_frames`` JPEG frames ``root/<subject>/<clip>/img<k>.jpg`` (onset 1 ..
    offset ``n_frames``, apex near the middle). The face moves by ``shift`` (x, y) pixels
    (rotated by a per-clip angle) from onset to apex and back to the onset position at offset,
    as a smooth global translation with bicubic resampling. ``grayscale`` writes single-channel
    frames like SAMM's. Returns a ``pandas.DataFrame`` with the loaders' columns.
    """
    import cv2
    import pandas as pd
    from skimage import data

    rng = np.random.default_rng(seed)
    base = data.astronaut()[20:276, 100:356]  # 256 x 256 with the face at ~(76..165, 56..146)
    if size != 256:
        base = cv2.resize(base, (size, size), interpolation=cv2.INTER_AREA)
    rows = []
    for i in range(n_clips):
        subject, clip = f"demo/s{i % 3 + 1:02d}", f"EP{i:02d}_demo"
        folder = Path(root) / subject / clip
        folder.mkdir(parents=True, exist_ok=True)
        onset, offset = 1, n_frames
        apex = onset + (n_frames - 1) // 2 + int(rng.integers(-1, 2)) if n_frames > 4 else onset + 1
        theta = rng.uniform(0, 2 * np.pi) if i else 0.0
        sx = shift[0] * np.cos(theta) - shift[1] * np.sin(theta)
        sy = shift[0] * np.sin(theta) + shift[1] * np.cos(theta)
        frames = []
        for k in range(onset, offset + 1):
            t = (
                (k - onset) / max(1, apex - onset)
                if k <= apex
                else (offset - k) / max(1, offset - apex)
            )
            m = np.float32([[1, 0, t * sx], [0, 1, t * sy]])
            img = cv2.warpAffine(
                base, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
            )
            path = folder / f"img{k}.jpg"
            out = (
                cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
                if grayscale
                else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            )
            cv2.imwrite(str(path), out, [cv2.IMWRITE_JPEG_QUALITY, 95])
            frames.append(path)
        rows.append(
            {
                "dataset": "demo",
                "subject": subject,
                "clip": clip,
                "onset": onset,
                "apex": apex,
                "offset": offset,
                "apex_estimated": False,
                "aus": (4,),
                "objective_class": 2,
                "emotion": "demo",
                "frames": tuple(frames),
            }
        )
    return pd.DataFrame(rows)


# --- results files -------------------------------------------------------------------------------


def results_dir() -> Path:
    """Where benchmarks leave their measured numbers: ``reports/bench/`` (read by ``make plan``)."""
    from merkit import paths

    return paths.reports_dir() / "bench"


def save_results(name: str, results: Mapping[str, Any], folder: Path | None = None) -> Path:
    """Write ``results`` atomically to ``<folder>/<name>.json`` (default :func:`results_dir`),
    with the machine line and a UTC timestamp; returns the path."""
    import datetime

    from merkit.io import write_json

    folder = folder or results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    write_json(path, {"machine": machine_line(), "timestamp": stamp} | dict(results))
    return path
