"""Tests for merkit.report.occlusion (notebook 08: occluder galleries and coverage)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from merkit.preprocess import occlusion as oc  # noqa: E402
from merkit.report import occlusion as rep  # noqa: E402

SOME = ("unocc", "mask", "glass", "block-0.05", "block-0.25", "block-0.50")


@pytest.fixture(scope="module")
def faces() -> list[rep.FaceSample]:
    out = []
    for i, (size, roll) in enumerate(((96, 0.0), (120, 17.0), (110, -25.0))):
        frame, lm = oc.template_face(size, roll_deg=roll, seed=i)
        out.append(rep.FaceSample(f"toy/s{i}/clip{i}", frame, lm))
    return out


@pytest.fixture(scope="module")
def measurements(faces: list[rep.FaceSample]) -> pd.DataFrame:
    return rep.measure_coverage(faces, (0, 3), SOME)


def test_coverage_config_per_profile() -> None:
    from merkit.config import get_profile
    from merkit.preprocess.occlusion import CoverageConfig

    assert get_profile("quick").coverage.n_clips == 40
    assert get_profile("smoke").coverage.n_clips is None
    with pytest.raises(ValueError):
        CoverageConfig(n_clips=0)
    with pytest.raises(ValueError):
        CoverageConfig(seeds=())


def test_pick_clips() -> None:
    clips = pd.DataFrame({"clip": [f"c{i}" for i in range(10)]}, index=range(100, 110))
    assert rep.pick_clips(clips, None) is clips
    assert rep.pick_clips(clips, 25) is clips
    picked = rep.pick_clips(clips, 4)
    assert len(picked) == 4
    assert picked["clip"].iloc[0] == "c0" and picked["clip"].iloc[-1] == "c9"
    assert picked.index.is_monotonic_increasing and picked.index.is_unique
    assert list(rep.pick_clips(clips, 1)["clip"]) == ["c0"]
    with pytest.raises(ValueError):
        rep.pick_clips(clips, 0)


def test_landmarks_hidden_by_hand() -> None:
    covered = np.zeros((10, 12), bool)
    covered[2:5, 3:7] = True  # rows 2-4, columns 3-6
    lm = np.full((68, 2), 9.0)  # (9, 9): visible
    lm[0] = (3.0, 2.0)  # corner pixel: hidden
    lm[1] = (6.4, 4.4)  # rounds to (6, 4): hidden
    lm[2] = (6.5, 4.0)  # rounds half up to column 7: visible
    lm[3] = (2.6, 1.5)  # rounds to (3, 2): hidden
    lm[4] = (-4.0, 3.0)  # outside the frame: not hidden
    lm[5] = (5.0, 40.0)  # outside the frame: not hidden
    hidden = rep.landmarks_hidden(covered, lm)
    assert hidden.shape == (68,)
    assert list(np.flatnonzero(hidden)) == [0, 1, 3]


def test_blocks_cover_the_requested_share(
    faces: list[rep.FaceSample], measurements: pd.DataFrame
) -> None:
    assert len(measurements) == len(faces) * 2 * len(SOME)
    blocks = measurements[measurements["condition"].str.startswith("block-")]
    err = (blocks["measured"] - blocks["requested"]).abs()
    assert (err <= blocks["bound"] + 1e-12).all()
    unocc = measurements[measurements["condition"] == "unocc"]
    assert (unocc["measured"] == 0).all() and (unocc["requested"] == 0).all()
    # cross-check one sample against a hand count of the box pixels (centres inside the box)
    face = faces[1]
    spec = oc.OcclusionSpec.from_condition("block-0.25", seed=3)
    _, covs = spec.apply_clip([face.frame], [face.landmarks], face.name, return_covered=True)
    pts = face.landmarks[:27]
    rows = np.arange(face.frame.shape[0])
    cols = np.arange(face.frame.shape[1])
    in_r = (rows >= pts[:, 1].min()) & (rows <= pts[:, 1].max())
    in_c = (cols >= pts[:, 0].min()) & (cols <= pts[:, 0].max())
    by_hand = covs[0][np.ix_(in_r, in_c)].mean()
    row = measurements[(measurements["face"] == face.name) & (measurements["seed"] == 3)
                       & (measurements["condition"] == "block-0.25")]  # fmt: skip
    assert float(row["measured"].iloc[0]) == pytest.approx(by_hand, abs=1e-12)
    assert int(row["box_height"].iloc[0]) == int(in_r.sum())


def test_coverage_table(measurements: pd.DataFrame) -> None:
    table = rep.coverage_table(measurements)
    assert list(table["condition"]) == list(SOME)  # CONDITIONS order
    assert list(table["label"]) == [oc.CONDITION_LABELS[c] for c in SOME]
    assert (table["n"] == len(measurements) // len(SOME)).all()
    for _, row in table.iterrows():
        values = measurements.loc[measurements["condition"] == row["condition"], "measured"]
        assert row["measured_mean"] == pytest.approx(np.mean(values))
        assert row["measured_std"] == pytest.approx(np.std(values))
        assert row["measured_min"] <= row["measured_mean"] <= row["measured_max"]
    blocks = table[table["condition"].str.startswith("block-")]
    assert (blocks["within_rounding"] == 1.0).all()
    assert (blocks["max_abs_error"] <= blocks["rounding_bound"] + 1e-12).all()
    patches = table[table["condition"].isin(["mask", "glass"])]
    assert patches["requested"].isna().all() and patches["within_rounding"].isna().all()
    mask = float(table.loc[table["condition"] == "mask", "measured_mean"].iloc[0])
    glass = float(table.loc[table["condition"] == "glass", "measured_mean"].iloc[0])
    assert mask > glass > 0  # the mask hides the lower half, the glasses a band


def test_covered_by_region(faces: list[rep.FaceSample], measurements: pd.DataFrame) -> None:
    regions = rep.covered_by_region(measurements)
    assert len(regions) == len(SOME) * len(rep.REGIONS)
    assert regions["hidden_fraction"].between(0, 1).all()
    frac = regions.set_index(["condition", "region"])["hidden_fraction"]
    assert frac["mask", "mouth"] == 1.0 and frac["mask", "eyes"] == 0.0
    assert frac["glass", "eyes"] == 1.0 and frac["glass", "mouth"] == 0.0
    assert (regions.loc[regions["condition"] == "unocc", "hidden_fraction"] == 0).all()
    # one block by hand: mean over faces and seeds of the hidden share of the nose landmarks
    shares = []
    for face in faces:
        for seed in (0, 3):
            spec = oc.OcclusionSpec.from_condition("block-0.25", seed=seed)
            _, covs = spec.apply_clip(
                [face.frame], [face.landmarks], face.name, return_covered=True
            )
            xy = np.floor(face.landmarks[27:36] + 0.5).astype(int)
            shares.append(covs[0][xy[:, 1], xy[:, 0]].mean())
    assert frac["block-0.25", "nose"] == pytest.approx(np.mean(shares))


def test_simulated_head_motion_moves_frame_and_landmarks_together() -> None:
    _, lm = oc.template_face(160)
    frame = np.zeros((160, 160, 3), np.uint8)
    nose = np.floor(lm[30] + 0.5).astype(int)
    cv2.circle(frame, (int(nose[0]), int(nose[1])), 2, (255, 255, 255), -1)
    moves = ((0.1, -0.05, 0.0, 1.0), (0.0, 0.0, 20.0, 1.0), (0.05, 0.0, -10.0, 0.8))
    frames, marks, titles = rep.simulated_head_motion(frame, lm, moves)
    assert len(frames) == len(marks) == len(titles) == 3
    width = float(np.ptp(lm[:27, 0]))
    for (dx, _, roll, scale), moved, lm2 in zip(moves, frames, marks, strict=True):
        assert moved.shape == frame.shape and moved.dtype == np.uint8
        assert math.degrees(oc.head_roll(lm2) - oc.head_roll(lm)) == pytest.approx(roll, abs=1e-6)
        eye_span = np.linalg.norm(lm2[45] - lm2[36]) / np.linalg.norm(lm[45] - lm[36])
        assert eye_span == pytest.approx(scale)
        if roll == 0:
            assert np.ptp(lm2[:27, 0]) == pytest.approx(scale * width)
            assert lm2[30, 0] - lm[30, 0] == pytest.approx(dx * width)
        # the bright dot drawn at the nose tip moved to the moved nose tip
        gray = moved[..., 0].astype(float)
        ys, xs = np.nonzero(gray > 100)
        centre = np.array(
            [np.average(xs, weights=gray[ys, xs]), np.average(ys, weights=gray[ys, xs])]
        )
        assert np.linalg.norm(centre - (lm2[30] + (nose - lm[30]))) < 1.0


def test_onset_faces_reads_frames_and_cached_landmarks(tmp_path) -> None:
    rows, names, cached = [], [], []
    for i in range(2):
        frame, lm = oc.template_face(80, seed=i)
        onset = 10 + i
        paths = []
        for number in (onset, onset + 1):
            path = tmp_path / f"c{i}_{number}.png"
            cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            paths.append(path)
        rows.append({"clip": f"c{i}", "onset": onset, "frames": tuple(paths)})
        names.append(f"toy/s/c{i}")
        cached.append(SimpleNamespace(landmarks={onset: lm + i}, fallback="" if i else "neighbour"))
    clips = pd.DataFrame(rows)
    flows = SimpleNamespace(names=tuple(names), faces=tuple(cached))
    samples = rep.onset_faces(clips, flows)
    assert [s.name for s in samples] == names
    assert [s.fallback for s in samples] == ["neighbour", ""]
    for i, sample in enumerate(samples):
        frame, lm = oc.template_face(80, seed=i)
        np.testing.assert_array_equal(sample.frame, frame)  # PNG is lossless, RGB order kept
        np.testing.assert_array_equal(sample.landmarks, lm + i)
    with pytest.raises(ValueError, match="same DataFrame"):
        rep.onset_faces(clips.iloc[:1], flows)
    broken = SimpleNamespace(names=flows.names,
                             faces=(SimpleNamespace(landmarks={}, fallback=""), cached[1]))  # fmt: skip
    with pytest.raises(KeyError, match="toy/s/c0"):
        rep.onset_faces(clips, broken)


def test_face_to_show_hides_licensed_faces(faces: list[rep.FaceSample]) -> None:
    rng = np.random.default_rng(0)
    licensed = rep.FaceSample("casme2/sub01/EP02_01f", rng.integers(0, 256, (96, 96, 3), np.uint8),
                              faces[0].landmarks)  # fmt: skip
    assert rep.face_to_show(licensed, True) is licensed
    hidden = rep.face_to_show(licensed, False, size=96)
    assert hidden.name == "template"
    frame, lm = oc.template_face(96)
    np.testing.assert_array_equal(hidden.frame, frame)
    np.testing.assert_array_equal(hidden.landmarks, lm)


def test_figures(faces: list[rep.FaceSample], measurements: pd.DataFrame) -> None:
    face = faces[0]
    fig = rep.gallery_figure(face.frame, face.landmarks, clip=face.name)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split("\n")[0] for t in titles] == [oc.CONDITION_LABELS[c] for c in oc.CONDITIONS]
    plt.close(fig)
    fig = rep.design_figure(face.frame, face.landmarks, "glass")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [f"{i}: {n}" for i, n in enumerate(oc.design_names("glass"))]
    plt.close(fig)
    frames, marks, titles = rep.simulated_head_motion(face.frame, face.landmarks)
    fig = rep.tracking_figure(frames, marks, titles, conditions=("mask", "block-0.20"))
    assert len(fig.axes) == 2 * len(frames)
    plt.close(fig)
    with pytest.raises(ValueError, match="as many"):
        rep.tracking_figure(frames, marks[:-1], titles)
    fig = rep.coverage_figure(rep.coverage_table(measurements))
    plt.close(fig)
    fig = rep.region_figure(rep.covered_by_region(measurements))
    plt.close(fig)
    with pytest.raises(ValueError, match="block"):
        only_patches = rep.coverage_table(measurements[measurements["condition"] == "mask"])
        rep.coverage_figure(only_patches)
