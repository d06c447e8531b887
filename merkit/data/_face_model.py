"""Face model of the embedded synthetic data set: templates, identities, FACS motions, rendering.

Private helper of :mod:`merkit.data.synthetic` (which documents the data set as a whole).

Geometry
--------
Points are ``(x, y)`` pixel coordinates, ``x`` to the right, ``y`` down, in the dlib / iBUG-300W
68-point order (0–16 jaw, 17–26 brows, 27–35 nose, 36–47 eyes, 48–67 mouth).  Index 0 is on the
*image* left, which is the *subject's right* side; FACS laterality (``L10`` = AU10 on the
subject's left) therefore moves the image-right half of the face.  ``W`` is the face width, the
distance between jaw points 0 and 16; every AU amplitude below is a percentage of ``W``.  Face
axes: ``ex`` runs from the image-left eye centre to the image-right eye centre, ``ey`` is ``ex``
turned by +90 degrees (down the face); "out" is away from the face's midline.

Fifteen virtual points extend the 68 landmarks where FACS moves skin that has no landmark
(indices 68–82): forehead above the outer and inner brow on each side (68/70, 69/71), glabella
(72), mid forehead (73), cheek below each eye (74/75), nasolabial fold (76/77), chin boss (78),
dimple lateral to each lip corner (79/80) and lower cheek (81/82).  A ring of 16 fixed anchors
around the face bounds every displacement field.

Displacement fields
-------------------
A field is given by displacements at control points and interpolated by normalised Gaussian
(Shepard) weights, ``F(x) = sum_i w_i(x) d_i / (eps + sum_i w_i(x))`` with
``w_i = exp(-|x - p_i|^2 / 2 s^2)``.  Unlike exact RBF interpolation it never overshoots (the
field is a convex combination of the control displacements, shrunk towards 0 far from every
point), so a still landmark next to a moving one (nose above a rising upper lip) stays still.
Images are warped backwards, ``I'(x) = I(x - F(x))`` with ``cv2.remap``; the forward position
of a point ``q`` solves ``x = q + F(x)`` (fixed-point iteration), which is how the ground-truth
landmarks of every frame are computed, consistently with what was rendered.

FACS Action Units (amplitude at apex, % of face width, intensity "C"; x = out, y = down)
-----------------------------------------------------------------------------------------

=====  ===========================  ======================================================
AU     name                         landmarks moved -> direction (amplitude)
=====  ===========================  ======================================================
1      inner brow raiser            inner brow 20–21 / 22–23 up (2.6–3.2); brow middle 19/24
                                    up (1.4); forehead above inner brow up (2.2); glabella up
2      outer brow raiser            outer brow 17–18 / 25–26 up (3.0–3.2); 19/24 up (2.0);
                                    forehead above outer brow up (2.2)
4      brow lowerer                 brows down (0.8 outer .. 2.4 inner) and inner brows in
                                    (1.2–1.6); glabella down (1.0); upper lids down (0.6–0.8)
5      upper lid raiser             upper lids 37–38 / 43–44 up (1.8)
6      cheek raiser                 cheek below the eye up (2.8); lower lids up (1.6–1.8);
                                    outer eye corner up/out (0.8); nasolabial, dimple up
7      lid tightener                lower lids up (1.6); upper lids down (0.8)
9      nose wrinkler                alae 31–32 up (1.8–2.2); nose tip, lower bridge up;
                                    nasolabial up (2.0); upper lip centre up (1.0); inner brow
                                    and glabella down (1.2–1.4)
10     upper lip raiser             upper lip 49–51 / 61–62 up (1.8–2.8); corners up (0.8);
                                    nasolabial up (1.6); alae up (0.6)
12     lip corner puller            corners 48 / 54 (60 / 64) out (2.4–2.8) and up (2.2–2.4);
                                    neighbouring lip points half; dimple, nasolabial, cheek up
14     dimpler                      corners in (1.8–2.0) and slightly up (0.6); dimple in (2.0)
15     lip corner depressor         corners down (2.4–2.8) and slightly out; lower lip near the
                                    corners down (1.6); dimple down (1.6)
17     chin raiser                  chin boss up (3.0); lower lip 57–59 / 66–67 up (0.8–1.6);
                                    jaw 7–8 up (0.6–1.0)
20     lip stretcher                corners out (2.6–3.0) and slightly down; dimple out (1.6)
23     lip tightener                corners in (1.2–1.4); upper lip down, lower lip up (0.6)
24     lip pressor                  upper lip down, lower lip up (0.6–1.0), inner lips (0.4)
25     lips part                    lower lip 57–59 / 66–67 down (1.4–2.6); upper inner lip up
                                    (0.5–0.6); chin down (1.2)
26     jaw drop                     lower lip, chin and jaw 4–8 down (0.6 .. 3.6)
38     nostril dilator              alae out (0.8–1.6)
40     nostril compressor           alae in (0.6–1.2)
=====  ===========================  ======================================================

The table gives the displacements imposed at the control points; the Shepard blend with the
still neighbours moves the rendered landmarks by about 60–80 % of them.  Unilateral codes
(``L``/``R``) move only that side (midline points at half amplitude).  The intensity letter
scales the motion (:data:`INTENSITY_GAIN`), and so do a per-clip gain (0.8–1.2), a per-AU gain
(0.85–1.15), the subject's :class:`AUGeometry` and the global ``au_amplitude`` of
:class:`merkit.data.synthetic.SyntheticConfig` (0.4, chosen by the calibration probes so that a
linear probe on the flows lands at the level of the papers' handcrafted baselines).  The motion
is subtle, comparable to the head movement and lighting changes of the clip, yet the
TV-L1 flow between onset and apex carries the class signal.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from merkit import landmarks as L

#: Bump when an identity's face changes for the same draw (the templates, :func:`draw_identity`,
#: :func:`subject_face`, the rendering of a neutral frame): the synthetic set's cast
#: (:mod:`merkit.data.synthetic_cast`) was searched on these faces and must be searched again.
FACE_MODEL_VERSION = "1"

#: Face width (jaw point 0 to 16, px) every template is resized to.
TEMPLATE_FACE_WIDTH = 120.0

#: Whether each template photo of :func:`load_templates` shows glasses (Grace Hopper does);
#: no part of such a template is ever grafted onto another face.
TEMPLATE_GLASSES: tuple[bool, ...] = (False, True)

#: The 68 landmarks (:data:`merkit.landmarks.N_LANDMARKS`) + 15 virtual points (see the module
#: docstring).
N_LANDMARKS = L.N_LANDMARKS
N_POINTS = N_LANDMARKS + 15

# Mirror permutation of the 68 iBUG points (image left <-> image right).
_MIRROR_68 = (
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46]
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)
#: Index of each point's mirror image (68 landmarks + 15 virtual points).
MIRROR: tuple[int, ...] = tuple(_MIRROR_68 + [70, 71, 68, 69, 72, 73, 75, 74, 77, 76, 78, 80, 79, 82, 81])

#: Points on the midline (their own mirror).
MIDLINE: frozenset[int] = frozenset(i for i, m in enumerate(MIRROR) if i == m)

# AU -> ((image-left or midline point, dx out %W, dy down %W), ...); see the module table.
AU_MOTIONS: dict[int, tuple[tuple[int, float, float], ...]] = {
    1: ((21, 0.0, -3.2), (20, 0.0, -2.6), (19, 0.0, -1.4), (69, 0.0, -2.2), (72, 0.0, -1.0),
        (73, 0.0, -1.0)),
    2: ((17, 0.0, -3.0), (18, 0.0, -3.2), (19, 0.0, -2.0), (20, 0.0, -0.8), (68, 0.0, -2.2)),
    4: ((21, -1.6, 2.4), (20, -1.2, 2.4), (19, -0.6, 2.0), (18, 0.0, 1.5), (17, 0.0, 0.8),
        (69, -0.8, 1.2), (72, 0.0, 1.0), (37, 0.0, 0.6), (38, 0.0, 0.8)),
    5: ((37, 0.0, -1.8), (38, 0.0, -1.8), (36, 0.0, -0.3), (39, 0.0, -0.3)),
    6: ((41, 0.0, -1.8), (40, 0.0, -1.6), (36, 0.3, -0.8), (74, 0.0, -2.8), (76, 0.0, -1.0),
        (79, 0.0, -0.8)),
    7: ((41, 0.0, -1.6), (40, 0.0, -1.6), (37, 0.0, 0.8), (38, 0.0, 0.8), (36, 0.0, -0.3),
        (39, 0.0, -0.3)),
    9: ((31, 0.0, -2.2), (32, 0.0, -1.8), (33, 0.0, -1.2), (30, 0.0, -0.8), (29, 0.0, -0.6),
        (28, 0.0, -0.4), (76, 0.0, -2.0), (50, 0.0, -1.0), (51, 0.0, -1.0), (21, -0.4, 1.2),
        (72, 0.0, 1.4), (39, 0.0, -0.3)),
    10: ((50, 0.0, -2.8), (51, 0.0, -2.4), (49, 0.0, -2.2), (61, 0.0, -2.0), (62, 0.0, -1.8),
         (48, 0.0, -0.8), (60, 0.0, -0.8), (76, 0.0, -1.6), (31, 0.0, -0.6)),
    12: ((48, 2.8, -2.4), (60, 2.4, -2.2), (49, 1.2, -1.2), (59, 1.2, -1.0), (61, 0.8, -0.8),
         (67, 0.8, -0.8), (79, 1.4, -1.6), (76, 0.6, -1.0), (74, 0.3, -1.0)),
    14: ((48, -2.0, -0.6), (60, -1.8, -0.6), (79, -2.0, -0.3), (49, -0.8, 0.0), (59, -0.8, 0.0)),
    15: ((48, 0.4, 2.8), (60, 0.3, 2.4), (59, 0.2, 1.6), (49, 0.0, 0.8), (58, 0.0, 0.8),
         (79, 0.0, 1.6)),
    17: ((78, 0.0, -3.0), (57, 0.0, -1.6), (58, 0.0, -1.4), (59, 0.0, -0.8), (66, 0.0, -1.2),
         (67, 0.0, -1.0), (8, 0.0, -1.0), (7, 0.0, -0.6)),
    20: ((48, 3.0, 0.4), (60, 2.6, 0.4), (49, 1.0, 0.0), (59, 1.0, 0.2), (79, 1.6, 0.2)),
    23: ((48, -1.4, 0.0), (60, -1.2, 0.0), (50, 0.0, 0.6), (51, 0.0, 0.6), (58, 0.0, -0.6),
         (57, 0.0, -0.6)),
    24: ((50, 0.0, 0.9), (51, 0.0, 1.0), (49, 0.0, 0.6), (58, 0.0, -0.9), (57, 0.0, -1.0),
         (59, 0.0, -0.6), (62, 0.0, 0.4), (66, 0.0, -0.4)),
    25: ((57, 0.0, 2.4), (58, 0.0, 2.2), (59, 0.0, 1.4), (66, 0.0, 2.6), (67, 0.0, 2.2),
         (62, 0.0, -0.6), (61, 0.0, -0.5), (78, 0.0, 1.2)),
    26: ((57, 0.0, 3.2), (58, 0.0, 3.0), (59, 0.0, 2.0), (66, 0.0, 3.4), (67, 0.0, 3.0),
         (78, 0.0, 3.6), (8, 0.0, 3.6), (7, 0.0, 3.2), (6, 0.0, 2.4), (5, 0.0, 1.4),
         (4, 0.0, 0.6)),
    38: ((31, 1.6, 0.0), (32, 0.8, 0.0)),
    40: ((31, -1.2, 0.0), (32, -0.6, 0.0)),
}

#: FACS intensity letter -> amplitude gain (no letter: 1.0).
INTENSITY_GAIN: dict[str, float] = {"A": 0.65, "B": 0.8, "C": 0.95, "D": 1.1, "E": 1.25}

#: Points each AU moves (image-left, midline and mirrored), for region-based checks.
AU_REGIONS: dict[int, tuple[int, ...]] = {
    au: tuple(sorted({p for p, _, _ in spec} | {MIRROR[p] for p, _, _ in spec}))
    for au, spec in AU_MOTIONS.items()
}



_EPS_WEIGHT = float(np.exp(-2.0))  # Shepard background weight: a point's weight at 2 sigma


# --------------------------------------------------------------------------- identity features


@dataclass(frozen=True)
class Features:
    """Facial features painted onto a subject's texture (template space, before mirroring).

    Each is a strength in 0..1 (0: none): ``brow_thickness`` / ``brow_darkness`` (brows
    redrawn thicker / darker, ``brow_lift`` px the painted brow sits above its landmarks),
    ``beard`` (stubble over jaw, chin and upper lip), ``moustache``, ``lip_tint`` towards
    ``lip_colour`` (RGB), ``eye_shadow`` (darker sockets), ``cheek_tint`` (rosy cheeks), and
    ``moles``: ``(u, v, radius)`` in face axes (fractions of the face width from the face
    centre).  ``brow``: the brows erased (inpainted) and redrawn, ``(length, arch, lift, tilt,
    thickness, taper, tone)``: length x the landmark brow's, arch / lift / thickness in face
    widths, tilt -1..1 (outer end down..up), taper 0..1 (outer end's thickness / inner's), tone
    x the skin around it; ``None`` keeps the photo's brows.  ``sclera``: the eye openings painted
    towards white (> 0) or grey (< 0); ``iris``: ``(gaze, radius, r, g, b)`` a painted iris
    (gaze and radius in eye widths) with a pupil, ``None`` none.  Together with the template,
    grafts and shape they make subjects distinct to a face recognizer (the generator checks it
    with dlib's ResNet encoder; the eye region moves it most).
    """

    brow_thickness: float = 0.0
    brow_darkness: float = 0.0
    brow_lift: float = 0.0
    beard: float = 0.0
    moustache: float = 0.0
    lip_tint: float = 0.0
    lip_colour: tuple[float, float, float] = (150.0, 70.0, 70.0)
    eye_shadow: float = 0.0
    cheek_tint: float = 0.0
    moles: tuple[tuple[float, float, float], ...] = ()
    brow: tuple[float, float, float, float, float, float, float] | None = None
    sclera: float = 0.0
    iris: tuple[float, float, float, float, float] | None = None


def draw_features(rng: np.random.Generator) -> Features:
    """Random :class:`Features` (about a third of the subjects get a beard or moustache)."""
    facial_hair = rng.random()
    n_moles = int(rng.choice([0, 0, 1, 2, 3]))
    return Features(
        brow_thickness=float(rng.uniform(0.0, 1.0)),
        brow_darkness=float(rng.uniform(0.0, 1.0)),
        brow_lift=float(rng.uniform(-1.5, 1.5)),
        beard=float(rng.uniform(0.3, 1.0)) if facial_hair < 0.22 else 0.0,
        moustache=float(rng.uniform(0.3, 1.0)) if 0.12 < facial_hair < 0.35 else 0.0,
        lip_tint=float(rng.uniform(0.0, 0.6)),
        lip_colour=tuple(float(v) for v in rng.uniform([110, 40, 40], [190, 100, 110])),  # type: ignore[arg-type]
        eye_shadow=float(rng.uniform(0.0, 0.45)),
        cheek_tint=float(rng.uniform(0.0, 0.35)),
        moles=tuple((float(rng.uniform(-0.35, 0.35)), float(rng.uniform(-0.1, 0.45)),
                     float(rng.uniform(0.008, 0.02))) for _ in range(n_moles)),
        brow=tuple(float(v) for v in rng.uniform([0.8, -0.01, -0.03, -1.0, 0.01, 0.3, 0.2],
                                                 [1.2, 0.05, 0.04, 1.0, 0.035, 1.0, 0.6])),  # type: ignore[arg-type]
        sclera=float(rng.uniform(-0.3, 0.6)),
        iris=tuple(float(v) for v in rng.uniform([-0.12, 0.2, 20, 20, 10],
                                                 [0.12, 0.32, 120, 100, 110])),  # type: ignore[arg-type]
    )


def paint_features(image: np.ndarray, points: np.ndarray, features: Features,
                   seed: int = 0) -> np.ndarray:
    """``image`` ``(h, w, 3)`` float32 (0..255) with ``features`` painted around ``points``
    ``(83, 2)`` (the template's model points); returns a new array."""
    out = image.astype(np.float32, copy=True)
    h, w = out.shape[:2]
    ex, ey, fw = face_axes(points)

    def blend(mask: np.ndarray, target: np.ndarray | float, strength: float) -> None:
        nonlocal out
        if strength > 0:
            out = _mix(out, mask, target, strength)

    def hull(pts: np.ndarray, blur: float) -> np.ndarray:
        return _soft_hull((h, w), pts, blur)

    if features.brow is not None:
        out = _redraw_brows(out, points, features.brow)
    # brows: a band around each brow's landmarks, thicker and darker
    elif features.brow_thickness > 0 or features.brow_darkness > 0:
        band = np.zeros((h, w), np.float32)
        half = (0.012 + 0.02 * features.brow_thickness) * fw
        lift = features.brow_lift * fw / 100.0
        for group in (L.RIGHT_BROW, L.LEFT_BROW):
            line = points[group] - lift * ey
            poly = np.vstack([line - half * ey, line[::-1] + 0.6 * half * ey])
            cv2.fillPoly(band, [np.round(poly).astype(np.int32)], 1.0)
        band = cv2.GaussianBlur(band, (0, 0), 0.01 * fw + 0.5)
        tone = out[band > 0.5].mean(axis=0) if np.any(band > 0.5) else np.full(3, 80.0)
        blend(band, 0.35 * tone, 0.35 + 0.55 * features.brow_darkness)
    if features.sclera != 0 or features.iris is not None:
        out = _paint_eyes(out, points, features.sclera, features.iris)
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 0.6)
    grain = np.clip((grain - grain.mean()) / (grain.std() + 1e-6) * 0.35 + 0.65, 0, 1)
    lips = hull(points[48:60], 0.01 * fw)
    if features.beard > 0:
        jaw = points[list(range(2, 15))]
        region = np.vstack([jaw, points[[35, 33, 31]] + 0.02 * fw * ey])
        mask = hull(region, 0.03 * fw) * (1 - hull(points[48:60] + 0.0, 0.006 * fw) * 0.9)
        cheek_cut = hull(np.vstack([points[[1, 2, 3, 31]], points[[15, 14, 13, 35]]]), 0.02 * fw)
        mask = mask * (1 - 0.6 * cheek_cut)
        blend(mask * grain, 35.0, 0.8 * features.beard)
    if features.moustache > 0:
        top = np.vstack([points[[31, 32, 33, 34, 35]] + 0.015 * fw * ey,
                         points[[54, 53, 52, 51, 50, 49, 48]] - 0.005 * fw * ey])
        blend(hull(top, 0.008 * fw) * grain, 30.0, 0.85 * features.moustache)
    blend(lips, np.asarray(features.lip_colour), features.lip_tint)
    if features.eye_shadow > 0:
        sockets = (hull(np.vstack([points[36:42], points[17:22]]), 0.025 * fw)
                   + hull(np.vstack([points[42:48], points[22:27]]), 0.025 * fw))
        blend(np.clip(sockets, 0, 1), out * 0.45, features.eye_shadow)
    if features.cheek_tint > 0:
        cheeks = np.zeros((h, w), np.float32)
        for p in (points[74], points[75]):
            cv2.circle(cheeks, (int(round(p[0])), int(round(p[1]))), int(0.08 * fw), 1.0, -1)
        cheeks = cv2.GaussianBlur(cheeks, (0, 0), 0.05 * fw)
        blend(cheeks, out * np.array([1.15, 0.8, 0.8], np.float32), features.cheek_tint)
    centre = points[:N_LANDMARKS].mean(axis=0)
    for u, v, r in features.moles:
        p = centre + u * fw * ex + v * fw * ey
        mole = np.zeros((h, w), np.float32)
        cv2.circle(mole, (int(round(p[0])), int(round(p[1]))), max(1, int(round(r * fw))), 1.0, -1)
        blend(cv2.GaussianBlur(mole, (0, 0), 0.6), out * 0.35, 0.9)
    return np.clip(out, 0, 255)


def _fill(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """``(h, w)`` float32 anti-aliased fill of ``polygon`` (px)."""
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.round(polygon * 8).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=3)
    return mask


def _disc(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.circle(mask, (int(round(centre[0] * 8)), int(round(centre[1] * 8))),
               int(round(radius * 8)), 1.0, -1, cv2.LINE_AA, 3)
    return mask


def _mix(image: np.ndarray, mask: np.ndarray, target: np.ndarray | float,
         strength: float) -> np.ndarray:
    """``image`` ``(h, w, C)`` moved towards ``target`` (a colour, or an ``(h, w, C)`` image) by
    ``mask`` ``(h, w)`` x ``strength``; a new float32 array.  Only the box where the mask is
    non-zero is blended (outside it the blend is ``image`` itself, exactly)."""
    m = np.clip(mask * strength, 0, 1)
    out = np.array(image, dtype=np.float32, copy=True)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if not len(rows):
        return out
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    target = np.asarray(target, np.float32)
    if target.ndim == image.ndim:
        target = target[box]
    w = m[box][..., None]
    out[box] = (image[box] * (1 - w) + target * w).astype(np.float32)
    return out


def _redraw_brows(image: np.ndarray, points: np.ndarray,
                  brow: tuple[float, float, float, float, float, float, float]) -> np.ndarray:
    """``image`` with both brows inpainted away and redrawn to ``brow`` (see :class:`Features`)."""
    length, arch, lift, tilt, thickness, taper, tone = brow
    h, w = image.shape[:2]
    ex, ey, fw = face_axes(points)
    band = np.zeros((h, w), np.uint8)
    for group in (L.RIGHT_BROW, L.LEFT_BROW):
        line = points[group]
        poly = np.vstack([line - 0.035 * fw * ey, line[::-1] + 0.03 * fw * ey])
        cv2.fillPoly(band, [np.round(poly).astype(np.int32)], 255)
    out = cv2.inpaint(np.clip(image, 0, 255).astype(np.uint8), band, 5,
                      cv2.INPAINT_TELEA).astype(np.float32)
    skin = out[band > 0].mean(axis=0)
    new = np.zeros((h, w), np.float32)
    centre_x = points[:N_LANDMARKS].mean(axis=0) @ ex
    for group in (L.RIGHT_BROW, L.LEFT_BROW):
        line = points[group]
        c = line.mean(axis=0)
        along = (line - c) @ ex * length
        reach = np.abs(along).max() + 1e-6
        outward = along * np.sign(c @ ex - centre_x)  # > 0 towards the temple
        q = (c[None] + along[:, None] * ex
             + (lift * fw - arch * fw * (1 - (along / reach) ** 2)
                + tilt * 0.03 * fw * outward / reach)[:, None] * ey)
        half = thickness * fw * np.interp(outward, [-reach, reach], [1.0, taper])
        poly = np.vstack([q - half[:, None] * ey, (q + 0.7 * half[:, None] * ey)[::-1]])
        new = np.maximum(new, _fill((h, w), poly))
    new = cv2.GaussianBlur(new, (0, 0), 0.006 * fw + 0.4)
    return _mix(out, new, skin * tone, 0.9)


def _paint_eyes(image: np.ndarray, points: np.ndarray, sclera: float,
                iris: tuple[float, float, float, float, float] | None) -> np.ndarray:
    """``image`` with painted scleras and irises (see :class:`Features`)."""
    out = image
    ex, _, _ = face_axes(points)
    shape = image.shape[:2]
    for group in (points[36:42], points[42:48]):
        opening = _fill(shape, group)
        if sclera != 0:
            out = _mix(out, opening, 235.0 if sclera > 0 else 90.0, abs(sclera))
        if iris is not None:
            gaze, radius, *colour = iris
            width = float(np.linalg.norm(group[3] - group[0]))
            centre = group.mean(axis=0) + gaze * width * ex
            out = _mix(out, _disc(shape, centre, radius * width) * opening, np.asarray(colour), 0.95)
            out = _mix(out, _disc(shape, centre, 0.4 * radius * width) * opening, 15.0, 0.95)
    return out


# --------------------------------------------------------------------------- AU geometry


@dataclass(frozen=True)
class AUGeometry:
    """How one subject's face performs each AU (drawn once per subject).

    ``expressivity``: gain on every AU; ``gains``: ``(au, gain)`` per AU; ``rotations``:
    ``(au, degrees)`` turning every control displacement of the AU (a brow raise that also
    draws the brows together, a smile that pulls more sideways); ``point_gains``:
    ``(au, (gain per control point, ...))`` in :data:`AU_MOTIONS` order.
    """

    expressivity: float = 1.0
    gains: tuple[tuple[int, float], ...] = ()
    rotations: tuple[tuple[int, float], ...] = ()
    point_gains: tuple[tuple[int, tuple[float, ...]], ...] = ()

    def gain(self, au: int) -> float:
        return self.expressivity * dict(self.gains).get(au, 1.0)

    def rotation(self, au: int) -> float:
        return dict(self.rotations).get(au, 0.0)

    def point_gain(self, au: int) -> tuple[float, ...] | None:
        return dict(self.point_gains).get(au)


def draw_au_geometry(rng: np.random.Generator, spread: float = 1.0) -> AUGeometry:
    """A subject's :class:`AUGeometry`; ``spread`` scales every deviation from the table."""
    aus = sorted(AU_MOTIONS)
    return AUGeometry(
        expressivity=float(np.exp(rng.normal(0.0, 0.25 * spread))),
        gains=tuple((au, float(np.exp(rng.normal(0.0, 0.2 * spread)))) for au in aus),
        rotations=tuple((au, float(rng.normal(0.0, 20.0 * spread))) for au in aus),
        point_gains=tuple(
            (au, tuple(float(np.clip(v, 0.3, 1.7))
                       for v in rng.normal(1.0, 0.3 * spread, size=len(AU_MOTIONS[au]))))
            for au in aus
        ),
    )


# --------------------------------------------------------------------------- geometry


def face_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(ex, ey, W)``: unit face axes and face width from ``points`` ``(>=68, 2)``."""
    image_left_eye = points[L.RIGHT_EYE].mean(axis=0)  # the subject's right eye
    image_right_eye = points[L.LEFT_EYE].mean(axis=0)
    ex = image_right_eye - image_left_eye
    ex = ex / np.linalg.norm(ex)
    ey = np.array([-ex[1], ex[0]])
    width = float(np.linalg.norm(points[16] - points[0]))
    return ex, ey, width


def extend_landmarks(lm68: np.ndarray) -> np.ndarray:
    """68 landmarks ``(68, 2)`` -> the 83 model points ``(83, 2)`` (virtual points appended)."""
    p = np.asarray(lm68, dtype=np.float64)
    ex, ey, w = face_axes(p)
    up = -ey
    brow_mid = (p[21] + p[22]) / 2
    virtual = [
        p[18] + 0.10 * w * up,  # 68 forehead above the image-left outer brow
        p[20] + 0.10 * w * up,  # 69 forehead above the image-left inner brow
        p[25] + 0.10 * w * up,  # 70
        p[23] + 0.10 * w * up,  # 71
        brow_mid + 0.01 * w * ey,  # 72 glabella
        brow_mid + 0.12 * w * up,  # 73 mid forehead
        (p[41] + p[48]) / 2 - 0.04 * w * ex,  # 74 cheek (image left)
        (p[46] + p[54]) / 2 + 0.04 * w * ex,  # 75
        (p[31] + p[48]) / 2 - 0.03 * w * ex,  # 76 nasolabial (image left)
        (p[35] + p[54]) / 2 + 0.03 * w * ex,  # 77
        (p[57] + p[8]) / 2,  # 78 chin boss
        p[48] - 0.06 * w * ex,  # 79 dimple (image left)
        p[54] + 0.06 * w * ex,  # 80
        (p[4] + p[48]) / 2,  # 81 lower cheek (image left)
        (p[12] + p[54]) / 2,  # 82
    ]
    return np.vstack([p, np.asarray(virtual)])


def anchor_ring(points: np.ndarray, n: int = 16) -> np.ndarray:
    """``(n, 2)`` fixed points on an ellipse (0.85 W x 1.05 W) around the face centre."""
    ex, ey, w = face_axes(points)
    centre = points[:N_LANDMARKS].mean(axis=0)
    angles = np.arange(n) * (2 * np.pi / n)
    return centre + np.outer(0.85 * w * np.cos(angles), ex) + np.outer(1.05 * w * np.sin(angles), ey)


def mirror_points(points: np.ndarray, image_width: int) -> np.ndarray:
    """Points of the horizontally flipped image, re-indexed so index 0 is image-left again."""
    flipped = points.copy()
    flipped[:, 0] = image_width - 1 - flipped[:, 0]
    return flipped[list(MIRROR[: len(points)])]


def au_displacement(points: np.ndarray, au: int, side: str = "", gain: float = 1.0,
                    geometry: AUGeometry | None = None) -> np.ndarray:
    """Apex displacements ``(83, 2)`` px of the model points for one AU.

    ``points``: ``(83, 2)`` neutral model points; ``side``: ``""`` (both), ``"L"`` (subject's
    left = image right) or ``"R"``; ``gain``: amplitude multiplier; ``geometry``: the subject's
    :class:`AUGeometry` (gain, rotation and per-point gains on top of the table), ``None`` for
    the table itself. AUs without a motion model raise ``KeyError``.
    """
    ex, ey, w = face_axes(points)
    disp = np.zeros_like(points, dtype=np.float64)
    spec = AU_MOTIONS[au]
    scale = gain * w / 100.0
    angle = 0.0
    point_gains: tuple[float, ...] | None = None
    if geometry is not None:
        scale *= geometry.gain(au)
        angle = np.deg2rad(geometry.rotation(au))
        point_gains = geometry.point_gain(au)
    cos, sin = np.cos(angle), np.sin(angle)
    for k, (index, dx0, dy0) in enumerate(spec):
        factor_k = point_gains[k] if point_gains is not None else 1.0
        dx, dy = cos * dx0 - sin * dy0, sin * dx0 + cos * dy0  # turned in (out, down) axes
        if index in MIDLINE:
            factor = 1.0 if side == "" else 0.5
            disp[index] += factor * factor_k * scale * (dy * ey)
            continue
        if side in ("", "R"):
            disp[index] += factor_k * scale * (-dx * ex + dy * ey)
        if side in ("", "L"):
            disp[MIRROR[index]] += factor_k * scale * (dx * ex + dy * ey)
    return disp


def au_displacements(
    points: np.ndarray, aus: tuple[tuple[int, str, float], ...], amplitude: float = 1.0,
    geometry: AUGeometry | None = None,
) -> np.ndarray:
    """Apex displacements ``(83, 2)`` px of the model points for the AUs ``aus`` together.

    ``aus``: ``(au, side, gain)``; ``amplitude`` scales all; see :func:`au_displacement`.
    """
    disp = np.zeros_like(points, dtype=np.float64)
    for au, side, gain in aus:
        disp += au_displacement(points, au, side, amplitude * gain, geometry)
    return disp


def blink_displacement(points: np.ndarray) -> np.ndarray:
    """Displacements ``(83, 2)`` px that close both eyes (AU45 at full closure): the upper lids
    travel three quarters of the eye opening down, the lower lids a quarter up."""
    disp = np.zeros_like(points, dtype=np.float64)
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        gap = points[lower] - points[upper]
        disp[upper] += 0.75 * gap
        disp[lower] -= 0.25 * gap
    return disp


# --------------------------------------------------------------------------- fields


def shepard_field(
    points: np.ndarray, disp: np.ndarray, shape: tuple[int, int], sigma: float, origin: float = 0.0
) -> np.ndarray:
    """Dense displacement field ``(H, W, 2)`` float32 from ``disp`` ``(N, 2)`` at ``points``.

    Normalised Gaussian weights (see the module docstring); grid pixel ``(r, c)`` sits at
    ``(c + origin, r + origin)``. Each point only touches a +-3 sigma window (weights there
    are below 1 % of the background weight).
    """
    height, width = shape
    num = np.zeros((height, width, 2), dtype=np.float64)
    den = np.full((height, width), _EPS_WEIGHT, dtype=np.float64)
    radius = 3.0 * sigma
    for (px, py), d in zip(points - origin, disp, strict=True):
        c0, c1 = max(int(np.floor(px - radius)), 0), min(int(np.ceil(px + radius)) + 1, width)
        r0, r1 = max(int(np.floor(py - radius)), 0), min(int(np.ceil(py + radius)) + 1, height)
        if c0 >= c1 or r0 >= r1:
            continue
        gx = np.exp(-((np.arange(c0, c1) - px) ** 2) / (2 * sigma**2))
        gy = np.exp(-((np.arange(r0, r1) - py) ** 2) / (2 * sigma**2))
        weight = np.outer(gy, gx)
        den[r0:r1, c0:c1] += weight
        if d[0] != 0.0 or d[1] != 0.0:
            num[r0:r1, c0:c1] += weight[..., None] * d
    return (num / den[..., None]).astype(np.float32)


def sample(field: np.ndarray, pts: np.ndarray, origin: float = 0.0) -> np.ndarray:
    """Bilinear samples ``(N, C)`` of ``field`` ``(H, W, C)`` at ``pts`` ``(N, 2)`` (clamped)."""
    height, width = field.shape[:2]
    x = np.clip(pts[:, 0] - origin, 0, width - 1.000001)
    y = np.clip(pts[:, 1] - origin, 0, height - 1.000001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    f = field.astype(np.float64)
    return (
        f[y0, x0] * (1 - fx) * (1 - fy)
        + f[y0, x0 + 1] * fx * (1 - fy)
        + f[y0 + 1, x0] * (1 - fx) * fy
        + f[y0 + 1, x0 + 1] * fx * fy
    )


def forward(points: np.ndarray, field: np.ndarray, scale: float = 1.0, origin: float = 0.0,
            iterations: int = 12) -> np.ndarray:
    """Where the backward warp ``I'(x) = I(x - scale * F(x))`` moves ``points``: ``x = q + sF(x)``."""
    x = points.astype(np.float64).copy()
    for _ in range(iterations):
        x = points + scale * sample(field, x, origin)
    return x


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    """A face photo normalised to :data:`TEMPLATE_FACE_WIDTH`.

    ``image``: ``(h, w, 3)`` float32 RGB in 0..255; ``landmarks``: ``(83, 2)`` model points;
    ``face_mask``: ``(h, w)`` float32 in 0..1, soft mask of the face skin (forehead included);
    ``inner_mask``: ``(h, w)`` soft mask of the inner face (brows to chin, cheek to cheek).
    """

    name: str
    image: np.ndarray
    landmarks: np.ndarray
    face_mask: np.ndarray
    inner_mask: np.ndarray


def _source_photos() -> list[tuple[str, np.ndarray]]:
    """The face photos installed packages ship: scikit-image's astronaut (Eileen Collins, NASA,
    public domain) and matplotlib's Grace Hopper (US Navy, public domain)."""
    import matplotlib.image as mpimg
    import skimage.data
    from matplotlib import cbook

    hopper = mpimg.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return [("astronaut", np.ascontiguousarray(skimage.data.astronaut()[..., :3])),
            ("grace_hopper", np.ascontiguousarray(hopper[..., :3]))]


def detect_landmarks(image: np.ndarray) -> np.ndarray:
    """68 landmarks ``(68, 2)`` of the top-most face dlib's HOG detector finds in ``image``.

    Deterministic (dlib's HOG detector and 68-point predictor from ``face_recognition_models``).
    Raises ``ValueError`` when no face is found.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        import face_recognition

    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    if not boxes:
        raise ValueError("no face found in a template photo; is dlib installed correctly?")
    top_box = min(boxes, key=lambda b: b[0])
    shapes = face_recognition.api._raw_face_landmarks(image, [top_box], model="large")
    return np.array([[p.x, p.y] for p in shapes[0].parts()], dtype=np.float64)


def _soft_hull(shape: tuple[int, int], pts: np.ndarray, blur: float) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    mask = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), blur)
    return mask


#: Templates keep this many face widths of photo on every side of the face centre.
_TEMPLATE_REACH = 2.2


def _make_template(name: str, photo: np.ndarray) -> Template:
    lm = detect_landmarks(photo)
    scale = TEMPLATE_FACE_WIDTH / float(np.linalg.norm(lm[16] - lm[0]))
    h, w = photo.shape[:2]
    size = (round(w * scale), round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = cv2.resize(photo, size, interpolation=interp).astype(np.float32)
    lm = (lm + 0.5) * scale - 0.5
    # crop to what a frame can show (faces fill >= 40 % of its width): every texture edit of
    # a subject then costs less
    centre = lm.mean(axis=0)
    reach = _TEMPLATE_REACH * TEMPLATE_FACE_WIDTH
    x0, y0 = (max(int(c - reach), 0) for c in centre)
    x1, y1 = min(int(centre[0] + reach), image.shape[1]), min(int(centre[1] + reach), image.shape[0])
    image = np.ascontiguousarray(image[y0:y1, x0:x1])
    lm = lm - (x0, y0)
    points = extend_landmarks(lm)
    ex, ey, fw = face_axes(points)
    skin = np.vstack([points[L.JAW], points[L.BROWS] - 0.16 * fw * ey])
    face_mask = _soft_hull(image.shape[:2], skin, 0.05 * fw)
    inner = np.vstack([points[list(L.indices(L.JAW)[1:-1])],  # the jaw without its two ends
                       points[L.BROWS] - 0.03 * fw * ey])
    centre = inner.mean(axis=0)
    inner = centre + 0.9 * (inner - centre)
    inner_mask = _soft_hull(image.shape[:2], inner, 0.04 * fw)
    return Template(name, image, points, face_mask, inner_mask)


@functools.lru_cache(maxsize=1)
def load_templates() -> tuple[Template, ...]:
    """The normalised templates (landmarks found once per process; deterministic)."""
    return tuple(_make_template(name, photo) for name, photo in _source_photos())


def align_to(source: Template, target: Template) -> np.ndarray:
    """``source``'s photo warped onto ``target``'s face geometry: ``(h_t, w_t, 3)`` float32.

    Piecewise-affine warp (scikit-image) over the 68 landmarks plus the anchor ring and the
    image corners; only the inner face of the result is used (identity blending).
    """
    from skimage.transform import PiecewiseAffineTransform, warp

    h, w = target.image.shape[:2]
    hs, ws = source.image.shape[:2]

    def frame(points: np.ndarray, hh: int, ww: int) -> np.ndarray:
        corners = np.array([[0, 0], [ww - 1, 0], [0, hh - 1], [ww - 1, hh - 1]], dtype=np.float64)
        return np.vstack([points[:N_LANDMARKS], anchor_ring(points), corners])

    dst = frame(target.landmarks, h, w)
    src = frame(source.landmarks, hs, ws)
    # the corners do not correspond; map target corners through the ring's similarity instead
    fixed = N_LANDMARKS + 16  # the landmarks and the anchor ring
    sim = cv2.estimateAffinePartial2D(dst[:fixed].astype(np.float32), src[:fixed].astype(np.float32))[0]
    src[-4:] = dst[-4:] @ sim[:, :2].T + sim[:, 2]
    # only the inner face is used: warp its bounding box (x0, y0 offset) to save time
    ys, xs = np.nonzero(target.inner_mask > 1e-3)
    x0, y0 = int(xs.min()), int(ys.min())
    box_h, box_w = int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1
    tform = PiecewiseAffineTransform.from_estimate(dst - (x0, y0), src)
    if not tform:
        raise RuntimeError(f"cannot align template {source.name} to {target.name}")
    out = np.zeros((h, w, 3), dtype=np.float32)
    part = warp(source.image / 255.0, tform, output_shape=(box_h, box_w), order=1, mode="edge")
    out[y0:y0 + box_h, x0:x0 + box_w] = part * 255.0
    return out


@functools.lru_cache(maxsize=1)
def aligned_pairs() -> dict[tuple[int, int], np.ndarray]:
    """``{(i, j): template j warped onto template i}`` for every ordered pair ``i != j``."""
    templates = load_templates()
    return {
        (i, j): align_to(templates[j], templates[i])
        for i in range(len(templates))
        for j in range(len(templates))
        if i != j
    }


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Identity:
    """A synthetic subject's appearance (drawn by :func:`draw_identity`).

    ``template``: index into :func:`load_templates`; ``blend``: weight of the other template's
    inner face cross-dissolved in (0 = none; :func:`draw_identity` leaves it 0, since a
    cross-dissolve pulls the two templates' subjects towards each other in dlib's encoding);
    ``mirror``: flip horizontally; ``skin``: RGB gain
    of the face skin; ``surround``: RGB gain of hair, clothes and background; ``shape``:
    displacements ``(83, 2)`` in % of face width, face axes (x out = +x on the image right);
    ``face_width``: face width as a fraction of the frame width; ``centre``: face centre as
    fractions of (width, height); ``aspect``: vertical/horizontal scale; ``roll``: degrees;
    ``light``: ``(gx, gy)`` illumination gradient across the frame; ``gain``, ``gamma``:
    global photometry; ``features``: painted brows, facial hair, lips, moles
    (:class:`Features`); ``lower`` / ``upper``: weight of the other template's lower face (nose
    tip down) / upper face (brows and eyes) grafted in, its details over this template's
    shading (:func:`graft`; ``upper`` only from a template without glasses);
    ``chimera``: ``0`` none, ``+1`` the image-right half of the face mirrored onto the left,
    ``-1`` the image-left half onto the right (:func:`chimera`).
    """

    template: int
    blend: float
    mirror: bool
    skin: tuple[float, float, float]
    surround: tuple[float, float, float]
    shape: tuple[tuple[float, float], ...]
    face_width: float
    centre: tuple[float, float]
    aspect: float
    roll: float
    light: tuple[float, float]
    gain: float
    gamma: float
    features: Features = Features()
    lower: float = 0.0
    upper: float = 0.0
    chimera: int = 0


# Shape perturbation groups: (points on the image left or midline, dx out, dy down) per unit.
_SHAPE_GROUPS: dict[str, tuple[tuple[tuple[int, ...], float, float], ...]] = {
    "eye_spacing": (((*L.indices(L.RIGHT_EYE), *L.indices(L.RIGHT_BROW), 68, 69), 1.0, 0.0),),
    "brow_height": (((*L.indices(L.RIGHT_BROW), 68, 69), 0.0, -1.0), ((72, 73), 0.0, -0.6)),
    "nose_length": (((31, 32, 33), 0.0, 1.0), ((30,), 0.0, 0.7), ((29,), 0.0, 0.35)),
    "nose_width": (((31,), 1.0, 0.0), ((32,), 0.5, 0.0)),
    "mouth_width": (((48, 60), 1.0, 0.0), ((49, 59, 61, 67), 0.5, 0.0)),
    "mouth_drop": (((48, 49, 50, 51, 57, 58, 59, 60, 61, 62, 66, 67, 78, 79), 0.0, 1.0),),
    "jaw_width": (((3, 4, 5, 81), 1.0, 0.0), ((2, 6), 0.6, 0.0), ((7,), 0.3, 0.0)),
    "chin_length": (((8,), 0.0, 1.0), ((7, 78), 0.0, 0.8), ((6,), 0.0, 0.5)),
}
#: Largest shape offset per group, % of face width (drawn uniformly in +-range).  Ranges this
#: wide move face_recognition's identity embedding of one template by about 0.4 (median);
#: wider ones (or finer per-landmark offsets) hardly add to it, the texture edits do.
_SHAPE_RANGE: dict[str, float] = {
    "eye_spacing": 8.4, "brow_height": 8.4, "nose_length": 11.2, "nose_width": 8.4,
    "mouth_width": 11.2, "mouth_drop": 9.8, "jaw_width": 14.0, "chin_length": 14.0,
}


@dataclass(frozen=True)
class Framing:
    """How a data set frames its faces: ranges the identities are drawn from."""

    face_width: tuple[float, float]
    centre_x: tuple[float, float]
    centre_y: tuple[float, float]
    light: float
    gain: tuple[float, float]
    gamma: tuple[float, float]
    gray: bool


def draw_identity(rng: np.random.Generator, framing: Framing, n_templates: int) -> Identity:
    """A random subject appearance for a data set framed as ``framing``."""
    template = int(rng.integers(n_templates))
    shape = np.zeros((N_POINTS, 2))
    for name, groups in _SHAPE_GROUPS.items():
        value = rng.uniform(-1.0, 1.0) * _SHAPE_RANGE[name]
        for points, dx, dy in groups:
            for p in points:
                shape[p] += (dx * value, dy * value)
    # eye size: eye points radially about the eye centre (x: out from the centre line)
    eye_scale = rng.uniform(-0.18, 0.18)
    darkness = rng.uniform(0.0, 1.0) ** 1.3
    warmth = rng.uniform(-0.06, 0.06)
    skin = (1.08 - 0.50 * darkness + warmth, 1.04 - 0.56 * darkness, 1.0 - 0.60 * darkness - warmth)
    surround = tuple(float(v) for v in rng.uniform(0.55, 1.35, size=3))
    return Identity(
        template=template,
        blend=0.0,
        mirror=bool(rng.random() < 0.5),
        skin=tuple(float(v) for v in skin),
        surround=surround,  # type: ignore[arg-type]
        shape=tuple((float(x), float(y)) for x, y in shape) + ((float(eye_scale), 0.0),),
        face_width=float(rng.uniform(*framing.face_width)),
        centre=(float(rng.uniform(*framing.centre_x)), float(rng.uniform(*framing.centre_y))),
        aspect=float(rng.uniform(0.93, 1.07)),
        roll=float(rng.normal(0.0, 2.5)),
        light=(float(rng.uniform(-framing.light, framing.light)),
               float(rng.uniform(-framing.light, framing.light))),
        gain=float(rng.uniform(*framing.gain)),
        gamma=float(rng.uniform(*framing.gamma)),
        features=draw_features(rng),
        **_draw_texture_edits(rng, template, n_templates),
    )


def _draw_texture_edits(rng: np.random.Generator, template: int,
                        n_templates: int) -> dict[str, float | int]:
    """The :class:`Identity` fields ``lower``, ``upper`` and ``chimera`` of a new subject."""
    lower = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.6 else 0.0
    upper = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.5 else 0.0
    chimera = int(rng.choice([0, 1, -1]))
    if n_templates < 2:
        lower = upper = 0.0
    elif TEMPLATE_GLASSES[(template + 1) % n_templates]:
        upper = 0.0  # never graft glasses onto a face
    return {"lower": lower, "upper": upper, "chimera": chimera}


@dataclass(frozen=True)
class SubjectFace:
    """A subject's texture (template space) and its model points: ``(h, w, 3)``, ``(83, 2)``."""

    texture: np.ndarray
    points: np.ndarray


def subject_face(identity: Identity) -> SubjectFace:
    """The identity's texture: its template with the other template's inner face blended or
    grafted in, made a chimera, recoloured, painted (:func:`paint_features`), mirrored."""
    templates = load_templates()
    base = templates[identity.template]
    tex = base.image.copy()
    points = base.landmarks.copy()
    face_mask = base.face_mask
    if len(templates) > 1:
        other = (identity.template + 1) % len(templates)
        aligned = aligned_pairs()[(identity.template, other)]
        if identity.blend > 0:
            alpha = (identity.blend * base.inner_mask)[..., None]
            tex = tex * (1 - alpha) + aligned * alpha
        if identity.lower > 0:
            tex = graft(tex, aligned, points, base.inner_mask, "lower", identity.lower)
        if identity.upper > 0 and not TEMPLATE_GLASSES[other]:
            tex = graft(tex, aligned, points, base.inner_mask, "upper", identity.upper)
    if identity.chimera:
        tex, points, face_mask = chimera(tex, points, identity.chimera, face_mask)
    mask = face_mask[..., None]
    gains = mask * np.asarray(identity.skin, np.float32) + (1 - mask) * np.asarray(
        identity.surround, np.float32
    )
    tex = np.clip(tex * gains, 0, 255).astype(np.float32)
    grain_seed = identity.template * 7919 + int((identity.blend + identity.lower) * 1e6)
    tex = paint_features(tex, points, identity.features, seed=grain_seed)
    if identity.mirror:
        tex = np.ascontiguousarray(tex[:, ::-1])
        points = mirror_points(points, tex.shape[1])
    return SubjectFace(tex, points)


def _side_weight(shape: tuple[int, int], point: np.ndarray, axis: np.ndarray,
                 softness: float) -> np.ndarray:
    """``(h, w)`` logistic step 0..1 across the line through ``point`` normal to ``axis``
    (1 on the side ``axis`` points to; ``softness`` px)."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    signed = (xs - point[0]) * axis[0] + (ys - point[1]) * axis[1]
    return (1.0 / (1.0 + np.exp(-signed / softness))).astype(np.float32)


def graft(image: np.ndarray, aligned: np.ndarray, points: np.ndarray, inner_mask: np.ndarray,
          part: str, weight: float) -> np.ndarray:
    """``image`` with ``part`` of ``aligned`` (another face warped onto ``points``) grafted in.

    ``part``: ``"lower"`` (from the nose tip down) or ``"upper"`` (above the nose middle: brows
    and eyes), inside ``inner_mask``; the graft keeps ``image``'s low frequencies (shading,
    skin tone; Gaussian 6 % of the face width) and takes the other face's details, with a seam
    2.5 % of the face width soft; ``weight`` 0..1.
    """
    _, ey, fw = face_axes(points)
    if part == "lower":
        mask = _side_weight(image.shape[:2], points[[30, 31, 35]].mean(axis=0), ey, 0.025 * fw)
    elif part == "upper":
        mask = _side_weight(image.shape[:2], points[[29, 31, 35]].mean(axis=0), -ey, 0.025 * fw)
    else:
        raise ValueError(f"graft part must be 'lower' or 'upper', not {part!r}")
    sigma = 0.06 * fw
    detail = aligned - cv2.GaussianBlur(aligned, (0, 0), sigma) + cv2.GaussianBlur(image, (0, 0), sigma)
    alpha = (weight * mask * inner_mask)[..., None]
    return (image * (1 - alpha) + detail * alpha).astype(np.float32)


def chimera(image: np.ndarray, points: np.ndarray, side: int,
            mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A left-left / right-right chimera: ``(image, points (83, 2), mask)`` with one half of the
    face replaced by the mirror image of the other.

    ``side`` ``+1`` keeps the image-right half, ``-1`` the image-left half; the mirror line runs
    down the face (axis ``ey``) through the mean of the midline nose, mouth and chin points,
    with a seam 1.2 % of the face width soft.  Points on the replaced half become the mirror
    images of their partners, midline points the mean of themselves and their mirror image.
    """
    ex, _, fw = face_axes(points)
    centre = points[[27, 28, 29, 30, 33, 51, 57, 62, 66, 8]].mean(axis=0)
    reflect = np.eye(2) - 2.0 * np.outer(ex, ex)
    affine = np.hstack([reflect, (centre - reflect @ centre)[:, None]])
    h, w = image.shape[:2]
    keep = _side_weight((h, w), centre, side * ex, 0.012 * fw)

    def fold(a: np.ndarray) -> np.ndarray:
        mirrored = cv2.warpAffine(a, affine, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT_101)
        k = keep if a.ndim == 2 else keep[..., None]
        return (a * k + mirrored * (1 - k)).astype(np.float32)

    reflected = points @ reflect.T + affine[:, 2]
    new = points.copy()
    for i in range(len(points)):
        partner = MIRROR[i]
        if partner == i:
            new[i] = (points[i] + reflected[i]) / 2
        elif np.sign((points[i] - centre) @ ex) != side:
            new[i] = reflected[partner]
    return fold(image), new, fold(mask)


def _shape_displacements(identity: Identity, points: np.ndarray) -> np.ndarray:
    """The identity's shape offsets ``(83, 2)`` in px at the frame-space model ``points``."""
    ex, ey, w = face_axes(points)
    shape = np.asarray(identity.shape[:N_POINTS])
    disp = np.zeros_like(points)
    for i in range(N_POINTS):
        dx, dy = shape[i]
        if dx == 0 and dy == 0:
            continue
        out = -ex if i not in MIDLINE else np.zeros(2)
        disp[i] += w / 100.0 * (dx * out + dy * ey)
        if i not in MIDLINE:
            disp[MIRROR[i]] += w / 100.0 * (dx * ex + dy * ey)
    eye_scale = identity.shape[N_POINTS][0]
    for eye in (L.RIGHT_EYE, L.LEFT_EYE):
        centre = points[eye].mean(axis=0)
        disp[eye] += eye_scale * (points[eye] - centre)
    return disp


@dataclass(frozen=True)
class ClipMotion:
    """What moves in one clip.

    ``aus``: ``(au, side, gain)``; ``profile``: expression amplitude per frame, ``(T,)`` shared
    by every AU or ``(n_aus, T)`` one row per AU (0 at the AU's onset, 1 at its apex);
    ``jitter``: ``(dx, dy, dscale, droll)`` placement change of this clip (fractions of the frame
    / degrees); ``head``: ``(T, 3)`` per-frame rigid motion ``(tx px, ty px, roll deg)``;
    ``flicker``: ``(T,)`` global gain; ``noise``: sensor noise sigma (grey levels); ``light``:
    extra illumination gradient of this clip; ``blink``: ``(T,)`` eyelid closure 0..1 (AU45,
    :func:`blink_displacement`) or ``None``; ``spot``: ``(T, 4)`` a local light that moves and
    changes, ``(cx, cy, sigma, gain)`` per frame (centre as fractions of the frame, sigma as a
    fraction of the face width, gain added at the centre) or ``None``; ``geometry``: the
    subject's :class:`AUGeometry` or ``None`` (the table).
    """

    aus: tuple[tuple[int, str, float], ...]
    profile: np.ndarray
    jitter: tuple[float, float, float, float]
    head: np.ndarray
    flicker: np.ndarray
    noise: float
    light: tuple[float, float]
    blink: np.ndarray | None = None
    spot: np.ndarray | None = None
    geometry: AUGeometry | None = None

    @property
    def n_frames(self) -> int:
        return int(np.shape(self.profile)[-1])

    def profiles(self) -> np.ndarray:
        """``(n_aus, T)`` per-AU amplitude."""
        prof = np.asarray(self.profile, dtype=np.float64)
        if prof.ndim == 1:
            return np.broadcast_to(prof, (len(self.aus), len(prof)))
        if prof.shape[0] != len(self.aus):
            raise ValueError(f"profile has {prof.shape[0]} rows for {len(self.aus)} AUs")
        return prof


def _affine(identity: Identity, face: SubjectFace, size: tuple[int, int],
            jitter: tuple[float, float, float, float]) -> np.ndarray:
    """2x3 affine template -> frame (scale, aspect, roll, translation)."""
    height, width = size
    _, _, w = face_axes(face.points)
    scale = identity.face_width * width * (1 + jitter[2]) / w
    roll = np.deg2rad(identity.roll + jitter[3])
    ex, ey, _ = face_axes(face.points)
    centre = face.points[:N_LANDMARKS].mean(axis=0)
    # template face axes -> frame axes, with the aspect applied along the face's own axes
    basis = np.stack([ex, ey])  # rows: template axes
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    linear = rot @ np.diag([scale, scale * identity.aspect]) @ basis
    target = np.array([(identity.centre[0] + jitter[0]) * width,
                       (identity.centre[1] + jitter[1]) * height])
    return np.hstack([linear, (target - linear @ centre)[:, None]])


def _apply(affine: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ affine[:, :2].T + affine[:, 2]


def _rigid(centre: np.ndarray, tx: float, ty: float, roll_deg: float) -> np.ndarray:
    a = np.deg2rad(roll_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([rot, (centre + np.array([tx, ty]) - rot @ centre)[:, None]])


@dataclass(frozen=True)
class ClipFields:
    """The displacement fields of one clip, on a grid with a ``margin`` px border."""

    affine: np.ndarray          # (2, 3) template -> frame
    g_field: np.ndarray         # (H', W', 2) identity shape field
    neutral: np.ndarray         # (83, 2) the subject's neutral points in the frame
    fields: tuple[np.ndarray, ...]  # per AU (then the blink, if any) (H', W', 2) at full motion
    profiles: np.ndarray        # (len(fields), T)
    margin: int
    width: float                # face width in the frame (px)


def clip_fields(identity: Identity, face: SubjectFace, motion: ClipMotion,
                size: tuple[int, int], amplitude: float = 1.0) -> ClipFields:
    """The clip's placement and displacement fields (what :func:`render_clip` and
    :func:`au_regions` both read; compute once and pass as ``fields``)."""
    height, width = size
    affine = _affine(identity, face, size, motion.jitter)
    placed = _apply(affine, face.points)
    _, _, w_frame = face_axes(placed)
    margin = 8
    grid_shape = (height + 2 * margin, width + 2 * margin)
    anchors = anchor_ring(placed)
    shape_disp = _shape_displacements(identity, placed)
    g_field = shepard_field(np.vstack([placed, anchors]),
                            np.vstack([shape_disp, np.zeros_like(anchors)]),
                            grid_shape, 0.09 * w_frame, origin=-margin)
    neutral = forward(placed, g_field, origin=-margin)
    ring = anchor_ring(neutral)
    support = np.vstack([neutral, ring])

    def field(disp: np.ndarray) -> np.ndarray:
        return shepard_field(support, np.vstack([disp, np.zeros_like(ring)]), grid_shape,
                             0.05 * w_frame, origin=-margin)

    fields = [field(au_displacement(neutral, au, side, amplitude * gain, motion.geometry))
              for au, side, gain in motion.aus]
    profiles = [np.asarray(motion.profiles(), dtype=np.float64)]
    if motion.blink is not None and np.any(motion.blink > 0):
        fields.append(field(blink_displacement(neutral)))
        profiles.append(np.asarray(motion.blink, dtype=np.float64)[None])
    stacked = np.vstack(profiles) if fields else np.zeros((0, motion.n_frames))
    return ClipFields(affine, g_field, neutral, tuple(fields), stacked, margin, w_frame)


def _frame_field(clip: ClipFields, t: int, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape + (2,), dtype=np.float32)
    for f, weight in zip(clip.fields, clip.profiles[:, t], strict=True):
        if weight != 0.0:
            out += np.float32(weight) * f
    return out


def render_clip(
    identity: Identity,
    face: SubjectFace,
    motion: ClipMotion,
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    gray: bool,
    amplitude: float = 1.0,
    frames: slice | None = None,
    fields: ClipFields | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render a clip -> ``(frames (T, H, W[, 3]) uint8 RGB or grey, landmarks (T, 68, 2))``.

    Backward chain per output pixel ``x`` (see the module docstring): undo the head motion
    ``u = R_t^-1 x``; undo the expression ``y = u - F_t(u)`` with ``F_t = sum_k p_k(t) F_k``
    over the AUs (and the blink) of the clip; undo the identity's shape ``z = y - G(y)``; map
    to the template ``A^-1 z``.  Photometry: gamma, the illumination gradient times the local
    light spot and the flicker, then sensor noise.  ``frames`` renders a sub-range only (the
    noise stream is drawn from the first frame on, so a sub-range equals the full render).
    ``fields``: :func:`clip_fields` of the same arguments, if already computed (``amplitude``
    is then theirs).
    """
    height, width = size
    n_frames = motion.n_frames
    clip = fields if fields is not None else clip_fields(identity, face, motion, size, amplitude)
    margin = clip.margin
    grid_shape = (height + 2 * margin, width + 2 * margin)

    # template map of the subject image: y -> A^-1 (y - G(y)), on the margin grid
    ys, xs = np.mgrid[0:grid_shape[0], 0:grid_shape[1]].astype(np.float64) - margin
    inv = cv2.invertAffineTransform(clip.affine)
    zx = xs - clip.g_field[..., 0]
    zy = ys - clip.g_field[..., 1]
    sub_map = np.stack([inv[0, 0] * zx + inv[0, 1] * zy + inv[0, 2],
                        inv[1, 0] * zx + inv[1, 1] * zy + inv[1, 2]], axis=-1).astype(np.float32)

    # photometry: illumination field (scene-fixed), local light, per-frame flicker, noise
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gx = identity.light[0] + motion.light[0]
    gy = identity.light[1] + motion.light[1]
    light = (1 + gx * (xx / width - 0.5) + gy * (yy / height - 0.5)) * identity.gain
    channels = 1 if gray else 3
    selected = range(n_frames)[frames] if frames is not None else range(n_frames)
    # the stream's first frames only, up to the last one rendered: a prefix of the full draw
    # (the generator fills the array in order), so every frame's noise is the full render's
    noise = rng.standard_normal((max(selected, default=-1) + 1, height, width, channels), dtype=np.float32)

    centre = clip.neutral[:N_LANDMARKS].mean(axis=0)
    gxs, gys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    out_frames = []
    out_points = []
    for t in selected:
        f_field = _frame_field(clip, t, grid_shape)
        rigid = _rigid(centre, *motion.head[t])
        rinv = cv2.invertAffineTransform(rigid).astype(np.float32)
        ux = rinv[0, 0] * gxs + rinv[0, 1] * gys + rinv[0, 2]
        uy = rinv[1, 0] * gxs + rinv[1, 1] * gys + rinv[1, 2]
        fu = cv2.remap(f_field, ux + margin, uy + margin, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        yx = ux - fu[..., 0] + margin
        yy_ = uy - fu[..., 1] + margin
        src = cv2.remap(sub_map, yx, yy_, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = cv2.remap(face.texture, src[..., 0], src[..., 1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101)
        if gray:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
        img = 255.0 * np.power(np.clip(img / 255.0, 0, 1), identity.gamma)
        gain = light * motion.flicker[t]
        if motion.spot is not None:
            cx, cy, sigma, amp = motion.spot[t]
            s2 = 2.0 * (sigma * clip.width) ** 2
            gain = gain * (1 + amp * np.exp(-((xx - cx * width) ** 2 + (yy - cy * height) ** 2) / s2))
        img = img * gain[..., None] + motion.noise * noise[t]
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        out_frames.append(img[..., 0] if gray else img)
        pts = forward(clip.neutral[:N_LANDMARKS], f_field, origin=-margin)
        out_points.append(_apply(rigid, pts))
    return np.stack(out_frames), np.stack(out_points).astype(np.float32)


def au_regions(
    identity: Identity,
    face: SubjectFace,
    motion: ClipMotion,
    size: tuple[int, int],
    frame: int,
    *,
    amplitude: float = 1.0,
    threshold: float = 0.001,
    fields: ClipFields | None = None,
) -> list[list[list[list[int]]]]:
    """Where each AU of ``motion`` moves the skin, in the head pose of ``frame``.

    One entry per AU of ``motion.aus`` (in order): the outlines (polygons of ``[x, y]`` pixel
    corners, one per connected part) of the pixels whose displacement at the AU's own apex is
    at least ``threshold`` px and at least a fifth of the AU's largest displacement.  Rasterise
    them with :func:`region_mask`.  ``fields``: :func:`clip_fields`, if already computed.
    """
    height, width = size
    clip = fields if fields is not None else clip_fields(identity, face, motion, size, amplitude)
    margin = clip.margin
    rigid = _rigid(clip.neutral[:N_LANDMARKS].mean(axis=0), *motion.head[frame])
    out = []
    for f in clip.fields[: len(motion.aus)]:
        magnitude = np.hypot(f[..., 0], f[..., 1])[margin:margin + height, margin:margin + width]
        limit = max(threshold, 0.2 * float(magnitude.max()))
        mask = (magnitude >= limit).astype(np.uint8)
        mask = cv2.warpAffine(mask, rigid.astype(np.float64), (width, height),
                              flags=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        polys = []
        for c in contours:
            if cv2.contourArea(c) < 2:
                continue
            approx = cv2.approxPolyDP(c, 0.8, True)
            polys.append([[int(x), int(y)] for x, y in approx[:, 0]])
        out.append(polys)
    return out


def region_mask(polygons: list[list[list[int]]], size: tuple[int, int]) -> np.ndarray:
    """A ``(H, W)`` bool mask from :func:`au_regions` outlines of one AU."""
    mask = np.zeros(size, dtype=np.uint8)
    if polygons:
        cv2.fillPoly(mask, [np.asarray(p, dtype=np.int32) for p in polygons], 1)
    return mask.astype(bool)
