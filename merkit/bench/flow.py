"""``flow`` benchmark: merkit's cached, parallel flow pipeline vs a plain sequential OpenCV loop.

Three parts: the TV-L1 cost per pair by crop size and parameter set (OpenCV's defaults and
:data:`~merkit.preprocess.pipeline.QUICK_TVL1`); at each ``--crop-sizes`` (64 and the paper's
224 px) :func:`~merkit.preprocess.pipeline.build_flowset` (cold cache, sequential and parallel,
then a cache hit) against :func:`plain_loop` on the same demo clips and pairs, the loop run with
one OpenCV thread (the sequential reference of the ratio: each of merkit's workers runs so) and
with OpenCV's default threads (what the obvious script gets); and the per-pair / per-clip costs
measured inside the workers, projected to the paper's data sizes on 2 cores. The numbers go to
``reports/bench/flow.json`` (:func:`merkit.bench.common.save_results`; ``flow_throughput``:
pipeline pairs per second per crop size and worker count, quick TV-L1, for ``make plan``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from merkit.bench.common import (
    device_name,
    machine_line,
    make_demo_clips,
    median_of,
    ratio_line,
    save_results,
)
from merkit.preprocess.pipeline import BACKENDS

if TYPE_CHECKING:
    import pandas as pd

    from merkit.preprocess.pipeline import PreprocessConfig

QUICK: Mapping[str, Any] = {
    "clips": 2,
    "crop_sizes": [32],
    "n_jobs": 2,
    "repeats": 1,
    "sizes": [32],
    "save": False,
}
"""``--quick`` sizes (a quick run writes no results file unless ``--save`` is given)."""


def arguments(parser: argparse.ArgumentParser) -> None:
    """The ``flow`` benchmark's options."""
    parser.add_argument(
        "--clips", type=int, default=24, help="demo clips for the pipeline comparison"
    )
    parser.add_argument(
        "--crop-sizes",
        type=int,
        nargs="+",
        default=[64, 224],
        help="face crop sides for the pipeline comparison (224: the paper's RRRN crops); the "
        "ratio is the largest one's",
    )
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel workers for merkit")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="threads",
        help="build_flowset's parallel backend (processes: loky workers, started cold per size)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats per TV-L1 timing")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[64, 112, 224], help="crop sizes to time"
    )
    parser.add_argument(
        "--save",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the numbers to reports/bench/flow.json (read by make plan)",
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


def plain_loop(df: pd.DataFrame, cfg: PreprocessConfig, threads: int = 1) -> tuple[float, int]:
    """The obvious script, timed: ``(seconds, pairs)``.

    For each clip, detect the face on the onset (dlib HOG), then for each (apex, angle) pair
    read, gray, rotate, crop, resize, TV-L1, resize. Sequential, no cache, no landmarks.
    ``threads``: OpenCV's threads (1: the sequential loop, each of merkit's workers runs so;
    ``-1``: OpenCV's default, the loop then uses the other cores inside TV-L1). The detector is
    built before the clock starts (merkit's models are loaded once per process, also untimed).
    """
    import cv2
    import dlib

    from merkit.io import read_image
    from merkit.preprocess.augment import augment_pairs

    p = cfg.flow
    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        detector = dlib.get_frontal_face_detector()
        t0 = time.perf_counter()
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
    finally:
        cv2.setNumThreads(before)


def _fresh_workers(backend: str) -> None:
    """Stop joblib's reusable loky workers, so a ``processes`` build pays their start-up."""
    if backend == "processes":
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)


def compare(
    df: pd.DataFrame, cfg: PreprocessConfig, root: Path, n_jobs: int, backend: str
) -> dict[str, Any]:
    """Plain loops (1 and default OpenCV threads), merkit cold (``n_jobs=1`` and ``n_jobs``),
    and a cache hit on the same clips and pairs; checks the flows agree. -> timings, stats."""
    from merkit.preprocess.pipeline import build_flowset

    t_plain, n_plain = plain_loop(df, cfg, threads=1)
    t_plain_threads, _ = plain_loop(df, cfg, threads=-1)

    def timed(cache: Path, jobs: int):
        t = time.perf_counter()
        fs = build_flowset(
            df, cfg, train_mask=True, progress=False, cache_root=cache, n_jobs=jobs,
            backend=backend,  # type: ignore[arg-type]
        )  # fmt: skip
        return fs, time.perf_counter() - t

    seq, t_seq = timed(root / "cache-seq", 1)
    _fresh_workers(backend)
    cold, t_cold = timed(root / "cache", n_jobs)
    warm, t_warm = timed(root / "cache", n_jobs)
    if warm.stats["computed"] != 0 or not np.array_equal(warm.x, cold.x):
        raise AssertionError("the warm-cache run recomputed flows or returned other ones")
    if not np.allclose(seq.x, cold.x, atol=1e-5):
        raise AssertionError("sequential and parallel flows differ")
    if n_plain != len(cold):
        raise AssertionError(f"the plain loop computed {n_plain} pairs, merkit {len(cold)}")
    return {
        "pairs": len(cold),
        "plain": t_plain,
        "plain_threads": t_plain_threads,
        "seq": t_seq,
        "cold": t_cold,
        "warm": t_warm,
        "seq_equal": bool(np.array_equal(seq.x, cold.x)),
        "stats": cold.stats,
    }


def run(args: argparse.Namespace) -> dict:
    """merkit's cached, parallel flow pipeline vs a plain sequential OpenCV loop; TV-L1 cost.

    The pipeline comparison runs at every ``--crop-sizes`` (default 64 and the paper's 224 px):
    the plain loop with one OpenCV thread (the sequential reference; each of merkit's workers
    runs so) and with OpenCV's default threads, merkit with a cold cache (``n_jobs=1``, then
    ``--n-jobs`` workers), then a cache hit. The ratio is merkit's parallel cold build vs the
    one-thread plain loop at the largest crop size. ``--save`` (default) writes the numbers,
    with per-crop-size pipeline throughputs (``flow_throughput``), to ``reports/bench/flow.json``.
    """
    import cv2

    from merkit.preprocess import face
    from merkit.preprocess.augment import AugmentConfig
    from merkit.preprocess.flow import FlowConfig
    from merkit.preprocess.pipeline import QUICK_TVL1, PreprocessConfig

    results: dict[str, Any] = {}
    machine = machine_line("cpu", device_name("cpu"))
    default_threads = cv2.getNumThreads()
    print(f"== flow benchmark (OpenCV {cv2.__version__}, {default_threads} OpenCV threads by "
          f"default, {args.backend} backend) ==")  # fmt: skip
    print(machine)

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

    # 2. per crop size: plain loops vs merkit cold (sequential, parallel) vs a cache hit; merkit's
    # models load once per process (the first build of a session pays it), timed apart
    t = time.perf_counter()
    face._hog_detector(), face._shape_predictor()
    results["model_load_s"] = time.perf_counter() - t
    augment = AugmentConfig(
        before_fractions=(0.8,), after_fractions=(0.2,), angles=(-10.0, 0.0, 10.0)
    )
    sizes = sorted(set(args.crop_sizes))
    throughput: list[dict[str, Any]] = []
    per_size: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="merkit-bench-") as tmp:
        df = make_demo_clips(Path(tmp) / "clips", n_clips=args.clips, n_frames=12)
        for size in sizes:
            cfg = PreprocessConfig(
                flow=FlowConfig(crop_size=size, out_size=28, **QUICK_TVL1),  # type: ignore[arg-type]
                augment=augment,
                n_jobs=args.n_jobs,
            )
            per_size[size] = r = compare(
                df, cfg, Path(tmp) / f"crop{size}", args.n_jobs, args.backend
            )
            pairs = r["pairs"]
            st = r["stats"]
            results.update({
                f"pairs_{size}": pairs,
                f"plain_s_{size}": r["plain"],
                f"plain_threads_s_{size}": r["plain_threads"],
                f"merkit_sequential_cold_s_{size}": r["seq"],
                f"merkit_cold_s_{size}": r["cold"],
                f"merkit_warm_s_{size}": r["warm"],
                f"plain_pairs_per_s_{size}": pairs / r["plain"],
                f"merkit_pairs_per_s_{size}": pairs / r["cold"],
                f"speedup_sequential_vs_plain_{size}": r["plain"] / r["seq"],
                f"speedup_cold_vs_plain_{size}": r["plain"] / r["cold"],
                f"speedup_cold_vs_plain_threads_{size}": r["plain_threads"] / r["cold"],
                f"cache_hit_speedup_{size}": r["cold"] / r["warm"],
                f"pipeline_flow_s_per_pair_{size}": st["flow_seconds_cpu"] / pairs,
                f"pipeline_face_read_s_per_clip_{size}": (
                    st["face_seconds_cpu"] + st["frames_seconds_cpu"]
                ) / args.clips,
                f"sequential_equals_parallel_{size}": r["seq_equal"],
            })  # fmt: skip
            tvl1 = {"tvl1": "quick", "tvl1_params": dict(QUICK_TVL1), "out_size": 28}
            throughput += [
                {"crop_size": size, "n_jobs": 1, "pairs_per_second": pairs / r["seq"], **tvl1},
                {"crop_size": size, "n_jobs": args.n_jobs, "pairs_per_second": pairs / r["cold"],
                 "backend": args.backend, **tvl1},
            ]  # fmt: skip
            print(
                f"\n{args.clips} demo clips x {pairs // args.clips} pairs = {pairs} pairs, crop "
                f"{size} -> {cfg.flow.out_size}, quick TV-L1 (wall-clock seconds):"
            )
            rows = (
                ("plain loop, 1 OpenCV thread", r["plain"], "the reference"),
                (f"plain loop, {default_threads} OpenCV threads", r["plain_threads"],
                 "OpenCV's default"),
                ("merkit, cold cache, n_jobs=1", r["seq"], "+ landmarks, hashing, checksummed writes"),
                (f"merkit, cold cache, n_jobs={args.n_jobs}", r["cold"],
                 f"{r['plain_threads'] / r['cold']:.2f}x the {default_threads}-thread loop"),
                (f"merkit, cache hit, n_jobs={args.n_jobs}", r["warm"],
                 f"{r['cold'] / r['warm']:.0f}x faster than cold"),
            )  # fmt: skip
            for label, secs, note in rows:
                print(f"  {label:<32} {secs:7.2f} s {pairs / secs:8.1f} pairs/s "
                      f"{r['plain'] / secs:7.2f}x  ({note})")  # fmt: skip

    # 3. sizing: per-pair and per-clip costs measured inside the cold runs, projected to 2 workers
    print(f"\nmerkit's dlib models (HOG detector, 68-point predictor) load once per process: "
          f"{results['model_load_s']:.2f} s, not in the timings above")  # fmt: skip
    print("inside the workers (CPU; per pair incl. rotation and resizing, per clip: reading "
          "frames, face, landmarks):")  # fmt: skip
    for size in sizes:
        per_pair = results[f"pipeline_flow_s_per_pair_{size}"]
        per_clip = results[f"pipeline_face_read_s_per_clip_{size}"]
        print(
            f"  crop {size:>4}: {1e3 * per_pair:7.1f} ms per pair, {1e3 * per_clip:6.1f} ms per clip"
        )
    print("projected wall time on 2 idle cores (2 workers; occlusion synthesis adds its own cost), "
          "minutes at crop " + ", ".join(map(str, sizes)) + ":")  # fmt: skip
    for label, clips, k in (
        ("253 clips x 1 pair", 253, 1),
        ("253 clips x 9 pairs", 253, 9),
        ("253 clips x 70 pairs", 253, 70),
        ("13 conditions x 253 clips x 1 pair", 13 * 253, 1),
        ("13 conditions x 253 clips x 9 pairs", 13 * 253, 9),
    ):
        minutes = [
            clips
            * (k * results[f"pipeline_flow_s_per_pair_{s}"]
               + results[f"pipeline_face_read_s_per_clip_{s}"]) / 2 / 60
            for s in sizes
        ]  # fmt: skip
        print(f"  {label:<38} " + " ".join(f"{m:7.1f}" for m in minutes))

    big = sizes[-1]
    results["crop_sizes"] = sizes
    results["n_jobs"] = args.n_jobs
    results["backend"] = args.backend
    results["ratio"] = float(results[f"speedup_cold_vs_plain_{big}"])
    results["alternative"] = (
        f"a plain sequential OpenCV loop (1 OpenCV thread) at {big} px "
        f"(merkit: cold cache, n_jobs={args.n_jobs})"
    )
    results["flow_throughput"] = throughput
    if args.save:
        path = save_results("flow", {**results, "machine": machine, "device": "cpu"})
        print(f"\nresults written to {path} (read by make plan)")
    print(
        ratio_line(
            results["ratio"],
            f"{results['alternative']}; {results[f'speedup_cold_vs_plain_threads_{big}']:.2f}x "
            f"the loop with OpenCV's {default_threads} threads; a cache hit takes 1/"
            f"{results[f'cache_hit_speedup_{big}']:.0f} of the cold time",
        )
    )
    return results
