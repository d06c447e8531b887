"""LBP-SIP: LBP with six intersection points (Wang, See, Phan & Oh, ACCV 2014; PLoS ONE 2015).

LBP-TOP's three circles (XY, XT, YT) through a voxel ``c`` meet in six points: the four
spatial neighbours ``A, B, C, D`` at ``(x +- R_X, y, t)`` and ``(x, y +- R_Y, t)`` and the two
temporal neighbours ``E, F`` at ``(x, y, t -+ R_T)``. LBP-SIP keeps only these (no
interpolation) and splits them into two codes:

* spatial code (4 bits, 16 values): bit ``p`` = ``[g_p - g_c >= 0]`` for the neighbours in the
  order right ``(x + R_X)``, up ``(y - R_Y)``, left ``(x - R_X)``, down ``(y + R_Y)``, i.e.
  scikit-image's ``local_binary_pattern(frame, 4, R, "default")`` order for ``R_X = R_Y = R``
  (tested);
* temporal code (2 bits, 4 values): bit 0 = previous frame ``(t - R_T)``, bit 1 = next frame
  ``(t + R_T)``.

Per block (``grid`` rows x cols, ``t_blocks`` along time): the 16-bin spatial and the 4-bin
temporal histogram, each normalised to sum 1, concatenated -> 20 values per block (the
"16 + 4 = 20 bins" of Wang et al., against LBP-TOP's 3 x 59 = 177). All codes are kept (no
uniform mapping: with 4 and 2 points there is nothing to merge). Voxels counted: those whose
six points lie inside the volume (``R_T <= t < T - R_T`` etc.), as for LBP-TOP.

Layout ``[t_block][row][col][16 spatial bins, 4 temporal bins]``; feature length
``t_blocks * rows * cols * 20`` (defaults ``5 * 5 * 20 = 500``).

Defaults: radii ``(R_X, R_Y, R_T) = (1, 1, 1)`` and 5 x 5 blocks, as LBP-TOP here, because
RRRN states the handcrafted features share "the same parameter setups" and Wang et al.
compare LBP-SIP with LBP-TOP on the same 5 x 5 grid. Wang et al.'s optional Gaussian
multi-resolution pyramid (concatenating levels) is not applied (RRRN does not mention it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from merkit.features.volume import as_volume, block_histograms, check_grid, normalise_l1

VERSION = 1
SPATIAL_BINS = 16
TEMPORAL_BINS = 4


def lbp_sip_codes(
    volume: np.ndarray, R: tuple[int, int, int] = (1, 1, 1)
) -> tuple[np.ndarray, np.ndarray]:
    """``volume (T, H, W)`` -> (spatial codes, temporal codes), each ``(T - 2 R_T, H - 2 R_Y,
    W - 2 R_X)`` int64, for the voxels whose six points are inside the volume."""
    v = as_volume(volume)
    rx, ry, rt = (int(r) for r in R)
    if (rx, ry, rt) != tuple(R) or min(rx, ry, rt) < 1:
        raise ValueError(f"LBP-SIP radii must be positive integers, got {R}")
    T, H, W = v.shape
    if min(T - 2 * rt, H - 2 * ry, W - 2 * rx) < 1:
        raise ValueError(f"volume {v.shape} is too small for LBP-SIP radii {R}")
    inner = (slice(rt, T - rt), slice(ry, H - ry), slice(rx, W - rx))
    c = v[inner]

    def at(dt: int, dy: int, dx: int) -> np.ndarray:
        return v[rt + dt : T - rt + dt, ry + dy : H - ry + dy, rx + dx : W - rx + dx]

    spatial = (
        (at(0, 0, rx) >= c).astype(np.int64)
        | (at(0, -ry, 0) >= c).astype(np.int64) << 1
        | (at(0, 0, -rx) >= c).astype(np.int64) << 2
        | (at(0, ry, 0) >= c).astype(np.int64) << 3
    )
    temporal = (at(-rt, 0, 0) >= c).astype(np.int64) | (at(rt, 0, 0) >= c).astype(np.int64) << 1
    return spatial, temporal


def lbp_sip_length(grid: tuple[int, int] = (5, 5), t_blocks: int = 1) -> int:
    """``t_blocks * rows * cols * (16 + 4)``."""
    return t_blocks * grid[0] * grid[1] * (SPATIAL_BINS + TEMPORAL_BINS)


def lbp_sip(
    volume: np.ndarray,
    grid: tuple[int, int] = (5, 5),
    R: tuple[int, int, int] = (1, 1, 1),
    t_blocks: int = 1,
) -> np.ndarray:
    """LBP-SIP descriptor of ``volume (T, H, W)`` -> ``(lbp_sip_length(grid, t_blocks),)``
    float64; ``R = (R_X, R_Y, R_T)`` integer radii. See the module docstring."""
    v = as_volume(volume)
    check_grid(grid, t_blocks, v.shape)
    spatial, temporal = lbp_sip_codes(v, R)
    origin = (int(R[2]), int(R[1]), int(R[0]))
    hs = block_histograms(spatial, SPATIAL_BINS, v.shape, grid, t_blocks, origin=origin)
    ht = block_histograms(temporal, TEMPORAL_BINS, v.shape, grid, t_blocks, origin=origin)
    return np.concatenate([normalise_l1(hs), normalise_l1(ht)], axis=-1).ravel()


@dataclass(frozen=True)
class LBPSIPConfig:
    """Parameters of :func:`lbp_sip`."""

    grid: tuple[int, int] = (5, 5)
    R: tuple[int, int, int] = (1, 1, 1)
    t_blocks: int = 1

    name = "lbp_sip"
    version = VERSION

    @property
    def n_features(self) -> int:
        return lbp_sip_length(self.grid, self.t_blocks)

    def extract(self, volume: np.ndarray) -> np.ndarray:
        """``volume (T, H, W)`` -> ``(n_features,)``."""
        return lbp_sip(volume, self.grid, self.R, self.t_blocks)
