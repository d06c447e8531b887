"""HOOF: histograms of oriented optical flow (Chaudhry, Ravichandran, Hager & Vidal, CVPR 2009),
per facial block, as in the MEGC 2018 baseline (Davison et al. 2018).

Input: the same TV-L1 flows as the deep models (:func:`merkit.preprocess.flow.tvl1` /
``pair_flow``), ``(H, W, 2)`` (one onset -> apex field) or ``(T, H, W, 2)`` (a sequence of
fields), components ``(u, v)`` = (horizontal, vertical) displacement in image coordinates
(``v`` positive downwards). Units do not matter: histograms are normalised.

Each flow vector with angle ``theta = atan2(v, u)`` and magnitude ``|(u, v)|`` votes its
magnitude into one of ``bins`` orientation bins (Chaudhry et al.: magnitude-weighted, so small
noisy vectors count little), per block of the ``grid`` (and ``t_blocks`` temporal blocks of a
sequence, default 1: all fields of a block pooled). Each block's histogram is normalised to sum
1 (a block without motion stays all zero).

Bins (``symmetric=``):

* ``True`` (default, Chaudhry et al.'s HOOF): the angle is folded about the vertical axis,
  ``theta' = atan2(v, |u|)`` in ``[-pi/2, pi/2]``, so a motion and its left/right mirror share
  a bin (invariance to the direction of horizontal motion, e.g. left vs right lip corner);
  bin ``b`` (0-based) covers ``[-pi/2 + b pi / B, -pi/2 + (b + 1) pi / B)``, the last bin also
  takes ``pi/2``. With even ``B`` the horizontal direction lies on a bin edge: a pure horizontal
  flow falls entirely in bin ``B / 2`` (both directions), as in the paper's definition.
* ``False``: plain full-circle bins of width ``2 pi / B`` starting at ``-pi/2`` (the same
  origin): bin ``b`` covers ``[-pi/2 + 2 pi b / B, -pi/2 + 2 pi (b + 1) / B)``. A rotation of
  the flow by 90 degrees shifts the histogram by ``B / 4`` bins (tested).

Layout ``[t_block][row][col][bin]``; feature length ``t_blocks * rows * cols * bins``
(defaults ``5 * 5 * 8 = 200``). Defaults: 8 bins (the MEGC / Davison et al. HOOF), 5 x 5
blocks (the grid of the LBP baselines here), symmetric binning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from merkit.features.volume import block_histograms, check_grid, normalise_l1

VERSION = 1


def hoof_bins(u: np.ndarray, v: np.ndarray, bins: int = 8, symmetric: bool = True) -> np.ndarray:
    """The HOOF bin ``0..bins-1`` of each flow vector ``(u, v)`` (see the module docstring)."""
    if symmetric:
        theta = np.arctan2(v, np.abs(u))  # [-pi/2, pi/2]
        b = np.floor((theta + np.pi / 2) / (np.pi / bins)).astype(np.int64)
        return np.clip(b, 0, bins - 1)
    theta = np.mod(np.arctan2(v, u) + np.pi / 2, 2.0 * np.pi)
    return np.floor(theta / (2.0 * np.pi / bins)).astype(np.int64) % bins


def hoof_length(grid: tuple[int, int] = (5, 5), bins: int = 8, t_blocks: int = 1) -> int:
    """``t_blocks * rows * cols * bins``."""
    return t_blocks * grid[0] * grid[1] * bins


def hoof(
    flow: np.ndarray,
    grid: tuple[int, int] = (5, 5),
    bins: int = 8,
    symmetric: bool = True,
    t_blocks: int = 1,
) -> np.ndarray:
    """HOOF descriptor of ``flow (H, W, 2)`` or ``(T, H, W, 2)`` -> ``(hoof_length(grid, bins,
    t_blocks),)`` float64, per-block histograms summing to 1 (0 for a block without motion)."""
    f = np.asarray(flow, dtype=np.float64)
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4 or f.shape[-1] != 2:
        raise ValueError(f"flow must be (H, W, 2) or (T, H, W, 2), got shape {np.shape(flow)}")
    if not np.isfinite(f).all():
        raise ValueError("flow has NaN or inf values; recompute it (see merkit.preprocess.flow)")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    shape = f.shape[:3]
    check_grid(grid, t_blocks, shape)
    u, v = f[..., 0], f[..., 1]
    labels = hoof_bins(u, v, bins, symmetric)
    hist = block_histograms(labels, bins, shape, grid, t_blocks, weights=np.hypot(u, v))
    return normalise_l1(hist).ravel()


@dataclass(frozen=True)
class HOOFConfig:
    """Parameters of :func:`hoof`."""

    grid: tuple[int, int] = (5, 5)
    bins: int = 8
    symmetric: bool = True
    t_blocks: int = 1

    name = "hoof"
    version = VERSION

    @property
    def n_features(self) -> int:
        return hoof_length(self.grid, self.bins, self.t_blocks)

    def extract(self, flow: np.ndarray) -> np.ndarray:
        """``flow (H, W, 2) | (T, H, W, 2)`` -> ``(n_features,)``."""
        return hoof(flow, self.grid, self.bins, self.symmetric, self.t_blocks)
