"""Benchmarks with ratios against the obvious alternative: ``python -m merkit.bench NAME|all``.

Every benchmark times merkit's way and the obvious alternative *in the same run* (interleaved
or back to back, on the same inputs), prints a short aligned table with the absolute numbers,
the machine (CPUs, load, torch threads, device) and a final line ``ratio: 3.2x faster than
<alternative>``, and returns its numbers as a dict with a ``ratio`` key (> 1: merkit faster).

==============  ===========================================  ===================================
benchmark       merkit                                       alternative
==============  ===========================================  ===================================
``flow``        cached, parallel flow pipeline (cold cache)  plain sequential OpenCV loop
                and its cache hit
``train``       MER-auGCN training, Eq. 1's K attention      the same model with K ``Linear(d,
                layers as one ``Linear(d, K d)`` and the K   d)`` and K MLP modules in a Python
                AU MLPs batched                              loop (paper transcription)
``features``    vectorised LBP-TOP (+ LBP-SIP, 3DHOG, HOOF   ``skimage`` LBP on every XY, XT,
                seconds per clip)                            YT slice + per-block histograms
``occlusion``   ``occlude`` with the per-clip design cache   re-drawing the design every frame
==============  ===========================================  ===================================

``python -m merkit.bench all`` runs them in this order with their defaults (about 1.5-2 minutes on
2 idle CPU cores); ``python -m merkit.bench NAME --help`` lists a benchmark's options and
``--quick`` shrinks every size (seconds; for smoke tests, the numbers mean little). Timings on
a shared, loaded machine vary by tens of per cent between runs; the ratios, measured on the
same inputs in the same run, vary less.

Add a benchmark with::

    @register("name", arguments=add_my_options, quick={"size": 8})
    def bench_name(args: argparse.Namespace) -> dict:
        ...  # print a table and ratio_line(...), return {"ratio": ..., ...}

Benchmarks write only to a temporary folder (never the user's cache).
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BenchFn = Callable[[argparse.Namespace], dict]
ArgsFn = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: its function, the options it takes and its ``--quick`` sizes."""

    name: str
    fn: BenchFn
    arguments: ArgsFn | None = None
    quick: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The first line of the function's docstring."""
        return (self.fn.__doc__ or self.name).strip().splitlines()[0]


_REGISTRY: dict[str, Benchmark] = {}


def register(
    name: str, *, arguments: ArgsFn | None = None, quick: Mapping[str, Any] | None = None
) -> Callable[[BenchFn], BenchFn]:
    """Decorator: register ``fn`` as benchmark ``name`` (done once, at import).

    ``arguments(parser)`` adds the benchmark's options; ``quick`` maps option destinations to
    the tiny values ``--quick`` uses (explicit options still win).
    """

    def wrap(fn: BenchFn) -> BenchFn:
        if name in _REGISTRY or name == "all":
            raise ValueError(f"benchmark {name!r} is already registered")
        _REGISTRY[name] = Benchmark(name, fn, arguments, dict(quick or {}))
        return fn

    return wrap


def benchmarks() -> dict[str, BenchFn]:
    """A copy of the registry: name -> function."""
    return {name: b.fn for name, b in _REGISTRY.items()}


# --- output helpers ------------------------------------------------------------------------------


def machine_line(device: str | None = None, device_name: str | None = None) -> str:
    """``machine: 2 CPUs (load average 3.4 5.2 4.0), torch 2.13.0 with 2 threads, device cpu
    (AMD EPYC)``; torch is mentioned only when it is already imported."""
    parts = [f"{os.cpu_count()} CPUs"]
    if hasattr(os, "getloadavg"):
        parts[0] += " (load average {:.1f} {:.1f} {:.1f})".format(*os.getloadavg())
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    if device is not None:
        parts.append(f"device {device}" + (f" ({device_name})" if device_name else ""))
    return "machine: " + ", ".join(parts)


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


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.2f}"


# --- demo clips (also used by the tests) ---------------------------------------------------------


def make_demo_clips(
    root: Path,
    n_clips: int = 4,
    n_frames: int = 11,
    *,
    size: int = 256,
    shift: tuple[float, float] = (1.2, -0.9),
    grayscale: bool = False,
    seed: int = 0,
):
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


# --- flow benchmark ------------------------------------------------------------------------------


def _time_tvl1(size: int, params: dict, repeats: int, threads: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of one TV-L1 call on a ``size`` x ``size`` face-crop pair.

    ``threads``: OpenCV threads (``-1``: OpenCV's default). CPU time (``time.process_time``) is
    the robust number on a shared machine; wall time shows what OpenCV's own threading buys.
    """
    import cv2
    from skimage import data

    from merkit.preprocess.flow import tvl1

    face = cv2.cvtColor(data.astronaut()[40:200, 140:300], cv2.COLOR_RGB2GRAY)
    a = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    m = np.float32([[1, 0, 0.01 * size], [0, 1, -0.008 * size]])
    b = cv2.warpAffine(a, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        walls, cpus = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            tvl1(a, b, **params)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
    finally:
        cv2.setNumThreads(before)
    return float(np.median(walls)), float(np.median(cpus))


def _plain_loop(df, cfg) -> tuple[float, int]:
    """The obvious script: for each clip, detect the face on the onset (dlib HOG), then for each
    (apex, angle) pair read, gray, rotate, crop, resize, TV-L1, resize. Sequential, no cache,
    no landmarks, OpenCV's default threads."""
    import cv2
    import dlib

    from merkit.preprocess.augment import augment_pairs

    p = cfg.flow
    t0 = time.perf_counter()
    detector = dlib.get_frontal_face_detector()
    n = 0
    for row in df.itertuples():
        onset_bgr = cv2.imread(str(row.frames[0]))
        rects = detector(cv2.cvtColor(onset_bgr, cv2.COLOR_BGR2RGB), cfg.face.upsample)
        r = rects[0]
        x0, y0, x1, y1 = max(0, r.left()), max(0, r.top()), r.right(), r.bottom()
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        onset = cv2.cvtColor(onset_bgr, cv2.COLOR_BGR2GRAY)
        for apex, angle, _ in augment_pairs(row.onset, row.apex, row.offset, cfg.augment):
            nxt = cv2.imread(str(row.frames[apex - row.onset]), cv2.IMREAD_GRAYSCALE)
            rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
            pair = []
            for img in (onset, nxt):
                img = cv2.warpAffine(img, rot, img.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
                crop = cv2.resize(
                    img[y0:y1, x0:x1], (p.crop_size, p.crop_size), interpolation=cv2.INTER_AREA
                )
                pair.append(crop)
            algo = cv2.optflow.DualTVL1OpticalFlow_create(
                tau=p.tau, lambda_=p.lambda_, theta=p.theta, nscales=p.nscales, warps=p.warps,
                epsilon=p.epsilon, innnerIterations=p.inner_iterations,
                outerIterations=p.outer_iterations, scaleStep=p.scale_step, gamma=p.gamma,
                medianFiltering=p.median_filtering,
            )  # fmt: skip
            flow = algo.calc(pair[0], pair[1], None)
            cv2.resize(flow, (p.out_size, p.out_size), interpolation=cv2.INTER_AREA)
            n += 1
    return time.perf_counter() - t0, n


def _flow_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clips", type=int, default=24, help="demo clips for the pipeline comparison")
    p.add_argument("--crop-size", type=int, default=64, help="face crop side for the comparison")
    p.add_argument("--n-jobs", type=int, default=2, help="joblib workers for merkit")
    p.add_argument("--repeats", type=int, default=5, help="repeats per TV-L1 timing")
    p.add_argument(
        "--sizes", type=int, nargs="+", default=[64, 112, 224], help="crop sizes to time"
    )


@register(
    "flow",
    arguments=_flow_arguments,
    quick={"clips": 2, "crop_size": 32, "n_jobs": 1, "repeats": 1, "sizes": [32]},
)
def bench_flow(args: argparse.Namespace) -> dict:
    """merkit's cached, parallel flow pipeline vs a plain sequential OpenCV loop; TV-L1 cost."""
    import dataclasses

    import cv2

    from merkit.preprocess.augment import AugmentConfig
    from merkit.preprocess.flow import FlowConfig
    from merkit.preprocess.pipeline import (
        QUICK_TVL1,
        PreprocessConfig,
        build_flowset,
        profile_config,
    )

    results: dict[str, Any] = {}
    load = (
        ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
        if hasattr(os, "getloadavg")
        else ""
    )
    print(f"== flow benchmark ({os.cpu_count()} CPUs{load}, OpenCV {cv2.__version__}, "
          f"{cv2.getNumThreads()} OpenCV threads by default) ==")  # fmt: skip

    # 1. TV-L1 cost per pair by crop size and parameter set
    quick = profile_config("quick").flow
    param_sets = {"default": FlowConfig().tvl1_params(), "quick": quick.tvl1_params()}
    print(f"\nTV-L1 per pair, median of {args.repeats} (quick = {dict(QUICK_TVL1)}):")
    print(
        f"{'crop':>6} {'params':>8} {'1 thread CPU ms':>16} {'1 thread wall ms':>17} {'default threads wall ms':>24}"
    )
    for size in args.sizes:
        for label, params in param_sets.items():
            wall1, cpu1 = _time_tvl1(size, params, args.repeats, 1)
            wall_all, _ = _time_tvl1(size, params, args.repeats, -1)
            results[f"tvl1_{label}_{size}_cpu_s"] = cpu1
            results[f"tvl1_{label}_{size}_wall1_s"] = wall1
            results[f"tvl1_{label}_{size}_wall_s"] = wall_all
            print(
                f"{size:>6} {label:>8} {1e3 * cpu1:>16.1f} {1e3 * wall1:>17.1f} {1e3 * wall_all:>24.1f}"
            )

    # 2. pipeline (cold cache, parallel) vs plain loop vs warm cache, same pairs
    cfg = PreprocessConfig(
        flow=dataclasses.replace(quick, crop_size=args.crop_size),
        augment=AugmentConfig(
            before_fractions=(0.8,), after_fractions=(0.2,), angles=(-10.0, 0.0, 10.0)
        ),
        n_jobs=args.n_jobs,
    )
    with tempfile.TemporaryDirectory(prefix="merkit-bench-") as tmp:
        df = make_demo_clips(Path(tmp) / "clips", n_clips=args.clips, n_frames=12)
        t_plain, n_plain = _plain_loop(df, cfg)

        def timed(root: Path, n_jobs: int):
            t = time.perf_counter()
            fs = build_flowset(
                df, cfg, train_mask=True, progress=False, cache_root=root, n_jobs=n_jobs
            )
            return fs, time.perf_counter() - t

        seq, t_seq = timed(Path(tmp) / "cache-seq", 1)
        cold, t_cold = timed(Path(tmp) / "cache", args.n_jobs)
        warm, t_warm = timed(Path(tmp) / "cache", args.n_jobs)
        assert warm.stats["computed"] == 0 and np.array_equal(warm.x, cold.x)
        assert np.allclose(seq.x, cold.x, atol=1e-5)
    pairs = len(cold)
    assert n_plain == pairs, (n_plain, pairs)
    results.update(
        pairs=pairs,
        plain_s=t_plain,
        merkit_sequential_cold_s=t_seq,
        merkit_cold_s=t_cold,
        merkit_warm_s=t_warm,
        plain_pairs_per_s=pairs / t_plain,
        merkit_pairs_per_s=pairs / t_cold,
        speedup_sequential_vs_plain=t_plain / t_seq,
        speedup_cold_vs_plain=t_plain / t_cold,
        speedup_warm_vs_plain=t_plain / t_warm,
        warm_fraction_of_cold=t_warm / t_cold,
    )
    print(
        f"\n{args.clips} demo clips x {pairs // args.clips} pairs = {pairs} pairs, crop "
        f"{args.crop_size} -> {cfg.flow.out_size}, quick TV-L1 (wall-clock seconds):"
    )
    rows = (
        ("plain sequential OpenCV loop", t_plain, "the reference"),
        ("merkit, cold cache, n_jobs=1", t_seq, "+ landmarks, hashing, checksummed writes"),
        (f"merkit, cold cache, n_jobs={args.n_jobs}", t_cold, "+ worker start-up"),
        (
            f"merkit, cache hit, n_jobs={args.n_jobs}",
            t_warm,
            f"{100 * t_warm / t_cold:.1f} % of cold",
        ),
    )
    for label, secs, note in rows:
        print(
            f"  {label:<30} {secs:7.2f} s {pairs / secs:8.1f} pairs/s {t_plain / secs:7.2f}x  ({note})"
        )

    # 3. sizing: per-pair and per-clip costs measured inside the cold run, projected to 2 workers
    st = cold.stats
    per_pair = st["flow_seconds_cpu"] / pairs
    per_clip = (st["face_seconds_cpu"] + st["frames_seconds_cpu"]) / args.clips
    results.update(pipeline_flow_s_per_pair=per_pair, pipeline_face_read_s_per_clip=per_clip)
    print(f"\ninside the workers: {1e3 * per_pair:.1f} ms per pair (crop {args.crop_size}, incl. rotation "
          f"and resizing), {1e3 * per_clip:.1f} ms per clip for reading frames, face, landmarks")  # fmt: skip
    print("projected wall time on 2 idle cores (2 workers; occlusion synthesis adds its own cost):")
    for label, clips, k in (
        ("253 clips x 1 pair", 253, 1),
        ("253 clips x 9 pairs", 253, 9),
        ("253 clips x 70 pairs", 253, 70),
        ("13 conditions x 253 clips x 1 pair", 13 * 253, 1),
        ("13 conditions x 253 clips x 9 pairs", 13 * 253, 9),
    ):
        print(f"  {label:<38} {(clips * (k * per_pair + per_clip)) / 2 / 60:7.1f} min")
    results["ratio"] = t_plain / t_cold
    results["alternative"] = "a plain sequential OpenCV loop (merkit: cold cache)"
    print(
        ratio_line(
            results["ratio"],
            f"a plain sequential OpenCV loop (merkit: cold cache, n_jobs={args.n_jobs}; "
            f"a cache hit is {t_plain / t_warm:.1f}x faster)",
        )
    )
    return results


# --- train benchmark -----------------------------------------------------------------------------


def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--variant", default="mer_augcn", help="table_variants() name with the AU module"
    )
    p.add_argument("--batch-size", type=int, default=64, help="samples per step (paper: 64)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per model and round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument(
        "--device",
        nargs="+",
        default=["auto"],
        help="cpu, cuda, or auto (= cpu, and cuda too when available)",
    )
    p.add_argument("--feature-dim", type=int, default=None, help="override d (paper: 1024)")


def _train_devices(requested: Sequence[str]) -> list[str]:
    import torch

    out: list[str] = []
    for dev in requested:
        names = ["cpu", "cuda"] if dev == "auto" and torch.cuda.is_available() else [dev]
        out += [("cpu" if n == "auto" else n) for n in names if n not in out]
    return out


@register(
    "train",
    arguments=_train_arguments,
    quick={"batch_size": 4, "steps": 1, "rounds": 1, "warmup": 0, "feature_dim": 32},
)
def bench_train(args: argparse.Namespace) -> dict:
    """MER-auGCN training samples/s: Eq. 1 batched as one Linear(d, K*d) vs K modules in a loop.

    One training step = forward, Eq. 6 joint loss, backward, Adam step (lr 5e-4) on a fixed
    random batch of flows, so data loading is excluded. The loop twin holds the same weights
    (outputs checked equal first); the plain backbone + FC classifier is timed for context.
    """
    from merkit.models.bench import compare_au_heads

    overrides = {"feature_dim": args.feature_dim} if args.feature_dim else {}
    print("== train benchmark: training throughput (forward + Eq. 6 loss + backward + Adam) ==")
    results: dict[str, Any] = {}
    devices = _train_devices(args.device)
    for dev in devices:
        r = compare_au_heads(
            args.variant,
            batch_size=args.batch_size,
            steps=args.steps,
            warmup=args.warmup,
            rounds=args.rounds,
            threads=args.threads,
            device=dev,
            **overrides,
        )
        print(machine_line(r["device"], r["device_name"]))
        print(
            f"{args.variant}: {r['input_size']}x{r['input_size']} flows, d={r['feature_dim']}, "
            f"K={r['num_aus']} AUs, batch {r['batch_size']}, {r['threads']} torch threads; "
            f"median of {r['rounds']} interleaved rounds x {r['steps']} steps"
        )
        sps, params, loop = r["samples_per_s"], r["params"], r["samples_per_s"]["loop"]
        rows = [
            ["MER-auGCN, batched: one Linear(d, K*d) + batched MLPs", params["batched"],
             sps["batched"], sps["batched"] / loop],
            ["MER-auGCN, K Linear(d, d) + K MLPs in a Python loop", params["loop"],
             loop, 1.0],
        ]  # fmt: skip
        if "backbone" in sps:
            rows.append(["plain backbone + FC (no AU module)", params["backbone"],
                         sps["backbone"], sps["backbone"] / loop])  # fmt: skip
        heads = r["heads_samples_per_s"]
        rows += [
            ["  AU module alone (fwd + bwd), batched", "", heads["batched"], r["heads_ratio"]],
            ["  AU module alone (fwd + bwd), loop", "", heads["loop"], 1.0],
        ]
        print_table(
            ["model", "params", "samples/s", "vs loop"],
            [
                [name, f"{n:,}" if n != "" else "", f"{s:.1f}", f"{q:.2f}x"]
                for name, n, s, q in rows
            ],
        )
        print(f"  (loop twin vs batched model outputs: max |diff| {r['max_abs_diff']:.1e})")
        results[r["device"]] = r
    primary = "cuda" if "cuda" in results else next(iter(results))
    others = ", ".join(f"{d}: {results[d]['ratio']:.2f}x" for d in results if d != primary)
    results["ratio"] = results[primary]["ratio"]
    results["alternative"] = "K per-AU Linear/MLP modules in a Python loop"
    print(
        ratio_line(
            results["ratio"],
            f"{results['alternative']} (training step on {primary}"
            + (f"; {others}" if others else "")
            + ")",
        )
    )
    return results


# --- features benchmark --------------------------------------------------------------------------


def _volume_spec(text: str):
    """``"10x64"`` -> ``VolumeConfig(length=10, size=64)``."""
    from merkit.features.volume import VolumeConfig

    try:
        length, size = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"volume {text!r}: use FRAMESxSIZE, e.g. 10x64") from None
    return VolumeConfig(length=length, size=size)


def _features_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--volumes",
        type=_volume_spec,
        nargs="+",
        default=[_volume_spec("10x64"), _volume_spec("20x128")],
        help="clip volumes FRAMESxSIZE (default: 10x64 = VolumeConfig's, and 20x128)",
    )
    p.add_argument("--repeats", type=int, default=5, help="best of this many timings")


@register(
    "features",
    arguments=_features_arguments,
    quick={"volumes": [_volume_spec("6x16")], "repeats": 1},
)
def bench_features(args: argparse.Namespace) -> dict:
    """Seconds per clip of LBP-TOP, LBP-SIP, 3DHOG, HOOF; vectorised LBP-TOP vs per-slice skimage.

    Descriptors run on a synthetic clip (smooth texture + moving blob; HOOF on a smooth random
    flow) with their default configs; best of ``--repeats``. The LBP-TOP alternative calls
    ``skimage.feature.local_binary_pattern`` on every XY, XT and YT slice and histograms each
    block; both descriptors are checked identical before timing.
    """
    from merkit.features import DESCRIPTORS
    from merkit.features.bench import bench_descriptors, compare_lbp_top

    print("== features benchmark: handcrafted descriptors, seconds per clip ==")
    print(machine_line())
    vols = list(args.volumes)
    times = [bench_descriptors(v, repeats=args.repeats, print_fn=None) for v in vols]
    labels = [f"T={v.length} {v.size}x{v.size}" for v in vols]
    print(f"ms per clip (best of {args.repeats}; 'resample' = 40 -> T frames, linear):")
    print_table(
        ["descriptor", "features", *labels],
        [
            [name, "" if name == "resample" else DESCRIPTORS[name]().n_features,
             *[_ms(t[name]) for t in times]]
            for name in times[0]
        ],
    )  # fmt: skip
    comparisons = [compare_lbp_top(v, repeats=args.repeats) for v in vols]
    print("LBP-TOP_{8,8,8,1,1,1}, 5x5 blocks: merkit vs skimage per slice (identical descriptors)")
    print_table(
        ["volume", "merkit ms", "per-slice skimage ms", "ratio"],
        [
            [label, _ms(c["merkit_s"]), _ms(c["per_slice_s"]), f"{c['ratio']:.2f}x"]
            for label, c in zip(labels, comparisons, strict=True)
        ],
    )
    results: dict[str, Any] = {
        f"{label}/{name}_s": s
        for label, t in zip(labels, times, strict=True)
        for name, s in t.items()
    }
    for label, c in zip(labels, comparisons, strict=True):
        results.update({f"{label}/lbp_top_{k}": v for k, v in c.items()})
    results["ratio"] = comparisons[0]["ratio"]
    results["alternative"] = "skimage local_binary_pattern per slice + per-block histograms"
    print(ratio_line(results["ratio"], f"{results['alternative']} (LBP-TOP, {labels[0]})"))
    return results


# --- occlusion benchmark -------------------------------------------------------------------------


def _occlusion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", type=int, default=30, help="frames per clip (the face rolls)")
    p.add_argument("--size", type=int, default=200, help="template face frame side in pixels")
    p.add_argument(
        "--designs", type=int, default=None, help="designs per kind (default: all procedural)"
    )
    p.add_argument("--level", type=float, default=0.25, help="block level r (fraction of box)")


@register(
    "occlusion",
    arguments=_occlusion_arguments,
    quick={"frames": 3, "size": 100, "designs": 2},
)
def bench_occlusion(args: argparse.Namespace) -> dict:
    """ms per frame of occlude() for mask / glass / block: per-clip design cache vs redrawing.

    Each design is one clip of ``--frames`` template-face frames (200x200, roll -3..3 deg).
    merkit draws a clip's procedural design once (canvas cache, cleared at the start of each
    clip, so its cost is included) and warps it per frame; the alternative re-draws the design
    on every frame (cache cleared before each call). Outputs are checked equal.
    """
    from merkit.preprocess import occlusion as occ

    canvas_cache = getattr(occ, "_procedural_canvas", None)
    if not hasattr(canvas_cache, "cache_clear"):
        raise RuntimeError(
            "merkit.preprocess.occlusion no longer has the lru-cached _procedural_canvas this "
            "benchmark clears; update bench_occlusion"
        )
    print("== occlusion benchmark: occlude() on a template face, ms per frame ==")
    print(machine_line())
    clip = [
        occ.template_face(args.size, roll_deg=float(r)) for r in np.linspace(-3.0, 3.0, args.frames)
    ]

    def run_clip(kind: str, level: float | None, design: int | None, redraw: bool):
        canvas_cache.cache_clear()
        start = time.perf_counter()
        for frame, lm in clip:
            if redraw:
                canvas_cache.cache_clear()
            out, _ = occ.occlude(frame, lm, kind, level, design=design)
        return time.perf_counter() - start, out

    totals = {"cached": 0.0, "redraw": 0.0}
    rows, results = [], {}
    for kind in ("mask", "glass"):
        n = len(occ.design_names(kind))
        designs = range(n if args.designs is None else min(args.designs, n))
        t = {"cached": 0.0, "redraw": 0.0}
        for d in designs:
            order = ("cached", "redraw") if d % 2 == 0 else ("redraw", "cached")
            outs = {}
            for mode in order:
                secs, outs[mode] = run_clip(kind, None, d, mode == "redraw")
                t[mode] += secs
            if not np.array_equal(outs["cached"], outs["redraw"]):
                raise AssertionError(f"{kind} design {d}: cached and redrawn frames differ")
        frames = len(designs) * args.frames
        for mode in t:
            totals[mode] += t[mode]
            results[f"{kind}_{mode}_ms_per_frame"] = 1e3 * t[mode] / frames
        rows.append([kind, len(designs), _ms(t["cached"] / frames), _ms(t["redraw"] / frames),
                     f"{t['redraw'] / t['cached']:.2f}x"])  # fmt: skip
    secs, _ = run_clip("block", args.level, None, False)
    results["block_ms_per_frame"] = 1e3 * secs / args.frames
    rows.append([f"block {args.level:g}", "-", _ms(secs / args.frames), "-", "no design"])
    print(f"{args.frames}-frame clips, one clip per design, frames {args.size}x{args.size}:")
    print_table(["occluder", "designs", "cached ms/frame", "redraw ms/frame", "ratio"], rows)
    results["ratio"] = totals["redraw"] / totals["cached"]
    results["alternative"] = "re-drawing the occluder design on every frame"
    print(ratio_line(results["ratio"], f"{results['alternative']} (mask + glass)"))
    return results


# --- CLI -----------------------------------------------------------------------------------------


def bench_parser(name: str) -> argparse.ArgumentParser:
    """The option parser of benchmark ``name`` (``python -m merkit.bench NAME --help``)."""
    b = _REGISTRY[name]
    parser = argparse.ArgumentParser(
        prog=f"python -m merkit.bench {name}",
        description=inspect.cleandoc(b.fn.__doc__ or b.summary),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if b.arguments is not None:
        b.arguments(parser)
    quick = ", ".join(f"{k}={v}" for k, v in b.quick.items()) or "no change"
    parser.add_argument(
        "--quick", action="store_true", help=f"tiny sizes for smoke tests ({quick})"
    )
    return parser


def parse_args(name: str, argv: Sequence[str] = ()) -> argparse.Namespace:
    """Parse benchmark ``name``'s options; ``--quick`` swaps in its tiny defaults."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown benchmark {name!r}; choose from {list(_REGISTRY)} or 'all'")
    parser = bench_parser(name)
    argv = list(argv)
    if "--quick" in argv:
        parser.set_defaults(**_REGISTRY[name].quick)
    return parser.parse_args(argv)


def run_benchmark(name: str, argv: Sequence[str] = ()) -> dict:
    """Run benchmark ``name`` with command-line options ``argv``; returns its result dict
    (always with a finite, positive ``ratio``)."""
    args = parse_args(name, argv)
    result = _REGISTRY[name].fn(args)
    ratio = result.get("ratio") if isinstance(result, dict) else None
    if not isinstance(ratio, float) or not math.isfinite(ratio) or ratio <= 0:
        raise RuntimeError(f"benchmark {name!r} returned no finite positive 'ratio': {ratio!r}")
    return result


def run_all(quick: bool = False) -> dict[str, dict]:
    """Every registered benchmark in order (``--quick`` sizes if asked), then a summary."""
    results: dict[str, dict] = {}
    start = time.perf_counter()
    for i, name in enumerate(_REGISTRY):
        if i:
            print()
        results[name] = run_benchmark(name, ["--quick"] if quick else [])
    print(f"\n== summary ({time.perf_counter() - start:.0f} s) ==")
    print_table(
        ["benchmark", "ratio", "merkit vs"],
        [[n, f"{r['ratio']:.2f}x", r.get("alternative", "")] for n, r in results.items()],
        align="lrl",
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = list(_REGISTRY)
    if argv and argv[0] in _REGISTRY:
        run_benchmark(argv[0], argv[1:])
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m merkit.bench",
        description=__doc__.splitlines()[0],
        epilog="benchmarks:\n"
        + "\n".join(f"  {n:<10} {_REGISTRY[n].summary}" for n in names)
        + "\n\n'python -m merkit.bench NAME --help' lists a benchmark's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", default="all", choices=[*names, "all"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    run_all(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
