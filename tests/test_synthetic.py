"""The embedded synthetic data set: counts, layouts, loaders' view, determinism, faces, motion.

The smoke set is generated once per module (a few seconds); full-scale properties are checked
on :func:`merkit.data.synthetic.plan`, which builds the clip table without rendering.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from merkit.data import _face_model as fm
from merkit.data import synthetic
from merkit.facs import TABLE_I, TABLE_VII_AUS, objective_class, parse_aus
from merkit.io import read_json

# MER-auGCN Table II, typed in from the paper.
TABLE_II = {"casme2": (25, 15, 99, 26, 20), "samm": (24, 13, 20, 8, 3)}
TABLE_II_SUBJECTS = {"casme2": 26, "samm": 21}

KEY_COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "apex_estimated", "aus",
               "objective_class", "emotion", "frames"]


def au_points(au: int, side: str = "") -> tuple[int, ...]:
    """The face-model points (0-82) AU ``au`` moves on ``side`` (``""`` both, ``"L"``, ``"R"``)."""
    spec = fm.AU_MOTIONS[au]
    points = {p for p, _, _ in spec if p in fm.MIDLINE}
    if side in ("", "R"):
        points |= {p for p, _, _ in spec if p not in fm.MIDLINE}
    if side in ("", "L"):
        points |= {fm.MIRROR[p] for p, _, _ in spec if p not in fm.MIDLINE}
    return tuple(sorted(points))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "smoke"
    return synthetic.generate(out, seed=0, scale="smoke")


@pytest.fixture(scope="module")
def truth(smoke):
    return synthetic.load_ground_truth(smoke)


@pytest.fixture(scope="module")
def full_plan():
    return synthetic.plan("full", seed=0)


# --------------------------------------------------------------------------- plan / counts


def test_full_plan_has_table_ii_counts(full_plan):
    assert len(full_plan) == 255 + 159 + 164
    for dataset, per_class in TABLE_II.items():
        part = full_plan[full_plan["dataset"] == dataset]
        core = part[part["objective_class"] <= 5]
        counts = Counter(core["objective_class"])
        assert tuple(counts[c] for c in (1, 2, 3, 4, 5)) == per_class
        assert core["subject"].nunique() == TABLE_II_SUBJECTS[dataset]
        assert set(part["objective_class"]) == set(range(1, 8))  # VI/VII exercise the filter
    assert (full_plan["dataset"] == "casme2").sum() == 255
    assert (full_plan["dataset"] == "samm").sum() == 159
    core = full_plan[(full_plan["objective_class"] <= 5) & (full_plan["dataset"] != "smic")]
    assert len(core) == 253 and core["subject"].nunique() == 47
    casme = full_plan[full_plan["dataset"] == "casme2"]
    assert sorted(casme["folder"].unique()) == [f"sub{i:02d}" for i in range(1, 27)]
    samm_ids = full_plan.loc[full_plan["dataset"] == "samm", "subject_id"].unique()
    assert all(6 <= i <= 37 for i in samm_ids)
    assert full_plan["subject"].str.match(r"^(casme2/sub\d\d|samm/\d{3}|smic/s\d{1,2})$").all()


def test_full_plan_has_the_megc2019_composition(full_plan):
    """SMIC-like 70 / 51 / 43 clips of 16 subjects by folder; the CASME-like and SAMM-like sets'
    emotion words map to exactly the published composite (88 / 32 / 25 of 24, 92 / 26 / 15 of 28)."""
    from merkit.data import megc2019

    table = full_plan.assign(emotion=full_plan["emotion"].str.lower())
    table = table.assign(emotion_class=megc2019.emotion_classes(table))
    assert megc2019.composition_report(table[table["emotion_class"].notna()]) == []
    smic = table[table["dataset"] == "smic"]
    assert sorted(smic["subject_id"].unique()) == list(synthetic.SMIC_SUBJECTS["full"])
    assert (smic["emotion_class"] == smic["emotion"]).all()
    # the frames move as the emotion's AUs do (Table I classes I / II / III-V)
    expected = {"positive": {1}, "surprise": {2}, "negative": {3, 4, 5}}
    for emotion, part in smic.groupby("emotion"):
        assert set(part["objective_class"]) <= expected[emotion]
    assert (smic["coded_aus"].map(len) == 0).all() and smic["aus_cell"].isna().all()
    # the composite's classes agree with the objective classes where they should
    casme = table[table["dataset"] == "casme2"]
    assert (casme.loc[casme["objective_class"] == 1, "emotion_class"].isin(["positive", None])).all()


def test_smoke_plan_is_small_and_covers_every_class():
    table = synthetic.plan("smoke", seed=0)
    assert 15 <= len(table) <= 30
    for dataset, n_subjects in (("casme2", 4), ("samm", 3)):
        part = table[table["dataset"] == dataset]
        assert part["subject"].nunique() == n_subjects
        assert set(part["objective_class"]) == set(range(1, 8))
        assert part.loc[part["objective_class"] <= 5, "subject"].nunique() >= 2


def test_aus_follow_table_i_and_the_datasets(full_plan):
    core = full_plan[full_plan["objective_class"] <= 5]
    for row in core.itertuples():
        assert objective_class(row.aus) == row.objective_class, (row.clip, row.aus)
        # a Table I combination of the class is present
        assert any(set(c) <= set(row.aus) for c in TABLE_I[row.objective_class])
    seen = {d: set().union(*map(set, full_plan.loc[full_plan["dataset"] == d, "aus"]))
            for d in synthetic.synthetic_datasets()}
    assert not seen["casme2"] & {23, 24, 26, 40}
    assert not seen["samm"] & {38, 40}
    for dataset in synthetic.synthetic_datasets():
        part = full_plan[full_plan["dataset"] == dataset]
        for au in TABLE_VII_AUS:
            assert sum(au in aus for aus in part["aus"]) >= 5, (dataset, au)
    # some I–V clips carry AU14 on top of their Table I combination
    assert sum(14 in aus for aus in core["aus"]) >= 3


def test_au_cells_parse_back_to_the_coded_aus(full_plan):
    or_cells = 0
    for row in full_plan.itertuples():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert parse_aus(row.aus_cell) == row.coded_aus, row.aus_cell  # the coder's, not the truth
        or_cells += bool(caught)
    assert or_cells == 1  # exactly one "12 or 14" at full scale
    cells = [str(c) for c in full_plan["aus_cell"]]
    casme = [str(c) for c in full_plan.loc[full_plan["dataset"] == "casme2", "aus_cell"]]
    samm = [str(c) for c in full_plan.loc[full_plan["dataset"] == "samm", "aus_cell"]]
    assert any(c[0] in "LR" for c in casme)  # "L10", "R12"
    assert any("+" in c and " " not in c for c in casme)  # "4+7"
    assert any(" + " in c for c in samm) and any(c[-1] in "ABCDE" for c in samm)  # "R14A"
    assert "12 or 14" in cells
    subject_cells = full_plan.loc[full_plan["dataset"] == "samm", "subject_cell"]
    assert {type(v) for v in subject_cells} == {int, str}  # 6 and "006"


def test_plan_timing(full_plan):
    smic = full_plan[full_plan["dataset"] == "smic"]
    # SMIC-HS clips are cut from onset to offset; no apex annotation (the middle frame is used)
    assert (smic["first_frame"] == smic["onset"]).all() and (smic["last_frame"] == smic["offset"]).all()
    assert smic["apex_estimated"].all() and ((smic["onset"] + smic["offset"]) % 2 == 0).all()
    full_plan = full_plan[full_plan["dataset"] != "smic"]
    lengths = full_plan["offset"] - full_plan["onset"] + 1
    assert lengths.between(24, 45).all()  # 24–44, +1 where a "/" apex needed an even sum
    assert (full_plan["first_frame"] < full_plan["onset"]).all()
    assert (full_plan["last_frame"] > full_plan["offset"]).all()
    assert (full_plan["onset"] - full_plan["first_frame"]).between(3, 8).all()
    assert (full_plan["apex"] - full_plan["onset"] >= synthetic.MIN_PHASE).all()
    assert (full_plan["offset"] - full_plan["apex"] >= synthetic.MIN_PHASE).all()
    estimated = full_plan[full_plan["apex_estimated"]]
    assert len(estimated) >= 3 and set(estimated["dataset"]) == {"casme2"}
    for row in estimated.itertuples():
        assert row.apex == (row.onset + row.offset) // 2 == round((row.onset + row.offset) / 2)


def test_every_clip_has_ten_distinct_augmentation_apex_frames(full_plan):
    from merkit.preprocess.augment import apex_positions

    for row in full_plan.itertuples():
        positions = apex_positions(row.onset, row.apex, row.offset)
        assert len(positions) == len(set(positions)) == 10, (row.clip, positions)


def test_each_au_has_its_own_timing_and_intensity_around_the_clip(full_plan):
    shifted = total = 0
    for row in full_plan.itertuples():
        assert [t["au"] for t in row.au_truth] == [au for au, _, _ in row.au_spec]
        leads = [t for t in row.au_truth
                 if (t["onset"], t["apex"], t["offset"]) == (row.onset, row.apex, row.offset)]
        assert leads, row.clip  # the annotated frames are one AU's own
        for t in row.au_truth:
            assert row.onset <= t["onset"] < t["apex"] < t["offset"] <= row.offset, (row.clip, t)
            assert t["intensity"] in "ABCDE" and t["gain"] > 0
            total += 1
            shifted += (t["onset"], t["apex"], t["offset"]) != (row.onset, row.apex, row.offset)
        for (_, side, level), t in zip(row.au_spec, row.au_truth, strict=True):
            assert t["side"] == side and (not level or t["intensity"] == level)
    assert shifted > 0.2 * total  # most multi-AU clips' AUs do not move in lockstep


def test_subjects_perform_aus_their_own_way():
    a = synthetic._au_geometry(0, "casme2/sub01", 1.0)
    b = synthetic._au_geometry(0, "casme2/sub02", 1.0)
    assert a == synthetic._au_geometry(0, "casme2/sub01", 1.0)  # one geometry per subject
    assert a.gain(12) != b.gain(12) and a.rotation(4) != b.rotation(4)
    points = fm.extend_landmarks(fm.load_templates()[0].landmarks[:68])
    da = fm.au_displacement(points, 12, "", 1.0, a)
    db = fm.au_displacement(points, 12, "", 1.0, b)
    table = fm.au_displacement(points, 12, "", 1.0, None)
    assert not np.allclose(da, db) and not np.allclose(da, table)
    # the geometry turns the motion but keeps it where the AU acts
    assert set(np.flatnonzero(np.abs(da).sum(axis=1))) == set(np.flatnonzero(np.abs(table).sum(axis=1)))


def test_blinks_come_at_a_realistic_rate(full_plan):
    config = synthetic.SyntheticConfig()
    seconds, blinks = 0.0, 0
    for row in full_plan.itertuples():
        n = row.last_frame - row.first_frame + 1
        fps = config.smic_fps if row.dataset == "smic" else config.fps
        closure, events = synthetic._blinks(n, fps, config, synthetic._rng(0, "blink", row.subject, row.clip))
        assert closure.shape == (n,) and closure.min() >= 0.0 and closure.max() <= 1.0
        assert bool(events) == bool(closure.any())
        seconds += n / fps
        blinks += sum(1 for start, _, _ in events if 0 <= start < n)  # blinks that start in the clip
    rate = blinks / seconds
    assert 0.1 < rate < 0.6, rate  # 0.3 per second configured; people blink 0.2–0.5 per second


def test_plan_is_seeded():
    a, b, c = synthetic.plan("smoke", 0), synthetic.plan("smoke", 0), synthetic.plan("smoke", 1)
    assert a.equals(b)
    assert not a[["clip", "aus", "onset"]].equals(c[["clip", "aus", "onset"]])


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        synthetic.plan("huge")
    with pytest.raises(ValueError, match="casme_size"):
        synthetic.SyntheticConfig(casme_size=(10, 10))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not synthetic")
    with pytest.raises(FileExistsError, match="left untouched"):
        synthetic.generate(foreign, scale="smoke")
    assert (foreign / "notes.txt").read_text() == "not synthetic"


# --------------------------------------------------------------------------- layouts / loaders


def test_layout_matches_the_real_data_sets(smoke, truth):
    casme, samm = smoke / "CASME2", smoke / "SAMM"
    coding = openpyxl.load_workbook(casme / "CASME2-coding-20140508.xlsx").worksheets[0]
    header = [c.value for c in coding[1]]
    assert header == ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                      "Action Units", "Estimated Emotion"]
    body = list(coding.iter_rows(min_row=2, values_only=True))
    assert all(isinstance(r[0], int) for r in body)
    assert "/" in [r[4] for r in body]
    objective = openpyxl.load_workbook(casme / "CASME2-ObjectiveClasses.xlsx").worksheets[0]
    rows = list(objective.iter_rows(values_only=True))
    assert rows[0] == ("Subject", "Filename", "Objective Class")
    assert all(isinstance(r[0], str) and r[0].startswith("sub") and isinstance(r[2], int)
               for r in rows[1:])
    sheet = openpyxl.load_workbook(samm / "SAMM_Micro_FACS_Codes_v2.xlsx").worksheets[0]
    assert [c.value for c in sheet[14]][:3] == ["Subject", "Filename", "Inducement Code"]
    assert [c.value for c in sheet[14]][-2:] == ["Objective Classes", "Notes"]
    preamble = [[c.value for c in sheet[r]] for r in range(1, 14)]
    assert not any("Subject" in row for row in preamble)
    assert any(all(v is None for v in row) for row in preamble)  # blank rows, as in the real file
    assert sheet.cell(15, 2).value is not None  # data right below the header

    for row in truth.itertuples():
        assert len(row.all_frames) == row.last_frame - row.first_frame + 1
        first = cv2.imread(str(row.all_frames[0]), cv2.IMREAD_UNCHANGED)
        if row.dataset == "casme2":
            assert row.all_frames[0].name == f"img{row.first_frame}.jpg"
            assert row.all_frames[0].parent == casme / "CASME2_RAW_selected" / row.subject[7:] / row.clip
            assert first.ndim == 3 and first.shape == (170, 200, 3)
        elif row.dataset == "smic":
            sid = row.subject[5:]
            assert row.all_frames[0].name == f"image{row.first_frame:07d}.jpg"
            assert row.all_frames[0].parent == smoke / "SMIC" / "HS" / sid / "micro" / row.emotion / row.clip
            assert row.clip.startswith(f"{sid}_{synthetic.SMIC_ABBREVIATIONS[row.emotion]}_")
            assert first.ndim == 3 and first.shape == (150, 200, 3)
        else:
            sid = row.subject[5:]
            assert row.all_frames[0].name == f"{sid}_{row.first_frame:05d}.jpg"
            assert row.all_frames[0].parent == samm / sid / row.clip
            assert first.ndim == 2 and first.shape == (200, 200)
    assert (smoke / synthetic.MARKER).is_file()


def test_loaders_see_the_ground_truth(smoke, truth):
    from merkit.data import casme2, megc2018, samm, smic

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the smoke set must load without any warning
        every = megc2018.load(smoke / "CASME2", smoke / "SAMM", classes=tuple(range(1, 8)))
        core = megc2018.load(smoke / "CASME2", smoke / "SAMM")
        alone = [casme2.load(smoke / "CASME2"), samm.load(smoke / "SAMM")]
        smic_clips = smic.load(smoke / "SMIC")
    # SMIC: the loader sees the clips, their folder's emotion, no AUs, the middle frame as apex
    gt_smic = truth[truth["dataset"] == "smic"].reset_index(drop=True)
    assert smic_clips[["subject", "clip", "onset", "offset", "emotion"]].reset_index(drop=True).equals(
        gt_smic[["subject", "clip", "onset", "offset", "emotion"]])
    assert (smic_clips["apex"].to_numpy() == (gt_smic["onset"] + gt_smic["offset"]).to_numpy() // 2).all()
    assert (smic_clips["aus"].map(len) == 0).all() and (smic_clips["objective_class"] == 0).all()
    assert [len(f) for f in smic_clips["frames"]] == [len(f) for f in gt_smic["frames"]]
    truth = truth[truth["dataset"] != "smic"].reset_index(drop=True)
    # the sheets hold the coder's AUs: the loaders' ``aus`` are the ground truth's ``coded_aus``
    sheet = truth.assign(aus=truth["coded_aus"])
    expected = sheet[KEY_COLUMNS].reset_index(drop=True)
    got = every[KEY_COLUMNS].reset_index(drop=True)
    for column in KEY_COLUMNS:
        assert got[column].tolist() == expected[column].tolist(), column
    for part in alone:
        mine = sheet[sheet["dataset"] == part.attrs["dataset"]][KEY_COLUMNS].reset_index(drop=True)
        assert part[KEY_COLUMNS].reset_index(drop=True).equals(mine)
    assert set(core["objective_class"]) == {1, 2, 3, 4, 5}
    assert len(core) == (truth["objective_class"] <= 5).sum()
    # frames[apex - onset] is the apex frame: once the head's rigid motion is removed (fitted on
    # the landmarks no AU of the clip moves), the AU's landmarks are farthest from onset there
    for row in every.itertuples():
        gt = truth[(truth["subject"] == row.subject) & (truth["clip"] == row.clip)].iloc[0]
        marks = gt.landmarks[row.onset - gt.first_frame:row.offset - gt.first_frame + 1]
        moved = sorted({p for au in gt.aus for p in fm.AU_REGIONS[au] if p < 68})  # the true AUs
        still = [p for p in range(68) if p not in moved]
        motion = []
        for frame in marks:
            m, _ = cv2.estimateAffinePartial2D(frame[still], marks[0][still], method=cv2.LMEDS)
            aligned = frame[moved] @ m[:, :2].T + m[:, 2]
            motion.append(np.linalg.norm(aligned - marks[0][moved], axis=1).mean())
        # the annotated apex is the strongest AU's; the others peak within +-15 % of the rise
        rise = row.apex - row.onset
        assert abs(int(np.argmax(motion)) - rise) <= max(2, 0.15 * rise), (row.clip, np.round(motion, 2))
        assert motion[rise] >= 0.85 * max(motion), (row.clip, np.round(motion, 2))
        assert motion[-1] < 0.25 * max(motion), row.clip  # back to neutral at offset


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes(smoke, tmp_path):
    table = synthetic.plan("smoke", seed=0)
    rows = table.to_dict("records")
    config = synthetic.SyntheticConfig()
    for dataset in synthetic.synthetic_datasets():
        subject = min(r["subject"] for r in rows if r["dataset"] == dataset)
        task = [r for r in rows if r["subject"] == subject]
        key = read_json(smoke / synthetic.GROUND_TRUTH)["subjects"][subject]["identity_key"]
        result = synthetic._render_subject(task, 0, config, str(tmp_path), key)
        for clip in result["clips"].values():
            for rel, _, _ in clip["files"]:
                assert (tmp_path / rel).read_bytes() == (smoke / rel).read_bytes(), rel
    sheets = synthetic._sheets(rows)
    assert set(sheets) == {"CASME2/CASME2-coding-20140508.xlsx",
                           "CASME2/CASME2-ObjectiveClasses.xlsx",
                           "SAMM/SAMM_Micro_FACS_Codes_v2.xlsx"}
    for rel, data in sheets.items():
        assert data == (smoke / rel).read_bytes(), rel


def test_generator_iterates_the_registry():
    from merkit.data import registry

    assert synthetic.synthetic_datasets() == ("casme2", "samm", "smic")
    for entry in synthetic.entries():
        spec = entry.synthetic_generator()
        assert isinstance(spec, synthetic.SyntheticSpec)
        assert registry.get_dataset(entry.name) is entry
    assert {e.synthetic_dir for e in synthetic.entries()} == {"CASME2", "SAMM", "SMIC"}
    stages = {e.name: e.synthetic_generator().identity_stage for e in synthetic.entries()}
    assert stages == {"casme2": 0, "samm": 0, "smic": 1}  # SMIC's faces chosen after the others'


def test_adding_the_smic_stand_in_changed_no_casme_or_samm_face(truth, smoke):
    """The identity choice is staged: the CASME-like and SAMM-like subjects' identities are
    those chosen without the SMIC-like subjects (so their frames did not change)."""
    gt = read_json(smoke / synthetic.GROUND_TRUTH)["subjects"]
    firsts: dict[str, dict] = {}
    for row in synthetic.plan("smoke", seed=0).to_dict("records"):
        if row["dataset"] != "smic":
            firsts.setdefault(row["subject"], row)
    alone = synthetic._choose_identities(list(firsts.values()), 0, synthetic.SyntheticConfig(), 1, False)
    assert {s: r["key"] for s, r in alone.items()} == {s: gt[s]["identity_key"] for s in firsts}



def test_complete_set_is_a_noop_and_fingerprinted(smoke):
    marker = smoke / synthetic.MARKER
    before = marker.stat().st_mtime_ns
    assert synthetic.is_complete(smoke, seed=0, scale="smoke", verify=True)
    assert not synthetic.is_complete(smoke, seed=1, scale="smoke")
    assert synthetic.generate(smoke, seed=0, scale="smoke") == smoke
    assert marker.stat().st_mtime_ns == before
    assert len(synthetic.fingerprint(smoke)) == 16
    listed = read_json(marker)["files"]
    on_disk = {p.relative_to(smoke).as_posix() for p in smoke.rglob("*") if p.is_file()}
    assert on_disk == set(listed) | {synthetic.MARKER}


def test_a_set_drawn_from_another_cast_is_not_served(smoke, monkeypatch):
    assert synthetic.is_complete(smoke, seed=0, scale="smoke")
    other = {name: keys[::-1] for name, keys in synthetic._cast().items()}
    monkeypatch.setattr(synthetic, "_cast", lambda: other)
    assert not synthetic.is_complete(smoke, seed=0, scale="smoke")


def test_interrupted_run_leaves_no_complete_looking_folder(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "_render_subject", boom)
    with pytest.raises(KeyboardInterrupt):
        synthetic.generate(tmp_path / "out", scale="smoke")
    # no output folder and no temporary folder left; only the (empty) lock file remains
    assert [p.name for p in tmp_path.iterdir()] == [".out.lock"]


# --------------------------------------------------------------------------- faces and motion


def test_face_detector_finds_every_onset_and_apex_face(smoke):
    for frame in ("onset", "apex"):
        rate, missed = synthetic.face_detection_rate(smoke, scale="smoke", frame=frame)
        assert rate == 1.0, (frame, missed)


def test_head_moves_inside_the_onset_apex_window(truth):
    for row in truth.itertuples():
        tx, ty, roll = row.head_at_apex
        # 1–3 px and 0.5–2 deg by apex, plus the small sway (std 0.15 px / 0.05 deg)
        assert 0.4 < np.hypot(tx, ty) < 3.8 and 0.3 < abs(roll) < 2.3, (row.clip, row.head_at_apex)
        start = row.onset - row.first_frame
        assert np.abs(row.landmarks[0] - row.landmarks[start]).max() < 1.5  # only sway before onset


def test_each_au_region_covers_its_moving_landmarks(truth):
    for row in truth.itertuples():
        i1 = row.apex - row.first_frame
        shape = cv2.imread(str(row.all_frames[i1]), cv2.IMREAD_GRAYSCALE).shape
        for t in row.au_truth:
            mask = fm.region_mask(t["region"], shape)
            assert 0 < mask.sum() < 0.25 * mask.size, (row.clip, t["au"])
            inside = [mask[int(round(y)), int(round(x))] for x, y in row.landmarks[i1][
                [p for p in au_points(t["au"], t["side"]) if p < 68]]]
            if inside:
                assert any(inside), (row.clip, t["au"])


def test_identity_encodings_are_recorded_and_reproducible(smoke):
    """The generator's identity choice reads dlib's encodings of each subject's first onset frame
    as written: the recorded ones equal a fresh encoding of that frame read from disk, so the
    choice and the identity check below agree (placement redrawn: same identity, < 0.6)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    gt = read_json(smoke / synthetic.GROUND_TRUTH)
    truth = synthetic.load_ground_truth(smoke)
    placed_first = {c["clip"] for c in gt["clips"] if c["placement_attempts"] == 0}
    assert placed_first
    for subject, rec in gt["subjects"].items():
        assert len(rec["identity_encoding"]) == 128
        row = truth[truth["subject"] == subject].iloc[0]
        image = face_recognition.load_image_file(str(row["frames"][0]))
        enc = face_recognition.face_encodings(image)
        assert enc, subject
        gap = np.linalg.norm(enc[0] - np.asarray(rec["identity_encoding"]))
        assert gap < (1e-4 if row["clip"] in placed_first else 0.6), (subject, gap)
        if rec["identity_distinct"]:
            assert rec["identity_distance"] is None or rec["identity_distance"] >= 0.6


def test_smoke_subject_pairs_are_distinct_to_a_face_recognizer(truth):
    """>= 95 % of the smoke slice's CASME-like and SAMM-like subject pairs lie beyond dlib's 0.6
    (issue #11 item 1, about those two sets); the SMIC-like subjects, chosen after them, are
    measured too: >= 85 % of all pairs.

    The full set (seed 0) measures 96.4 % of its 1,653 CASME/SAMM pairs (94.8 % of all 2,701
    with the SMIC-like subjects; see merkit.data.synthetic); that needs the full set generated,
    too slow for this suite.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    encodings, smic = [], []
    for subject, group in truth.groupby("subject"):
        row = group.iloc[0]
        image = face_recognition.load_image_file(str(row["frames"][0]))
        encodings.append(face_recognition.face_encodings(image)[0])
        smic.append(subject.startswith("smic/"))
    e, smic = np.asarray(encodings), np.asarray(smic)
    pairs = np.triu_indices(len(e), 1)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)[pairs]
    facs = ~smic[pairs[0]] & ~smic[pairs[1]]
    assert (d[facs] > 0.6).mean() >= 0.95, (d[facs] > 0.6).mean()
    assert (d > 0.6).mean() >= 0.85, (d > 0.6).mean()


def test_select_distinct_by_hand():
    """Three slots on a hand-made distance matrix: 0 = {a0, a1}, 1 = {b0, b1}, 2 = {c}.
    a1 and b0 are far (2) from everything, c is near (0.1) a0 and b1; the best choice (every
    pair >= 1) is a1, b0, c.  Equal labels are taken once: with b0 labelled like a1, slot 1
    must take b1, and a slot whose every candidate is taken raises."""
    names = ["a0", "a1", "b0", "b1", "c"]
    far = {"a1", "b0"}
    dist = np.array([[0.0 if i == j else 2.0 if far & {x, y} else 0.1
                      for j, y in enumerate(names)] for i, x in enumerate(names)])
    pools = [[0, 1], [2, 3], [4]]
    assert synthetic.select_distinct(dist, pools, names, 1.0) == [1, 2, 4]
    labels = ["a0", "x", "x", "b1", "c"]
    picks = synthetic.select_distinct(dist, pools, labels, 1.0)
    assert len({labels[p] for p in picks}) == 3 and picks[2] == 4
    with pytest.raises(synthetic.SyntheticDataError, match="slot 1"):
        synthetic.select_distinct(dist, [[1], [1]], ["x"] * 5, 1.0)


def test_the_cast_is_current():
    """The shipped cast has MULTIPLE x full-scale subjects distinct members per data set, and
    its spot-check members still encode as recorded on their canonical frames (the face model
    did not change under it)."""
    from merkit.data import synthetic_cast

    data = read_json(synthetic.CAST_FILE)
    assert data["face_model"] == fm.FACE_MODEL_VERSION
    counts = synthetic.plan("full", seed=0).groupby("dataset")["subject"].nunique()
    config = synthetic.SyntheticConfig()
    for name, members in synthetic._cast().items():
        assert len(set(members)) == len(members) == synthetic_cast.MULTIPLE * counts[name], name
        spot = data["spot_check"][name]
        assert spot["key"] in members
        row = synthetic_cast.canonical_row(name, config)
        enc = synthetic._identity_encodings(row, 0, config, [spot["key"]])[0]
        assert np.linalg.norm(np.asarray(enc) - spot["encoding"]) < 1e-4, name


@pytest.mark.parametrize("content, message", [
    (None, "unreadable cast"),
    ({"face_model": "0", "members": {}}, "searched for face model '0'"),
    ({"face_model": fm.FACE_MODEL_VERSION, "members": {"casme2": [1]}}, "no cast for"),
])
def test_a_missing_or_stale_cast_is_refused(tmp_path, monkeypatch, content, message):
    path = tmp_path / "cast.json"
    if content is not None:
        path.write_text(json.dumps(content))
    monkeypatch.setattr(synthetic, "CAST_FILE", path)
    synthetic._cast.cache_clear()
    try:
        with pytest.raises(synthetic.SyntheticDataError, match=message) as info:
            synthetic._cast()
        assert "python -m merkit.data.synthetic_cast --write" in str(info.value)
    finally:
        synthetic._cast.cache_clear()


def test_cast_search_encodes_the_pool_once_and_shortlists(tmp_path, monkeypatch):
    """A small search: the pool's encodings are cached per chunk (a second search reads them
    and encodes nothing), each equals a fresh encoding, and the shortlist keeps pool keys."""
    from merkit.data import synthetic_cast

    config = synthetic.SyntheticConfig()
    pool = {"casme2": 3, "samm": 3, "smic": 2}
    first = synthetic_cast.pool_encodings(pool, config, n_jobs=1, cache=tmp_path)
    assert {k: len(v) for k, v in first.items()} == pool
    assert len(list(tmp_path.rglob("*.json"))) == 3

    def boom(*args, **kwargs):
        raise AssertionError("encoded again")

    monkeypatch.setattr(synthetic, "_identity_encodings", boom)
    again = synthetic_cast.pool_encodings(pool, config, n_jobs=1, cache=tmp_path)
    assert again == first
    found = {n: [k for k, e in enumerate(v) if e is not None] for n, v in first.items()}
    sizes = {n: min(2, len(v)) for n, v in found.items()}
    members = synthetic_cast.shortlist(first, sizes, 0.6)
    for name, keys in members.items():
        assert len(keys) == sizes[name] and set(keys) <= set(found[name])


def test_subjects_look_different(truth):
    """Onset faces aligned on their landmarks differ between subjects (identity variation)."""
    mean_shape = np.mean([r.landmarks[0] for r in truth.itertuples()], axis=0)
    x0, y0 = mean_shape.min(axis=0).astype(int)
    x1, y1 = mean_shape.max(axis=0).astype(int)
    faces = {}
    for row in truth.itertuples():
        if row.subject in faces:
            continue
        image = cv2.imread(str(row.frames[0]), cv2.IMREAD_GRAYSCALE).astype(np.float32)
        start = row.onset - row.first_frame
        m, _ = cv2.estimateAffinePartial2D(row.landmarks[start], mean_shape.astype(np.float32))
        # one canvas for every data set's frame size, so each crop below has the same shape
        faces[row.subject] = cv2.warpAffine(image, m, (int(x1) + 1, int(y1) + 1))
    names = sorted(faces)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            diff = np.abs(faces[a][y0:y1, x0:x1] - faces[b][y0:y1, x0:x1]).mean()
            assert diff > 8.0, (a, b, diff)


def _regions(points: np.ndarray, spec, shape: tuple[int, int]):
    """Landmarks the clip's AUs move (on their side), and masks near them / elsewhere."""
    width = float(np.linalg.norm(points[16] - points[0]))
    moved = sorted({p for au, side, _ in spec for p in au_points(au, side) if p < 68})
    near = np.zeros(shape, np.uint8)
    far = np.zeros(shape, np.uint8)
    face = np.zeros(shape, np.uint8)
    for p in moved:
        centre = tuple(int(v) for v in np.round(points[p]))
        cv2.circle(near, centre, int(0.08 * width), 1, -1)
        cv2.circle(far, centre, int(0.2 * width), 1, -1)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return moved, near > 0, (face > 0) & (far == 0), width


def test_apex_differs_from_onset_in_the_au_region(truth):
    """Once the head's rigid motion is undone (a similarity fitted on the landmarks no AU of the
    clip moves), the apex differs from the onset near the AUs' landmarks, not elsewhere."""
    ratios, amplitudes = [], []
    for row in truth.itertuples():
        i0, i1 = row.onset - row.first_frame, row.apex - row.first_frame
        onset = cv2.imread(str(row.all_frames[i0]), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        apex = cv2.imread(str(row.all_frames[i1]), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        moved, near, elsewhere, width = _regions(row.landmarks[i0], row.au_spec, onset.shape)
        still = [p for p in range(68) if p not in moved and not 36 <= p < 48]  # eyes may blink
        m, _ = cv2.estimateAffinePartial2D(row.landmarks[i1][still], row.landmarks[i0][still])
        apex = cv2.warpAffine(apex, m, apex.shape[::-1], flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        aligned = row.landmarks[i1] @ m[:, :2].T + m[:, 2]
        diff = np.abs(apex - onset)
        assert elsewhere.sum() > 50
        ratio = diff[near].mean() / diff[elsewhere].mean()
        ratios.append(ratio)
        # ground-truth landmarks: the AUs' points move, the others much less; subtle amplitude
        shift = np.linalg.norm(aligned - row.landmarks[i0], axis=1)
        assert shift.max() < 0.08 * width, (row.clip, shift.max() / width)
        amplitudes.append(shift.max() / width)
        if shift[moved].max() >= 0.5:  # sub-pixel clips (weak AUs of an inexpressive subject) excepted
            assert shift[moved].max() > 1.3 * shift[still].max(), (row.clip, row.aus)
    # calibrated to be subtle: the median clip moves its landmarks 0.3–4 % of the face width
    assert 0.003 < np.median(amplitudes) < 0.04, np.round(amplitudes, 4)
    assert np.median(ratios) > 1.1, ratios


def test_each_au_moves_its_landmarks_in_the_documented_direction():
    """A face rendered with one AU at apex: the documented points move the documented way."""
    identity = fm.Identity(template=0, blend=0.0, mirror=False, skin=(1, 1, 1), surround=(1, 1, 1),
                           shape=tuple((0.0, 0.0) for _ in range(fm.N_POINTS + 1)),
                           face_width=0.45, centre=(0.5, 0.55), aspect=1.0, roll=0.0,
                           light=(0.0, 0.0), gain=1.0, gamma=1.0)
    face = fm.subject_face(identity)
    rng = np.random.default_rng(0)
    expected = {1: (21, "up"), 2: (18, "up"), 4: (21, "down"), 5: (37, "up"), 7: (41, "up"),
                9: (31, "up"), 10: (50, "up"), 12: (48, "up"), 15: (48, "down"),
                17: (57, "up"), 25: (57, "down"), 26: (8, "down")}
    for au, (point, direction) in expected.items():
        motion = fm.ClipMotion(((au, "", 1.0),), np.array([0.0, 1.0]), (0, 0, 0, 0),
                               np.zeros((2, 3)), np.ones(2), 0.0, (0.0, 0.0))
        _, points = fm.render_clip(identity, face, motion, (170, 200), rng, gray=False)
        dy = points[1, point, 1] - points[0, point, 1]
        assert (dy < -0.3) if direction == "up" else (dy > 0.3), (au, dy)
        # one-sided: "L" (subject's left = image right) moves the mirror point only
        motion = dataclasses.replace(motion, aus=((au, "L", 1.0),))
        _, points = fm.render_clip(identity, face, motion, (170, 200), rng, gray=False)
        if point not in fm.MIDLINE:
            moved = np.linalg.norm(points[1] - points[0], axis=1)
            assert moved[fm.MIRROR[point]] > 3 * moved[point] + 0.1, au


def test_cli_reports_an_existing_set(smoke, capsys):
    assert synthetic.main(["--out", str(smoke), "--scale", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "already complete" in out and "casme2: 14 clips of 4 subjects" in out


def test_a_sub_range_render_equals_the_full_render():
    """``render_clip(frames=...)`` draws only the noise stream's first frames, a prefix of the
    full draw: each frame it renders is the full render's frame, byte for byte."""
    config = synthetic.SyntheticConfig()
    row = synthetic.plan("smoke", seed=0).to_dict("records")[0]
    style = synthetic.registry.get_dataset(row["dataset"]).synthetic_generator().style(config)
    identity, face = synthetic._candidate(row["dataset"], synthetic._cast()[row["dataset"]][0], config)
    motion = synthetic._motion(row, config, style, 0, 0)

    def render(frames=None):
        return fm.render_clip(identity, face, motion, style.size, synthetic._rng(0, "noise", row["clip"]),
                              gray=style.gray, amplitude=config.au_amplitude, frames=frames)

    full, points = render()
    k = row["onset"] - row["first_frame"]
    for part in (slice(k, k + 1), slice(2, 5)):
        frames, pts = render(part)
        assert np.array_equal(frames, full[part]) and np.array_equal(pts, points[part])
