"""Synthetic occlusion of micro-expression clips: medical masks, sunglasses, random blocks.

RRRN (Mao et al., Sec. IV-A2) builds Mask-, Glass- and RMask- versions of CASME II and SAMM:
an occluder is placed on *every* frame from that frame's landmarks so that it moves with the
face, and the occluded clips then go through the usual pipeline (TV-L1 flow onset -> apex,
augmentation, cache). Tables III and IV list 13 conditions: :data:`CONDITIONS`.

Occluders (one per clip: the design, its colours and the block's relative position are drawn
once per clip from the seed; the placement is recomputed on every frame):

* ``"mask"`` -- a medical mask from the nose bridge (midway between landmarks 28 and 29) to
  below the chin (landmark 8 plus 6 % of the mask height), as wide as the jaw line (landmarks
  1-15 plus 3 % each side).
* ``"glass"`` -- sunglasses from the brows (mean height of 17-26) to the nose bridge
  (landmark 29), temple to temple (landmarks 0 and 16).
* Both are drawn on a canvas that stands for this *anchor box* on the canonical face and are
  warped per frame by ``R(roll) @ diag(sx, sy)``: rotated with the head's roll (the angle of
  the line from the outer eye corner 36 to 45, :func:`head_roll`) and scaled anisotropically so
  the canvas fills the frame's anchor box measured in the roll-corrected ("upright") frame.
* ``"block"`` -- a solid rectangle covering ``level`` (r) of the landmark face box (the
  bounding box of landmarks 0-26, :func:`face_box`), always inside that box.

Decisions where the paper is silent (each one flag away on :class:`OcclusionSpec`):

* Block size follows the face box **frame by frame** (``block_size="per-frame"``) so every
  frame hides exactly r of its face box; ``"first-frame"`` fixes the pixel size instead.
* Block aspect is the face box's aspect (``block_aspect="face"``: w/h = box w/h, so both sides
  are sqrt(r) of the box's); ``"random"`` multiplies it by a per-clip factor in [3/4, 4/3].
* The block is axis-aligned in the image (the face box is), not rotated with the roll.
* Block position: drawn once per clip as a uniform position inside the canonical face's box,
  i.e. an offset of the block centre from the nose tip (landmark 30) in face-box units; each
  frame puts the block at ``nose_t + offset * box_size_t`` and clamps it into that frame's box.
  No draw depends on a frame, so occluding a clip frame by frame (``spec(frame, lm, clip=id)``,
  the pipeline's hook) equals :meth:`OcclusionSpec.apply_clip`.
* Block colour: one uniform random RGB colour per clip (``block_fill="random"``; ``"black"``).
* Rounding: a pixel belongs to the face box when its centre lies inside the landmarks' bounding
  box; the block's integer sides are rounded so ``w*h`` is within ``w/2`` pixels of ``r*A``,
  i.e. the covered fraction is within half a row of the box (``1 / (2 * box height)``) of r.
* ``covered`` marks the pixels whose occluder opacity is >= 0.5 (anti-aliased edges are
  blended into the frame but count as covered only from half opacity on).

Frames are ``(H, W, 3)`` uint8 (treated as RGB: with BGR frames only the designs' hues
swap, which matters little as TV-L1 runs on gray) or ``(H, W)`` / ``(H, W, 1)`` uint8 gray;
the output keeps the input's shape and dtype. Landmarks are ``(68, 2)`` float ``(x, y)`` in
iBUG 68-point order (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth).

User designs: a folder with ``mask/*.png`` and/or ``glass/*.png`` RGBA images, each cropped
so that the whole image maps onto the anchor box above (mask: jaw to jaw, nose bridge to below
the chin; glasses: temple to temple, brows to nose bridge); given as
``OcclusionSpec(designs_dir=...)`` or the ``MERKIT_OCCLUDERS`` environment variable. The
paper used ten masks and ten sunglasses collected from the web; we ship 11 + 11 procedural
designs (:func:`design_names`).

Speed (shared 2-core CPU, 200 x 200 frame, 150 px face; ``OcclusionSpec._occluder(...).place``):
about 0.4 ms per frame (mask), 0.2 ms (glasses), 0.03 ms (block); drawing a procedural design
takes 2-30 ms once per clip (canvases are cached per clip, design and 16-px size bucket).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from merkit import landmarks as L
from merkit.io import file_fingerprint, stable_hash
from merkit.paper import CONDITION_LABELS, CONDITIONS
from merkit.preprocess import _occluder_designs as designs

__all__ = [
    "BLOCK_LEVELS",
    "CONDITIONS",
    "CONDITION_LABELS",
    "CoverageConfig",
    "DESIGNS_ENV",
    "KINDS",
    "OCCLUSION_VERSION",
    "OcclusionSpec",
    "canonical_landmarks",
    "covered_fraction",
    "design_gallery",
    "design_names",
    "face_box",
    "gallery",
    "head_roll",
    "occlude",
    "template_face",
]

#: Bump when the drawing or placement changes, so cached occluded clips are rebuilt.
OCCLUSION_VERSION = 1
#: Environment variable naming a folder of user RGBA PNG designs (``mask/``, ``glass/``).
DESIGNS_ENV = "MERKIT_OCCLUDERS"

KINDS = ("none", "mask", "glass", "block")
BLOCK_LEVELS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 11))
# The 13 conditions of RRRN Tables III/IV and their printed labels are published facts: one
# definition, in merkit.paper.
assert ("unocc", "mask", "glass", *(f"block-{r:.2f}" for r in BLOCK_LEVELS)) == CONDITIONS

_KIND_CODE = {"none": 0, "mask": 1, "glass": 2, "block": 3}
_BLOCK_SIZES = ("per-frame", "first-frame")
_BLOCK_ASPECTS = ("face", "random")
_BLOCK_FILLS = ("random", "black")
_LUMA = np.array([0.299, 0.587, 0.114])
_PAD = 0.12  # procedural canvases extend this fraction of the anchor box beyond it (per side)

# -- named landmarks (iBUG 68, merkit.landmarks) beyond its part slices --------------------------
_JAW_RIGHT_END = L.JAW.start  # 0: the jaw line's end at the subject's right temple
_JAW_LEFT_END = L.JAW.stop - 1  # 16
_JAW_INNER = slice(L.JAW.start + 1, L.JAW.stop - 1)  # 1-15: the jaw line without its ends
_RIGHT_EYE_OUTER = L.RIGHT_EYE.start  # 36
_LEFT_EYE_OUTER = L.LEFT_EYE.start + 3  # 45
_NOSE_BRIDGE_2ND = L.NOSE_BRIDGE.start + 1  # 28
_NOSE_BRIDGE_3RD = L.NOSE_BRIDGE.start + 2  # 29

# -- canonical 68-point face ---------------------------------------------------------------------
# Image-left half of a frontal mean face in face-box units (x right, y down; the box of
# landmarks 0-26 is [0, 1] x [0, 1]); the other half is mirrored about x = 0.5.
_LEFT_HALF = {
    0: (0.00, 0.20), 1: (0.01, 0.33), 2: (0.03, 0.46), 3: (0.06, 0.58), 4: (0.11, 0.70),
    5: (0.19, 0.80), 6: (0.28, 0.88), 7: (0.38, 0.95), 8: (0.50, 1.00),
    17: (0.08, 0.08), 18: (0.15, 0.02), 19: (0.23, 0.00), 20: (0.31, 0.01), 21: (0.39, 0.04),
    27: (0.50, 0.17), 28: (0.50, 0.26), 29: (0.50, 0.35), 30: (0.50, 0.44),
    31: (0.40, 0.50), 32: (0.44, 0.52), 33: (0.50, 0.53),
    36: (0.17, 0.19), 37: (0.23, 0.155), 38: (0.30, 0.155), 39: (0.36, 0.195),
    40: (0.30, 0.215), 41: (0.23, 0.215),
    48: (0.32, 0.68), 49: (0.38, 0.645), 50: (0.45, 0.625), 51: (0.50, 0.635),
    57: (0.50, 0.765), 58: (0.44, 0.76), 59: (0.38, 0.735),
    60: (0.34, 0.68), 61: (0.44, 0.665), 62: (0.50, 0.67), 66: (0.50, 0.70), 67: (0.44, 0.695),
}  # fmt: skip
# right-hand index -> the left-hand index it mirrors
_MIRROR = {
    **{16 - i: i for i in range(8)},
    **{26 - (i - 17): i for i in range(17, 22)},
    34: 32, 35: 31,
    42: 39, 43: 38, 44: 37, 45: 36, 46: 41, 47: 40,
    52: 50, 53: 49, 54: 48, 55: 59, 56: 58,
    63: 61, 64: 60, 65: 67,
}  # fmt: skip


def _template() -> np.ndarray:
    pts = np.zeros((L.N_LANDMARKS, 2), np.float64)
    for i, xy in _LEFT_HALF.items():
        pts[i] = xy
    for j, i in _MIRROR.items():
        pts[j] = (1.0 - _LEFT_HALF[i][0], _LEFT_HALF[i][1])
    return pts


_TEMPLATE = _template()


def canonical_landmarks(
    size: int | tuple[int, int] = 200,
    *,
    face_width: float | None = None,
    center: tuple[float, float] | None = None,
    roll_deg: float = 0.0,
) -> np.ndarray:
    """A frontal mean face's 68 iBUG landmarks placed in a frame: -> (68, 2) float64 (x, y).

    ``size`` is the frame's side (or ``(H, W)``); the face box (landmarks 0-26) is
    ``face_width`` pixels square (default 55 % of the smaller side), centred on ``center``
    (default the frame centre) and rotated by ``roll_deg`` about it, so that
    ``head_roll(result) == radians(roll_deg)`` (positive = clockwise on screen, y down).
    """
    h, w = (size, size) if isinstance(size, int) else size
    fw = 0.55 * min(h, w) if face_width is None else float(face_width)
    cx, cy = ((w - 1) / 2, (h - 1) / 2) if center is None else center
    pts = (_TEMPLATE - 0.5) * fw
    t = math.radians(roll_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return pts @ rot.T + np.array([cx, cy])


def template_face(
    size: int = 200, *, roll_deg: float = 0.0, face_width: float | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face drawn from :func:`canonical_landmarks`, for galleries and tests.

    Returns ``frame`` (size, size, 3) uint8 RGB and ``landmarks`` (68, 2) float64.
    """
    lm = canonical_landmarks(size, face_width=face_width, roll_deg=roll_deg)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bg = 150 + 40 * (yy / size) + 6 * rng.standard_normal((size, size)).astype(np.float32)
    img = np.repeat(np.clip(bg, 0, 255)[..., None], 3, axis=2).astype(np.uint8)
    # head: jaw line closed by an elliptic forehead arc over the brows
    centre = 0.5 * (lm[_JAW_RIGHT_END] + lm[_JAW_LEFT_END])
    half_w = 0.5 * float(np.linalg.norm(lm[_JAW_LEFT_END] - lm[_JAW_RIGHT_END]))
    roll = head_roll(lm)
    axis_x = np.array([math.cos(roll), math.sin(roll)])
    axis_up = np.array([math.sin(roll), -math.cos(roll)])
    brow_h = float(np.max((lm[L.BROWS] - centre) @ axis_up))
    phi = np.linspace(0.0, np.pi, 25)[1:-1]
    forehead = (
        centre
        + np.outer(half_w * np.cos(phi), axis_x)
        + np.outer(1.5 * brow_h * np.sin(phi), axis_up)
    )
    head = np.concatenate([lm[L.JAW], forehead]).astype(np.int32)
    cv2.fillPoly(img, [head], (224, 180, 150), cv2.LINE_AA)
    skin_noise = (8 * rng.standard_normal((size, size))).astype(np.int16)
    face_px = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face_px, [head], 1)
    img = np.clip(img.astype(np.int16) + (skin_noise * face_px)[..., None], 0, 255).astype(np.uint8)
    scale = float(np.linalg.norm(lm[_LEFT_EYE_OUTER] - lm[_RIGHT_EYE_OUTER]))
    thick = max(1, int(round(0.04 * scale)))
    for brow in (lm[L.RIGHT_BROW], lm[L.LEFT_BROW]):
        cv2.polylines(img, [brow.astype(np.int32)], False, (90, 60, 40), thick + 1, cv2.LINE_AA)
    for eye in (lm[L.RIGHT_EYE], lm[L.LEFT_EYE]):
        cv2.fillPoly(img, [eye.astype(np.int32)], (250, 250, 250), cv2.LINE_AA)
        centre = eye.mean(axis=0)
        radius = max(1, int(round(0.35 * float(np.ptp(eye[:, 1])) + 1)))
        cv2.circle(
            img,
            (int(round(centre[0])), int(round(centre[1]))),
            radius,
            (60, 40, 30),
            -1,
            cv2.LINE_AA,
        )
        cv2.polylines(img, [eye.astype(np.int32)], True, (70, 50, 40), 1, cv2.LINE_AA)
    cv2.polylines(
        img, [lm[L.NOSE_BRIDGE].astype(np.int32)], False, (180, 130, 110), thick, cv2.LINE_AA
    )
    cv2.polylines(
        img, [lm[L.NOSE_LOWER].astype(np.int32)], False, (150, 100, 90), thick, cv2.LINE_AA
    )
    cv2.fillPoly(img, [lm[L.OUTER_LIPS].astype(np.int32)], (190, 80, 85), cv2.LINE_AA)
    cv2.fillPoly(img, [lm[L.INNER_LIPS].astype(np.int32)], (90, 30, 40), cv2.LINE_AA)
    return img, lm


# -- validation -------------------------------------------------------------------------------
def _check_frame(frame: np.ndarray, where: str) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(
            f"{where}: frames must be uint8, got {frame.dtype}; convert with "
            "np.clip(x, 0, 255).astype(np.uint8)"
        )
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3))):
        raise ValueError(
            f"{where}: frame shape {frame.shape} is neither (H, W), (H, W, 1) nor (H, W, 3)"
        )
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"{where}: frame {frame.shape} is too small to hold a face")
    return frame


def _check_landmarks(landmarks: np.ndarray, where: str) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (L.N_LANDMARKS, 2):
        raise ValueError(f"{where}: landmarks must be (68, 2) (x, y) in iBUG order, got {lm.shape}")
    if not np.isfinite(lm).all():
        raise ValueError(
            f"{where}: landmarks contain NaN/inf (face not detected?); fix or drop the "
            "frame before occluding"
        )
    return lm


# -- geometry ---------------------------------------------------------------------------------
def head_roll(landmarks: np.ndarray) -> float:
    """Head roll in radians: the angle of the outer-eye-corner line 36 -> 45 (y down)."""
    lm = np.asarray(landmarks, np.float64)
    d = lm[_LEFT_EYE_OUTER] - lm[_RIGHT_EYE_OUTER]
    return math.atan2(d[1], d[0])


def face_box(
    landmarks: np.ndarray, shape: tuple[int, ...] | None = None
) -> tuple[int, int, int, int]:
    """Pixel face box ``(x0, y0, x1, y1)`` (inclusive) of landmarks 0-26.

    A pixel belongs to the box when its centre (integer coordinates) lies inside the
    landmarks' bounding box; with ``shape`` (H, W, ...) the box is clipped to the frame.
    """
    pts = np.asarray(landmarks, np.float64)[L.FACE_OUTLINE]
    x0, y0 = np.ceil(pts.min(axis=0) - 1e-9).astype(int)
    x1, y1 = np.floor(pts.max(axis=0) + 1e-9).astype(int)
    if shape is not None:
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, shape[1] - 1), min(y1, shape[0] - 1)
    if x1 < x0 or y1 < y0:
        raise ValueError(
            f"the landmark face box {(x0, y0, x1, y1)} is empty or outside the frame "
            f"{shape}: check the landmarks"
        )
    return int(x0), int(y0), int(x1), int(y1)


def covered_fraction(covered: np.ndarray, landmarks: np.ndarray) -> float:
    """Fraction of the landmark face box (:func:`face_box`, clipped to the frame) covered.

    ``covered``: (H, W) bool -> float in [0, 1].
    """
    covered = np.asarray(covered, bool)
    x0, y0, x1, y1 = face_box(landmarks, covered.shape)
    return float(covered[y0 : y1 + 1, x0 : x1 + 1].mean())


@dataclass(frozen=True)
class _Anchor:
    """An occluder's box in the roll-corrected frame: ``[xl, xr] x [yt, yb]``, roll about ``c``."""

    theta: float
    c: np.ndarray
    xl: float
    xr: float
    yt: float
    yb: float

    def padded(self, pad: float) -> _Anchor:
        """The box grown by ``pad`` of its width / height on every side."""
        dx, dy = pad * (self.xr - self.xl), pad * (self.yb - self.yt)
        return _Anchor(self.theta, self.c, self.xl - dx, self.xr + dx, self.yt - dy, self.yb + dy)

    def to_image(self, cw: int, ch: int) -> np.ndarray:
        """(2, 3) affine taking canvas pixels (cw x ch, centres at integers) to the image."""
        sx, sy = (self.xr - self.xl) / cw, (self.yb - self.yt) / ch
        a = np.array([[sx, 0.0], [0.0, sy]])
        at = np.array([self.xl + 0.5 * sx, self.yt + 0.5 * sy])
        cs, sn = math.cos(self.theta), math.sin(self.theta)
        r = np.array([[cs, -sn], [sn, cs]])
        m = np.empty((2, 3))
        m[:, :2] = r @ a
        m[:, 2] = r @ (at - self.c) + self.c
        return m


def _anchor(kind: str, lm: np.ndarray, where: str = "") -> _Anchor:
    theta = head_roll(lm)
    c = 0.5 * (lm[_RIGHT_EYE_OUTER] + lm[_LEFT_EYE_OUTER])
    cs, sn = math.cos(theta), math.sin(theta)
    up = (lm - c) @ np.array([[cs, sn], [-sn, cs]]).T + c  # rotate by -theta about c
    if kind == "mask":
        xl, xr = up[_JAW_INNER, 0].min(), up[_JAW_INNER, 0].max()
        margin = 0.03 * (xr - xl)
        xl, xr = xl - margin, xr + margin
        yt = 0.5 * (up[_NOSE_BRIDGE_2ND, 1] + up[_NOSE_BRIDGE_3RD, 1])
        yb = up[L.CHIN, 1] + 0.06 * (up[L.CHIN, 1] - yt)
    elif kind == "glass":
        xl = min(up[_JAW_RIGHT_END, 0], up[_JAW_LEFT_END, 0])
        xr = max(up[_JAW_RIGHT_END, 0], up[_JAW_LEFT_END, 0])
        yt = up[L.BROWS, 1].mean()
        yb = up[_NOSE_BRIDGE_3RD, 1]
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    if not (xr - xl > 1e-3 and yb - yt > 1e-3):
        raise ValueError(
            f"{where}: degenerate landmarks, the {kind} anchor box "
            f"[{xl:.1f}, {xr:.1f}] x [{yt:.1f}, {yb:.1f}] is empty (are they in iBUG order?)"
        )
    return _Anchor(theta, c, float(xl), float(xr), float(yt), float(yb))


# -- per-clip occluders ---------------------------------------------------------------------------
# Every random draw comes from SeedSequence([kind, seed, clip seed, stream]) and no draw depends on
# a frame, so occluding a clip frame by frame with the same seeds gives the same result as
# OcclusionSpec.apply_clip (only the optional first-frame block size needs the clip's frame 0).
_STREAM_INDEX, _STREAM_DESIGN, _STREAM_BLOCK = 1, 2, 3


def _stream(words: tuple[int, int, int], stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([*words, stream]))


def _canvas_width(anchor_width: float) -> int:
    """Canvas pixels across the anchor box: the frame's anchor width rounded up to 16 px.

    The bucketing lets the canvas cache serve every frame of a clip; faces that cross a
    bucket boundary get the same design drawn at the next resolution.
    """
    return int(min(max(16 * math.ceil(anchor_width / 16), 32), 1024))


def _readonly(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=8)
def _procedural_canvas(
    kind: str, index: int, words: tuple[int, int, int], inner_w: int
) -> tuple[np.ndarray, np.ndarray]:
    """Design ``index`` drawn on the canonical face's anchor box grown by ``_PAD`` per side.

    -> ``rgba`` (ch, cw, 4) and ``gray`` (ch, cw, 2) float32 premultiplied (read-only, cached).
    """
    tpl = _anchor(kind, _TEMPLATE)
    t_w, t_h = tpl.xr - tpl.xl, tpl.yb - tpl.yt
    cw = int(round(inner_w * (1 + 2 * _PAD)))
    ch = max(8, int(round(inner_w * t_h / t_w * (1 + 2 * _PAD))))
    scale = np.array([cw / (t_w * (1 + 2 * _PAD)), ch / (t_h * (1 + 2 * _PAD))])  # px per unit
    origin = np.array([tpl.xl - _PAD * t_w, tpl.yt - _PAD * t_h])
    lm_canvas = (_TEMPLATE - origin) * scale - 0.5
    box = (
        -0.5 + _PAD * t_w * scale[0],
        -0.5 + _PAD * t_h * scale[1],
        t_w * scale[0],
        t_h * scale[1],
    )
    rng = _stream(words, _STREAM_DESIGN)
    rgba = designs.render_design(kind, index, rng, cw, ch, lm_canvas, float(scale[0]), box)
    return _readonly(rgba, designs.gray_alpha(rgba))  # type: ignore[return-value]


@functools.lru_cache(maxsize=8)
def _png_canvas(path: str, stamp: tuple[int, int], inner_w: int) -> tuple[np.ndarray, np.ndarray]:
    """A user PNG resized to ``inner_w`` pixels wide, keeping its aspect ratio.

    ``stamp`` (mtime, size) is only part of the cache key, so an edited file is read again.
    """
    del stamp
    rgba = designs.render_png(Path(path), inner_w)
    return _readonly(rgba, designs.gray_alpha(rgba))  # type: ignore[return-value]


@dataclass(frozen=True)
class _Patch:
    """A mask or sunglasses for one clip: procedural design ``index`` or the PNG ``png``."""

    kind: str
    index: int
    words: tuple[int, int, int]
    png: Path | None = None

    def _canvas(self, anchor_width: float, gray: bool) -> tuple[np.ndarray, float]:
        inner_w = _canvas_width(anchor_width)
        if self.png is None:
            rgba, g = _procedural_canvas(self.kind, self.index, self.words, inner_w)
            pad = _PAD
        else:
            st = self.png.stat()
            rgba, g = _png_canvas(str(self.png), (st.st_mtime_ns, st.st_size), inner_w)
            pad = 0.0  # the PNG is exactly the anchor box
        return (g if gray else rgba), pad

    def place(self, frame: np.ndarray, lm: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
        h, w = frame.shape[:2]
        anchor = _anchor(self.kind, lm, where)
        colour = frame.ndim == 3 and frame.shape[2] == 3
        canvas, pad = self._canvas(anchor.xr - anchor.xl, gray=not colour)
        ch, cw = canvas.shape[:2]
        m = anchor.padded(pad).to_image(cw, ch)
        corners = np.array(
            [[-0.5, -0.5, 1], [cw - 0.5, -0.5, 1], [-0.5, ch - 0.5, 1], [cw - 0.5, ch - 0.5, 1]]
        )
        xy = corners @ m.T
        x0, y0 = np.floor(xy.min(axis=0)).astype(int)
        x1, y1 = np.ceil(xy.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        out = frame.copy()
        covered = np.zeros((h, w), bool)
        if x1 <= x0 or y1 <= y0:
            return out, covered
        m_roi = m.copy()
        m_roi[:, 2] -= (x0, y0)
        warped = cv2.warpAffine(
            canvas, m_roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )  # fmt: skip
        alpha = warped[..., -1:]
        view = out[y0:y1, x0:x1]
        roi = view.reshape(view.shape[0], view.shape[1], -1).astype(np.float32)
        blended = roi * (1.0 - alpha) + warped[..., :-1]
        view[...] = np.clip(blended + 0.5, 0, 255).astype(np.uint8).reshape(view.shape)
        covered[y0:y1, x0:x1] = alpha[..., 0] >= 0.5
        return out, covered


def _block_size(level: float, bw: int, bh: int, aspect: float) -> tuple[int, int]:
    """Integer block sides covering ``level`` of a ``bw x bh`` box with w/h = aspect * bw/bh."""
    target = level * bw * bh
    w = int(min(max(math.floor(math.sqrt(target * aspect * bw / bh) + 0.5), 1), bw))
    h = int(min(max(math.floor(target / w + 0.5), 1), bh))
    if h == bh:  # tall box clipped: re-fit the width to the full height
        w = int(min(max(math.floor(target / h + 0.5), 1), bw))
    return w, h


# the nose tip (landmark 30) in face-box units of the canonical face
_NOSE_IN_BOX = (_TEMPLATE[L.NOSE_TIP] - _TEMPLATE[L.FACE_OUTLINE].min(axis=0)) / np.ptp(
    _TEMPLATE[L.FACE_OUTLINE], axis=0
)


@dataclass(frozen=True)
class _Block:
    """A solid block for one clip.

    ``uv`` in [0, 1]^2 places the block inside the *canonical* face box (0 = left / top edge,
    1 = right / bottom edge); that fixes the offset of the block centre from the nose tip in
    face-box units, which every frame reuses: ``centre_t = nose_t + offset * box_size_t``,
    clamped into frame t's box.
    """

    level: float
    uv: tuple[float, float]
    aspect: float
    colour: tuple[int, int, int]
    fixed_size: tuple[int, int] | None = None

    @property
    def offset(self) -> np.ndarray:
        rel_w = min(math.sqrt(self.level * self.aspect), 1.0)  # block / box, per axis
        rel_h = min(math.sqrt(self.level / self.aspect), 1.0)
        u, v = self.uv
        centre = np.array([u * (1 - rel_w) + rel_w / 2, v * (1 - rel_h) + rel_h / 2])
        return centre - _NOSE_IN_BOX

    def size(
        self, frame: np.ndarray, lm: np.ndarray, where: str
    ) -> tuple[int, int, tuple[int, ...]]:
        try:
            box = face_box(lm, frame.shape)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        bw, bh = box[2] - box[0] + 1, box[3] - box[1] + 1
        if self.fixed_size is None:
            w, h = _block_size(self.level, bw, bh, self.aspect)
        else:
            w, h = min(self.fixed_size[0], bw), min(self.fixed_size[1], bh)
        return w, h, box

    def place(self, frame: np.ndarray, lm: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
        w, h, (x0, y0, x1, y1) = self.size(frame, lm, where)
        off = self.offset
        cx = lm[L.NOSE_TIP, 0] + off[0] * (x1 - x0 + 1)
        cy = lm[L.NOSE_TIP, 1] + off[1] * (y1 - y0 + 1)
        px = min(max(math.floor(cx - (w - 1) / 2 + 0.5), x0), x1 - w + 1)
        py = min(max(math.floor(cy - (h - 1) / 2 + 0.5), y0), y1 - h + 1)
        out = frame.copy()
        covered = np.zeros(frame.shape[:2], bool)
        covered[py : py + h, px : px + w] = True
        if frame.ndim == 3 and frame.shape[2] == 3:
            out[py : py + h, px : px + w] = self.colour
        else:
            out[py : py + h, px : px + w] = int(round(float(np.dot(self.colour, _LUMA))))
        return out, covered


class _Identity:
    def place(self, frame: np.ndarray, lm: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
        return frame.copy(), np.zeros(frame.shape[:2], bool)


# -- the public spec ----------------------------------------------------------------------------
def _format_level(level: float) -> str:
    text = f"{level:.2f}"
    return text if abs(float(text) - level) < 1e-12 else f"{level:g}"


def _clip_seed_int(clip_seed: int | str) -> int:
    if isinstance(clip_seed, (int, np.integer)) and not isinstance(clip_seed, bool):
        if clip_seed < 0:
            raise ValueError(f"clip_seed must be >= 0, got {clip_seed}")
        return int(clip_seed)
    if isinstance(clip_seed, str):
        return int.from_bytes(hashlib.sha256(clip_seed.encode("utf-8")).digest()[:8], "little")
    raise TypeError(
        f"clip_seed must be a non-negative int or a str (e.g. the clip id), got {clip_seed!r}"
    )


@dataclass(frozen=True)
class CoverageConfig:
    """How much notebook 08 measures of the occluders' coverage.

    ``n_clips``: clips whose onset frames are occluded for the coverage numbers (None = every
    clip, else evenly spaced over the clip table); ``seeds``: experiment seeds per clip (each
    draws another design, colour and block position); ``gallery_seed``: the seed of the pictures.
    """

    n_clips: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    gallery_seed: int = 0

    def __post_init__(self) -> None:
        if self.n_clips is not None and self.n_clips < 1:
            raise ValueError(f"n_clips must be >= 1 or None (every clip), got {self.n_clips}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed, e.g. (0,)")


@dataclass(frozen=True)
class OcclusionSpec:
    """One occlusion condition, applied clip by clip (the preprocessing stage's config).

    ``kind``: "none" | "mask" | "glass" | "block"; ``level``: the block's fraction r of the face
    box (required for blocks, forbidden otherwise); ``seed``: the experiment seed (combined with
    each clip's ``clip_seed``); ``design``: a fixed design index (None = drawn per clip);
    ``designs_dir``: a folder of user RGBA PNGs (``mask/``, ``glass/``), None = the
    ``MERKIT_OCCLUDERS`` environment variable or, unset, the procedural designs. The block
    flags are documented in the module docstring.
    """

    kind: str
    level: float | None = None
    seed: int = 0
    design: int | None = None
    designs_dir: str | None = None
    block_size: str = "per-frame"
    block_aspect: str = "face"
    block_fill: str = "random"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown occlusion kind {self.kind!r}: use one of {KINDS}")
        if self.kind == "block":
            if self.level is None:
                raise ValueError(
                    "a 'block' occlusion needs level = the fraction of the face box to "
                    "cover, e.g. 0.25"
                )
            level = float(self.level)
            if not (0.0 < level <= 1.0) or not math.isfinite(level):
                raise ValueError(
                    f"block level must be in (0, 1], got {self.level!r} (0.05 ... 0.5 in the paper)"
                )
            object.__setattr__(self, "level", level)
        elif self.level is not None:
            raise ValueError(
                f"level={self.level!r} only applies to kind='block', not {self.kind!r}"
            )
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, (int, np.integer))
            or self.seed < 0
        ):
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        if self.design is not None:
            if self.kind not in ("mask", "glass"):
                raise ValueError(f"design only applies to 'mask' or 'glass', not {self.kind!r}")
            if (
                isinstance(self.design, bool)
                or not isinstance(self.design, (int, np.integer))
                or self.design < 0
            ):
                raise ValueError(f"design must be a non-negative int index, got {self.design!r}")
            object.__setattr__(self, "design", int(self.design))
        if self.designs_dir is not None:
            object.__setattr__(self, "designs_dir", str(self.designs_dir))
        for name, allowed in (("block_size", _BLOCK_SIZES), ("block_aspect", _BLOCK_ASPECTS),
                              ("block_fill", _BLOCK_FILLS)):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: use one of {allowed}")

    # -- naming ----------------------------------------------------------------------------------
    @classmethod
    def from_condition(cls, condition: str, seed: int = 0, **kwargs: object) -> OcclusionSpec:
        """``"unocc" | "mask" | "glass" | "block-0.25"`` (see :data:`CONDITIONS`) -> spec."""
        if condition in ("unocc", "none"):
            return cls("none", seed=seed, **kwargs)  # type: ignore[arg-type]
        if condition in ("mask", "glass"):
            return cls(condition, seed=seed, **kwargs)  # type: ignore[arg-type]
        if condition.startswith("block-"):
            try:
                level = float(condition[len("block-") :])
            except ValueError:
                level = None
            if level is not None:
                return cls("block", level, seed=seed, **kwargs)  # type: ignore[arg-type]
        raise ValueError(f"unknown occlusion condition {condition!r}: use one of {CONDITIONS}")

    @property
    def condition(self) -> str:
        """The table row name: "unocc", "mask", "glass" or "block-0.25"."""
        if self.kind == "none":
            return "unocc"
        if self.kind == "block":
            return f"block-{_format_level(self.level)}"  # type: ignore[arg-type]
        return self.kind

    @property
    def label(self) -> str:
        """The paper's row label: "Un-occ", "Mask", "Glass", "Occ-25%"."""
        cond = self.condition
        return CONDITION_LABELS.get(cond, f"Occ-{100 * (self.level or 0):g}%")

    def resolved_designs_dir(self) -> Path | None:
        """``designs_dir``, else ``$MERKIT_OCCLUDERS``, else None (procedural designs)."""
        if self.kind not in ("mask", "glass"):
            return None
        value = (
            self.designs_dir
            if self.designs_dir is not None
            else os.environ.get(DESIGNS_ENV, "").strip()
        )
        return Path(value).expanduser().resolve() if value else None

    @property
    def key(self) -> str:
        """Short cache-key string, e.g. ``"block-0.25-s3"``, ``"mask-d4-s0"``, ``"unocc"``.

        Non-default block flags add ``-ff`` (first-frame size), ``-ar`` (random aspect) and
        ``-k`` (black fill); user PNG designs add ``-png<hash of the files>``.
        """
        if self.kind == "none":
            return "unocc"
        parts = [self.condition]
        if self.kind == "block":
            if self.block_size != "per-frame":
                parts.append("ff")
            if self.block_aspect != "face":
                parts.append("ar")
            if self.block_fill != "random":
                parts.append("k")
        else:
            if self.design is not None:
                parts.append(f"d{self.design}")
            folder = self.resolved_designs_dir()
            if folder is not None:
                files = designs.png_designs(folder, self.kind)
                parts.append("png" + stable_hash([(f.name, file_fingerprint(f)) for f in files], 8))
        parts.append(f"s{self.seed}")
        return "-".join(parts)

    # -- applying --------------------------------------------------------------------------------
    def _occluder(self, clip_seed: int | str, frame0: np.ndarray, lm0: np.ndarray, where: str):
        """The clip's occluder (``frame0`` / ``lm0`` only matter for first-frame block sizes)."""
        words = (_KIND_CODE[self.kind], self.seed, _clip_seed_int(clip_seed))
        if self.kind == "none":
            return _Identity()
        if self.kind == "block":
            rng = _stream(words, _STREAM_BLOCK)
            u, v = rng.uniform(0.0, 1.0, 2)
            log_aspect = rng.uniform(math.log(0.75), math.log(4 / 3))
            colour = rng.integers(0, 256, 3)
            block = _Block(
                self.level,  # type: ignore[arg-type]
                (float(u), float(v)),
                math.exp(log_aspect) if self.block_aspect == "random" else 1.0,
                (0, 0, 0) if self.block_fill == "black" else tuple(int(c) for c in colour),  # type: ignore[arg-type]
            )
            if self.block_size == "first-frame":
                w, h, _ = block.size(frame0, lm0, where)
                block = dataclasses.replace(block, fixed_size=(w, h))
            return block
        folder = self.resolved_designs_dir()
        if folder is not None:
            files = designs.png_designs(folder, self.kind)
            index = self._design_index(len(files), words, f"{folder / self.kind}")
            return _Patch(self.kind, index, words, files[index])
        count = len(designs.DESIGNS[self.kind])
        index = self._design_index(count, words, f"the procedural {self.kind} designs")
        return _Patch(self.kind, index, words)

    def _design_index(self, count: int, words: tuple[int, int, int], source: str) -> int:
        if self.design is None:
            return int(_stream(words, _STREAM_INDEX).integers(count))
        if self.design >= count:
            raise ValueError(
                f"design={self.design} but {source} hold only {count} designs (0..{count - 1})"
            )
        return self.design

    def apply_clip(
        self,
        frames: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray],
        clip_seed: int | str = 0,
        *,
        return_covered: bool = False,
    ) -> list[np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]:
        """Occlude every frame of one clip with the same occluder.

        ``frames``: T arrays (H, W, 3) / (H, W) / (H, W, 1) uint8; ``landmarks``: T arrays
        (68, 2). ``clip_seed`` (int, or a str such as the clip id) picks the clip's design,
        colours and block position together with ``self.seed``. Returns T new frames of the same
        shape and dtype (and, with ``return_covered``, T (H, W) bool masks of hidden pixels).
        Frame t's result equals ``self(frames[t], landmarks[t], clip=clip_seed)`` except with
        ``block_size="first-frame"``, which needs the whole clip.
        """
        if len(frames) != len(landmarks):
            raise ValueError(
                f"clip {clip_seed!r}: {len(frames)} frames but {len(landmarks)} landmark arrays"
            )
        if len(frames) == 0:
            return ([], []) if return_covered else []
        checked = []
        for t, (frame, lm) in enumerate(zip(frames, landmarks, strict=True)):
            where = f"clip {clip_seed!r} frame {t}"
            checked.append((_check_frame(frame, where), _check_landmarks(lm, where), where))
        occluder = self._occluder(clip_seed, *checked[0])
        outs, covs = [], []
        for frame, lm, where in checked:
            out, cov = occluder.place(frame, lm, where)
            outs.append(out)
            covs.append(cov)
        return (outs, covs) if return_covered else outs

    def __call__(
        self, frame: np.ndarray, landmarks: np.ndarray, *, clip: int | str = 0
    ) -> np.ndarray:
        """One frame of clip ``clip``: ``frame`` (H, W[, C]) uint8, ``landmarks`` (68, 2) -> frame.

        The preprocessing pipeline's per-frame hook: the same clip id gives every frame the same
        occluder (design, colours, block position relative to the nose tip).
        """
        where = f"clip {clip!r}"
        frame = _check_frame(frame, where)
        lm = _check_landmarks(landmarks, where)
        return self._occluder(clip, frame, lm, where).place(frame, lm, where)[0]


def occlude(
    frame: np.ndarray,
    landmarks: np.ndarray,
    kind: str,
    level: float | None = None,
    seed: int = 0,
    *,
    design: int | None = None,
    designs_dir: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Occlude one frame: ``frame`` (H, W[, C]) uint8, ``landmarks`` (68, 2) ->
    ``(occluded_frame, covered)`` with the frame's shape/dtype and ``covered`` (H, W) bool.

    Equals ``OcclusionSpec(kind, level, seed, ...).apply_clip([frame], [landmarks], 0)``.
    """
    spec = OcclusionSpec(
        kind, level, seed, design, None if designs_dir is None else str(designs_dir)
    )
    outs, covs = spec.apply_clip([frame], [landmarks], 0, return_covered=True)
    return outs[0], covs[0]


def design_names(kind: str) -> tuple[str, ...]:
    """Names of the procedural designs of ``kind`` ("mask" | "glass"), in index order."""
    if kind not in designs.DESIGNS:
        raise ValueError(f"designs exist for 'mask' and 'glass', not {kind!r}")
    return tuple(name for name, _ in designs.DESIGNS[kind])


def gallery(frame: np.ndarray, landmarks: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Every condition of :data:`CONDITIONS` applied to one frame -> {condition: image}."""
    return {
        cond: OcclusionSpec.from_condition(cond, seed=seed).apply_clip([frame], [landmarks], 0)[0]  # type: ignore[index]
        for cond in CONDITIONS
    }


def design_gallery(
    frame: np.ndarray, landmarks: np.ndarray, kind: str, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each procedural design of ``kind`` on one frame -> {design name: image}."""
    return {
        name: OcclusionSpec(kind, seed=seed, design=i).apply_clip([frame], [landmarks], 0)[0]  # type: ignore[index]
        for i, name in enumerate(design_names(kind))
    }


def interpolate_landmarks(
    known: Mapping[int, np.ndarray], frames: Sequence[int]
) -> list[np.ndarray]:
    """Landmarks (68, 2) for every frame number in ``frames`` from the frames where they were
    predicted (``known``: frame -> (68, 2)): linear interpolation between the nearest known
    frames, held constant before the first and after the last.

    The preprocessing predicts landmarks only on the frames it uses (onset and the apex
    positions); descriptors that read every frame onset..offset (LBP-TOP, LBP-SIP, 3DHOG) need
    an occluder on every frame, placed from these interpolated landmarks.
    """
    if not known:
        raise ValueError("interpolate_landmarks needs at least one frame with landmarks")
    keys = np.array(sorted(known), dtype=float)
    stack = np.stack([np.asarray(known[int(k)], dtype=float) for k in keys])  # (n, 68, 2)
    out = []
    for f in frames:
        j = int(np.searchsorted(keys, f))
        if j == 0:
            out.append(stack[0].copy())
        elif j >= len(keys):
            out.append(stack[-1].copy())
        else:
            lo, hi = keys[j - 1], keys[j]
            w = (f - lo) / (hi - lo)
            out.append((1 - w) * stack[j - 1] + w * stack[j])
    return out
