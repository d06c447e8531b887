"""Handcrafted descriptors (merkit.features): LBP-TOP, LBP-SIP, 3DHOG, HOOF, volume, SVM."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from skimage.feature import local_binary_pattern
from sklearn.preprocessing import StandardScaler

from merkit.bench.features import bench_descriptors, synthetic_clip
from merkit.features import (
    DESCRIPTORS,
    HOG3DConfig,
    HOOFConfig,
    LBPSIPConfig,
    LBPTOPConfig,
    extract,
    hog3d,
    hoof,
    lbp_sip,
    lbp_top,
)
from merkit.features.hoof import hoof_bins
from merkit.features.lbpsip import lbp_sip_codes
from merkit.features.lbptop import code_to_bin, n_lbp_bins, plane_codes
from merkit.features.svm import SVMConfig, fit_predict_svm, make_svm
from merkit.features.volume import (
    VolumeConfig,
    block_edges,
    block_histograms,
    clip_volume,
    clip_volume_from_frames,
    resample_time,
)


def _random_volume(shape=(7, 18, 22), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _skimage(image: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    return local_binary_pattern(image, P, R, method).astype(np.int64)


# ---------------------------------------------------------------------------------- LBP-TOP


@pytest.mark.parametrize(
    ("P", "R", "method"),
    [(8, 1.0, "nri_uniform"), (8, 2.0, "uniform"), (4, 1.0, "default"), (16, 2.0, "nri_uniform")],
)
def test_plane_codes_agree_with_skimage_on_every_plane(P, R, method):
    v = _random_volume()
    m = int(np.ceil(R))
    T, H, W = v.shape
    xy = plane_codes(v, "xy", P, (R, R, R), method)
    xt = plane_codes(v, "xt", P, (R, R, R), method)
    yt = plane_codes(v, "yt", P, (R, R, R), method)
    for t in range(m, T - m):
        assert np.array_equal(xy[t - m], _skimage(v[t], P, R, method)[m:-m, m:-m])
    for y in range(m, H - m):
        assert np.array_equal(xt[:, y - m, :], _skimage(v[:, y, :], P, R, method)[m:-m, m:-m])
    for x in range(m, W - m):
        assert np.array_equal(yt[:, :, x - m], _skimage(v[:, :, x], P, R, method)[m:-m, m:-m])


def test_lbp_top_xy_histograms_equal_skimage_histograms_per_block():
    v = _random_volume((5, 20, 20), seed=1)
    feat = lbp_top(v, grid=(2, 2), P=(8, 8, 8), R=(1, 1, 1)).reshape(2, 2, 3, 59)
    codes = np.stack([_skimage(v[t], 8, 1, "nri_uniform") for t in range(1, 4)])  # t valid 1..3
    for by, (y0, y1) in enumerate([(1, 10), (10, 19)]):  # blocks of 10 px, border of 1 skipped
        for bx, (x0, x1) in enumerate([(1, 10), (10, 19)]):
            hist = np.bincount(codes[:, y0:y1, x0:x1].ravel(), minlength=59).astype(float)
            np.testing.assert_allclose(feat[by, bx, 0], hist / hist.sum())


@pytest.mark.parametrize("P", [4, 8, 12])
def test_code_to_bin_matches_skimage_on_random_images(P):
    """The raw code -> bin tables reproduce scikit-image's uniform / nri_uniform labels."""
    rng = np.random.default_rng(P)
    images = [rng.integers(0, 256, (40, 40)).astype(np.uint8) for _ in range(4)]
    for method in ("nri_uniform", "uniform"):
        lut = code_to_bin(P, method)
        assert lut.max() == n_lbp_bins(P, method) - 1
        for img in images:
            raw = _skimage(img, P, 1.0, "default")
            assert np.array_equal(lut[raw], _skimage(img, P, 1.0, method))


def test_constant_volume_gives_one_code_per_block_and_plane():
    v = np.full((6, 16, 16), 93, dtype=np.uint8)
    feat = lbp_top(v, grid=(3, 3)).reshape(3, 3, 3, 59)
    assert np.all(feat.max(axis=-1) == 1.0)
    assert np.all(feat.argmax(axis=-1) == 57)  # all neighbours >= centre: the all-ones code
    sip = lbp_sip(v, grid=(3, 3)).reshape(3, 3, 20)
    assert np.all(sip[..., 15] == 1.0) and np.all(sip[..., 19] == 1.0)
    assert sip.sum() == 2 * 9


def test_lbp_top_histogram_is_translation_invariant_on_a_periodic_texture():
    rng = np.random.default_rng(2)
    tile = rng.integers(0, 256, (8, 8)).astype(np.uint8)
    plane = np.tile(tile, (8, 8))  # 64 x 64, period 8
    size = 8 * 4 + 2  # interior (border 1 skipped) = 4 whole periods

    def window(dy, dx):
        frame = plane[dy : dy + size, dx : dx + size]
        return np.stack([frame] * 3)

    ref = lbp_top(window(0, 0), grid=(1, 1))
    for dy, dx in [(1, 0), (0, 3), (5, 7), (13, 2)]:
        np.testing.assert_allclose(lbp_top(window(dy, dx), grid=(1, 1)), ref)
    # not a triviality: a different texture gives a different histogram
    other = np.stack(
        [np.tile(rng.integers(0, 256, (8, 8)).astype(np.uint8), (5, 5))[:size, :size]] * 3
    )
    assert not np.allclose(lbp_top(other, grid=(1, 1)), ref)


def test_rotation_invariant_lbp_codes_rotate_with_the_image():
    frame = _random_volume((1, 24, 24), seed=3)[0]
    vol = np.stack([frame] * 3)
    rot = np.stack([np.rot90(frame)] * 3)
    codes = plane_codes(vol, "xy", 8, (1, 1, 1), "uniform")[0]
    codes_rot = plane_codes(rot, "xy", 8, (1, 1, 1), "uniform")[0]
    assert np.array_equal(codes_rot, np.rot90(codes))
    # the non-rotation-invariant u2 codes do change under rotation
    u2 = plane_codes(vol, "xy", 8, (1, 1, 1), "nri_uniform")[0]
    u2_rot = plane_codes(rot, "xy", 8, (1, 1, 1), "nri_uniform")[0]
    assert not np.array_equal(u2_rot, np.rot90(u2))


def test_elliptical_temporal_radius_samples_frames_r_t_apart():
    """R_T = 2, P_XT = 4: the XT neighbours at t +- 2 are used, the ones at t +- 1 are not."""
    v = _random_volume((9, 8, 8), seed=4).astype(np.float64)
    codes = plane_codes(v, "xt", 4, (1, 1, 2), "default")
    c = v[2:7, 1:7, 1:7]
    expect = (
        (v[2:7, 1:7, 2:8] >= c).astype(int)  # p=0: x + 1
        | (v[0:5, 1:7, 1:7] >= c).astype(int) << 1  # p=1: t - 2
        | (v[2:7, 1:7, 0:6] >= c).astype(int) << 2  # p=2: x - 1
        | (v[4:9, 1:7, 1:7] >= c).astype(int) << 3  # p=3: t + 2
    )
    assert np.array_equal(codes, expect)


# ---------------------------------------------------------------------------------- LBP-SIP


def test_lbp_sip_spatial_code_is_skimage_4_neighbour_lbp_and_temporal_code_by_hand():
    v = _random_volume((5, 12, 14), seed=5)
    spatial, temporal = lbp_sip_codes(v)
    for t in range(1, 4):
        assert np.array_equal(spatial[t - 1], _skimage(v[t], 4, 1.0, "default")[1:-1, 1:-1])
    c = v[1:4, 1:-1, 1:-1].astype(int)
    expect = (v[0:3, 1:-1, 1:-1] >= c).astype(int) | (v[2:5, 1:-1, 1:-1] >= c).astype(int) << 1
    assert np.array_equal(temporal, expect)


def test_lbp_sip_of_a_brightening_volume_has_one_temporal_code():
    ramp = np.arange(6, dtype=np.float64)[:, None, None] * 10 + _random_volume((1, 10, 10))[0]
    feat = lbp_sip(ramp, grid=(2, 2)).reshape(2, 2, 20)
    # previous frame darker (bit 0 = 0), next brighter (bit 1 = 1) -> temporal code 2
    np.testing.assert_array_equal(feat[..., 16 + 2], 1.0)


# ---------------------------------------------------------------------------------- 3DHOG


def test_hog3d_of_a_volume_varying_only_in_time_has_only_temporal_bins():
    t = np.sin(np.linspace(0, 3, 8))[:, None, None] * 50 + 100
    v = np.broadcast_to(t, (8, 12, 12))
    feat = hog3d(v, grid=(2, 2), t_blocks=2, bins=8, norm="none").reshape(2, 2, 2, 3, 8)
    assert np.all(feat[..., 0, :] == 0)  # XY plane: no spatial gradient
    temporal_bins = [2, 6]  # angles +pi/2 and -pi/2 of (g_x or g_y, g_t) = (0, g_t)
    other = [b for b in range(8) if b not in temporal_bins]
    assert np.all(feat[..., 1:, other] == 0)
    assert feat[..., 1:, temporal_bins].sum() > 0
    sph = hog3d(
        v, grid=(2, 2), t_blocks=2, orientation="spherical", elevation_bins=4, norm="none"
    ).reshape(2, 2, 2, 8, 4)
    assert np.all(sph[..., 1:3] == 0) and sph[..., [0, 3]].sum() > 0  # only elevation +-pi/2


def test_hog3d_of_a_horizontal_ramp_votes_angle_zero():
    v = np.broadcast_to(np.arange(16, dtype=float) * 3, (4, 16, 16))
    feat = hog3d(v, grid=(1, 1), t_blocks=1, bins=8, norm="l1").reshape(3, 8)
    # l1 is per cuboid over the three planes: XY and XT get equal halves
    np.testing.assert_allclose(feat[0], np.eye(8)[0] / 2)  # XY: (g_x, g_y) = (3, 0)
    np.testing.assert_allclose(feat[1], np.eye(8)[0] / 2)  # XT: (g_x, g_t) = (3, 0)
    assert np.all(feat[2] == 0)  # YT: (g_y, g_t) = (0, 0)
    l2 = hog3d(v, grid=(1, 1), t_blocks=1)
    assert np.linalg.norm(l2) == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------------------------- HOOF


@pytest.mark.parametrize("symmetric", [True, False])
def test_hoof_of_pure_horizontal_flow_is_one_bin(symmetric):
    flow = np.zeros((10, 10, 2))
    flow[..., 0] = np.random.default_rng(6).uniform(0.1, 2.0, (10, 10))
    right = hoof(flow, grid=(2, 2), bins=8, symmetric=symmetric).reshape(4, 8)
    left = hoof(-flow, grid=(2, 2), bins=8, symmetric=symmetric).reshape(4, 8)
    for hist in (right, left):
        assert np.all(hist.max(axis=1) == 1.0)
    if symmetric:  # mirror motions share the bin just above the horizontal edge
        assert np.all(right.argmax(axis=1) == 4) and np.all(left.argmax(axis=1) == 4)
    else:  # full-circle bins from -pi/2: right = bin 2, left = bin 6
        assert np.all(right.argmax(axis=1) == 2) and np.all(left.argmax(axis=1) == 6)


def test_hoof_rotating_the_flow_by_90_degrees_shifts_the_histogram_by_a_quarter():
    rng = np.random.default_rng(7)
    flow = rng.normal(size=(12, 12, 2))
    rotated = np.stack([-flow[..., 1], flow[..., 0]], axis=-1)  # (u, v) -> (-v, u): +90 deg
    for bins in (8, 12):
        h = hoof(flow, grid=(1, 1), bins=bins, symmetric=False)
        h_rot = hoof(rotated, grid=(1, 1), bins=bins, symmetric=False)
        np.testing.assert_allclose(h_rot, np.roll(h, bins // 4))
    # symmetric HOOF: left/right mirror images have the same histogram
    mirrored = np.stack([-flow[:, ::-1, 0], flow[:, ::-1, 1]], axis=-1)
    np.testing.assert_allclose(hoof(mirrored, grid=(1, 1)), hoof(flow, grid=(1, 1)))


def test_hoof_is_magnitude_weighted_and_pools_a_sequence():
    flow = np.zeros((2, 4, 4, 2))
    flow[0, 0, 0] = (1.0, 0.0)  # right, |1|: bin 2 (full circle)
    flow[1, 3, 3] = (0.0, 3.0)  # down (+v), |3|: angle pi/2 -> bin 4
    h = hoof(flow, grid=(1, 1), bins=8, symmetric=False)
    np.testing.assert_allclose(h, [0, 0, 0.25, 0, 0.75, 0, 0, 0])
    assert hoof_bins(np.array([0.0]), np.array([-1.0]), 8, True)[0] == 0  # up: first bin
    assert np.all(hoof(np.zeros((4, 4, 2)), grid=(2, 2)) == 0)  # no motion: zeros, not NaN


# ---------------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    ("config", "length"),
    [
        (LBPTOPConfig(), 5 * 5 * 3 * 59),
        (LBPTOPConfig(grid=(2, 3), P=(8, 4, 4), t_blocks=2), 2 * 2 * 3 * (59 + 15 + 15)),
        (LBPTOPConfig(grid=(4, 4), method="uniform"), 4 * 4 * 3 * 10),
        (LBPTOPConfig(grid=(2, 2), P=(4, 4, 4), R=(1, 1, 2), method="default"), 4 * 3 * 16),
        (LBPSIPConfig(), 5 * 5 * 20),
        (LBPSIPConfig(grid=(3, 2), t_blocks=2), 2 * 3 * 2 * 20),
        (HOG3DConfig(), 2 * 4 * 4 * 3 * 8),
        (HOG3DConfig(orientation="spherical", bins=6, elevation_bins=3), 2 * 16 * 18),
        (HOOFConfig(), 5 * 5 * 8),
        (HOOFConfig(grid=(3, 3), bins=12, t_blocks=2), 2 * 9 * 12),
    ],
)
def test_feature_lengths_match_the_documented_formula(config, length):
    assert config.n_features == length
    x = (
        np.random.default_rng(8).normal(size=(6, 20, 20, 2))
        if isinstance(config, HOOFConfig)
        else synthetic_clip(10, 24)
    )
    out = extract(config, x)
    assert out.shape == (length,) and np.isfinite(out).all()


def test_too_small_volume_or_grid_gives_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        lbp_top(np.zeros((5, 8, 8)), grid=(1, 1), P=(4, 4, 4), R=(1, 1, 4))
    with pytest.raises(ValueError, match="block grid"):
        hoof(np.zeros((4, 4, 2)), grid=(5, 5))
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        lbp_sip(np.zeros((8, 8)))


# ---------------------------------------------------------------------------------- volume


def test_resample_time_linear_and_tim():
    ramp = np.broadcast_to(np.arange(5, dtype=float)[:, None, None] * 4.0, (5, 3, 3))
    out = resample_time(ramp, 9, "linear")  # positions 0, 0.5, ..., 4
    np.testing.assert_allclose(out[:, 0, 0], np.arange(9) * 2.0)
    rng = np.random.default_rng(9)
    clip = rng.uniform(0, 255, (5, 4, 4))
    tim = resample_time(clip, 9, "tim")
    np.testing.assert_allclose(tim[::2], clip, atol=1e-3)  # TIM passes through every frame
    # a single DCT-II basis function (k = 2) is reproduced exactly at fractional positions
    n, k = 6, 2
    curve = np.cos(np.pi * k * (np.arange(n) + 0.5) / n)
    pos = np.linspace(0, n - 1, 11)
    got = resample_time(np.broadcast_to(curve[:, None, None], (n, 2, 2)), 11, "tim")[:, 0, 0]
    np.testing.assert_allclose(got, np.cos(np.pi * k * (pos + 0.5) / n), atol=1e-5)
    np.testing.assert_array_equal(resample_time(clip, 5, "tim"), clip.astype(np.float32))


def test_block_histograms_match_a_loop_over_blocks():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 5, (4, 11, 13))
    weights = rng.uniform(size=labels.shape)
    got = block_histograms(labels, 5, (6, 13, 15), (3, 2), 2, origin=(1, 1, 1), weights=weights)
    te, ye, xe = block_edges(6, 2), block_edges(13, 3), block_edges(15, 2)
    assert list(ye) == [0, 4, 9, 13] and list(xe) == [0, 8, 15]
    full_l = np.full((6, 13, 15), -1)
    full_w = np.zeros((6, 13, 15))
    full_l[1:5, 1:12, 1:14], full_w[1:5, 1:12, 1:14] = labels, weights
    for bt in range(2):
        for by in range(3):
            for bx in range(2):
                sl = (
                    slice(te[bt], te[bt + 1]),
                    slice(ye[by], ye[by + 1]),
                    slice(xe[bx], xe[bx + 1]),
                )
                lab, w = full_l[sl].ravel(), full_w[sl].ravel()
                expect = [w[lab == b].sum() for b in range(5)]
                np.testing.assert_allclose(got[bt, by, bx], expect)


def test_clip_volume_from_frames_crops_resizes_and_names_missing_files(tmp_path):
    paths = []
    for i in range(4):
        img = np.full((40, 50, 3), 20 * i, dtype=np.uint8)
        img[10:30, 20:40] = 200
        p = tmp_path / f"img{i}.png"
        cv2.imwrite(str(p), img)
        paths.append(p)
    vol = clip_volume_from_frames(paths, VolumeConfig(length=7, size=16), box=(10, 40, 30, 20))
    assert vol.shape == (7, 16, 16) and vol.dtype == np.float32
    np.testing.assert_allclose(vol, 200.0, atol=0.5)  # the box holds only the bright patch
    whole = clip_volume_from_frames(paths, VolumeConfig(length=4, size=20))
    assert whole[0, 0, 0] == pytest.approx(0.0) and whole[3, 0, 0] == pytest.approx(60.0)
    with pytest.raises(FileNotFoundError, match=r"EP01.*nope\.png"):
        clip_volume_from_frames([*paths, tmp_path / "nope.png"], clip="EP01")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"EP01.*bad\.png.*decoded"):
        clip_volume_from_frames([*paths, tmp_path / "bad.png"], clip="EP01")
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((20, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="one size"):
        clip_volume_from_frames([*paths, small], clip="EP01")
    with pytest.raises(ValueError, match="no frames"):
        clip_volume_from_frames([], clip="EP01")


def test_clip_volume_from_frames_is_the_flows_decode_path_with_a_transform(tmp_path):
    """RGB read + to_gray (the flows' gray), the transform sees RGB frames and their index."""
    rng = np.random.default_rng(4)
    paths, rgbs = [], []
    for i in range(3):
        rgb = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
        p = tmp_path / f"img{i}.png"
        cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        paths.append(p)
        rgbs.append(rgb)
    cfg, box = VolumeConfig(length=3, size=8), (2, 28, 22, 4)
    plain = clip_volume_from_frames(paths, cfg, box)
    grays = [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in rgbs]
    np.testing.assert_array_equal(plain, clip_volume(grays, cfg, box))
    np.testing.assert_array_equal(plain, clip_volume(rgbs, cfg, box))  # RGB frames in memory
    seen = []

    def occluder(rgb: np.ndarray, index: int) -> np.ndarray:
        seen.append((index, rgb.shape, rgb.dtype))
        out = rgb.copy()
        out[:, :, 0] = 255  # a red veil: changes the gray only through the R weight
        return out

    veiled = clip_volume_from_frames(paths, cfg, box, transform=occluder)
    assert seen == [(i, (24, 30, 3), np.uint8) for i in range(3)]
    expected = [cv2.cvtColor(occluder(rgb, 0), cv2.COLOR_RGB2GRAY) for rgb in rgbs]
    np.testing.assert_array_equal(veiled, clip_volume(expected, cfg, box))
    with pytest.raises(ValueError, match="transform"):
        clip_volume_from_frames(paths, cfg, box, transform=lambda rgb, i: rgb[..., 0])


# ---------------------------------------------------------------------------------- SVM


def _toy(n_subjects=6, per=12, d=20, seed=0, shift=3.0):
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(3), n_subjects * per // 3)
    groups = np.repeat([f"s{i}" for i in range(n_subjects)], per)
    X = rng.normal(size=(len(y), d))
    X[np.arange(len(y)), y] += shift  # class k lifts feature k
    return X, y, groups


def test_svm_beats_chance_on_a_separable_toy_problem():
    X, y, g = _toy()
    Xt, yt, _ = _toy(n_subjects=2, seed=1)
    pred, C = fit_predict_svm(X, y, g, Xt, Cs=(0.01, 0.1, 1.0))
    assert (pred == yt).mean() > 0.9
    assert C in (0.01, 0.1, 1.0)
    pred2, _ = fit_predict_svm(
        X, y, g, Xt, config=SVMConfig(implementation="liblinear", class_weight="balanced")
    )
    assert (pred2 == yt).mean() > 0.9


def test_svm_c_selection_sees_only_training_rows_and_never_splits_a_subject(monkeypatch):
    X, y, g = _toy(n_subjects=5, shift=1.0)
    Xt, _, _ = _toy(n_subjects=2, seed=3, shift=1.0)
    row_of = {X[i].tobytes(): i for i in range(len(X))}
    fits: list[np.ndarray] = []
    original_fit = StandardScaler.fit

    def recording_fit(self, X_fit, y_fit=None, **kw):  # every model's statistics start here
        rows = [row_of.get(np.asarray(r).tobytes(), -1) for r in X_fit]
        fits.append(np.array(rows))
        return original_fit(self, X_fit, y_fit, **kw)

    monkeypatch.setattr(StandardScaler, "fit", recording_fit)
    cs = (0.001, 0.1, 10.0)
    _, C1 = fit_predict_svm(X, y, g, Xt, Cs=cs)
    assert all((rows >= 0).all() for rows in fits)  # every fit used training rows only
    assert len(fits) == 5 + 1 and len(fits[-1]) == len(X)  # 5 inner folds + the final fit
    for rows in fits[:-1]:
        inside = set(g[rows])
        outside = set(g[np.setdiff1d(np.arange(len(X)), rows)])
        assert inside and outside and not inside & outside
    # the chosen C does not depend on the test rows
    _, C2 = fit_predict_svm(X, y, g, Xt[::-1] * 100.0 + 7.0, Cs=cs)
    assert C1 == C2


@pytest.mark.parametrize("implementation", ["libsvm", "liblinear"])
def test_svm_predictions_equal_the_scikit_learn_pipeline(implementation):
    X, y, g = _toy(shift=0.7, seed=4)
    Xt, _, _ = _toy(n_subjects=2, seed=5, shift=0.7)
    cfg = SVMConfig(implementation=implementation)
    for C in (0.01, 1.0):
        pred, chosen = fit_predict_svm(X, y, g, Xt, Cs=(C,), config=cfg)
        assert chosen == C
        np.testing.assert_array_equal(pred, make_svm(C, cfg).fit(X, y).predict(Xt))


def test_svm_with_one_training_subject_warns_and_uses_default_c():
    X, y, g = _toy(n_subjects=1, per=9)
    with pytest.warns(UserWarning, match="1 training subject"):
        _, C = fit_predict_svm(X, y, g, X[:3], config=SVMConfig(default_C=0.5))
    assert C == 0.5
    with pytest.warns(UserWarning, match="single class"):
        pred, _ = fit_predict_svm(X, np.zeros(len(y), int), g, X[:2])
    assert list(pred) == [0, 0]


# ---------------------------------------------------------------------------------- bench


def test_bench_descriptors_times_every_descriptor():
    lines: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = bench_descriptors(VolumeConfig(length=6, size=16), repeats=1, print_fn=lines.append)
    assert set(res) == {"resample", *DESCRIPTORS} and all(s > 0 for s in res.values())
    assert len(lines) == 1 + len(res)
