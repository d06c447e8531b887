"""Seconds per clip of each handcrafted descriptor (``make bench``).

``bench_descriptors()`` times every descriptor of :data:`merkit.features.DESCRIPTORS` with its
default (or given) config on one synthetic clip: a smooth random volume ``(length, size,
size)`` with a moving blob (so gradients and codes are not degenerate) and, for HOOF, a smooth
random flow ``(size, size, 2)``. Volume loading and TV-L1 flow are not included (they are
timed by the preprocessing benchmarks); the temporal resampling of a 40-frame clip is, as
``"resample"``.

``compare_lbp_top()`` times merkit's vectorised LBP-TOP against :func:`lbp_top_per_slice`, the
obvious implementation (``skimage.feature.local_binary_pattern`` on every XY, XT and YT slice,
then a histogram per block), and checks that both give the same descriptor.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping

import numpy as np

from merkit.features import DESCRIPTORS, FLOW_DESCRIPTORS, DescriptorConfig, extract
from merkit.features.lbptop import LBPTOPConfig, n_lbp_bins
from merkit.features.volume import VolumeConfig, resample_time


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


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (imports, lookup tables)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


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
        "resample": _time(lambda: resample_time(raw, volume.length, volume.interpolation), repeats)
    }
    for name, cfg in configs.items():
        x = flow if name in FLOW_DESCRIPTORS else clip
        results[name] = _time(lambda cfg=cfg, x=x: extract(cfg, x), repeats)
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
    merkit_s = _time(lambda: config.extract(clip), repeats)
    per_slice_s = _time(lambda: lbp_top_per_slice(clip, config), repeats)
    return {"merkit_s": merkit_s, "per_slice_s": per_slice_s, "ratio": per_slice_s / merkit_s}


if __name__ == "__main__":  # python -m merkit.features.bench
    bench_descriptors()
    bench_descriptors(VolumeConfig(length=20, size=128))
    print(compare_lbp_top())
