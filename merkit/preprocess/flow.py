"""Dual TV-L1 optical flow (Zach, Pock & Bischof 2007) between face crops, resized and normalised.

Both papers compute TV-L1 flow from the onset to the apex frame of the face crop and feed its two
components (u horizontal, v vertical) to the network: 28 x 28 for MER-auGCN (Sec. IV-B2),
112 x 112 for its ResNet18 ablation (Sec. IV-C1), 224 x 224 for RRRN (Sec. IV-B2). merkit uses
OpenCV contrib's ``cv2.optflow.DualTVL1OpticalFlow_create`` with every parameter in
:class:`FlowConfig` (defaults: OpenCV's, which are those of the original implementation).

Per pair (:func:`pair_flow`):

1. the two grayscale frames (:func:`merkit.preprocess.frames.to_gray`'s uint8, taken as float32
   in [0, 1]) are optionally rotated together about the crop
   box's centre (augmentation; see :mod:`merkit.preprocess.augment`), cropped with the clip's
   fixed box and resized to ``crop_size`` x ``crop_size`` (area interpolation);
2. ``tvl1(onset, apex)`` gives ``(crop_size, crop_size, 2)`` float32 displacements in crop pixels;
3. the field is resized to ``out_size`` x ``out_size`` with area interpolation and the vectors are
   multiplied by the resize ratio ``out_size / crop_size`` (a displacement of d crop pixels is
   d x ratio output pixels), so the field stays a true displacement field on the output grid;
4. head-motion compensation (:attr:`FlowConfig.head_motion`, :func:`compensate`): ``"affine"``
   (default) subtracts the least-squares affine motion of the whole field,
   ``u(x, y) - (a0 + a1 x + a2 y)`` and ``v(x, y) - (b0 + b1 x + b2 y)`` over the output grid
   (translation, in-plane rotation, scale and shear of the head between onset and apex);
   ``"translation"`` subtracts the mean flow only; ``"none"`` keeps the raw field. The papers
   are silent: CASME II and SAMM subjects were asked to keep still, but a head that sways by
   1-3 px (more than a micro-expression moves) swamps the local AU motion otherwise. A micro-
   expression is local, so the global fit takes little of it. The choice was fixed on a
   development set generated with another seed (never on an evaluation set): Dual-Inception on
   SAMM -> CASME II, 3 seeds, UAR 0.32 raw, 0.49 translation, 0.57 affine (the standardised
   linear probe: 0.58);
5. normalisation (:attr:`FlowConfig.normalisation`):

   * ``"face_percent"`` (default): displacement in percent of the face-crop width,
     ``100 x d_out / out_size``. Independent of ``crop_size`` and ``out_size``, so 28 / 112 /
     224 inputs have the same units; micro-expression motions are ~0.2-3 % of the face, so the
     values are O(1) without any per-sample rescaling (magnitudes stay comparable across clips,
     which a per-sample rescaling would destroy);
   * ``"pixels"``: displacement in output pixels (step 3 only);
   * ``"maxabs"``: step 3 divided by the sample's largest |component| (in [-1, 1]; the usual
     "flow image" normalisation of many MER code bases; loses the magnitude).

A non-finite value in a flow raises :class:`FlowError`; it is never replaced by zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Box = tuple[int, int, int, int]

TVL1_PARAMS = (
    "tau",
    "lambda_",
    "theta",
    "nscales",
    "warps",
    "epsilon",
    "inner_iterations",
    "outer_iterations",
    "scale_step",
    "gamma",
    "median_filtering",
)


#: the head-motion compensations of :func:`compensate`
HEAD_MOTIONS: tuple[str, ...] = ("affine", "translation", "none")


class FlowError(ValueError):
    """A flow could not be computed or contains NaN / inf."""


@dataclass(frozen=True)
class FlowConfig:
    """TV-L1 parameters, crop and output sizes, normalisation (hashed into the cache key).

    TV-L1 (OpenCV names in brackets): ``tau`` time step, ``lambda_`` data-term weight (smaller
    = smoother), ``theta`` coupling, ``nscales`` pyramid levels, ``warps`` warpings per level,
    ``epsilon`` stopping threshold, ``inner_iterations`` (innerIterations),
    ``outer_iterations`` (outerIterations), ``scale_step`` pyramid ratio, ``gamma`` (0 = plain
    TV-L1), ``median_filtering`` median filter size on the flow between warps.
    ``crop_size``: side the face crop is resampled to before the flow (the flow's cost grows
    with its square; the native CASME II face is ~230 px, SAMM ~400 px).
    ``out_size``: side of the returned flow (28 MER-auGCN, 112 ResNet18 ablation, 224 RRRN).
    It is ``None`` in a profile: each table row's recipe sets it from its one ``input_size``
    (:func:`merkit.reproduce.tables.with_out_size`), and computing a flow without it raises.
    ``head_motion``: ``"affine"`` | ``"translation"`` | ``"none"``, the head-motion
    compensation (module docstring, step 4); ``normalisation``: ``"face_percent"`` |
    ``"pixels"`` | ``"maxabs"`` (step 5).
    """

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5
    crop_size: int = 112
    out_size: int | None = None
    head_motion: Literal["affine", "translation", "none"] = "affine"
    normalisation: Literal["face_percent", "pixels", "maxabs"] = "face_percent"

    def __post_init__(self) -> None:
        if self.head_motion not in HEAD_MOTIONS:
            raise ValueError(
                f"FlowConfig.head_motion {self.head_motion!r} is not one of {', '.join(map(repr, HEAD_MOTIONS))}"
            )
        if self.normalisation not in ("face_percent", "pixels", "maxabs"):
            raise ValueError(
                f"FlowConfig.normalisation {self.normalisation!r} is not one of "
                "'face_percent', 'pixels', 'maxabs'"
            )
        if self.crop_size < 8 or (self.out_size is not None and self.out_size < 1):
            raise ValueError(
                f"crop_size must be >= 8 and out_size >= 1, got {self.crop_size}, {self.out_size}"
            )
        if self.nscales < 1 or self.warps < 1:
            raise ValueError("nscales and warps must be >= 1")

    def tvl1_params(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in TVL1_PARAMS}


def tvl1(prev_gray: np.ndarray, next_gray: np.ndarray, **params: float | int) -> np.ndarray:
    """Dual TV-L1 flow from ``prev_gray`` to ``next_gray``.

    ``prev_gray, next_gray``: (H, W) uint8 (0-255) or float32/float64 in [0, 1] (OpenCV scales
    float input by 255, so ``lambda_`` means the same for both) -> ``(H, W, 2)`` float32 ``(u, v)``
    with ``next(x + u, y + v) ~ prev(x, y)``. ``params``: any of :data:`TVL1_PARAMS` (defaults:
    :class:`FlowConfig`'s). Raises :class:`FlowError` if an input or the result has NaN or inf.
    """
    unknown = set(params) - set(TVL1_PARAMS)
    if unknown:
        raise TypeError(f"unknown TV-L1 parameters {sorted(unknown)}; known: {TVL1_PARAMS}")
    a, b = np.asarray(prev_gray), np.asarray(next_gray)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"tvl1 needs two 2-D images of one shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        a, b = a.astype(np.float32), b.astype(np.float32)
        check_finite(a, "TV-L1 input (first image)")
        check_finite(b, "TV-L1 input (second image)")
    p = {**FlowConfig().tvl1_params(), **params}
    algo = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=float(p["tau"]),
        lambda_=float(p["lambda_"]),
        theta=float(p["theta"]),
        nscales=int(p["nscales"]),
        warps=int(p["warps"]),
        epsilon=float(p["epsilon"]),
        innnerIterations=int(p["inner_iterations"]),
        outerIterations=int(p["outer_iterations"]),
        scaleStep=float(p["scale_step"]),
        gamma=float(p["gamma"]),
        medianFiltering=int(p["median_filtering"]),
    )
    flow = algo.calc(np.ascontiguousarray(a), np.ascontiguousarray(b), None)
    flow = np.asarray(flow, dtype=np.float32)
    check_finite(flow, "TV-L1 flow")
    return flow


def check_finite(flow: np.ndarray, what: str) -> None:
    """Raise :class:`FlowError` naming ``what`` if ``flow`` has NaN or inf."""
    bad = ~np.isfinite(flow)
    if bad.any():
        raise FlowError(
            f"{what}: {int(bad.sum())} NaN/inf values out of {flow.size}; "
            "check the frames (constant or corrupt images) and the TV-L1 parameters"
        )


def unit_gray(gray: np.ndarray) -> np.ndarray:
    """A gray frame as float32 in [0, 1]: uint8 (as :func:`merkit.preprocess.frames.to_gray`
    returns) is divided by 255, anything else is taken to be in [0, 1] already."""
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"expected an (H, W) gray frame, got shape {gray.shape}")
    if gray.dtype == np.uint8:
        return gray.astype(np.float32) / 255.0
    return gray.astype(np.float32, copy=False)


def rotate(image: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    """Rotate ``image`` (H, W) by ``angle`` degrees (counter-clockwise as displayed) about
    ``centre`` (x, y), bilinear, borders replicated. ``angle == 0`` returns the input."""
    if angle == 0:
        return image
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), 1.0)
    h, w = image.shape[:2]
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def box_centre(box: Box) -> tuple[float, float]:
    """Centre (x, y) of a (top, right, bottom, left) box in pixel-centre coordinates."""
    top, right, bottom, left = box
    return ((left + right - 1) / 2.0, (top + bottom - 1) / 2.0)


def crop_resize(gray: np.ndarray, box: Box, size: int) -> np.ndarray:
    """``gray (H, W)`` float32, box -> ``(size, size)`` float32 crop (area interpolation)."""
    top, right, bottom, left = box
    crop = gray[top:bottom, left:right]
    if crop.size == 0:
        raise ValueError(f"crop box {box} is empty in a {gray.shape} frame")
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def resize_flow(flow: np.ndarray, out_size: int) -> np.ndarray:
    """``(H, W, 2)`` flow -> ``(out_size, out_size, 2)``: area interpolation, vectors scaled by
    the resize ratio per axis (u by out/W, v by out/H)."""
    h, w = flow.shape[:2]
    if (h, w) == (out_size, out_size):
        return flow.astype(np.float32, copy=True)
    out = cv2.resize(flow, (out_size, out_size), interpolation=cv2.INTER_AREA).astype(np.float32)
    out[..., 0] *= out_size / w
    out[..., 1] *= out_size / h
    return out


def compensate(flow: np.ndarray, how: str) -> np.ndarray:
    """``(H, W, 2)`` flow minus its global motion (module docstring, step 4): ``"affine"`` the
    least-squares fit ``a0 + a1 x + a2 y`` of each component over the grid, ``"translation"``
    each component's mean, ``"none"`` nothing. Returns a new float32 array."""
    if how == "none":
        return flow.astype(np.float32, copy=True)
    h, w = flow.shape[:2]
    values = flow.reshape(-1, 2).astype(np.float64)
    if how == "translation":
        return (values - values.mean(axis=0)).reshape(h, w, 2).astype(np.float32)
    if how == "affine":
        yy, xx = np.mgrid[0:h, 0:w]
        design = np.column_stack([np.ones(h * w), xx.ravel() - (w - 1) / 2, yy.ravel() - (h - 1) / 2])
        coef, *_ = np.linalg.lstsq(design, values, rcond=None)  # (3, 2): per component
        return (values - design @ coef).reshape(h, w, 2).astype(np.float32)
    raise ValueError(f"unknown head_motion {how!r}; one of {HEAD_MOTIONS}")


def normalise(flow: np.ndarray, how: str) -> np.ndarray:
    """Normalise an ``(S, S, 2)`` output-grid flow (see the module docstring)."""
    if how == "pixels":
        return flow
    if how == "face_percent":
        return flow * np.float32(100.0 / flow.shape[1])
    if how == "maxabs":
        peak = float(np.abs(flow).max())
        return flow / np.float32(peak) if peak > 0 else flow
    raise ValueError(f"unknown normalisation {how!r}")


def pair_flow(
    onset_gray: np.ndarray,
    apex_gray: np.ndarray,
    box: Box,
    cfg: FlowConfig,
    *,
    angle: float = 0.0,
    rotate_on: Literal["frame", "crop"] = "frame",
    what: str = "flow",
) -> np.ndarray:
    """One training/test sample: ``(H, W)`` onset and apex gray frames -> ``(2, S, S)`` float32.

    The frames are uint8 (:func:`merkit.preprocess.frames.to_gray`) or float in [0, 1]; both
    are used as float32 in [0, 1] (:func:`unit_gray`).

    ``angle`` rotates both frames together about the centre of ``box`` before the flow:
    ``rotate_on="frame"`` rotates the full frame then crops (real image content fills the
    corners); ``"crop"`` crops first then rotates the ``crop_size`` crop (borders replicated;
    cheaper on large frames). ``what`` names the pair in errors. ``S = cfg.out_size``.
    """
    if cfg.out_size is None:
        raise ValueError(
            "FlowConfig.out_size is unset: a profile leaves it to each table row's recipe "
            "(set it with dataclasses.replace or merkit.reproduce.tables.with_out_size)"
        )
    onset_gray, apex_gray = unit_gray(onset_gray), unit_gray(apex_gray)
    if rotate_on == "frame":
        centre = box_centre(box)
        a = crop_resize(rotate(onset_gray, angle, centre), box, cfg.crop_size)
        b = crop_resize(rotate(apex_gray, angle, centre), box, cfg.crop_size)
    elif rotate_on == "crop":
        c = ((cfg.crop_size - 1) / 2.0, (cfg.crop_size - 1) / 2.0)
        a = rotate(crop_resize(onset_gray, box, cfg.crop_size), angle, c)
        b = rotate(crop_resize(apex_gray, box, cfg.crop_size), angle, c)
    else:
        raise ValueError(f"rotate_on must be 'frame' or 'crop', not {rotate_on!r}")
    try:
        flow = tvl1(a, b, **cfg.tvl1_params())
    except FlowError as err:
        raise FlowError(f"{what}: {err}") from None
    out = normalise(compensate(resize_flow(flow, cfg.out_size), cfg.head_motion), cfg.normalisation)
    check_finite(out, what)
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)
