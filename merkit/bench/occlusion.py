"""``occlusion`` benchmark: ``occlude()`` with the per-clip design cache vs redrawing per frame."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from merkit.bench.common import machine_line, ms, print_table, ratio_line

QUICK: Mapping[str, Any] = {"frames": 3, "size": 100, "designs": 2}
"""``--quick`` sizes."""


def arguments(parser: argparse.ArgumentParser) -> None:
    """The ``occlusion`` benchmark's options."""
    parser.add_argument("--frames", type=int, default=30, help="frames per clip (the face rolls)")
    parser.add_argument("--size", type=int, default=200, help="template face frame side in pixels")
    parser.add_argument(
        "--designs", type=int, default=None, help="designs per kind (default: all procedural)"
    )
    parser.add_argument("--level", type=float, default=0.25, help="block level r (fraction of box)")


def run(args: argparse.Namespace) -> dict:
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
            "benchmark clears; update merkit.bench.occlusion"
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
        rows.append([kind, len(designs), ms(t["cached"] / frames), ms(t["redraw"] / frames),
                     f"{t['redraw'] / t['cached']:.2f}x"])  # fmt: skip
    secs, _ = run_clip("block", args.level, None, False)
    results["block_ms_per_frame"] = 1e3 * secs / args.frames
    rows.append([f"block {args.level:g}", "-", ms(secs / args.frames), "-", "no design"])
    print(f"{args.frames}-frame clips, one clip per design, frames {args.size}x{args.size}:")
    print_table(["occluder", "designs", "cached ms/frame", "redraw ms/frame", "ratio"], rows)
    results["ratio"] = totals["redraw"] / totals["cached"]
    results["alternative"] = "re-drawing the occluder design on every frame"
    print(ratio_line(results["ratio"], f"{results['alternative']} (mask + glass)"))
    return results
