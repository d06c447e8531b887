"""Clip-level pipeline: layout, known motion, cache hits, resume, corruption, bad input, occlusion."""

from __future__ import annotations

import dataclasses
import warnings

import cv2
import numpy as np
import pytest

from merkit.bench.common import make_demo_clips
from merkit.preprocess import cache
from merkit.preprocess import flow as flow_mod
from merkit.preprocess import pipeline as P
from merkit.preprocess.augment import AugmentConfig
from merkit.preprocess.flow import FlowConfig

SIZE = 160
CFG = P.PreprocessConfig(
    flow=FlowConfig(crop_size=40, out_size=12, **P.QUICK_TVL1),  # type: ignore[arg-type]
    augment=AugmentConfig(before_fractions=(0.8,), after_fractions=(0.2,), angles=(-5.0, 0.0, 5.0)),
    n_jobs=1,
)


@pytest.fixture
def clips(tmp_path):
    """4 fresh demo clips of 9 frames of SIZE x SIZE (tests may damage them) in the loaders' schema."""
    return make_demo_clips(tmp_path / "clips", n_clips=4, n_frames=9, size=SIZE)


@pytest.fixture
def counter(monkeypatch):
    """Counts clip computations (as opposed to cache loads)."""
    calls: list[str] = []
    real = P.compute_clip

    def counting(plan, *args, **kwargs):
        calls.append(plan.item.name)
        return real(plan, *args, **kwargs)

    monkeypatch.setattr(P, "compute_clip", counting)
    return calls


def build(df, root, cfg=CFG, **kw):
    kw.setdefault("train_mask", True)
    return P.build_flowset(df, cfg, progress=False, cache_root=root, n_jobs=1, **kw)


def test_flowset_layout(clips, tmp_path):
    fs = build(clips.iloc[:3], tmp_path / "c", train_mask=[True, False, True])
    per_clip = np.bincount(fs.clip)
    assert per_clip.tolist() == [9, 1, 9] and len(fs) == 19
    assert fs.x.shape == (19, 2, 12, 12) and fs.x.dtype == np.float32 and np.all(np.isfinite(fs.x))
    # exactly one original per clip: the annotated apex at 0 degrees
    orig = fs.subset([0, 1, 2], original_only=True)
    assert orig.clip.tolist() == [0, 1, 2]
    assert orig.apex_frame.tolist() == clips["apex"].iloc[:3].tolist()
    assert np.all(orig.angle == 0)
    assert set(fs.angle[fs.clip == 0].tolist()) == {-5.0, 0.0, 5.0}
    assert fs.fallbacks == {} and fs.fallback_table().empty
    assert fs.names[0] == "demo/s01/EP00_demo"
    assert fs.stats["computed"] == 3 and fs.stats["samples"] == 19
    # clip_flows gives the same samples for one row
    one = P.clip_flows(clips.iloc[1], CFG, augment=False, cache_root=tmp_path / "c")
    assert one.from_cache and np.array_equal(one.x, fs.x[fs.clip == 1])


def test_original_flow_measures_the_known_shift(clips, tmp_path):
    # demo clip 0 moves by (+1.2, -0.9) px from onset to apex: in face_percent units that is
    # 100 x shift / crop-box width; tolerance 0.2 percentage points on the interior median.
    # A whole-frame shift is what head-motion compensation removes: measure the raw field
    cfg = dataclasses.replace(CFG, flow=dataclasses.replace(CFG.flow, crop_size=64, head_motion="none"))
    cf = P.clip_flows(clips.iloc[0], cfg, augment=False, cache_root=tmp_path / "c")
    top, right, bottom, left = cf.face.box
    width = right - left
    med = np.median(cf.x[0][:, 2:-2, 2:-2].reshape(2, -1), axis=1)
    np.testing.assert_allclose(med, [100 * 1.2 / width, -100 * 0.9 / width], atol=0.2)


def test_second_run_is_a_cache_hit_with_the_writers_key(clips, tmp_path, counter):
    first = build(clips, tmp_path / "c")
    assert len(counter) == 4
    second = build(clips, tmp_path / "c")
    assert len(counter) == 4 and second.stats["cached"] == 4
    assert np.array_equal(first.x, second.x) and np.array_equal(first.angle, second.angle)
    # the reader's key, computed independently, names the file the writer wrote
    plan = P.plan_clip(P.clip_input(clips.iloc[2], 2), CFG, augment=True)
    assert plan.flow_path(tmp_path / "c").is_file() and plan.face_path(tmp_path / "c").is_file()


def test_killed_run_resumes(clips, tmp_path, monkeypatch):
    calls: list[str] = []
    real = P.compute_clip

    def dies_on_third(plan, *args, **kwargs):
        calls.append(plan.item.name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the third clip
        return real(plan, *args, **kwargs)

    monkeypatch.setattr(P, "compute_clip", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        build(clips, tmp_path / "c")
    assert len(calls) == 3
    monkeypatch.setattr(P, "compute_clip", real)
    counted: list[str] = []
    monkeypatch.setattr(
        P,
        "compute_clip",
        lambda plan, *a, **k: counted.append(plan.item.name) or real(plan, *a, **k),
    )
    fs = build(clips, tmp_path / "c")
    assert counted == [calls[2], P.clip_input(clips.iloc[3]).name]  # only the unfinished clips
    assert fs.stats["computed"] == 2 and fs.stats["cached"] == 2
    # a half-done data set (first two rows) then the whole one: same thing
    fresh = build(clips.iloc[:2], tmp_path / "d")
    assert fresh.stats["computed"] == 2
    assert build(clips, tmp_path / "d").stats["computed"] == 2


def test_corrupted_entries_are_recomputed_not_used(clips, tmp_path, counter):
    first = build(clips, tmp_path / "c")
    plan = P.plan_clip(P.clip_input(clips.iloc[1], 1), CFG, augment=True)
    npz = plan.flow_path(tmp_path / "c")
    npz.write_bytes(npz.read_bytes()[:200])  # truncated
    face_json = plan.face_path(tmp_path / "c")
    face_json.write_text(face_json.read_text().replace('"fallback"', '"fallbak"'))
    with pytest.warns(cache.CacheCorruptedWarning, match="demo/s02/EP01_demo"):
        again = build(clips, tmp_path / "c")
    assert len(counter) == 5 and again.stats["computed"] == 1
    np.testing.assert_array_equal(again.x, first.x)
    # repaired: the next run is all hits and quiet
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheCorruptedWarning)
        assert build(clips, tmp_path / "c").stats["computed"] == 0


def test_keys_follow_frames_and_config(clips, tmp_path, counter):
    build(clips, tmp_path / "c")
    # re-encode one apex frame of clip 3 (other bytes) -> only that clip is recomputed
    row = clips.iloc[3]
    apex_file = row["frames"][row["apex"] - row["onset"]]
    img = cv2.imread(str(apex_file))
    cv2.imwrite(str(apex_file), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert build(clips, tmp_path / "c").stats["computed"] == 1
    # another TV-L1 lambda -> every clip is recomputed, faces come from the face cache
    cfg = dataclasses.replace(CFG, flow=dataclasses.replace(CFG.flow, lambda_=0.1))
    assert build(clips, tmp_path / "c", cfg=cfg).stats["computed"] == 4
    assert len(counter) == 4 + 1 + 4


def test_nan_flow_raises_naming_the_clip(clips, tmp_path, monkeypatch):
    monkeypatch.setattr(
        flow_mod, "tvl1", lambda a, b, **k: np.full(a.shape + (2,), np.nan, np.float32)
    )
    with pytest.raises(flow_mod.FlowError, match=r"demo/s01/EP00_demo \(row 0\).*NaN"):
        build(clips, tmp_path / "c")


def test_missing_or_unreadable_frames_name_clip_and_file(clips, tmp_path):
    row = clips.iloc[2]
    apex_file = row["frames"][row["apex"] - row["onset"]]
    apex_file.unlink()
    with pytest.raises(P.FrameError, match=rf"demo/s03/EP02_demo.*{apex_file.name}"):
        build(clips, tmp_path / "c")
    with pytest.raises(FileNotFoundError):  # FrameError is a FileNotFoundError
        build(clips, tmp_path / "c")
    apex_file.write_bytes(b"not a jpeg at all")
    with pytest.raises(P.FrameError, match=rf"demo/s03/EP02_demo.*{apex_file.name}.*decoded"):
        build(clips, tmp_path / "c")


def test_apex_outside_onset_offset_names_the_row(clips, tmp_path):
    bad = clips.copy()
    bad.loc[bad.index[1], "apex"] = int(bad["offset"].iloc[1]) + 3
    with pytest.raises(P.AnnotationError, match=r"row 1 \(demo/s02/EP01_demo.*apex"):
        build(bad, tmp_path / "c")
    short = clips.copy()
    short.at[short.index[0], "frames"] = short["frames"].iloc[0][:-1]
    with pytest.raises(P.AnnotationError, match="row 0.*frame files"):
        build(short, tmp_path / "c")


def test_face_fallback_is_recorded(clips, tmp_path):
    onset_file = clips["frames"].iloc[1][0]
    cv2.imwrite(str(onset_file), np.full((SIZE, SIZE, 3), 120, np.uint8))
    with pytest.warns(UserWarning, match="neighbour"):
        fs = build(clips, tmp_path / "c")
    assert fs.fallbacks == {1: "neighbour"}
    table = fs.fallback_table()
    assert table["clip"].tolist() == ["demo/s02/EP01_demo"] and table["source_frame"].tolist() == [
        2
    ]
    # the fallback survives the cache
    with pytest.warns(UserWarning, match="neighbour"):
        assert build(clips, tmp_path / "c").fallbacks == {1: "neighbour"}


class PaintMouth:
    """A fake occlusion spec: paints the mouth landmarks' bounding box black; records calls."""

    def __init__(self, key: str = "mouth-seed0") -> None:
        self.key = key
        self.calls: list[tuple[str, tuple, tuple]] = []

    def __call__(self, frame, landmarks, *, clip):
        self.calls.append((clip, frame.shape, landmarks.shape))
        x0, y0 = np.floor(landmarks[48:68].min(0)).astype(int)
        x1, y1 = np.ceil(landmarks[48:68].max(0)).astype(int)
        out = frame.copy()
        out[y0 : y1 + 1, x0 : x1 + 1] = 0
        return out, None  # like occlusion.occlude: (frame, covered)


def test_occlusion_spec_is_applied_to_every_used_frame_and_keyed(clips, tmp_path):
    plain = build(clips.iloc[:2], tmp_path / "c", train_mask=[True, False])
    spec = PaintMouth()
    occ = build(clips.iloc[:2], tmp_path / "c", train_mask=[True, False], occlusion=spec)
    # clip 0: onset + 3 apex positions (some may coincide); clip 1: onset + apex
    used0 = P.plan_clip(P.clip_input(clips.iloc[0], 0), CFG, augment=True).used_frames
    assert len(spec.calls) == len(used0) + 2
    assert {c for c, _, _ in spec.calls} == {"demo/s01/EP00_demo", "demo/s02/EP01_demo"}
    assert all(shape == (SIZE, SIZE, 3) and marks == (68, 2) for _, shape, marks in spec.calls)
    assert occ.occlusion == "mouth-seed0" and not np.allclose(occ.x, plain.x)
    # separate cache entries; another key is another entry
    assert (
        build(clips.iloc[:2], tmp_path / "c", train_mask=[True, False], occlusion=spec).stats[
            "computed"
        ]
        == 0
    )
    assert (
        build(
            clips.iloc[:2], tmp_path / "c", train_mask=[True, False], occlusion=PaintMouth("m2")
        ).stats["computed"]
        == 2
    )
    assert build(clips.iloc[:2], tmp_path / "c", train_mask=[True, False]).stats["computed"] == 0


def test_with_the_occlusion_module(clips, tmp_path):
    occlusion = pytest.importorskip("merkit.preprocess.occlusion")
    df = clips.iloc[:2]
    plain = build(df, tmp_path / "c", train_mask=False)
    block = occlusion.OcclusionSpec("block", 0.3, seed=1)
    occ = build(df, tmp_path / "c", train_mask=False, occlusion=block)
    assert occ.stats["computed"] == 2 and occ.occlusion == block.key
    assert not np.allclose(occ.x, plain.x)
    # the un-occluded condition is the plain flows: same cache entries, nothing recomputed
    unocc = build(df, tmp_path / "c", train_mask=False, occlusion=occlusion.OcclusionSpec("none"))
    assert unocc.stats["computed"] == 0 and np.array_equal(unocc.x, plain.x)
    with pytest.raises(TypeError, match="OcclusionLike"):
        build(df, tmp_path / "c", train_mask=False, occlusion=lambda f, lm, clip: f)


def test_grayscale_frames(tmp_path):
    df = make_demo_clips(tmp_path / "gray", n_clips=1, n_frames=7, grayscale=True, size=SIZE)
    assert cv2.imread(str(df["frames"].iloc[0][0]), cv2.IMREAD_UNCHANGED).ndim == 2
    fs = build(df, tmp_path / "c")
    assert len(fs) == 9 and fs.fallbacks == {}


def test_parallel_equals_sequential(clips, tmp_path):
    seq = build(clips.iloc[:2], tmp_path / "seq")
    par = P.build_flowset(
        clips.iloc[:2], CFG, train_mask=True, n_jobs=2, progress=False, cache_root=tmp_path / "par"
    )
    assert par.stats["computed"] == 2
    np.testing.assert_allclose(par.x, seq.x, atol=1e-5)
    assert par.names == seq.names


def test_thread_and_process_workers_give_the_same_flows(clips, tmp_path):
    """The default thread workers (one OpenCV thread each, shared dlib models) and loky's worker
    processes write bit-identical flows, clips in row order; OpenCV's threads are restored."""
    before = cv2.getNumThreads()
    kw = {"train_mask": [True, False, True], "n_jobs": 2, "progress": False}
    thr = P.build_flowset(clips.iloc[:3], CFG, cache_root=tmp_path / "thr", **kw)
    assert cv2.getNumThreads() == before
    proc = P.build_flowset(
        clips.iloc[:3], CFG, cache_root=tmp_path / "proc", backend="processes", **kw
    )
    assert thr.stats["computed"] == proc.stats["computed"] == 3
    np.testing.assert_array_equal(thr.x, proc.x)
    np.testing.assert_array_equal(thr.clip, proc.clip)
    assert thr.names == proc.names and [f.box for f in thr.faces] == [f.box for f in proc.faces]
    assert thr.stats["flow_seconds_cpu"] > 0
    with pytest.raises(ValueError, match="backend"):
        P.build_flowset(clips.iloc[:1], CFG, cache_root=tmp_path / "x", backend="gpu", **kw)


def test_detector_pool_lends_each_thread_its_own_instance():
    from merkit.preprocess.face import _DetectorPool

    first = object()
    pool = _DetectorPool(lambda: first, lambda model: object())
    with pool.borrow() as a, pool.borrow() as b:  # two concurrent users: two instances
        assert a is first and b is not first
    with pool.borrow() as c:  # returned instances are reused
        assert c in (a, b)
