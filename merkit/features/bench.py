"""Seconds per clip of each handcrafted descriptor (``make bench``).

``bench_descriptors()`` times every descriptor of :data:`merkit.features.DESCRIPTORS` with its
default (or given) config on one synthetic clip: a smooth random volume ``(length, size,
size)`` with a moving blob (so gradients and codes are not degenerate) and, for HOOF, a smooth
random flow ``(size, size, 2)``. Volume loading and TV-L1 flow are not included (they are
timed by the preprocessing benchmarks); the temporal resampling of a 40-frame clip is, as
``"resample"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

from merkit.features import DESCRIPTORS, FLOW_DESCRIPTORS, DescriptorConfig, extract
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


if __name__ == "__main__":  # python -m merkit.features.bench
    bench_descriptors()
    bench_descriptors(VolumeConfig(length=20, size=128))
