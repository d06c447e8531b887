"""SMIC-HS loader (#16 item 1) on hidden fixtures built in the distributed layout
(``HS/sN/micro/<class>/sN_<ne|po|sur>_NN/image<N>.bmp``): classes by folder, onset..offset
from the frame numbers, the middle-frame apex flagged, an apex table, and every odd layout
giving its clear error."""

from __future__ import annotations

from pathlib import Path

import cv2
import pandas as pd
import pytest
from layouts import frame_value, make_smic_tree

from merkit.data import (
    COLUMNS,
    AnnotationError,
    DataWarning,
    FramesNotFoundError,
    get_dataset,
    smic,
    validate,
)
from merkit.data._common import NOT_CODED

CLIPS = [
    dict(subject=1, emotion="negative", number=1, onset=600001, offset=600011),
    dict(subject=1, emotion="positive", number=2, onset=601000, offset=601004),
    dict(subject=2, emotion="surprise", number=1, onset=5, offset=12),
    dict(subject=11, emotion="negative", number=3, onset=100, offset=108),
]


@pytest.fixture()
def tree(tmp_path) -> Path:
    return make_smic_tree(tmp_path / "SMIC", CLIPS)


def test_reads_the_distributed_layout(tree):
    df = smic.load(tree)
    validate(df)
    assert tuple(df.columns) == COLUMNS and len(df) == 4 and df.attrs["dataset"] == "smic"
    first = df.set_index("clip").loc["s1_ne_01"]
    assert first["subject"] == "smic/s1" and first["emotion"] == "negative"
    assert (first["onset"], first["offset"], first["n_frames"]) == (600001, 600011, 11)
    assert first["apex"] == 600006 and bool(first["apex_estimated"])  # the middle frame
    assert first["aus"] == () and first["objective_class"] == NOT_CODED and first["type"] == "micro"
    assert first["source_file"] == "HS/s1/micro/negative" and first["source_row"] == 0
    assert sorted(df["emotion"]) == ["negative", "negative", "positive", "surprise"]
    # frames in temporal order: the pixel value encodes the frame number
    for row in df.itertuples():
        values = [int(cv2.imread(str(p))[0, 0, 0]) for p in row.frames]
        assert values == [frame_value(n) for n in range(row.onset, row.offset + 1)]
    # root may be HS itself; the entry is registered with its loader
    assert smic.load(tree / "HS")["clip"].tolist() == df["clip"].tolist()
    entry = get_dataset("smic")
    assert (entry.label, entry.env_var, entry.load_function()) == ("SMIC-HS", "SMIC_ROOT", smic.load)


def test_frame_numbers_are_parsed_not_assumed_padded(tmp_path):
    root = make_smic_tree(tmp_path / "S", [dict(subject=3, emotion="positive", number=5, onset=8, offset=11)],
                          suffix=".jpg")
    folder = root / "HS/s3/micro/positive/s3_po_05"
    (folder / "image0000010.jpg").rename(folder / "10.jpg")  # unpadded, no prefix
    (folder / "Thumbs.db").write_text("not an image")
    df = smic.load(root)
    assert [p.name for p in df.loc[0, "frames"]] == ["image0000008.jpg", "image0000009.jpg", "10.jpg",
                                                     "image0000011.jpg"]


def test_an_apex_table_gives_the_apex(tree, tmp_path):
    table = tmp_path / "apex.csv"
    pd.DataFrame({"Subject": ["s1", "2"], "Filename": ["s1_ne_01", "s2_sur_01"], "Apex": [600003, 7]}).to_csv(
        table, index=False)
    df = smic.load(tree, apex_table=table).set_index("clip")
    assert df.loc["s1_ne_01", "apex"] == 600003 and not df.loc["s1_ne_01", "apex_estimated"]
    assert df.loc["s1_ne_01", "source_file"] == "apex.csv" and df.loc["s1_ne_01", "source_row"] == 2
    assert df.loc["s2_sur_01", "apex"] == 7 and df.loc["s1_po_02", "apex_estimated"]
    with pytest.raises(AnnotationError, match="apex_rule='error'"):
        smic.load(tree, apex_table=table, apex_rule="error")
    pd.DataFrame({"Subject": [1], "Filename": ["s1_ne_01"], "Apex": [5]}).to_csv(table, index=False)
    with pytest.raises(AnnotationError, match=r"apex.csv row 2: apex 5 of HS/s1/micro/negative/s1_ne_01 is outside"):
        smic.load(tree, apex_table=table)
    pd.DataFrame({"Subject": [9], "Filename": ["s9_ne_01"], "Apex": [5]}).to_csv(table, index=False)
    with pytest.raises(AnnotationError, match=r"apex.csv row 2: clip s9/s9_ne_01 is not in"):
        smic.load(tree, apex_table=table)


def test_missing_frames_error_or_skip(tree):
    (tree / "HS/s1/micro/positive/s1_po_02/image0601002.bmp").unlink()
    with pytest.raises(FramesNotFoundError, match=r"s1_po_02.*1 frame\(s\) missing between 601000 and 601004.*"
                                                  r"first missing: 601002.*on_missing='skip'"):
        smic.load(tree)
    with pytest.warns(DataWarning, match="skipping clip"):
        df = smic.load(tree, on_missing="skip")
    assert "s1_po_02" not in set(df["clip"]) and len(df) == 3
    assert df.attrs["skipped"][0]["clip"] == "s1_po_02" and df.attrs["skipped"][0]["subject"] == "smic/s1"


def test_a_clip_folder_without_frames_is_a_clear_error(tree):
    (tree / "HS/s2/micro/surprise/s2_sur_02").mkdir()
    with pytest.raises(FramesNotFoundError, match=r"s2_sur_02 \(s2/s2_sur_02\): no frame images"):
        smic.load(tree)


def test_a_truncated_frame_is_a_clear_error(tree):
    frame = tree / "HS/s2/micro/surprise/s2_sur_01/image0000007.bmp"
    frame.write_bytes(frame.read_bytes()[:20])
    with pytest.raises(Exception, match=r"s2_sur_01.*corrupt frame"):
        smic.load(tree)


@pytest.mark.parametrize(("make", "message"), [
    (lambda t: (t / "HS/s1/micro/angry/s1_an_01").mkdir(parents=True), r"micro/angry: unexpected folder.*class folders"),
    (lambda t: (t / "HS/s1/non_micro").mkdir(), r"s1/non_micro: unexpected folder"),
    (lambda t: (t / "HS/notes.txt").write_text("x"), r"HS/notes.txt: unexpected file"),
    (lambda t: (t / "HS/s1/micro/negative/clip7").mkdir(), r"clip7: unexpected folder.*s1_ne_NN"),
])
def test_odd_folders_are_errors_or_ignored_with_a_warning(tree, make, message):
    make(tree)
    with pytest.raises(AnnotationError, match=message):
        smic.load(tree)
    with pytest.warns(DataWarning, match="ignoring"):
        df = smic.load(tree, on_unknown="ignore")
    assert len(df) == 4 and len(df.attrs["ignored"]) == 1


def test_a_clip_in_the_wrong_class_or_subject_folder_is_an_error(tree):
    (tree / "HS/s1/micro/negative/s1_ne_01").rename(tree / "HS/s1/micro/positive/s1_ne_01")
    with pytest.raises(AnnotationError, match=r"s1_ne_01: the clip folder's name says subject s1, class ne, but "
                                              r"it is in s1/micro/positive"):
        smic.load(tree)


def test_a_missing_root_names_the_variable(tmp_path):
    with pytest.raises(FileNotFoundError, match="SMIC_ROOT"):
        smic.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no HS/ folder"):
        smic.load(tmp_path / "empty")
