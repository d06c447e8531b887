"""``features`` benchmark: seconds per clip of each handcrafted descriptor; LBP-TOP vs skimage.

:func:`bench_descriptors` times every descriptor of :data:`merkit.features.DESCRIPTORS` with
its default (or given) config on one synthetic clip: a smooth random volume ``(length, size,
size)`` with a moving blob (so gradients and codes are not degenerate) and, for HOOF, a smooth
random flow ``(size, size, 2)``. Volume loading and TV-L1 flow are not included (the ``flow``
benchmark times those); the temporal resampling of a 40-frame clip is, as ``"resample"``.

:func:`compare_lbp_top` times merkit's vectorised LBP-TOP against :func:`lbp_top_per_slice`,
the obvious implementation (``skimage.feature.local_binary_pattern`` on every XY, XT and YT
slice, then a histogram per block), and checks that both give the same descriptor.
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from merkit.bench.common import best_of, machine_line, ms, print_table, ratio_line
from merkit.features import DESCRIPTORS, FLOW_DESCRIPTORS, DescriptorConfig, extract
from merkit.features.lbptop import LBPTOPConfig, n_lbp_bins
from merkit.features.volume import VolumeConfig, resample_time


def volume_spec(text: str) -> VolumeConfig:
    """``"10x64"`` -> ``VolumeConfig(length=10, size=64)`` (the ``--volumes`` type)."""
    try:
        length, size = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"volume {text!r}: use FRAMESxSIZE, e.g. 10x64") from None
    return VolumeConfig(length=length, size=size)


QUICK: Mapping[str, Any] = {"volumes": [volume_spec("6x16")], "repeats": 1}
"""``--quick`` sizes."""


def arguments(parser: argparse.ArgumentParser) -> None:
    """The ``features`` benchmark's options."""
    parser.add_argument(
        "--volumes",
        type=volume_spec,
        nargs="+",
        default=[volume_spec("10x64"), volume_spec("20x128")],
        help="clip volumes FRAMESxSIZE (default: 10x64 = VolumeConfig's, and 20x128)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="best of this many timings")


# --- inputs --------------------------------------------------------------------------------------


def synthetic_clip(length: int = 10, size: int = 64, seed: int = 0) -> np.ndarray:
    """A ``(length, size, size)`` float32 volume in [0, 255]: smooth texture + a moving blob."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (size // 8 + 1, size // 8 + 1))
    texture = np.kron(coarse, np.ones((8, 8)))[:size, :size]
    yy, xx = np.mgrid[0:size, 0:size]
    frames = []
    for t in range(length):
        cy, cx = size / 2 + t, size / 2 - 0.5 * t
        blob = 60.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 8) ** 2))
        frames.append(texture + blob + rng.normal(0, 2, (size, size)))
    return np.clip(np.stack(frames), 0, 255).astype(np.float32)


def synthetic_flow(size: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth random ``(size, size, 2)`` float32 flow."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, (size // 8 + 1, size // 8 + 1, 2))
    return np.kron(coarse, np.ones((8, 8, 1)))[:size, :size].astype(np.float32)


# --- timings -------------------------------------------------------------------------------------


def bench_descriptors(
    volume: VolumeConfig | None = None,
    configs: Mapping[str, DescriptorConfig] | None = None,
    *,
    repeats: int = 5,
    seed: int = 0,
    print_fn: Callable[[str], object] | None = print,
) -> dict[str, float]:
    """Best-of-``repeats`` seconds per clip for each descriptor (and ``"resample"``), printed
    one line each unless ``print_fn`` is ``None``; returns ``{name: seconds}``. ``volume``:
    the clip size (default :class:`VolumeConfig`'s, T=10 x 64 x 64)."""
    volume = VolumeConfig() if volume is None else volume
    configs = {name: cls() for name, cls in DESCRIPTORS.items()} if configs is None else configs
    clip = synthetic_clip(volume.length, volume.size, seed)
    flow = synthetic_flow(volume.size, seed)
    raw = synthetic_clip(40, volume.size, seed)
    results = {
        "resample": best_of(
            lambda: resample_time(raw, volume.length, volume.interpolation), repeats
        )
    }
    for name, cfg in configs.items():
        x = flow if name in FLOW_DESCRIPTORS else clip
        results[name] = best_of(lambda cfg=cfg, x=x: extract(cfg, x), repeats)
    if print_fn is not None:
        print_fn(
            f"handcrafted descriptors, seconds per clip (best of {repeats}), volume "
            f"T={volume.length} x {volume.size}x{volume.size}, resample '{volume.interpolation}'"
            " from 40 frames"
        )
        for name, seconds in results.items():
            n = "" if name == "resample" else f"  ({configs[name].n_features} features)"
            print_fn(f"  {name:<9} {seconds * 1e3:9.2f} ms{n}")
    return results


def lbp_top_per_slice(volume: np.ndarray, config: LBPTOPConfig | None = None) -> np.ndarray:
    """LBP-TOP the straightforward way, the baseline of :func:`compare_lbp_top`.

    ``volume (T, H, W)`` -> ``(config.n_features,)`` float64: call
    ``skimage.feature.local_binary_pattern`` on every XY slice ``volume[t]``, XT slice
    ``volume[:, y, :]`` and YT slice ``volume[:, :, x]``, keep the voxels at least ``ceil(R)``
    from every border, and histogram each (block, plane) with ``np.bincount`` (block edges
    ``round(linspace(0, n, k + 1))``), normalised to sum 1, in the order
    ``[t_block][row][col][plane][bin]``. scikit-image has circular neighbourhoods only, so the
    three radii must be equal. ``config`` None: :class:`LBPTOPConfig`'s defaults.
    """
    from skimage.feature import local_binary_pattern

    config = LBPTOPConfig() if config is None else config
    r_x, r_y, r_t = config.R
    if not r_x == r_y == r_t:
        raise ValueError(f"lbp_top_per_slice needs equal radii (scikit-image), got R={config.R}")
    v = np.asarray(volume, dtype=np.float64)
    if v.ndim != 3:
        raise ValueError(f"volume must be (T, H, W), got shape {v.shape}")
    T, H, W = v.shape
    codes = [np.empty(v.shape, np.int64) for _ in range(3)]
    p_xy, p_xt, p_yt = config.P
    with warnings.catch_warnings():  # skimage warns about float images; the volume is float
        warnings.simplefilter("ignore", UserWarning)
        for t in range(T):
            codes[0][t] = local_binary_pattern(v[t], p_xy, r_x, config.method)
        for y in range(H):
            codes[1][:, y, :] = local_binary_pattern(v[:, y, :], p_xt, r_x, config.method)
        for x in range(W):
            codes[2][:, :, x] = local_binary_pattern(v[:, :, x], p_yt, r_x, config.method)
    m = math.ceil(r_x)

    def edges(n: int, k: int) -> np.ndarray:
        return np.round(np.linspace(0, n, k + 1)).astype(int)

    et, ey, ex = edges(T, config.t_blocks), edges(H, config.grid[0]), edges(W, config.grid[1])
    out = []
    for i in range(config.t_blocks):
        for j in range(config.grid[0]):
            for k in range(config.grid[1]):
                for plane, p in zip(codes, config.P, strict=True):
                    block = plane[
                        max(et[i], m) : min(et[i + 1], T - m),
                        max(ey[j], m) : min(ey[j + 1], H - m),
                        max(ex[k], m) : min(ex[k + 1], W - m),
                    ]
                    hist = np.bincount(block.ravel(), minlength=n_lbp_bins(p, config.method))
                    total = hist.sum()
                    out.append(hist / total if total else hist.astype(np.float64))
    return np.concatenate(out)


def compare_lbp_top(
    volume: VolumeConfig | None = None,
    config: LBPTOPConfig | None = None,
    *,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Best-of-``repeats`` seconds per clip of merkit's vectorised :func:`lbp_top` and of
    :func:`lbp_top_per_slice` on the same :func:`synthetic_clip`, after checking that the two
    descriptors are identical (raises ``AssertionError`` otherwise).

    Returns ``{"merkit_s", "per_slice_s", "ratio"}`` with ``ratio = per_slice_s / merkit_s``
    (> 1: merkit is faster).
    """
    volume = VolumeConfig() if volume is None else volume
    config = LBPTOPConfig() if config is None else config
    clip = synthetic_clip(volume.length, volume.size, seed)
    ours, theirs = config.extract(clip), lbp_top_per_slice(clip, config)
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        raise AssertionError(
            f"lbp_top and the per-slice scikit-image loop disagree on a {clip.shape} clip "
            f"(max |diff| {np.abs(ours - theirs).max() if ours.shape == theirs.shape else 'shape'})"
        )
    merkit_s = best_of(lambda: config.extract(clip), repeats)
    per_slice_s = best_of(lambda: lbp_top_per_slice(clip, config), repeats)
    return {"merkit_s": merkit_s, "per_slice_s": per_slice_s, "ratio": per_slice_s / merkit_s}


# --- the benchmark -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    """Seconds per clip of LBP-TOP, LBP-SIP, 3DHOG, HOOF; vectorised LBP-TOP vs per-slice skimage.

    Descriptors run on a synthetic clip (smooth texture + moving blob; HOOF on a smooth random
    flow) with their default configs; best of ``--repeats``. The LBP-TOP alternative calls
    ``skimage.feature.local_binary_pattern`` on every XY, XT and YT slice and histograms each
    block; both descriptors are checked identical before timing.
    """
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
             *[ms(t[name]) for t in times]]
            for name in times[0]
        ],
    )  # fmt: skip
    comparisons = [compare_lbp_top(v, repeats=args.repeats) for v in vols]
    print("LBP-TOP_{8,8,8,1,1,1}, 5x5 blocks: merkit vs skimage per slice (identical descriptors)")
    print_table(
        ["volume", "merkit ms", "per-slice skimage ms", "ratio"],
        [
            [label, ms(c["merkit_s"]), ms(c["per_slice_s"]), f"{c['ratio']:.2f}x"]
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
