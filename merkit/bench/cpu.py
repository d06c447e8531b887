"""``cpu`` benchmark: the CPU levers the profile pointed at, each against its alternative.

The py-spy profile of a cold quick ``make reproduce`` (3 seeds; the #14 note) put 31 % of all
samples in training backward, 21 % in forward + loss, **11 % in the Adam step** (torch's
one-tensor-at-a-time CPU kernel), 6 % idle / IPC, and under 1 % each in frame decoding (0.9 %)
and occlusion synthesis (0.7 %). This benchmark measures, on the quick profile's real recipes
(:func:`merkit.bench.levers.recipe`), in one run:

* **Adam kernels** (:attr:`merkit.train.TrainConfig.adam`): ``fused`` and ``foreach`` vs
  ``loop`` (torch's CPU default), per row: whole training steps and the optimiser step alone;
* **torch.compile** vs eager, for one row: the compile time, the steady-state step rate, and
  the steps a compiled model needs to pay its compilation back;
* **threads per worker**: 2 worker processes with 1 torch thread each (the quick profile's
  ``ExecutionConfig(n_jobs=2, threads_per_job=1)``) vs 1 process with 2 threads, total
  samples/s of the same training steps on this machine's 2 cores;
* **reuse of decoded frames across occlusion conditions**: the share of an occluded
  condition's cold flow build spent reading, occluding and graying frames (the face stage, with
  its landmarks, is already a cache hit shared by every condition). That share bounds what
  decoding each clip once for all 13 conditions could save.

The ratio is the fused Adam's training-step rate over the loop kernel's (median over rows),
the lever the quick profile takes (``TrainConfig.adam="auto"``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from merkit.bench.common import (
    machine_line,
    make_demo_clips,
    print_table,
    ratio_line,
    torch_threads,
)

QUICK: Mapping[str, Any] = {"rows": ["quick:mer_augcn"], "steps": 2, "compile": False, "thread_steps": 2,
                            "clips": 2}
"""``--quick`` sizes."""

ROWS = ("quick:mer_augcn", "quick:dual_inception", "quick:rrrn", "quick:vgg16", "quick:resnet18")


def arguments(parser: argparse.ArgumentParser) -> None:
    """The ``cpu`` benchmark's options."""
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="profile:method rows (Adam kernels)")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per setting")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                        help="time torch.compile (about a minute of compilation on 2 cores)")
    parser.add_argument("--compile-row", default="quick:mer_augcn", help="the row torch.compile is timed on")
    parser.add_argument("--thread-row", default="quick:rrrn", help="the row of the threads-per-worker test")
    parser.add_argument("--thread-steps", type=int, default=12, help="timed steps per worker")
    parser.add_argument("--clips", type=int, default=6, help="demo clips of the frame-reuse measurement")


def _step_fn(row: str, adam: str, compiled: bool = False, seed: int = 0) -> tuple[Any, Any, int]:
    """``(step, optimiser, batch)``: one training step of ``row``'s recipe on random flows."""
    from merkit.bench import levers as lv

    rec = lv.recipe(row)
    train = dataclasses.replace(rec.train, device="cpu", adam=adam)
    step, opt, _ = lv.plain_step(rec, train, rec.train.batch_size, seed=seed, compiled=compiled)
    return step, opt, rec.train.batch_size


def _timed(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(max(1, n)):
        fn()
    return (time.perf_counter() - start) / max(1, n)


def adam_kernels(rows: list[str], steps: int) -> dict[str, dict[str, float]]:
    """Per row: samples/s of whole steps and ms of the optimiser step, per Adam kernel.

    The kernels alternate (loop, foreach, fused, twice) and the faster of each kernel's two
    measurements is kept, so a burst of load on the shared machine hits all of them alike."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        best: dict[str, tuple[float, float]] = {}
        for _ in range(2):
            for kind in ("loop", "foreach", "fused"):
                step, opt, batch = _step_fn(row, kind)
                step()  # warm-up: allocations and Adam's state
                whole = _timed(step, steps)
                alone = _timed(opt.step, 4 * steps)
                old = best.get(kind, (float("inf"), float("inf")))
                best[kind] = (min(old[0], whole), min(old[1], alone))
        out[row] = {f"{k}_samples_per_second": batch / v[0] for k, v in best.items()}
        out[row] |= {f"{k}_optimizer_ms": 1e3 * v[1] for k, v in best.items()}
    return out


def compile_lever(row: str, steps: int) -> dict[str, float]:
    """torch.compile vs eager on one row: compile seconds, steady step ms, break-even steps.

    Inductor compiles into a fresh temporary cache folder, so the compile time is a cold
    process's (a warm on-disk cache of an earlier run compiles the same model in seconds)."""
    import os
    import warnings

    eager, _, _ = _step_fn(row, "auto")
    eager()
    eager_s = _timed(eager, steps)
    compiled, _, _ = _step_fn(row, "auto", compiled=True)
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="merkit-inductor-") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        compiled()  # compiles forward and backward
        first = time.perf_counter() - start
        second, _, _ = _step_fn(row, "auto", compiled=True, seed=1)  # a new fold's model
        start = time.perf_counter()
        second()
        recompile = time.perf_counter() - start
        compiled_s = _timed(compiled, steps)
        if before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
    gain = eager_s - compiled_s
    return {"eager_step_ms": 1e3 * eager_s, "compiled_step_ms": 1e3 * compiled_s, "compile_s": first,
            "new_model_first_step_s": recompile, "steady_ratio": eager_s / compiled_s,
            "break_even_steps": first / gain if gain > 0 else float("inf")}


def _thread_worker(row: str, threads: int, steps: int, barrier: Any, queue: Any) -> None:
    """A worker of :func:`thread_layout`: warm up, wait for the others, time ``steps``."""
    import torch

    torch.set_num_threads(threads)
    step, _, batch = _step_fn(row, "auto")
    step()
    barrier.wait(timeout=600)
    queue.put(batch / _timed(step, steps))


def _workers(row: str, layout: tuple[int, int], steps: int) -> float:
    """Total samples/s of ``layout = (processes, threads each)`` running ``row`` at once."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(layout[0])  # all start timing after their warm-up
    procs = [ctx.Process(target=_thread_worker, args=(row, layout[1], steps, barrier, queue))
             for _ in range(layout[0])]
    for p in procs:
        p.start()
    rates = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return float(sum(rates))


def thread_layout(row: str, steps: int) -> dict[str, float]:
    """2 processes x 1 thread vs 1 process x 2 threads: total training samples/s."""
    return {"two_by_one": _workers(row, (2, 1), steps), "one_by_two": _workers(row, (1, 2), steps)}


def frame_reuse(clips: int) -> dict[str, float]:
    """CPU seconds per stage of an occluded condition's cold build, after the un-occluded one."""
    from merkit.preprocess.augment import AugmentConfig
    from merkit.preprocess.flow import FlowConfig
    from merkit.preprocess.occlusion import OcclusionSpec
    from merkit.preprocess.pipeline import QUICK_TVL1, PreprocessConfig, build_flowset

    cfg = PreprocessConfig(flow=FlowConfig(crop_size=64, out_size=32, **QUICK_TVL1),  # type: ignore[arg-type]
                           augment=AugmentConfig(before_fractions=(0.8,), after_fractions=(0.2,),
                                                 angles=(-10.0, 0.0, 10.0)))
    with tempfile.TemporaryDirectory(prefix="merkit-bench-") as tmp:
        df = make_demo_clips(Path(tmp) / "clips", n_clips=clips, n_frames=12)
        cache = Path(tmp) / "cache"
        build_flowset(df, cfg, train_mask=True, progress=False, cache_root=cache, n_jobs=1)
        fs = build_flowset(df, cfg, train_mask=True, progress=False, cache_root=cache, n_jobs=1,
                           occlusion=OcclusionSpec("mask"))
    stages = {k: float(fs.stats[f"{k}_seconds_cpu"]) for k in ("face", "frames", "flow")}
    total = sum(stages.values())
    return {f"{k}_cpu_s": v for k, v in stages.items()} | {"frames_share": stages["frames"] / total if total else 0.0}


def run(args: argparse.Namespace) -> dict:
    """CPU levers: fused / foreach Adam vs the loop kernel, torch.compile, threads per worker, frame reuse."""
    results: dict[str, Any] = {}
    with torch_threads(1) as threads:
        print(f"== cpu benchmark: CPU levers ({threads} torch thread per training, as each quick worker has) ==")
        print(machine_line("cpu"))
        kernels = adam_kernels(list(args.rows), args.steps)
        results["adam"] = kernels
        print("\nAdam kernels (TrainConfig.adam): whole training steps and the optimiser step alone")
        print_table(["row", "loop samples/s", "foreach", "fused", "loop Adam ms", "foreach ms", "fused ms"],
                    [[row, f"{r['loop_samples_per_second']:.0f}",
                      f"{r['foreach_samples_per_second'] / r['loop_samples_per_second']:.2f}x",
                      f"{r['fused_samples_per_second'] / r['loop_samples_per_second']:.2f}x",
                      f"{r['loop_optimizer_ms']:.2f}", f"{r['foreach_optimizer_ms']:.2f}",
                      f"{r['fused_optimizer_ms']:.2f}"] for row, r in kernels.items()])
        if args.compile:
            c = compile_lever(args.compile_row, args.steps)
            results["compile"] = {"row": args.compile_row} | c
            print(f"\ntorch.compile on {args.compile_row}: compile {c['compile_s']:.1f} s, a new fold's model "
                  f"{c['new_model_first_step_s']:.2f} s; step {c['eager_step_ms']:.1f} ms eager vs "
                  f"{c['compiled_step_ms']:.1f} ms compiled ({c['steady_ratio']:.2f}x); "
                  + (f"break-even after {c['break_even_steps']:.0f} steps" if math.isfinite(c["break_even_steps"])
                     else "it never pays back (the compiled step is slower)"))
    t = thread_layout(args.thread_row, args.thread_steps)
    results["threads"] = {"row": args.thread_row} | t
    print(f"\nthreads per worker on {args.thread_row}: 2 workers x 1 thread {t['two_by_one']:.0f} samples/s vs "
          f"1 worker x 2 threads {t['one_by_two']:.0f} samples/s ({t['two_by_one'] / t['one_by_two']:.2f}x)")
    f = frame_reuse(args.clips)
    results["frame_reuse"] = f
    print(f"\nan occluded condition's cold flow build ({args.clips} clips, 64 px, its face stage a cache hit): "
          f"face {f['face_cpu_s']:.2f} s, frames (decode + occlusion + gray) {f['frames_cpu_s']:.2f} s, "
          f"TV-L1 {f['flow_cpu_s']:.2f} s CPU: decoding once for every condition saves at most "
          f"{100 * f['frames_share']:.0f} % of a condition's build")
    ratios = [r["fused_samples_per_second"] / r["loop_samples_per_second"] for r in kernels.values()]
    results["ratio"] = float(statistics.median(ratios))
    results["alternative"] = "Adam's loop kernel (torch's CPU default), whole training steps, median over rows"
    print(ratio_line(results["ratio"], results["alternative"]))
    return results
