"""TV-L1 flow: known sub-pixel translation and rotation, resizing, normalisation, NaN handling."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from scipy import ndimage

from merkit.preprocess import flow as F
from merkit.preprocess.frames import FrameError, read_frame, to_gray


def textured(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth random texture in [0.1, 0.9], float32 (H, W): Gaussian-filtered noise."""
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((size, size)), sigma=2.5, mode="wrap")
    img = (img - img.min()) / (img.max() - img.min())
    return (0.1 + 0.8 * img).astype(np.float32)


def fourier_shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Exact band-limited translation: out(x, y) = img(x - dx, y - dy) (periodic)."""
    return np.real(np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(img), (dy, dx)))).astype(
        np.float32
    )


def test_tvl1_recovers_subpixel_translation():
    # tolerance: median end-point error < 0.1 px over the interior (8 px border excluded)
    a = textured()
    b = fourier_shift(a, 0.4, -0.3)
    flow = F.tvl1(a, b)
    assert flow.dtype == np.float32 and flow.shape == (96, 96, 2)
    inner = flow[8:-8, 8:-8]
    err = np.hypot(inner[..., 0] - 0.4, inner[..., 1] + 0.3)
    assert np.median(err) < 0.1, np.median(err)
    # and the sign convention: the content moved +x, -y
    assert np.median(inner[..., 0]) > 0.3 and np.median(inner[..., 1]) < -0.2


def test_tvl1_recovers_small_rotation():
    # analytic field of a rotation by theta about c: u(p) = R p + t - p (OpenCV's affine matrix)
    # tolerance: median end-point error < 0.05 px and 90th percentile < 0.1 px in the interior
    size, theta = 96, 2.0
    a = textured(seed=1)
    c = ((size - 1) / 2, (size - 1) / 2)
    m = cv2.getRotationMatrix2D(c, theta, 1.0)
    b = cv2.warpAffine(a, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    flow = F.tvl1(a, b)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - ys
    s = slice(12, -12)
    err = np.hypot(flow[s, s, 0] - u[s, s], flow[s, s, 1] - v[s, s])
    assert np.abs(u[s, s]).max() > 1.0  # the field really varies (up to ~1.3 px here)
    assert np.median(err) < 0.05 and np.percentile(err, 90) < 0.1, (
        np.median(err),
        np.percentile(err, 90),
    )


def test_tvl1_uint8_and_float_inputs_agree():
    a = textured(64)
    b = fourier_shift(a, 0.5, 0.25)
    f_float = F.tvl1(a, b)
    f_uint8 = F.tvl1(np.round(a * 255).astype(np.uint8), np.round(b * 255).astype(np.uint8))
    assert np.median(np.abs(f_float - f_uint8)) < 0.05


def test_tvl1_rejects_bad_arguments():
    a = textured(32)
    with pytest.raises(TypeError, match="unknown TV-L1"):
        F.tvl1(a, a, lambda_=0.1, lamda=0.2)
    with pytest.raises(ValueError, match="2-D"):
        F.tvl1(a, a[:16])


def test_nan_input_raises_not_zero():
    a = textured(32)
    b = a.copy()
    b[10, 10] = np.nan
    with pytest.raises(F.FlowError, match="NaN"):
        F.tvl1(a, b)
    with pytest.raises(F.FlowError, match="my pair"):
        F.check_finite(np.array([0.0, np.inf]), "my pair")


def test_resize_flow_scales_vectors_by_the_ratio():
    flow = np.zeros((112, 112, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2.0, -1.0
    out = F.resize_flow(flow, 28)
    assert out.shape == (28, 28, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], 0.5, rtol=1e-6)  # 2 px x 28/112
    np.testing.assert_allclose(out[..., 1], -0.25, rtol=1e-6)
    # area interpolation: the mean of a varying field is preserved (then scaled)
    rng = np.random.default_rng(0)
    field = rng.normal(size=(112, 112, 2)).astype(np.float32)
    np.testing.assert_allclose(
        F.resize_flow(field, 28).mean(axis=(0, 1)), field.mean(axis=(0, 1)) / 4, atol=1e-5
    )


def test_normalisations():
    flow = np.zeros((28, 28, 2), np.float32)
    flow[..., 0] = 0.56
    flow[3, 4, 1] = -1.4
    np.testing.assert_allclose(
        F.normalise(flow, "face_percent")[..., 0], 2.0, rtol=1e-6
    )  # 0.56/28*100
    np.testing.assert_array_equal(F.normalise(flow, "pixels"), flow)
    m = F.normalise(flow, "maxabs")
    assert np.isclose(np.abs(m).max(), 1.0) and np.isclose(m[3, 4, 1], -1.0)
    with pytest.raises(ValueError):
        F.FlowConfig(normalisation="minmax")  # type: ignore[arg-type]


@pytest.mark.parametrize("rotate_on", ["frame", "crop"])
def test_pair_flow_units_and_rotation_equivariance(rotate_on):
    # a frame translated by (dx, dy); the crop box is 80 px wide and resized to 64 px
    frame = textured(160, seed=3)
    dx, dy = 0.8, -0.6
    moved = fourier_shift(frame, dx, dy)
    box = (40, 120, 120, 40)  # top, right, bottom, left -> 80 x 80
    cfg = F.FlowConfig(crop_size=64, out_size=16, head_motion="none")  # the raw field's units
    x = F.pair_flow(frame, moved, box, cfg, rotate_on=rotate_on)
    assert x.shape == (2, 16, 16) and x.dtype == np.float32
    inner = x[:, 3:-3, 3:-3].reshape(2, -1)
    # face_percent: 100 x displacement / box width
    np.testing.assert_allclose(np.median(inner, axis=1), [100 * dx / 80, 100 * dy / 80], atol=0.12)
    # rotating both frames by +10 deg rotates the displacement vector by the same matrix
    angle = 10.0
    r = cv2.getRotationMatrix2D((0, 0), angle, 1.0)[:, :2]
    expected = r @ np.array([dx, dy]) * 100 / 80
    xr = F.pair_flow(frame, moved, box, cfg, angle=angle, rotate_on=rotate_on)
    np.testing.assert_allclose(
        np.median(xr[:, 3:-3, 3:-3].reshape(2, -1), axis=1), expected, atol=0.12
    )
    assert not np.allclose(expected, np.median(inner, axis=1), atol=0.12)  # the test can fail
    # the default compensation takes a whole-face translation (a head sway) out
    compensated = F.pair_flow(frame, moved, box, dataclasses.replace(cfg, head_motion="affine"), rotate_on=rotate_on)
    assert np.abs(np.median(compensated[:, 3:-3, 3:-3].reshape(2, -1), axis=1)).max() < 0.05


def test_to_gray_and_box_centre():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 1] = 255
    gray = to_gray(rgb)
    assert gray.shape == (4, 6) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray, 150)  # ITU-R 601 green weight: 0.587 * 255 = 149.7
    unit = to_gray(rgb.astype(np.float32) / 255)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, 0.587, atol=1e-6)
    np.testing.assert_allclose(F.unit_gray(gray), 150 / 255)
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert to_gray(g) is g and np.array_equal(to_gray(g[..., None]), g)
    with pytest.raises(TypeError, match="uint8 or float32"):
        to_gray(rgb.astype(np.float64))
    with pytest.raises(ValueError, match="shape"):
        to_gray(np.zeros((4, 6, 2), np.uint8))
    assert F.box_centre((0, 6, 4, 0)) == (2.5, 1.5)


def test_read_frame_and_to_gray_keep_a_gray_file_exact(tmp_path):
    gray = np.random.default_rng(2).integers(0, 256, (9, 7), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    bgr = np.dstack([gray, gray // 2, 255 - gray])
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    rgb = read_frame(tmp_path / "g.png")
    assert rgb.shape == (9, 7, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(to_gray(rgb), gray)  # replicated channels: luma is exact
    np.testing.assert_array_equal(read_frame(tmp_path / "c.png"), bgr[..., ::-1])  # RGB order
    with pytest.raises(FrameError, match=r"EP01.*nope\.png.*does not exist"):
        read_frame(tmp_path / "nope.png", name="EP01")


def test_pair_flow_takes_to_gray_uint8_as_unit_float():
    rng = np.random.default_rng(5)
    onset = (255 * textured(64, seed=3)).astype(np.uint8)
    apex = np.roll(onset, 1, axis=1)
    cfg = F.FlowConfig(crop_size=32, out_size=8, nscales=2, warps=1, outer_iterations=1)
    box = (8, 56, 56, 8)
    angle = float(rng.uniform(-10, 10))
    ours = F.pair_flow(onset, apex, box, cfg, angle=angle)
    ref = F.pair_flow(onset.astype(np.float32) / 255, apex.astype(np.float32) / 255, box, cfg,
                      angle=angle)  # fmt: skip
    np.testing.assert_array_equal(ours, ref)


def test_compensate_removes_global_motion_and_keeps_local_motion():
    """``"affine"`` removes any field ``a0 + a1 x + a2 y`` exactly (head translation, rotation,
    scale) and keeps a local bump; ``"translation"`` removes the mean only; ``"none"`` nothing."""
    h = w = 16
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    head = np.stack([0.7 + 0.05 * xx - 0.02 * yy, -0.3 + 0.03 * xx + 0.04 * yy], axis=-1)
    bump = np.zeros((h, w, 2), np.float32)
    bump[3:6, 4:7, 1] = -1.0  # an inner brow rising
    out = F.compensate(head + bump, "affine")
    np.testing.assert_allclose(F.compensate(head, "affine"), 0.0, atol=1e-5)
    assert np.abs(out[3:6, 4:7, 1] - bump[3:6, 4:7, 1]).max() < 0.1  # the bump survives
    shift = np.full((h, w, 2), 1.5, np.float32)
    np.testing.assert_allclose(F.compensate(shift + bump, "translation"), bump - bump.mean(axis=(0, 1)), atol=1e-6)
    np.testing.assert_array_equal(F.compensate(head, "none"), head)
    with pytest.raises(ValueError, match="head_motion"):
        F.FlowConfig(head_motion="similarity")  # type: ignore[arg-type]
