"""``flow`` benchmark: merkit's cached, parallel flow pipeline vs a plain sequential OpenCV loop.

Three parts: the TV-L1 cost per pair by crop size and parameter set (OpenCV's defaults and
:data:`~merkit.preprocess.pipeline.QUICK_TVL1`); :func:`~merkit.preprocess.pipeline.build_flowset`
(cold cache, sequential and parallel, then a cache hit) against :func:`plain_loop` on the same
demo clips and pairs; and the per-pair / per-clip costs measured inside the workers, projected to
the paper's data sizes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from merkit.bench.common import load_average, make_demo_clips, median_of, ratio_line

if TYPE_CHECKING:
    import pandas as pd

    from merkit.preprocess.pipeline import PreprocessConfig

QUICK: Mapping[str, Any] = {"clips": 2, "crop_size": 32, "n_jobs": 1, "repeats": 1, "sizes": [32]}
"""``--quick`` sizes."""


def arguments(parser: argparse.ArgumentParser) -> None:
    """The ``flow`` benchmark's options."""
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


def time_tvl1(
    size: int, params: Mapping[str, Any], repeats: int, threads: int
) -> tuple[float, float]:
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
        return median_of(lambda: tvl1(a, b, **params), repeats)
    finally:
        cv2.setNumThreads(before)


def plain_loop(df: pd.DataFrame, cfg: PreprocessConfig) -> tuple[float, int]:
    """The obvious script, timed: ``(seconds, pairs)``.

    For each clip, detect the face on the onset (dlib HOG), then for each (apex, angle) pair
    read, gray, rotate, crop, resize, TV-L1, resize. Sequential, no cache, no landmarks,
    OpenCV's default threads.
    """
    import cv2
    import dlib

    from merkit.io import read_image
    from merkit.preprocess.augment import augment_pairs

    p = cfg.flow
    t0 = time.perf_counter()
    detector = dlib.get_frontal_face_detector()
    n = 0
    for row in df.itertuples():
        onset_rgb = read_image(row.frames[0], name=row.clip)
        rects = detector(onset_rgb, cfg.face.upsample)
        r = rects[0]
        x0, y0, x1, y1 = max(0, r.left()), max(0, r.top()), r.right(), r.bottom()
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        onset = cv2.cvtColor(onset_rgb, cv2.COLOR_RGB2GRAY)
        for apex, angle, _ in augment_pairs(row.onset, row.apex, row.offset, cfg.augment):
            nxt = read_image(row.frames[apex - row.onset], mode="gray", name=row.clip)
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


def run(args: argparse.Namespace) -> dict:
    """merkit's cached, parallel flow pipeline vs a plain sequential OpenCV loop; TV-L1 cost."""
    import cv2

    from merkit.preprocess.augment import AugmentConfig
    from merkit.preprocess.flow import FlowConfig
    from merkit.preprocess.pipeline import QUICK_TVL1, PreprocessConfig, build_flowset

    results: dict[str, Any] = {}
    load = load_average().strip(" ()")
    print(f"== flow benchmark ({os.cpu_count()} CPUs{', ' + load if load else ''}, "
          f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads by default) ==")  # fmt: skip

    # 1. TV-L1 cost per pair by crop size and parameter set
    quick = FlowConfig(crop_size=64, out_size=28, **QUICK_TVL1)  # type: ignore[arg-type]
    param_sets = {"default": FlowConfig().tvl1_params(), "quick": quick.tvl1_params()}
    print(f"\nTV-L1 per pair, median of {args.repeats} (quick = {dict(QUICK_TVL1)}):")
    print(f"{'crop':>6} {'params':>8} {'1 thread CPU ms':>16} {'1 thread wall ms':>17} "
          f"{'default threads wall ms':>24}")  # fmt: skip
    for size in args.sizes:
        for label, params in param_sets.items():
            wall1, cpu1 = time_tvl1(size, params, args.repeats, 1)
            wall_all, _ = time_tvl1(size, params, args.repeats, -1)
            results[f"tvl1_{label}_{size}_cpu_s"] = cpu1
            results[f"tvl1_{label}_{size}_wall1_s"] = wall1
            results[f"tvl1_{label}_{size}_wall_s"] = wall_all
            print(f"{size:>6} {label:>8} {1e3 * cpu1:>16.1f} {1e3 * wall1:>17.1f} "
                  f"{1e3 * wall_all:>24.1f}")  # fmt: skip

    # 2. pipeline (cold cache, parallel) vs plain loop vs warm cache, same pairs
    cfg = PreprocessConfig(
        flow=FlowConfig(crop_size=args.crop_size, out_size=28, **QUICK_TVL1),  # type: ignore[arg-type]
        augment=AugmentConfig(
            before_fractions=(0.8,), after_fractions=(0.2,), angles=(-10.0, 0.0, 10.0)
        ),
        n_jobs=args.n_jobs,
    )
    with tempfile.TemporaryDirectory(prefix="merkit-bench-") as tmp:
        df = make_demo_clips(Path(tmp) / "clips", n_clips=args.clips, n_frames=12)
        t_plain, n_plain = plain_loop(df, cfg)

        def timed(root: Path, n_jobs: int):
            t = time.perf_counter()
            fs = build_flowset(
                df, cfg, train_mask=True, progress=False, cache_root=root, n_jobs=n_jobs
            )
            return fs, time.perf_counter() - t

        seq, t_seq = timed(Path(tmp) / "cache-seq", 1)
        cold, t_cold = timed(Path(tmp) / "cache", args.n_jobs)
        warm, t_warm = timed(Path(tmp) / "cache", args.n_jobs)
        if warm.stats["computed"] != 0 or not np.array_equal(warm.x, cold.x):
            raise AssertionError("the warm-cache run recomputed flows or returned other ones")
        if not np.allclose(seq.x, cold.x, atol=1e-5):
            raise AssertionError("sequential and parallel flows differ")
    pairs = len(cold)
    if n_plain != pairs:
        raise AssertionError(f"the plain loop computed {n_plain} pairs, merkit {pairs}")
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
        print(f"  {label:<30} {secs:7.2f} s {pairs / secs:8.1f} pairs/s "
              f"{t_plain / secs:7.2f}x  ({note})")  # fmt: skip

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
