"""Procedurally drawn occluder designs (private to :mod:`merkit.preprocess.occlusion`).

Each design paints one premultiplied RGBA *canvas* that stands for the occluder's anchor box
on the canonical face (see ``occlusion._anchor_box``): for masks the box spans the jaw line
horizontally and the nose bridge to below the chin vertically; for sunglasses it spans temple
to temple and the brows to the nose bridge. ``lm`` gives the canonical 68 landmarks in canvas
pixels, so a design can place lenses on the eyes or a mask over the mouth; the caller warps
the finished canvas onto every frame from that frame's landmarks.

The RRRN paper (Sec. IV-A2) used ten masks and ten sunglasses collected from the web; we
draw eleven of each procedurally (shapes, colours, textures), and the user can supply PNGs
instead (``occlusion.OcclusionSpec.designs_dir``). Colours and pattern phases are drawn
from the clip's random generator, so one design still varies between clips.

Shapes: canvas ``(height, width, 4)`` float32, colour premultiplied by alpha, colour in
[0, 255], alpha in [0, 1]. Drawing is done at ``SUPERSAMPLE`` x the canvas resolution with
OpenCV's polygon / polyline rasterisers (fixed-point vertices) and area-averaged down, which
anti-aliases edges while keeping the premultiplied algebra exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from merkit import landmarks as L
from merkit.preprocess.frames import to_gray

SUPERSAMPLE = 2
_SHIFT = 4  # fixed-point fraction bits of polygon vertices handed to OpenCV


class Painter:
    """A premultiplied RGBA canvas drawn at ``SUPERSAMPLE`` x resolution.

    ``landmarks`` (68, 2) are given in final canvas pixels (pixel centres at integers) and
    stored in supersampled pixels as ``self.lm``; ``unit`` is canvas pixels per template unit
    (the canonical face box is 1 x 1 template units) and is stored supersampled as well.
    ``box`` ``(x0, y0, w, h)``: the anchor box inside the (padded) canvas, in final canvas
    pixels with continuous edges (the canvas spans [-0.5, width - 0.5]); :meth:`uv` maps
    [0, 1]^2 onto it.
    """

    def __init__(
        self, width: int, height: int, landmarks: np.ndarray, unit: float,
        box: tuple[float, float, float, float],
    ) -> None:  # fmt: skip
        s = SUPERSAMPLE
        self.width, self.height = int(width), int(height)
        self.w, self.h = self.width * s, self.height * s
        self.lm = (np.asarray(landmarks, np.float64) + 0.5) * s - 0.5
        self.unit = float(unit) * s
        x0, y0, bw, bh = box
        self.box = ((x0 + 0.5) * s - 0.5, (y0 + 0.5) * s - 0.5, bw * s, bh * s)
        self.pm = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    # -- geometry ----------------------------------------------------------------------------
    @property
    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates ``(xx, yy)``, each (h, w) float32."""
        if self._grid is None:
            yy, xx = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
            self._grid = (xx, yy)
        return self._grid

    def uv(self, u: np.ndarray | float, v: np.ndarray | float) -> np.ndarray:
        """Anchor-box coordinates (u right, v down, [0, 1] = the box) -> (N, 2) pixels."""
        u, v = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
        x0, y0, bw, bh = self.box
        return np.stack([x0 + u.ravel() * bw, y0 + v.ravel() * bh], axis=-1)

    @property
    def grid_uv(self) -> tuple[np.ndarray, np.ndarray]:
        """Anchor-box coordinates ``(u, v)`` of every pixel centre, each (h, w) float32."""
        xx, yy = self.grid
        x0, y0, bw, bh = self.box
        return (xx - np.float32(x0)) / np.float32(bw), (yy - np.float32(y0)) / np.float32(bh)

    @staticmethod
    def _fixed(points: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(points, np.float64) * (1 << _SHIFT)).astype(np.int32)

    # -- coverage masks (float32 (h, w) in [0, 1]) -------------------------------------------
    def poly(self, *polygons: np.ndarray) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [self._fixed(p) for p in polygons], 255, cv2.LINE_8, _SHIFT)
        return m.astype(np.float32) / 255.0

    def lines(self, points: np.ndarray, thickness: float, closed: bool = False) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        t = max(1, int(round(thickness)))
        cv2.polylines(m, [self._fixed(points)], closed, 255, t, cv2.LINE_8, _SHIFT)
        return m.astype(np.float32) / 255.0

    def circle(self, centre: np.ndarray, radius: float, thickness: float = -1) -> np.ndarray:
        """One circle, or several when ``centre`` is (N, 2)."""
        m = np.zeros((self.h, self.w), np.uint8)
        r = int(round(radius * (1 << _SHIFT)))
        t = -1 if thickness < 0 else max(1, int(round(thickness)))
        for c in self._fixed(np.atleast_2d(centre)):
            cv2.circle(m, (int(c[0]), int(c[1])), r, 255, t, cv2.LINE_8, _SHIFT)
        return m.astype(np.float32) / 255.0

    # -- painting ----------------------------------------------------------------------------
    def paint(self, coverage: np.ndarray, colour: np.ndarray | tuple[float, ...]) -> None:
        """Premultiplied *over*: ``colour`` (3,) or (h, w, 3) where ``coverage`` (h, w) > 0."""
        rows, cols = np.flatnonzero(coverage.any(axis=1)), np.flatnonzero(coverage.any(axis=0))
        if rows.size == 0:
            return
        sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # work on the bbox only
        m = np.clip(coverage[sl], 0.0, 1.0).astype(np.float32)
        col = np.asarray(colour, np.float32)
        if col.ndim == 3:
            col = col[sl]
        self.pm[sl] *= 1.0 - m[..., None]
        self.pm[sl] += col * m[..., None]
        self.alpha[sl] *= 1.0 - m
        self.alpha[sl] += m

    def finish(self) -> np.ndarray:
        """Area-average down to ``(height, width, 4)`` float32 premultiplied RGBA."""
        full = np.dstack([self.pm, self.alpha])
        out = cv2.resize(full, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(out, dtype=np.float32)


# -- colours and textures (vectorised; (h, w, 3) float32 layers) ------------------------------
def _colour(
    rng: np.random.Generator, palette: tuple[tuple[int, int, int], ...], jitter: float = 10.0
) -> np.ndarray:
    base = np.asarray(palette[int(rng.integers(len(palette)))], np.float32)
    return np.clip(base + rng.uniform(-jitter, jitter, 3).astype(np.float32), 0, 255)


def _noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Smooth zero-mean noise (h, w) float32 with unit standard deviation."""
    n = rng.standard_normal((h, w)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), max(sigma, 0.3))
    return n / max(float(n.std()), 1e-6)


def _blobs(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Low-frequency noise (h, w) float32: random values on a coarse grid, cubic-upsampled."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _fabric(p: Painter, rng: np.random.Generator, base: np.ndarray, amp: float = 8.0) -> np.ndarray:
    grain = _noise(rng, p.h, p.w, 0.6 * SUPERSAMPLE)
    return np.clip(base[None, None, :] + amp * grain[..., None], 0, 255)


def _stripes(p: Painter, rng: np.random.Generator, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    xx, yy = p.grid
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(0.05, 0.09) * p.unit
    phase = rng.uniform(0, 2 * np.pi)
    s = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + phase)
    return np.where((s > 0)[..., None], c1, c2).astype(np.float32)


def _gingham(p: Painter, rng: np.random.Generator, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    xx, yy = p.grid
    period = rng.uniform(0.05, 0.08) * p.unit
    ox, oy = rng.uniform(0, period, 2)
    bx = (np.floor((xx + ox) / period) % 2).astype(np.float32)
    by = (np.floor((yy + oy) / period) % 2).astype(np.float32)
    mix = 0.5 * (bx + by)  # 0, 0.5 (one band) or 1 (crossing), the gingham weave
    return (c1[None, None, :] * (1 - mix[..., None]) + c2[None, None, :] * mix[..., None]).astype(
        np.float32
    )


def _dots(p: Painter, rng: np.random.Generator, base: np.ndarray, dot: np.ndarray) -> np.ndarray:
    xx, yy = p.grid
    period = rng.uniform(0.07, 0.11) * p.unit
    ox, oy = rng.uniform(0, period, 2)
    # staggered rows
    row = np.floor((yy + oy) / period)
    gx = (xx + ox + 0.5 * period * (row % 2)) % period - period / 2
    gy = (yy + oy) % period - period / 2
    inside = (gx * gx + gy * gy) < (0.28 * period) ** 2
    return np.where(inside[..., None], dot, base).astype(np.float32)


def _camo(p: Painter, rng: np.random.Generator, colours: list[np.ndarray]) -> np.ndarray:
    field = _blobs(rng, p.h, p.w, 0.12 * p.unit)
    edges = np.quantile(field, np.linspace(0, 1, len(colours) + 1)[1:-1])
    idx = np.searchsorted(edges, field)
    return np.stack(colours).astype(np.float32)[idx]


def _vertical_gradient(
    p: Painter, top: np.ndarray, bottom: np.ndarray, y0: float, y1: float
) -> np.ndarray:
    _, yy = p.grid
    t = np.clip((yy - y0) / max(y1 - y0, 1e-6), 0, 1)[..., None]
    return (top * (1 - t) + bottom * t).astype(np.float32)


# -- masks ------------------------------------------------------------------------------------
_BLUES = ((120, 170, 215), (95, 150, 205), (140, 190, 225))
_GREENS = ((120, 190, 170), (100, 175, 160), (150, 200, 180))
_SURG_OTHER = ((235, 235, 238), (240, 190, 205), (45, 45, 50))
_WHITES = ((238, 236, 230), (225, 225, 220), (245, 242, 235))
_DARKS = ((30, 30, 35), (35, 45, 75), (70, 70, 75), (90, 30, 40))
_BRIGHT = ((200, 60, 60), (60, 120, 190), (240, 200, 80), (90, 160, 90), (230, 230, 230))


def _surgical_outline(
    p: Painter,
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def top(u: np.ndarray) -> np.ndarray:
        return 0.02 + 0.15 * (2 * u - 1) ** 2

    def bottom(u: np.ndarray) -> np.ndarray:
        return 0.97 - 0.40 * (2 * u - 1) ** 2

    u = np.linspace(0.02, 0.98, 41)
    outline = np.concatenate([p.uv(u, top(u)), p.uv(u[::-1], bottom(u[::-1]))])
    return outline, top, bottom


def _surgical(
    palette: tuple[tuple[int, int, int], ...],
) -> Callable[[Painter, np.random.Generator], None]:
    def draw(p: Painter, rng: np.random.Generator) -> None:
        outline, top, bottom = _surgical_outline(p)
        body = p.poly(outline)
        base = _colour(rng, palette)
        u, v = p.grid_uv
        t = (v - top(u)) / np.maximum(bottom(u) - top(u), 1e-6)  # 0 top edge .. 1 bottom
        pleats = 3
        saw = (np.clip(t, 0, 1) * (pleats + 1)) % 1.0  # one ramp per pleat band
        shade = 1.0 - 0.10 * saw
        layer = _fabric(p, rng, base, 5.0) * shade[..., None]
        p.paint(body, layer)
        line_colour = base * 0.8
        uu = np.linspace(0.03, 0.97, 31)
        for k in range(1, pleats + 1):
            tk = k / (pleats + 1)
            pts = p.uv(uu, top(uu) + tk * (bottom(uu) - top(uu)))
            p.paint(p.lines(pts, 0.008 * p.unit) * body, line_colour)
        band = ((t < 0.07) | (t > 0.94)).astype(np.float32) * body
        p.paint(band, np.clip(base * 1.08 + 10, 0, 255))
        wire = p.lines(
            p.uv(np.linspace(0.38, 0.62, 9), top(np.linspace(0.38, 0.62, 9)) + 0.035),
            0.012 * p.unit,
        )
        p.paint(wire * body, np.clip(base * 1.15 + 20, 0, 255))

    return draw


def _cup_outline(p: Painter) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    return p.uv(0.5 + 0.47 * np.cos(t), 0.5 + 0.5 * np.sin(t))


def _straps(p: Painter, colour: np.ndarray) -> None:
    for v in (0.3, 0.72):
        for u0, u1 in ((0.0, 0.12), (0.88, 1.0)):
            p.paint(
                p.lines(p.uv(np.array([u0, u1]), np.array([v, v + 0.02])), 0.018 * p.unit), colour
            )


def _n95(valve: bool) -> Callable[[Painter, np.random.Generator], None]:
    def draw(p: Painter, rng: np.random.Generator) -> None:
        outline = _cup_outline(p)
        body = p.poly(outline)
        base = _colour(rng, _WHITES + ((200, 200, 205),))
        u, v = p.grid_uv
        # cup shading: darker toward the rim, as if lit from the front
        r = np.sqrt(((u - 0.5) / 0.47) ** 2 + ((v - 0.5) / 0.5) ** 2)
        layer = _fabric(p, rng, base, 6.0) * (1.0 - 0.12 * np.clip(r, 0, 1) ** 2)[..., None]
        p.paint(body, layer)
        p.paint(p.lines(outline, 0.03 * p.unit, closed=True) * body, base * 0.85)
        p.paint(
            p.lines(p.uv(np.array([0.42, 0.58]), np.array([0.05, 0.05])), 0.012 * p.unit),
            (150, 150, 150),
        )
        _straps(p, _colour(rng, ((40, 150, 160), (230, 190, 60), (200, 200, 200))))
        if valve:
            centre = p.uv(rng.choice([0.3, 0.7]), 0.62)[0]
            radius = 0.07 * p.unit
            valve_colour = _colour(rng, ((90, 90, 95), (220, 220, 220), (40, 90, 160)))
            p.paint(p.circle(centre, radius), valve_colour)
            for k in (0.45, 0.75):
                p.paint(p.circle(centre, k * radius, 0.006 * p.unit), valve_colour * 0.7)

    return draw


def _kn95(p: Painter, rng: np.random.Generator) -> None:
    outline = p.uv(
        np.array([0.5, 0.03, 0.05, 0.25, 0.5, 0.75, 0.95, 0.97]),
        np.array([0.0, 0.2, 0.62, 0.88, 1.0, 0.88, 0.62, 0.2]),
    )
    body = p.poly(outline)
    base = _colour(rng, _WHITES + ((35, 35, 40), (230, 185, 200), (170, 170, 175)))
    p.paint(body, _fabric(p, rng, base, 5.0))
    seam = p.lines(p.uv(np.array([0.5, 0.5]), np.array([0.0, 1.0])), 0.01 * p.unit)
    p.paint(seam * body, base * 0.78)
    centre = outline.mean(axis=0)
    inset = centre + 0.93 * (outline - centre)
    closed = np.concatenate([inset, inset[:1]])
    steps = np.linspace(0, 1, 10, endpoint=False)[:, None, None]
    welds = (closed[None, :-1] + steps * (closed[None, 1:] - closed[None, :-1])).reshape(-1, 2)
    p.paint(p.circle(welds, 0.006 * p.unit) * body, base * 0.85)


def _cloth_outline(p: Painter) -> np.ndarray:
    u = np.linspace(0.03, 0.97, 41)
    top = 0.01 + 0.14 * np.abs(2 * u - 1) ** 1.6
    bottom = 1.0 - 0.42 * np.abs(2 * u - 1) ** 2.4
    return np.concatenate([p.uv(u, top), p.uv(u[::-1], bottom[::-1])])


def _cloth(texture: str) -> Callable[[Painter, np.random.Generator], None]:
    def draw(p: Painter, rng: np.random.Generator) -> None:
        outline = _cloth_outline(p)
        body = p.poly(outline)
        if texture == "plain":
            base = _colour(rng, _DARKS)
            layer = _fabric(p, rng, base, 7.0)
        elif texture == "stripes":
            c1, c2 = _colour(rng, _DARKS), _colour(rng, _BRIGHT)
            layer = _stripes(p, rng, c1, c2)
            base = c1
        elif texture == "gingham":
            c1, c2 = _colour(rng, ((245, 245, 245),)), _colour(rng, _BRIGHT[:3] + _DARKS[1:2])
            layer = _gingham(p, rng, c1, c2)
            base = c2
        elif texture == "dots":
            base, dot = (
                _colour(rng, _DARKS + _BRIGHT[:2]),
                _colour(rng, ((240, 240, 240), (240, 200, 80))),
            )
            layer = _dots(p, rng, base, dot)
        elif texture == "camo":
            greens = [(70, 80, 50), (120, 110, 70), (40, 45, 35), (150, 140, 100)]
            layer = _camo(p, rng, [_colour(rng, (c,), 8.0) for c in greens])
            base = np.asarray(greens[0], np.float32)
        else:  # pragma: no cover - guarded by the design table below
            raise ValueError(f"unknown cloth texture {texture!r}")
        p.paint(body, layer)
        seam_u = 0.5 + 0.015 * np.sin(np.linspace(0, np.pi, 12))
        seam = p.lines(p.uv(seam_u, np.linspace(0.0, 1.0, 12)), 0.012 * p.unit)
        p.paint(seam * body, np.clip(np.asarray(base) * 0.6, 0, 255))
        p.paint(
            p.lines(outline, 0.014 * p.unit, closed=True) * body,
            np.clip(np.asarray(base) * 0.7, 0, 255),
        )

    return draw


# -- sunglasses --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Eyes:
    left: np.ndarray  # (2,) image-left eye centre, px
    right: np.ndarray
    width: float  # mean eye width (corner to corner), px
    mid_x: float


def _eyes(p: Painter) -> _Eyes:
    lm = p.lm
    # image-left eye = the subject's right eye; points 0 and 3 of an eye contour are its corners
    eye_l, eye_r = lm[L.RIGHT_EYE], lm[L.LEFT_EYE]
    left, right = eye_l.mean(axis=0), eye_r.mean(axis=0)
    width = 0.5 * (np.linalg.norm(eye_l[3] - eye_l[0]) + np.linalg.norm(eye_r[3] - eye_r[0]))
    return _Eyes(left, right, float(width), float(0.5 * (left[0] + right[0])))


def _superellipse(a: float, b: float, n: float, count: int = 64) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, count, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return np.stack(
        [a * np.sign(c) * np.abs(c) ** (2 / n), b * np.sign(s) * np.abs(s) ** (2 / n)], -1
    )


def _lens_shape(style: str) -> np.ndarray:
    """Lens outline (N, 2) in eye widths: xi > 0 towards the nose, eta > 0 downwards."""
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    if style == "round":
        xi, eta = 0.76 * c, 0.76 * s
    elif style == "aviator":
        xi, eta = 0.92 * c, 0.6 * s
        eta = np.where(eta > 0, eta * (1 + 0.25 * np.maximum(c, 0)), eta * 0.85)
    elif style == "wayfarer":
        pts = _superellipse(0.88, 0.58, 3.5, 72)
        xi, eta = pts[:, 0] * (1 - 0.12 * pts[:, 1] / 0.58), pts[:, 1]
    elif style == "cateye":
        xi, eta = 0.92 * c, 0.58 * s
        eta = eta - 0.3 * np.maximum(-c, 0) * np.maximum(-s, 0)
    elif style == "square":
        pts = _superellipse(0.86, 0.62, 5.0, 72)
        xi, eta = pts[:, 0], pts[:, 1]
    elif style == "rectangle":
        pts = _superellipse(0.92, 0.52, 6.0, 72)
        xi, eta = pts[:, 0], pts[:, 1]
    elif style == "oval":
        xi, eta = 0.95 * c, 0.6 * s
    elif style == "hexagon":
        ang = np.deg2rad(np.arange(0, 360, 60))
        xi, eta = 0.9 * np.cos(ang), 0.7 * np.sin(ang)
    elif style == "browline":
        pts = _superellipse(0.88, 0.62, 2.6, 72)
        xi, eta = pts[:, 0], pts[:, 1]
    elif style == "sport":
        pts = _superellipse(1.0, 0.58, 4.0, 72)
        xi, eta = pts[:, 0], pts[:, 1] - 0.1 * np.maximum(-pts[:, 0], 0)
    else:  # pragma: no cover - guarded by the design table below
        raise ValueError(f"unknown lens style {style!r}")
    return np.stack([xi, eta], -1)


_LENS_TINTS = ((25, 25, 28), (55, 40, 28), (38, 52, 40), (30, 35, 60))
_FRAMES_METAL = ((200, 170, 90), (190, 190, 195), (60, 60, 65))
_FRAMES_ACETATE = ((20, 20, 22), (90, 30, 35), (30, 40, 80), (240, 240, 240))


def _glasses(
    style: str, frame: str, lens: str = "tint", shield: bool = False
) -> Callable[[Painter, np.random.Generator], None]:
    """Sunglasses: two lenses (or one shield), a rim, a bridge and temple arms."""

    def draw(p: Painter, rng: np.random.Generator) -> None:
        eyes = _eyes(p)
        ew = eyes.width
        drop = 0.05 * ew  # lenses sit a little below the eye centre
        shape = _lens_shape(style) * ew
        left = np.stack([eyes.left[0] - shape[:, 0], eyes.left[1] + drop + shape[:, 1]], -1)
        right = np.stack([2 * eyes.mid_x - left[:, 0], left[:, 1]], -1)
        if shield:
            top_y = min(left[:, 1].min(), right[:, 1].min())
            notch = np.array([[eyes.mid_x, eyes.left[1] + drop + 0.25 * ew]])
            lower_l = left[left[:, 1] > eyes.left[1] + drop]
            lower_l = lower_l[np.argsort(lower_l[:, 0])]
            # right lens: outer -> inner (mirror of the left's outer -> inner), notch, left back out
            lower_r = np.stack([2 * eyes.mid_x - lower_l[:, 0], lower_l[:, 1]], -1)
            xl_outer, xr_outer = left[:, 0].min(), right[:, 0].max()
            outline = np.concatenate(
                [[[xl_outer, top_y]], [[xr_outer, top_y]], lower_r, notch, lower_l[::-1]]
            )
            lens_polys = [outline]
        else:
            lens_polys = [left, right]
        lens_mask = p.poly(*lens_polys)
        top_y = min(poly[:, 1].min() for poly in lens_polys)
        bottom_y = max(poly[:, 1].max() for poly in lens_polys)
        if lens == "mirror":
            c_top = _colour(
                rng, ((40, 90, 200), (220, 120, 40), (160, 60, 160), (60, 170, 120)), 15
            )
            layer = _vertical_gradient(
                p, c_top, np.clip(c_top * 0.35 + 150, 0, 255), top_y, bottom_y
            )
        elif lens == "gradient":
            c = _colour(rng, _LENS_TINTS, 6)
            layer = _vertical_gradient(p, c, np.clip(c + 70, 0, 255), top_y, bottom_y)
        else:
            layer = np.broadcast_to(_colour(rng, _LENS_TINTS, 6), (p.h, p.w, 3))
        p.paint(lens_mask, layer)
        # a soft specular highlight stripe (colour only; the lens stays opaque)
        xx, yy = p.grid
        d = (xx + 0.6 * yy) - rng.uniform(0.3, 0.7) * (p.w + 0.6 * p.h)
        stripe = np.exp(-((d / (0.025 * p.unit)) ** 2)).astype(np.float32) * 0.3 * lens_mask
        p.paint(stripe, (255, 255, 255))

        if frame == "metal":
            fcol, thick = _colour(rng, _FRAMES_METAL), 0.05 * ew
        elif frame == "tortoise":
            fcol = _camo(
                p,
                rng,
                [np.array(c, np.float32) for c in ((60, 35, 20), (120, 75, 35), (30, 18, 10))],
            )
            thick = 0.14 * ew
        else:
            fcol, thick = _colour(rng, _FRAMES_ACETATE), 0.13 * ew
        rim = np.zeros((p.h, p.w), np.float32)
        for poly in lens_polys:
            rim = np.maximum(rim, p.lines(poly, thick, closed=True))
        if style == "browline":
            upper = left[left[:, 1] < eyes.left[1] + drop]
            upper = upper[np.argsort(upper[:, 0])]
            mirrored = np.stack([2 * eyes.mid_x - upper[::-1, 0], upper[::-1, 1]], -1)
            for arc in (upper, mirrored):
                rim = np.maximum(rim, p.lines(arc, 0.18 * ew))
        # bridge: an arch between the inner rims, a second bar for aviators
        y_bridge = eyes.left[1] + drop - 0.22 * ew
        inner = left[left[:, 0] > eyes.left[0]]
        inner_x = inner[np.argmin(np.abs(inner[:, 1] - y_bridge)), 0] - 0.5 * thick
        bx = np.linspace(inner_x, 2 * eyes.mid_x - inner_x, 9)
        by = y_bridge - 0.08 * ew * np.sin(np.linspace(0, np.pi, 9))
        rim = np.maximum(rim, p.lines(np.stack([bx, by], -1), max(thick, 0.06 * ew)))
        if style == "aviator":
            ty = left[:, 1].min() + 0.02 * ew
            bar = np.stack([np.array([eyes.left[0], 2 * eyes.mid_x - eyes.left[0]]), [ty, ty]], -1)
            rim = np.maximum(rim, p.lines(bar, max(thick, 0.05 * ew)))
        # temple arms: from each outer rim to the canvas edge (the temples)
        outer = lens_polys[0][np.argmin(lens_polys[0][:, 0])]
        y_arm = min(outer[1], eyes.left[1]) - 0.1 * ew
        temple_l, temple_r = p.uv(np.array([0.0, 1.0]), np.array([0.0, 0.0]))[:, 0]
        for x0, x1 in ((outer[0], temple_l), (2 * eyes.mid_x - outer[0], temple_r)):
            arm = np.array([[x0, y_arm], [x1, y_arm - 0.05 * ew]])
            rim = np.maximum(rim, p.lines(arm, max(thick, 0.07 * ew)))
        p.paint(rim, fcol)

    return draw


# -- the design tables --------------------------------------------------------------------------
MASK_DESIGNS: tuple[tuple[str, Callable[[Painter, np.random.Generator], None]], ...] = (
    ("surgical-blue", _surgical(_BLUES)),
    ("surgical-green", _surgical(_GREENS)),
    ("surgical-white-pink-black", _surgical(_SURG_OTHER)),
    ("n95-cup", _n95(valve=False)),
    ("n95-cup-valve", _n95(valve=True)),
    ("kn95-fold-flat", _kn95),
    ("cloth-plain", _cloth("plain")),
    ("cloth-stripes", _cloth("stripes")),
    ("cloth-gingham", _cloth("gingham")),
    ("cloth-polka-dots", _cloth("dots")),
    ("cloth-camouflage", _cloth("camo")),
)

GLASS_DESIGNS: tuple[tuple[str, Callable[[Painter, np.random.Generator], None]], ...] = (
    ("aviator", _glasses("aviator", "metal", "gradient")),
    ("round", _glasses("round", "metal")),
    ("wayfarer", _glasses("wayfarer", "acetate")),
    ("square-tortoise", _glasses("square", "tortoise", "gradient")),
    ("cat-eye", _glasses("cateye", "acetate", "gradient")),
    ("rectangle", _glasses("rectangle", "acetate")),
    ("oval", _glasses("oval", "metal")),
    ("hexagon", _glasses("hexagon", "metal", "mirror")),
    ("browline", _glasses("browline", "acetate")),
    ("sport-mirror", _glasses("sport", "acetate", "mirror")),
    ("shield", _glasses("aviator", "metal", "mirror", shield=True)),
)

DESIGNS = {"mask": MASK_DESIGNS, "glass": GLASS_DESIGNS}


def render_design(
    kind: str,
    index: int,
    rng: np.random.Generator,
    width: int,
    height: int,
    landmarks: np.ndarray,
    unit: float,
    box: tuple[float, float, float, float],
) -> np.ndarray:
    """Draw procedural design ``index`` of ``kind``: -> (height, width, 4) premultiplied RGBA."""
    painter = Painter(width, height, landmarks, unit, box)
    DESIGNS[kind][index][1](painter, rng)
    return painter.finish()


# -- user-supplied RGBA PNGs --------------------------------------------------------------------
def png_designs(folder: Path, kind: str) -> list[Path]:
    """The sorted ``*.png`` files in ``folder/<kind>/``; errors say what layout is expected."""
    sub = folder / kind
    if not sub.is_dir():
        raise FileNotFoundError(
            f"occluder designs folder {folder} has no '{kind}/' subfolder: put RGBA PNGs of "
            f"{'masks' if kind == 'mask' else 'sunglasses'} in {sub} (or unset the designs folder "
            "to use the procedural designs)"
        )
    files = sorted(f for f in sub.iterdir() if f.suffix.lower() == ".png" and f.is_file())
    if not files:
        raise FileNotFoundError(f"no *.png files in {sub}: add RGBA PNGs cropped to the occluder")
    return files


def render_png(path: Path, width: int, height: int | None = None) -> np.ndarray:
    """Read an RGBA PNG -> (height, width, 4) float32 premultiplied RGBA (colour in RGB order).

    ``height`` None keeps the image's aspect ratio.
    """
    from merkit.io import read_image

    img = read_image(path, mode="unchanged", name="occluder image")  # RGB(A) order
    if img.ndim != 3 or img.shape[2] != 4:
        raise ValueError(
            f"occluder image {path} has no alpha channel (shape {img.shape}): save it as an RGBA "
            "PNG whose transparent pixels show the face"
        )
    scale = 255.0 if img.dtype == np.uint8 else 65535.0
    rgba = img.astype(np.float32)
    alpha = rgba[..., 3:] / scale
    pm = np.concatenate([rgba[..., :3] * (255.0 / scale) * alpha, alpha], axis=-1)
    if height is None:
        height = max(4, int(round(width * img.shape[0] / img.shape[1])))
    shrink = width < img.shape[1] or height < img.shape[0]
    out = cv2.resize(
        pm, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return np.ascontiguousarray(out, dtype=np.float32)


def gray_alpha(canvas: np.ndarray) -> np.ndarray:
    """(h, w, 4) premultiplied RGBA -> (h, w, 2) premultiplied gray + alpha, the gray by
    :func:`merkit.preprocess.frames.to_gray` (ITU-R 601 luma; premultiplying commutes with it)."""
    canvas = np.asarray(canvas, np.float32)
    gray = to_gray(np.ascontiguousarray(canvas[..., :3]))
    return np.ascontiguousarray(np.stack([gray, canvas[..., 3]], -1), dtype=np.float32)
