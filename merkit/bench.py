"""Benchmarks with ratios against the obvious alternative: ``python -m merkit.bench flow|all``.

A small registry of named benchmark functions. Add one with::

    @register("name")
    def bench_name(args: argparse.Namespace) -> dict[str, float]:
        ...  # print a short human-readable report, return the numbers

``python -m merkit.bench all`` runs every registered benchmark in registration order.
Benchmarks write only to a temporary folder (never the user's cache) and take ~1-3 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BenchFn = Callable[[argparse.Namespace], dict]

_REGISTRY: dict[str, BenchFn] = {}


def register(name: str) -> Callable[[BenchFn], BenchFn]:
    """Decorator: register ``fn`` as benchmark ``name`` (done once, at import)."""

    def wrap(fn: BenchFn) -> BenchFn:
        if name in _REGISTRY or name == "all":
            raise ValueError(f"benchmark {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return wrap


def benchmarks() -> dict[str, BenchFn]:
    """A copy of the registry: name -> function."""
    return dict(_REGISTRY)


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


@register("flow")
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

    results: dict[str, float] = {}
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
    return results


# --- CLI -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m merkit.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "name", nargs="?", default="all", help=f"one of {sorted(_REGISTRY)} or 'all'"
    )
    parser.add_argument(
        "--clips", type=int, default=24, help="demo clips for the pipeline comparison"
    )
    parser.add_argument(
        "--crop-size", type=int, default=64, help="face crop side for the comparison"
    )
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers for merkit")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per TV-L1 timing")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[64, 112, 224], help="crop sizes to time"
    )
    args = parser.parse_args(argv)
    if args.name != "all" and args.name not in _REGISTRY:
        parser.error(f"unknown benchmark {args.name!r}; choose from {sorted(_REGISTRY)} or 'all'")
    names = list(_REGISTRY) if args.name == "all" else [args.name]
    for name in names:
        _REGISTRY[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
