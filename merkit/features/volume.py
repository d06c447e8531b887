"""The clip as a grayscale spatio-temporal volume, and the block grids every descriptor uses.

The handcrafted descriptors (:mod:`merkit.features.lbptop`, ``lbpsip``, ``hog3d``) work on the
face-cropped clip from onset to offset as one volume ``(T, H, W)``. Clips differ in length
(CASME II 200 fps: ~20-70 frames onset..offset; SAMM 200 fps likewise), so every clip is
resampled to a fixed length ``T`` and a fixed square size before description; then every
descriptor has one feature length for the whole data set (an SVM needs that).

Choices (all in :class:`VolumeConfig`)
--------------------------------------
* **Temporal resampling** ``interpolation="linear"`` (default): frame ``j`` of the output sits
  at the position ``s_j = j (n - 1) / (T - 1)`` of the input (first and last frames kept) and is
  the linear blend of the two input frames around ``s_j``. Reason: it never leaves the range of
  the two neighbouring frames (no ringing), is exact for a clip of length ``T`` and costs one
  pass. ``interpolation="tim"``: the Temporal Interpolation Model (Zhou, Zhao & Pietikainen,
  CVPR 2011) that the CASME II and SMIC LBP-TOP baselines used. TIM maps the ``n`` frames onto
  a curve given by the Laplacian eigenvectors of the path graph ``P_n``,
  ``y_k(t) = sin(pi k t / n + pi (n - k) / (2 n))``, ``t = 1..n``, which are exactly the DCT-II
  basis ``cos(pi k (t - 1/2) / n)``; with frames linearly independent (always: ``H W >> n``)
  the fitted curve passes through every frame, so TIM is the cosine series through the frames,
  evaluated at ``T`` new, evenly spaced positions. That is how it is computed here (one
  ``scipy.fft.dct``, no eigen-solver). It can overshoot the intensity range between frames.
* **Spatial size** ``size`` x ``size`` (square, like the flow crops of
  :mod:`merkit.preprocess.flow`): each frame is cropped with the clip's one face box (the
  :mod:`merkit.preprocess.face` convention ``(top, right, bottom, left)``, bottom/right
  exclusive) and resized with area interpolation (bilinear when enlarging). Spatial resizing is
  done before temporal resampling (cheaper; the two commute for linear interpolation).
* **Intensity**: the flows' grayscale: frames are decoded to RGB by
  :func:`merkit.preprocess.frames.read_frame` and made gray by
  :func:`merkit.preprocess.frames.to_gray` (ITU-R 601 luma), the same decode path for occluded
  and un-occluded clips (:func:`clip_volume_from_frames`); ``float32`` in ``[0, 255]``. LBP
  codes are invariant to a monotone change of it; 3DHOG is normalised per block.

Block grids
-----------
A grid of ``k`` blocks over ``n`` pixels has edges ``round(linspace(0, n, k + 1))``: blocks
differ in size by at most one pixel and cover every pixel once. :func:`block_histograms`
counts labelled voxels of any sub-volume per (temporal block, row block, column block) with
one ``np.bincount``; block membership is always that of the voxel's position in the *full*
volume, so a descriptor that skips a border (LBP) keeps the same face regions per block.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from merkit.preprocess.frames import read_frame, to_gray

Box = tuple[int, int, int, int]
"""``(top, right, bottom, left)`` pixels, bottom/right exclusive (as :mod:`merkit.preprocess.face`)."""

Interpolation = Literal["linear", "tim"]


@dataclass(frozen=True)
class VolumeConfig:
    """How a clip becomes a ``(length, size, size)`` float32 volume.

    ``length``: frames after temporal resampling (10: the TIM length most LBP-TOP baselines
    on CASME II use and long enough for temporal radius 4). ``size``: side of the square
    face crop in pixels. ``interpolation``: ``"linear"`` (default) or ``"tim"``; see the module
    docstring.
    """

    length: int = 10
    size: int = 64
    interpolation: Interpolation = "linear"

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"VolumeConfig.length must be >= 1, got {self.length}")
        if self.size < 4:
            raise ValueError(f"VolumeConfig.size must be >= 4, got {self.size}")
        if self.interpolation not in ("linear", "tim"):
            raise ValueError(
                f"VolumeConfig.interpolation must be 'linear' or 'tim', got {self.interpolation!r}"
            )


def resample_positions(n: int, length: int) -> np.ndarray:
    """The ``length`` positions (in input frame units, ``0..n-1``) the output frames sit at."""
    if length == 1:
        return np.array([(n - 1) / 2.0])
    return np.linspace(0.0, n - 1.0, length)


def resample_time(
    volume: np.ndarray, length: int, interpolation: Interpolation = "linear"
) -> np.ndarray:
    """Resample ``volume (n, H, W)`` to ``(length, H, W)`` float32 along time.

    ``"linear"``: blend of the two neighbouring frames; ``"tim"``: the TIM cosine series (see
    the module docstring). Both return the input frames unchanged when ``n == length`` and
    keep the first and last frames. A one-frame clip is repeated ``length`` times (with a
    warning: it has no temporal information).
    """
    volume = np.asarray(volume, dtype=np.float64)
    if volume.ndim != 3:
        raise ValueError(f"resample_time needs a (T, H, W) volume, got shape {volume.shape}")
    n = volume.shape[0]
    if n == 0:
        raise ValueError("resample_time got an empty volume (0 frames)")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if n == 1:
        warnings.warn(
            "a one-frame clip has no temporal information; its frame is repeated", stacklevel=2
        )
        return np.repeat(volume, length, axis=0).astype(np.float32)
    if n == length:
        return volume.astype(np.float32)
    pos = resample_positions(n, length)
    if interpolation == "linear":
        lo = np.clip(np.floor(pos).astype(int), 0, n - 2)
        w = (pos - lo)[:, None, None]
        out = (1.0 - w) * volume[lo] + w * volume[lo + 1]
    elif interpolation == "tim":
        from scipy.fft import dct

        coef = dct(volume, type=2, norm="ortho", axis=0)  # (n, H, W)
        k = np.arange(n)
        scale = np.where(k == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
        basis = scale[None, :] * np.cos(np.pi * k[None, :] * (pos[:, None] + 0.5) / n)
        out = np.tensordot(basis, coef, axes=(1, 0))
    else:
        raise ValueError(f"interpolation must be 'linear' or 'tim', got {interpolation!r}")
    return out.astype(np.float32)


def crop_resize_gray(gray: np.ndarray, box: Box | None, size: int) -> np.ndarray:
    """``gray (H, W)`` -> ``(size, size)`` float32: crop with ``box`` (or the whole frame) and
    resize (area interpolation when shrinking, bilinear when enlarging)."""
    if box is not None:
        top, right, bottom, left = box
        gray = gray[max(0, top) : bottom, max(0, left) : right]
    if gray.size == 0:
        raise ValueError(f"crop box {box} is empty in a frame of shape {gray.shape}")
    h, w = gray.shape
    shrink = h >= size and w >= size
    flags = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(gray.astype(np.float32), (size, size), interpolation=flags)


FrameTransform = Callable[[np.ndarray, int], np.ndarray]
"""``transform(rgb, index) -> rgb``: a per-frame change of a clip's ``(H, W, 3)`` uint8 RGB frames
before they become gray (an occluder); ``index`` is the frame's 0-based position in the clip's
frame list. It must keep the frame's shape and dtype."""


def _gray_crop(frame: np.ndarray, box: Box | None, size: int) -> np.ndarray:
    """One in-memory frame (``(H, W)`` / ``(H, W, 1)`` gray or ``(H, W, 3)`` RGB) ->
    ``(size, size)`` float32."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 3:
        frame = to_gray(frame)
    elif frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    elif frame.ndim != 2:
        raise ValueError(f"expected (H, W) or (H, W, 3) frames, got shape {frame.shape}")
    if frame.dtype != np.uint8 and frame.size and float(np.nanmax(frame)) <= 1.0:
        warnings.warn(
            "clip_volume got float frames in [0, 1]; they are used as they are (merkit "
            "volumes are in [0, 255]); pass uint8 frames for the usual scale",
            stacklevel=3,
        )
    return crop_resize_gray(frame, box, size)


def clip_volume(
    frames: Sequence[np.ndarray], config: VolumeConfig = VolumeConfig(), box: Box | None = None
) -> np.ndarray:
    """Frames already in memory (each ``(H, W)`` gray or ``(H, W, 3)`` uint8 RGB, made gray by
    :func:`merkit.preprocess.frames.to_gray`) -> ``(config.length, config.size, config.size)``
    float32 in ``[0, 255]`` (``"tim"`` may overshoot slightly)."""
    if len(frames) == 0:
        raise ValueError("clip_volume got no frames")
    crops = [_gray_crop(frame, box, config.size) for frame in frames]
    return resample_time(np.stack(crops), config.length, config.interpolation)


def clip_volume_from_frames(
    frame_paths: Sequence[str | Path],
    config: VolumeConfig = VolumeConfig(),
    box: Box | None = None,
    *,
    clip: str = "clip",
    transform: FrameTransform | None = None,
) -> np.ndarray:
    """The frame files onset..offset (the loader's ``frames`` column) ->
    ``(config.length, config.size, config.size)`` float32 face-crop volume in ``[0, 255]``.

    The one decode path of the handcrafted features, occluded or not: every file is read with
    :func:`merkit.preprocess.frames.read_frame` (RGB), changed by ``transform(rgb, index)``
    when given (an occluder, :data:`FrameTransform`; ``index`` is the 0-based position in
    ``frame_paths``), made gray with :func:`merkit.preprocess.frames.to_gray` (the flows' gray),
    cropped with ``box`` and resized, then resampled in time.

    ``box``: the clip's one face box (``(top, right, bottom, left)``, e.g. ``ClipFace.box`` of
    :mod:`merkit.preprocess.face`); ``None`` uses whole frames (the embedded data set's frames
    are already face crops). ``clip`` names the clip in errors. Raises
    :class:`merkit.preprocess.frames.FrameError` (a ``FileNotFoundError``) for a missing or
    undecodable file and ``ValueError`` for frames of different sizes or a transform that
    changes a frame's shape or dtype.
    """
    if len(frame_paths) == 0:
        raise ValueError(f"{clip}: no frames (onset..offset is empty); check its annotation row")
    crops, shape = [], None
    for index, path in enumerate(frame_paths):
        rgb = read_frame(path, name=clip)
        if shape is None:
            shape = rgb.shape
        elif rgb.shape != shape:
            raise ValueError(
                f"{clip}: frame {path} is {rgb.shape[:2]}, the first frame {shape[:2]}; "
                "expected one size"
            )
        if transform is not None:
            out = np.asarray(transform(rgb, index))
            if out.shape != rgb.shape or out.dtype != rgb.dtype:
                raise ValueError(
                    f"{clip}: the frame transform turned frame {index} ({path}) from "
                    f"{rgb.shape} {rgb.dtype} into {out.shape} {out.dtype}; it must keep both"
                )
            rgb = out
        crops.append(crop_resize_gray(to_gray(rgb), box, config.size))
    return resample_time(np.stack(crops), config.length, config.interpolation)


# ---------------------------------------------------------------------------------------------
# block grids


def block_edges(n: int, k: int) -> np.ndarray:
    """``k + 1`` integer edges splitting ``n`` pixels into ``k`` near-equal blocks."""
    if k < 1 or k > n:
        raise ValueError(f"cannot split {n} pixels into {k} blocks (need 1 <= blocks <= {n})")
    return np.round(np.linspace(0, n, k + 1)).astype(int)


def block_index(n: int, k: int) -> np.ndarray:
    """``(n,)`` int: the block (``0..k-1``) each of ``n`` pixel positions falls in."""
    edges = block_edges(n, k)
    return np.searchsorted(edges[1:-1], np.arange(n), side="right")


def block_histograms(
    labels: np.ndarray,
    n_bins: int,
    full_shape: tuple[int, int, int],
    grid: tuple[int, int],
    t_blocks: int = 1,
    *,
    origin: tuple[int, int, int] = (0, 0, 0),
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Per-block histograms of integer ``labels`` in one ``np.bincount``.

    ``labels (t, h, w)`` int in ``[0, n_bins)``: a sub-volume of a volume of ``full_shape
    (T, H, W)`` starting at ``origin``; ``grid = (rows, cols)`` spatial blocks and ``t_blocks``
    temporal blocks of the full volume; ``weights`` (same shape as labels) or ``None`` (counts).
    Returns ``(t_blocks, rows, cols, n_bins)`` float64 (unnormalised).
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be (t, h, w), got shape {labels.shape}")
    rows, cols = grid
    T, H, W = full_shape
    t0, y0, x0 = origin
    t, h, w = labels.shape
    bt = block_index(T, t_blocks)[t0 : t0 + t]
    by = block_index(H, rows)[y0 : y0 + h]
    bx = block_index(W, cols)[x0 : x0 + w]
    if len(bt) != t or len(by) != h or len(bx) != w:
        raise ValueError(f"labels {labels.shape} at {origin} do not fit in {full_shape}")
    block = (bt[:, None, None] * rows + by[None, :, None]) * cols + bx[None, None, :]
    index = block * n_bins + labels
    total = t_blocks * rows * cols * n_bins
    flat_w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    counts = np.bincount(index.ravel(), weights=flat_w, minlength=total)
    return counts.reshape(t_blocks, rows, cols, n_bins)


def normalise_l1(hist: np.ndarray, axis: int = -1) -> np.ndarray:
    """Divide by the sum along ``axis``; all-zero histograms stay zero (never NaN)."""
    hist = np.asarray(hist, dtype=np.float64)
    total = hist.sum(axis=axis, keepdims=True)
    return np.divide(hist, total, out=np.zeros_like(hist), where=total > 0)


def as_volume(volume: np.ndarray, name: str = "volume") -> np.ndarray:
    """Check ``(T, H, W)`` finite and return float64."""
    v = np.asarray(volume)
    if v.ndim != 3:
        raise ValueError(f"{name} must be a (T, H, W) grayscale volume, got shape {v.shape}")
    v = v.astype(np.float64, copy=False)
    if not np.isfinite(v).all():
        raise ValueError(f"{name} has NaN or inf values; check the frames it was built from")
    return v


def check_grid(grid: tuple[int, int], t_blocks: int, shape: tuple[int, int, int]) -> None:
    """Raise a clear error when the block grid does not fit the volume."""
    rows, cols = grid
    T, H, W = shape
    if rows < 1 or cols < 1 or t_blocks < 1:
        raise ValueError(f"grid {grid} and t_blocks {t_blocks} must be positive")
    if rows > H or cols > W or t_blocks > T:
        raise ValueError(
            f"a {rows}x{cols}x{t_blocks} block grid does not fit a (T={T}, H={H}, W={W}) volume; "
            "use fewer blocks or a larger VolumeConfig.size/length"
        )
