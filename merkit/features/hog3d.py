"""3DHOG: histograms of 3D gradient orientations per spatio-temporal block
(Polikovsky, Kameda & Ohta, ICDP 2009; the MEGC 2018 baseline of Davison et al. 2018).

Gradients: central differences of the volume ``(T, H, W)`` along x, y and t
(``numpy.gradient``: ``[-1/2, 0, 1/2]`` inside, one-sided at the borders), ``g = (g_x, g_y,
g_t)`` per voxel -- Polikovsky et al.'s 3D gradient with the simplest derivative filter.

Orientation binning, ``orientation=``:

* ``"planes"`` (default): Polikovsky et al. describe the 3D gradient by its projections on the
  XY, XT and YT planes. For each plane the in-plane vector -- ``(g_x, g_y)``, ``(g_x, g_t)``,
  ``(g_y, g_t)`` -- votes its in-plane magnitude into one of ``bins`` orientation bins of its
  angle ``atan2(second, first)`` over the full circle ``[0, 2 pi)`` (signed: brightening and
  darkening over time are different motions). Bins are centred on the axes: bin ``k`` covers
  ``[(k - 1/2) w, (k + 1/2) w)`` with ``w = 2 pi / bins``, so a gradient along an axis never
  sits on a bin edge. ``3 * bins`` values per block, in the order XY, XT, YT.
  A volume that changes only in time has ``g_x = g_y = 0``: the XY histogram is empty and the
  XT / YT votes all fall in the bins of angle ``+-pi/2`` (the temporal axis) -- tested.
* ``"spherical"``: one joint histogram of the 3D direction, azimuth ``atan2(g_y, g_x)`` in
  ``bins`` bins (centred on the axes as above) x elevation ``atan2(g_t, |(g_x, g_y)|)`` in
  ``[-pi/2, pi/2]`` cut into ``elevation_bins`` equal bins, weighted by the 3D magnitude; the
  simple alternative to Klaser et al.'s polyhedron binning. ``bins * elevation_bins`` values.

Blocks: ``grid`` rows x cols x ``t_blocks`` cuboids of the full volume (Polikovsky et al. use
12 landmark-defined facial cuboids; a regular grid needs no landmarks and gives the same kind
of local description). Default 4 x 4 x 2: 32 cuboids, of the order of Polikovsky's 12 regions
times an onset / offset split of the clip.

Normalisation (``norm=``) per cuboid, over all its values (all planes together, so a
cuboid keeps the balance between its spatial and temporal gradients): ``"l2"`` (default,
Dalal & Triggs): ``h / sqrt(|h|^2 + eps^2)`` with ``eps = 1e-3`` x the cuboid's voxel count
(in the volume's [0, 255] units: negligible for any textured cuboid, and a flat cuboid gives
zeros, never NaN); ``"l1"``: sum 1 (empty stays 0); ``"none"``.

Layout ``[t_block][row][col][values]``; feature length ``t_blocks * rows * cols * 3 * bins``
(``"planes"``) or ``t_blocks * rows * cols * bins * elevation_bins`` (``"spherical"``);
defaults ``2 * 4 * 4 * 3 * 8 = 768``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from merkit.features.volume import as_volume, block_histograms, check_grid, normalise_l1

VERSION = 1
Orientation = Literal["planes", "spherical"]
Norm = Literal["l2", "l1", "none"]


def orientation_bin(angle: np.ndarray, bins: int) -> np.ndarray:
    """Angles (radians, any range) -> bin ``0..bins-1`` of ``bins`` full-circle bins centred
    on ``k 2 pi / bins`` (bin 0 centred on angle 0)."""
    width = 2.0 * np.pi / bins
    return np.floor(np.mod(angle, 2.0 * np.pi) / width + 0.5).astype(np.int64) % bins


def hog3d_length(
    grid: tuple[int, int] = (4, 4),
    t_blocks: int = 2,
    bins: int = 8,
    orientation: Orientation = "planes",
    elevation_bins: int = 4,
) -> int:
    """``t_blocks * rows * cols * (3 * bins | bins * elevation_bins)``."""
    per_block = 3 * bins if orientation == "planes" else bins * elevation_bins
    return t_blocks * grid[0] * grid[1] * per_block


def gradients(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``volume (T, H, W)`` -> ``(g_x, g_y, g_t)``, each ``(T, H, W)`` float64 (central
    differences; a one-frame volume has ``g_t = 0``)."""
    v = as_volume(volume)
    g_t = np.gradient(v, axis=0) if v.shape[0] > 1 else np.zeros_like(v)
    g_y = np.gradient(v, axis=1) if v.shape[1] > 1 else np.zeros_like(v)
    g_x = np.gradient(v, axis=2) if v.shape[2] > 1 else np.zeros_like(v)
    return g_x, g_y, g_t


def hog3d(
    volume: np.ndarray,
    grid: tuple[int, int] = (4, 4),
    t_blocks: int = 2,
    bins: int = 8,
    orientation: Orientation = "planes",
    elevation_bins: int = 4,
    norm: Norm = "l2",
) -> np.ndarray:
    """3DHOG descriptor of ``volume (T, H, W)`` -> ``(hog3d_length(...),)`` float64.

    See the module docstring for the gradient, binning, blocks and normalisation choices.
    """
    v = as_volume(volume)
    check_grid(grid, t_blocks, v.shape)
    if bins < 1 or elevation_bins < 1:
        raise ValueError(f"bins and elevation_bins must be >= 1, got {bins}, {elevation_bins}")
    g_x, g_y, g_t = gradients(v)
    if orientation == "planes":
        parts = []
        for a, b in ((g_x, g_y), (g_x, g_t), (g_y, g_t)):
            labels = orientation_bin(np.arctan2(b, a), bins)
            parts.append(
                block_histograms(labels, bins, v.shape, grid, t_blocks, weights=np.hypot(a, b))
            )
        hist = np.concatenate(parts, axis=-1)
    elif orientation == "spherical":
        m_xy = np.hypot(g_x, g_y)
        azimuth = orientation_bin(np.arctan2(g_y, g_x), bins)
        elevation = np.arctan2(g_t, m_xy)  # [-pi/2, pi/2]
        e_bin = np.clip(
            np.floor((elevation + np.pi / 2) / (np.pi / elevation_bins)).astype(np.int64),
            0,
            elevation_bins - 1,
        )
        labels = azimuth * elevation_bins + e_bin
        hist = block_histograms(
            labels,
            bins * elevation_bins,
            v.shape,
            grid,
            t_blocks,
            weights=np.sqrt(m_xy**2 + g_t**2),
        )
    else:
        raise ValueError(f"orientation must be 'planes' or 'spherical', got {orientation!r}")
    if norm == "l2":
        voxels = v.size / (t_blocks * grid[0] * grid[1])
        eps = 1e-3 * voxels
        hist = hist / np.sqrt(np.sum(hist**2, axis=-1, keepdims=True) + eps**2)
    elif norm == "l1":
        hist = normalise_l1(hist)
    elif norm != "none":
        raise ValueError(f"norm must be 'l2', 'l1' or 'none', got {norm!r}")
    return hist.ravel()


@dataclass(frozen=True)
class HOG3DConfig:
    """Parameters of :func:`hog3d`."""

    grid: tuple[int, int] = (4, 4)
    t_blocks: int = 2
    bins: int = 8
    orientation: Orientation = "planes"
    elevation_bins: int = 4
    norm: Norm = "l2"

    name = "hog3d"
    version = VERSION

    @property
    def n_features(self) -> int:
        return hog3d_length(
            self.grid, self.t_blocks, self.bins, self.orientation, self.elevation_bins
        )

    def extract(self, volume: np.ndarray) -> np.ndarray:
        """``volume (T, H, W)`` -> ``(n_features,)``."""
        return hog3d(
            volume,
            self.grid,
            self.t_blocks,
            self.bins,
            self.orientation,
            self.elevation_bins,
            self.norm,
        )
