"""Face detection, landmarks, crop boxes and the clip-level fallbacks."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from skimage import data

from merkit.preprocess import face as FA


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()  # (512, 512, 3) uint8, one face near x 175-265, y 76-166


def _iou(a: FA.Box, b: FA.Box) -> float:
    top, right = max(a[0], b[0]), min(a[1], b[1])
    bottom, left = min(a[2], b[2]), max(a[3], b[3])
    inter = max(0, bottom - top) * max(0, right - left)
    area = lambda r: (r[2] - r[0]) * (r[1] - r[3])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_detect_astronaut_box_and_68_landmarks(astronaut):
    f = FA.detect(astronaut)
    top, right, bottom, left = f.box
    assert 40 < top < bottom < 220 and 130 < left < right < 310  # her face, not the flag/suit
    assert f.landmarks.shape == (68, 2) and f.landmarks.dtype == np.float64
    # landmarks inside the crop box (detector box + margin); most inside the tight detector box
    ct, cr, cb, cl = FA.crop_box(f.box, astronaut.shape, margin=0.15)
    x, y = f.landmarks[:, 0], f.landmarks[:, 1]
    assert np.all((cl <= x) & (x < cr) & (ct <= y) & (y < cb))
    inside = (left <= x) & (x < right) & (top <= y) & (y < bottom)
    assert inside.mean() > 0.85
    # iBUG-68 order: 36-41 the eye on the image left, 42-47 the other, 30 nose tip, 48-67 mouth,
    # 8 chin; x is the horizontal axis
    eye_l, eye_r = f.landmarks[36:42].mean(0), f.landmarks[42:48].mean(0)
    nose, mouth, chin = f.landmarks[30], f.landmarks[48:68].mean(0), f.landmarks[8]
    assert eye_l[0] < nose[0] < eye_r[0]
    assert max(eye_l[1], eye_r[1]) < nose[1] < mouth[1] < chin[1]


def test_grayscale_frames_work_like_rgb(astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    for image in (gray, gray[:, :, None]):
        g = FA.detect(image)
        assert _iou(g.box, FA.detect(astronaut).box) > 0.6
        assert g.landmarks.shape == (68, 2)


def test_most_confident_face_first(astronaut):
    crop = astronaut[40:200, 140:300]  # the face
    canvas = np.full((300, 600, 3), 127, np.uint8)
    canvas[70:230, 20:180] = crop  # sharp copy
    blurred = cv2.GaussianBlur(crop, (0, 0), 2.5)
    canvas[70:230, 400:560] = blurred  # blurred copy: a weaker HOG response
    faces = FA.detect_all(canvas)
    assert len(faces) == 2
    assert faces[0].score >= faces[1].score
    assert FA.detect(canvas).box == faces[0].box
    assert faces[0].box[3] < 200  # the sharp copy, on the left


def test_no_face_raises():
    with pytest.raises(FA.NoFaceError, match="no face"):
        FA.detect(np.full((120, 160), 90, np.uint8))


def test_non_uint8_rejected(astronaut):
    with pytest.raises(ValueError, match="uint8"):
        FA.detect(astronaut.astype(np.float32) / 255)


def test_detect_max_side_scales_the_box_back(astronaut):
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    small_box = FA.detect(astronaut).box
    f = FA.detect(big, max_side=512)
    assert _iou(f.box, tuple(2 * v for v in small_box)) > 0.9  # type: ignore[arg-type]
    assert np.all(f.landmarks.max(0) > 300)  # landmarks in full-resolution coordinates


def test_cnn_model_finds_the_same_face(astronaut):
    small = astronaut[20:276, 100:356]
    assert _iou(FA.detect(small, model="cnn", upsample=0).box, FA.detect(small).box) > 0.5


def test_crop_box_hand_computed():
    # 100 x 100 detector box, margin 0.15 -> 130 x 130 around the same centre (150, 150)
    assert FA.crop_box((100, 200, 200, 100), (480, 640), 0.15) == (85, 215, 215, 85)
    # square: a 100 wide x 60 high box -> 130 x 130
    assert FA.crop_box((120, 200, 180, 100), (480, 640), 0.15) == (85, 215, 215, 85)
    # clipped at the frame's border
    assert FA.crop_box((0, 100, 100, 0), (480, 640), 0.15) == (0, 115, 115, 0)


def test_locate_clip_face_fallbacks(astronaut):
    face_img = astronaut[20:276, 100:356].copy()
    blank = np.full_like(face_img, 100)
    reads: list[int] = []

    def reader(blank_frames: set[int]):
        def read(n: int) -> np.ndarray:
            reads.append(n)
            return blank if n in blank_frames else face_img

        return read

    cfg = FA.FaceConfig(neighbours=2)
    ok = FA.locate_clip_face(reader(set()), 10, 20, [10, 15], cfg, name="c0")
    assert ok.fallback == "" and ok.source_frame == 10 and sorted(ok.landmarks) == [10, 15]
    assert ok.box == FA.crop_box(ok.det_box, face_img.shape, cfg.margin)

    with pytest.warns(UserWarning, match="c1: no face on the onset frame 10"):
        nb = FA.locate_clip_face(reader({10}), 10, 20, [10, 15], cfg, name="c1")
    assert nb.fallback == "neighbour" and nb.source_frame == 11
    assert _iou(nb.box, ok.box) > 0.95

    with pytest.warns(UserWarning, match="c2: no face in frames \\[10, 11, 12\\]"):
        whole = FA.locate_clip_face(reader({10, 11, 12}), 10, 20, [10, 15], cfg, name="c2")
    assert whole.fallback == "whole_frame" and whole.box == (0, 256, 256, 0)
    assert all(v.shape == (68, 2) for v in whole.landmarks.values())

    # JSON round trip (the face cache)
    back = FA.ClipFace.from_json(ok.to_json())
    assert back.box == ok.box and back.fallback == ok.fallback
    np.testing.assert_array_equal(back.landmarks[15], ok.landmarks[15])


def test_locate_clip_face_rejects_frames_of_another_size(astronaut):
    face_img = astronaut[20:276, 100:356]
    with warnings.catch_warnings(), pytest.raises(ValueError, match="same size"):
        FA.locate_clip_face(
            lambda n: face_img if n == 0 else face_img[:200],
            0,
            5,
            [0, 3],
            FA.FaceConfig(),
            name="c",
        )
