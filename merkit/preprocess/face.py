"""Face boxes and 68 landmarks with face_recognition's dlib models.

RRRN (Sec. IV-B2) finds the face with the ``face_recognition`` package; MER-auGCN (Sec. IV-B2)
with libfacedetection. merkit uses the detectors ``face_recognition`` wraps (dlib's HOG
frontal-face detector by default, its CNN (MMOD) detector as ``model="cnn"``) and dlib's 68-point
shape predictor from ``face_recognition_models``, which returns the points directly in the
standard iBUG-300W order (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth). The models
are called through dlib rather than through ``face_recognition.face_locations`` because only the
raw detector calls return the detection scores needed to pick "the most confident face".

Conventions
-----------
* images are ``uint8`` arrays, RGB ``(H, W, 3)`` or grayscale ``(H, W)`` / ``(H, W, 1)``
  (SAMM frames are grayscale: they are replicated to three channels for dlib);
* a box is ``(top, right, bottom, left)`` in pixels, the ``face_recognition`` order, with
  ``bottom`` and ``right`` exclusive, so ``image[top:bottom, left:right]`` is the crop;
* landmarks are ``(68, 2)`` float64 ``(x, y)`` pixel coordinates of the full frame.

Clip level (:func:`locate_clip_face`): the face is detected once, on the onset frame, and one
crop box (the detector box grown by :attr:`FaceConfig.margin` on every side, then made square)
is reused for every frame of the clip, so the flow between frames is not polluted by a jittering
box. Landmarks are predicted on every frame that is used (onset and each apex position) from
that same detector box: micro-expression clips are near-static, so the onset box initialises
dlib's cascade well on the other frames.

Unusable onsets (:attr:`FaceConfig.unusable_onset`): when no face is found on the onset frame
(a blank or corrupt-looking frame, a blink, a hand) the flow must not start from it. Default
``"advance"``: the first frame of :func:`detection_frames` on which the face is found becomes
the onset *of the flow* (:attr:`ClipFace.flow_onset`, = ``source_frame``); it is recorded as
fallback ``"neighbour"``, warned about, and listed by ``FlowSet.fallback_table()`` (column
``flow_onset``). The clip's annotated onset is unchanged; the apex positions of the augmented
pairs are not moved (they were chosen from the annotation). ``"error"``: raise
:class:`UnusableOnsetError` naming the clip instead. When no tried frame has a face at all
(fallback ``"whole_frame"``) the flow starts from the annotated onset with the whole frame as
the box, recorded as such.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import pickle
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Box = tuple[int, int, int, int]
"""``(top, right, bottom, left)`` in pixels; bottom/right exclusive."""

N_LANDMARKS = 68

FALLBACK_NONE = ""
FALLBACK_NEIGHBOUR = "neighbour"
FALLBACK_WHOLE_FRAME = "whole_frame"


class NoFaceError(ValueError):
    """No face was found in an image."""


class UnusableOnsetError(NoFaceError):
    """No face on a clip's onset frame and ``FaceConfig.unusable_onset="error"`` (names the clip)."""


@dataclass(frozen=True)
class FaceConfig:
    """How faces are found and cropped (hashed into the cache key).

    ``model``: ``"hog"`` (dlib HOG + linear SVM, fast on CPU; the default) or ``"cnn"`` (dlib
    MMOD CNN, more robust to pose, about 100x slower on CPU).
    ``upsample``: times the detector upsamples the image (finds faces smaller than ~80 px).
    ``detect_max_side``: the image is shrunk so its longer side is at most this many pixels
    before detection (SAMM's 2040 x 1088 frames would take seconds otherwise); the box is scaled
    back and landmarks are predicted at full resolution. ``0`` disables shrinking.
    ``margin``: fraction of the detector box's side added on each side to form the crop box.
    dlib's boxes are tight (brows to chin), and the brow region carries AU1/AU2/AU4, so 0.15 by
    default: the crop's side is 1.3 x the detector box. The box is then made square around its
    centre (flows are resized to square inputs) and clipped to the frame.
    ``neighbours``: when the onset frame has no face, the next ``neighbours`` frames of the clip
    are tried, nearest first; then the whole frame is the box (recorded as a fallback).
    ``unusable_onset``: what happens when the onset frame has no face but a later tried frame
    has: ``"advance"`` (default) starts the flow from that frame (recorded, see the module
    docstring); ``"error"`` raises :class:`UnusableOnsetError` naming the clip.
    """

    model: Literal["hog", "cnn"] = "hog"
    upsample: int = 1
    detect_max_side: int = 640
    margin: float = 0.15
    square: bool = True
    neighbours: int = 5
    unusable_onset: Literal["advance", "error"] = "advance"

    def __post_init__(self) -> None:
        if self.model not in ("hog", "cnn"):
            raise ValueError(f"FaceConfig.model must be 'hog' or 'cnn', not {self.model!r}")
        if self.upsample < 0 or self.neighbours < 0 or self.detect_max_side < 0:
            raise ValueError("FaceConfig.upsample, neighbours and detect_max_side must be >= 0")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"FaceConfig.margin must be in [0, 2], not {self.margin}")
        if self.unusable_onset not in ("advance", "error"):
            raise ValueError(
                f"FaceConfig.unusable_onset must be 'advance' or 'error', not {self.unusable_onset!r}"
            )


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face.

    ``box``: the detector's box (top, right, bottom, left), clipped to the image.
    ``landmarks``: (68, 2) float64 (x, y), iBUG-300W order. ``score``: detector confidence
    (HOG: SVM margin; CNN: MMOD confidence; not comparable across models).
    """

    box: Box
    landmarks: np.ndarray
    score: float
    model: str = "hog"


@dataclass(frozen=True, eq=False)
class ClipFace:
    """The face of one clip: one crop box for all frames, landmarks per used frame.

    ``box``: crop box (detector box + margin, square, clipped to the frame).
    ``det_box``: the detector box the landmarks were predicted from (may reach outside the frame).
    ``source_frame``: the frame number the detection came from (the onset unless a fallback).
    ``fallback``: ``""`` (face found on the onset frame), ``"neighbour"`` (found on
    ``source_frame``, a later frame) or ``"whole_frame"`` (no face in any tried frame: the crop is
    the whole frame and the landmarks are dlib's guess inside it, unreliable).
    ``landmarks``: frame number -> (68, 2) float64 (x, y) full-frame coordinates.
    ``frame_shape``: (H, W) of the frames.
    :attr:`flow_onset`: the frame the clip's flows start from (``source_frame``: the onset, or
    with fallback ``"neighbour"`` the first frame with a face).
    """

    box: Box
    det_box: Box
    source_frame: int
    fallback: str
    score: float
    frame_shape: tuple[int, int]
    landmarks: Mapping[int, np.ndarray] = field(default_factory=dict)

    @property
    def flow_onset(self) -> int:
        """The frame the flows start from: the onset unless it had no face (then the first
        frame with one; see :attr:`FaceConfig.unusable_onset`)."""
        return self.source_frame

    def to_json(self) -> dict:
        return {
            "box": list(self.box),
            "det_box": list(self.det_box),
            "source_frame": self.source_frame,
            "fallback": self.fallback,
            "score": self.score,
            "frame_shape": list(self.frame_shape),
            "landmarks": {
                str(k): np.asarray(v).tolist() for k, v in sorted(self.landmarks.items())
            },
        }

    @classmethod
    def from_json(cls, obj: Mapping) -> ClipFace:
        marks = {int(k): np.asarray(v, dtype=np.float64) for k, v in obj["landmarks"].items()}
        for k, v in marks.items():
            if v.shape != (N_LANDMARKS, 2) or not np.all(np.isfinite(v)):
                raise ValueError(
                    f"landmarks of frame {k} have shape {v.shape} or non-finite values"
                )
        return cls(
            box=tuple(int(b) for b in obj["box"]),  # type: ignore[arg-type]
            det_box=tuple(int(b) for b in obj["det_box"]),  # type: ignore[arg-type]
            source_frame=int(obj["source_frame"]),
            fallback=str(obj["fallback"]),
            score=float(obj["score"]),
            frame_shape=tuple(int(s) for s in obj["frame_shape"]),  # type: ignore[arg-type]
            landmarks=marks,
        )


# --- models (loaded once per process; read-only afterwards) ------------------------------------


def model_file(name: str) -> Path:
    """Path of a model file shipped by ``face_recognition_models`` (e.g. the 68-point predictor).

    Found with ``importlib`` rather than by importing the package, whose ``pkg_resources``
    import is deprecated (and gone with setuptools >= 81).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "face_recognition_models is not installed: `make venv` installs it "
            "(pip install face-recognition-models)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall face-recognition-models")
    return path


@functools.cache
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


def _new_cnn_detector():
    import dlib

    return dlib.cnn_face_detection_model_v1(str(model_file("mmod_human_face_detector.dat")))


@functools.cache
def _cnn_detector():
    return _new_cnn_detector()


_MODEL_LOCK = threading.Lock()


def _shape_predictor():
    """The 68-point predictor, loaded once per process (~0.8 s). dlib documents it as safe to
    use from several threads at once; the lock only keeps two threads from loading it twice."""
    with _MODEL_LOCK:
        return _load_shape_predictor()


@functools.cache
def _load_shape_predictor():
    import dlib

    return dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))


class _DetectorPool:
    """Instances of one detector for concurrent threads (:func:`merkit.preprocess.pipeline.
    build_flowset` runs clips in threads). dlib's object detectors must not be called from two
    threads at once (dlib's docs; its Python bindings release the GIL while detecting), so each
    call borrows an instance of its own: the first is ``first()`` (the process's cached one),
    the others ``copy(first())``; returned instances are kept for later calls."""

    def __init__(self, first: Callable[[], Any], copy: Callable[[Any], Any]) -> None:
        self._first, self._copy = first, copy
        self._free: list[Any] = []
        self._made = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        with self._lock:
            if self._free:
                model = self._free.pop()
            else:
                model = self._first() if self._made == 0 else self._copy(self._first())
                self._made += 1
        try:
            yield model
        finally:
            with self._lock:
                self._free.append(model)


_DETECTORS = {
    # a pickled copy of the HOG detector takes ~2 ms, building one ~0.4 s
    "hog": _DetectorPool(_hog_detector, lambda d: pickle.loads(pickle.dumps(d))),
    "cnn": _DetectorPool(_cnn_detector, lambda _: _new_cnn_detector()),
}


# --- image helpers -------------------------------------------------------------------------------


def as_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 -> contiguous ``(H, W, 3)``."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8, got {image.dtype}; convert with skimage.img_as_ubyte"
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"expected an (H, W), (H, W, 1|3|4) image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def clip_box(box: Box, shape: tuple[int, ...]) -> Box:
    """Clip ``box`` to an image of ``shape`` (H, W, ...)."""
    top, right, bottom, left = box
    h, w = shape[:2]
    return max(0, top), min(w, right), min(h, bottom), max(0, left)


def crop_box(det_box: Box, shape: tuple[int, ...], margin: float, square: bool = True) -> Box:
    """The crop box: ``det_box`` grown by ``margin`` x its side on each side, square, clipped.

    Example: a 100 x 100 detector box with margin 0.15 gives a 130 x 130 crop box with the same
    centre (fewer pixels where it meets the frame's border).
    """
    top, right, bottom, left = det_box
    height, width = bottom - top, right - left
    cy, cx = (top + bottom) / 2.0, (left + right) / 2.0
    half_h, half_w = height * (0.5 + margin), width * (0.5 + margin)
    if square:
        half_h = half_w = max(half_h, half_w)
    box = (
        math.floor(cy - half_h + 0.5),
        math.floor(cx + half_w + 0.5),
        math.floor(cy + half_h + 0.5),
        math.floor(cx - half_w + 0.5),
    )
    box = clip_box(box, shape)
    if box[2] - box[0] < 2 or box[1] - box[3] < 2:
        raise ValueError(f"crop box {box} from detector box {det_box} is empty in a {shape} image")
    return box


def _to_rect(box: Box):
    import dlib

    top, right, bottom, left = (int(v) for v in box)
    return dlib.rectangle(left, top, right, bottom)


def landmarks(image: np.ndarray, box: Box) -> np.ndarray:
    """68 landmarks of the face in ``box``: ``image (H, W[, C]) uint8 -> (68, 2) float64 (x, y)``."""
    rgb = as_rgb(image)
    shape = _shape_predictor()(rgb, _to_rect(box))
    pts = np.array(
        [(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], dtype=np.float64
    )
    if pts.shape != (N_LANDMARKS, 2):
        raise RuntimeError(f"the shape predictor returned {pts.shape[0]} points, expected 68")
    return pts


def _raw_detections(rgb: np.ndarray, model: str, upsample: int) -> list[tuple[Box, float]]:
    if model == "cnn":
        with _DETECTORS["cnn"].borrow() as cnn:
            found = cnn(rgb, upsample)
        return [
            ((d.rect.top(), d.rect.right(), d.rect.bottom(), d.rect.left()), float(d.confidence))
            for d in found
        ]
    with _DETECTORS["hog"].borrow() as hog:
        rects, scores, _ = hog.run(rgb, upsample, 0.0)
    return [
        ((r.top(), r.right(), r.bottom(), r.left()), float(s))
        for r, s in zip(rects, scores, strict=True)
    ]


def detect_all(
    image: np.ndarray, *, model: str = "hog", upsample: int = 1, max_side: int = 0
) -> list[Face]:
    """Every face in ``image``, the most confident first (ties: the larger box first).

    ``image``: (H, W) / (H, W, 1) / (H, W, 3) uint8. ``max_side > 0`` shrinks the image for the
    detector only (see :class:`FaceConfig`). Returns ``[]`` when there is no face.
    """
    rgb = as_rgb(image)
    if model not in ("hog", "cnn"):
        raise ValueError(f"model must be 'hog' or 'cnn', not {model!r}")
    scale = 1.0
    small = rgb
    if max_side and max(rgb.shape[:2]) > max_side:
        import cv2

        scale = max(rgb.shape[:2]) / max_side
        size = (max(1, round(rgb.shape[1] / scale)), max(1, round(rgb.shape[0] / scale)))
        small = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    faces = []
    for (top, right, bottom, left), score in _raw_detections(small, model, upsample):
        det = tuple(round(v * scale) for v in (top, right, bottom, left))
        faces.append(
            Face(
                box=clip_box(det, rgb.shape),  # type: ignore[arg-type]
                landmarks=landmarks(rgb, det),  # type: ignore[arg-type]
                score=score,
                model=model,
            )
        )

    def area(f: Face) -> int:
        return (f.box[2] - f.box[0]) * (f.box[1] - f.box[3])

    faces.sort(key=lambda f: (-f.score, -area(f)))
    return faces


def detect(image: np.ndarray, *, model: str = "hog", upsample: int = 1, max_side: int = 0) -> Face:
    """The most confident face in ``image`` (the larger one on a tie).

    ``image``: (H, W) / (H, W, 1) / (H, W, 3) uint8 (grayscale is replicated to RGB) ->
    :class:`Face` with ``.box`` (top, right, bottom, left) and ``.landmarks`` (68, 2) (x, y).
    Raises :class:`NoFaceError` when there is none.
    """
    faces = detect_all(image, model=model, upsample=upsample, max_side=max_side)
    if not faces:
        raise NoFaceError(
            f"no face found by the {model!r} detector in a {np.asarray(image).shape} image "
            f"(upsample={upsample}); try upsample=2 or model='cnn'"
        )
    return faces[0]


# --- clip level ----------------------------------------------------------------------------------


def detection_frames(onset: int, offset: int, cfg: FaceConfig) -> list[int]:
    """Frame numbers tried for detection, in order: the onset, then its next ``cfg.neighbours``."""
    return [onset + k for k in range(0, cfg.neighbours + 1) if onset + k <= offset]


def locate_clip_face(
    read: Callable[[int], np.ndarray],
    onset: int,
    offset: int,
    used_frames: Iterable[int],
    cfg: FaceConfig,
    *,
    name: str = "clip",
) -> ClipFace:
    """Detect the clip's face once and predict landmarks on each used frame.

    ``read(frame_number) -> (H, W[, 3]) uint8`` loads a frame of the clip (and raises a clear
    error for a missing/unreadable file). Detection runs on the onset frame; if it finds nothing,
    on the following frames (:func:`detection_frames`), then the whole frame is the box. Every
    fallback is recorded in :attr:`ClipFace.fallback` and warned about, naming ``name``. A face
    found only on a later frame makes that frame the flow's onset (landmarks are predicted on it
    too) or, with ``cfg.unusable_onset="error"``, raises :class:`UnusableOnsetError`.
    """
    used = sorted(set(int(f) for f in used_frames))
    found: Face | None = None
    source = onset
    first_shape: tuple[int, int] | None = None
    for frame in detection_frames(onset, offset, cfg):
        image = read(frame)
        first_shape = first_shape or image.shape[:2]
        faces = detect_all(
            image, model=cfg.model, upsample=cfg.upsample, max_side=cfg.detect_max_side
        )
        if faces:
            found, source = faces[0], frame
            break
    assert first_shape is not None
    h, w = first_shape
    if found is None:
        fallback = FALLBACK_WHOLE_FRAME
        det_box: Box = (0, w, h, 0)
        box: Box = det_box
        score = float("nan")
        source = onset
        warnings.warn(
            f"{name}: no face in frames {detection_frames(onset, offset, cfg)}; using the whole "
            "frame as the crop box (recorded as fallback 'whole_frame')",
            stacklevel=2,
        )
    else:
        fallback = FALLBACK_NONE if source == onset else FALLBACK_NEIGHBOUR
        det_box = found.box
        box = crop_box(det_box, (h, w), cfg.margin, cfg.square)
        score = found.score
        if fallback:
            if cfg.unusable_onset == "error":
                raise UnusableOnsetError(
                    f"{name}: no face on the onset frame {onset} (first face on frame {source}); "
                    "the flow cannot start from it. Fix the clip's onset, or use "
                    "FaceConfig(unusable_onset='advance') to start the flow from frame "
                    f"{source}"
                )
            warnings.warn(
                f"{name}: no face on the onset frame {onset}; the flow starts from frame {source}, "
                "the first with a face, and uses its box (recorded as fallback 'neighbour')",
                stacklevel=2,
            )
            used = sorted(set(used) | {source})
    marks: dict[int, np.ndarray] = {}
    for frame in used:
        image = read(frame)
        if image.shape[:2] != (h, w):
            raise ValueError(
                f"{name}: frame {frame} is {image.shape[:2]} but the onset frame is {(h, w)}; "
                "all frames of a clip must have the same size"
            )
        marks[frame] = landmarks(image, det_box)
    return ClipFace(
        box=box,
        det_box=det_box,
        source_frame=source,
        fallback=fallback,
        score=score,
        frame_shape=(h, w),
        landmarks=marks,
    )
