"""CASME II / SAMM / MEGC 2018 loaders on tiny trees in the real layouts (tests/layouts.py)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import cv2
import openpyxl
import pandas as pd
import pytest
from layouts import (
    CASME2_CODING,
    CASME2_HEADER_ROW,
    SAMM_FILE,
    SAMM_HEADER,
    SAMM_HEADER_ROW,
    frame_value,
    make_casme2_tree,
    make_samm_tree,
)

from merkit.data import (
    COLUMNS,
    AnnotationError,
    DataWarning,
    FramesNotFoundError,
    casme2,
    composite,
    megc2018,
    samm,
    validate,
)

CASME_CLIPS = [
    # subject stored three ways; "/" apex; AU cells as in the real sheet
    dict(subject=1, clip="EP02_01f", onset=46, apex=48, offset=50, aus="4+L10",
         emotion="Repression", objective_class=3),
    dict(subject="sub01", clip="EP03_02", onset=10, apex="/", offset=13, aus="R12",
         emotion="happiness", objective_class=1, objective_subject=1),
    dict(subject="02", clip="EP01_11f", onset=5, apex=6, offset=8, aus="1+2",
         emotion="surprise", objective_class="II", objective_subject="02"),
    dict(subject=3, clip="EP07_01", onset=100, apex=101, offset=102, aus="14",
         emotion="others", objective_class=6),
]

SAMM_CLIPS = [
    dict(subject=6, clip="006_1_2", onset=5562, apex=5565, offset=5567, aus="R12 + R15",
         emotion="Contempt", objective_class=3),
    dict(subject="006", clip="006_1_5", onset=990, apex=995, offset=998, aus="R14A",
         emotion="Contempt", objective_class=4.0, pad=4),
    dict(subject=1, clip="001_2_1", onset=20, apex="/", offset=24, aus="12 or 14",
         emotion="Happiness", objective_class="I"),
    dict(subject="011", clip="011_3_3", onset=7, apex=8, offset=9, aus="4",
         emotion="Other", objective_class="vii", type="Micro - 1/3"),
]


def _row(header_row: int, index: int) -> int:
    """Spreadsheet row of the ``index``-th clip written by tests/layouts.py."""
    return header_row + 1 + index


def _load_samm(root: Path, **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*lists alternatives.*")
        return samm.load(root, **kw)


@pytest.fixture()
def casme_root(tmp_path: Path) -> Path:
    return make_casme2_tree(tmp_path / "CASME2", CASME_CLIPS, variant="both")


@pytest.fixture()
def samm_root(tmp_path: Path) -> Path:
    return make_samm_tree(tmp_path / "SAMM", SAMM_CLIPS)


# --------------------------------------------------------------------------- CASME II


def test_casme2_values(casme_root: Path) -> None:
    df = casme2.load(casme_root)
    assert tuple(df.columns) == COLUMNS
    assert len(df) == len(CASME_CLIPS)
    # sorted by (dataset, subject, clip)
    assert list(zip(df.subject, df["clip"], strict=True)) == [
        ("casme2/sub01", "EP02_01f"), ("casme2/sub01", "EP03_02"),
        ("casme2/sub02", "EP01_11f"), ("casme2/sub03", "EP07_01"),
    ]
    by_clip = df.set_index("clip")
    r = by_clip.loc["EP02_01f"]
    assert (r.onset, r.apex, r.offset, r.apex_estimated) == (46, 48, 50, False)
    assert r.aus == (4, 10) and r.aus_text == "4+L10"
    assert (r.objective_class, r.emotion, r["type"]) == (3, "repression", "micro")
    assert (r.source_file, r.source_row) == (CASME2_CODING, _row(CASME2_HEADER_ROW, 0))
    r = by_clip.loc["EP03_02"]
    # "/" apex -> middle frame (10 + 13) // 2 = 11, flagged
    assert (r.apex, r.apex_estimated, r.aus, r.objective_class) == (11, True, (12,), 1)
    r = by_clip.loc["EP01_11f"]
    assert (r.aus, r.objective_class, r.source_row) == ((1, 2), 2, _row(CASME2_HEADER_ROW, 2))
    assert by_clip.loc["EP07_01"].objective_class == 6
    assert df.dtypes["onset"] == "int64" and df.dtypes["apex_estimated"] == "bool"
    assert df.attrs["skipped"] == [] and df.attrs["variant"] == "raw"
    validate(df)


def test_casme2_frames_order_and_count(casme_root: Path) -> None:
    df = casme2.load(casme_root)
    for r in df.itertuples():
        assert r.n_frames == len(r.frames) == r.offset - r.onset + 1
        assert [p.name for p in r.frames] == [f"img{n}.jpg" for n in range(r.onset, r.offset + 1)]
        assert all(p.parent == casme_root / "CASME2_RAW_selected" / r.subject[7:] / r.clip
                   for p in r.frames)
        # pixels encode the frame number: temporal order, and frames[apex - onset] is the apex
        levels = [int(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).mean().round()) for p in r.frames]
        assert levels == [frame_value(n) for n in range(r.onset, r.offset + 1)]
        assert r.frames[r.apex - r.onset].name == f"img{r.apex}.jpg"


def test_casme2_frame_numbers_sort_numerically(tmp_path: Path) -> None:
    # img9 / img10 / img11: a name sort would put img10 first
    clips = [dict(subject=1, clip="EP01_01", onset=9, apex=10, offset=11, aus="4",
                  emotion="disgust", objective_class=4)]
    df = casme2.load(make_casme2_tree(tmp_path, clips))
    assert [p.name for p in df.frames[0]] == ["img9.jpg", "img10.jpg", "img11.jpg"]


def test_casme2_cropped_variant(tmp_path: Path, casme_root: Path) -> None:
    df = casme2.load(casme_root, variant="cropped")
    assert df.attrs["variant"] == "cropped"
    r = df.set_index("clip").loc["EP02_01f"]
    assert [p.name for p in r.frames] == [f"reg_img{n}.jpg" for n in range(46, 51)]
    assert r.frames[0].parent.parent.parent.name == "Cropped"
    # a cropped-only tree: raw is a clear error naming the way out, auto falls back
    only = make_casme2_tree(tmp_path / "cropped_only", CASME_CLIPS, variant="cropped")
    with pytest.raises(FileNotFoundError, match=r"CASME2_RAW_selected.*variant='cropped'"):
        casme2.load(only)
    assert casme2.load(only, variant="auto").attrs["variant"] == "cropped"


def test_casme2_objective_class_column_in_coding_sheet(tmp_path: Path) -> None:
    root = make_casme2_tree(tmp_path, CASME_CLIPS[:1], objective_file=False)
    with pytest.raises(FileNotFoundError, match="CASME2-ObjectiveClasses.xlsx"):
        casme2.load(root)
    wb = openpyxl.load_workbook(root / CASME2_CODING)
    ws = wb.active
    ws.cell(row=1, column=10, value="Objective Class")
    ws.cell(row=2, column=10, value="V")
    wb.save(root / CASME2_CODING)
    assert casme2.load(root).objective_class.tolist() == [5]


def test_casme2_missing_objective_row(tmp_path: Path) -> None:
    clips = [dict(CASME_CLIPS[0]), dict(CASME_CLIPS[2], objective_class=None)]
    root = make_casme2_tree(tmp_path, clips)
    with pytest.raises(AnnotationError, match=rf"{CASME2_CODING} row 3 \(sub02/EP01_11f\)"):
        casme2.load(root)
    with pytest.warns(DataWarning, match="EP01_11f"):
        df = casme2.load(root, on_missing="skip")
    assert df["clip"].tolist() == ["EP02_01f"]
    [skipped] = df.attrs["skipped"]
    assert skipped["clip"] == "EP01_11f" and "CASME2-ObjectiveClasses" in skipped["reason"]


def test_casme2_unused_objective_rows_are_reported(tmp_path: Path) -> None:
    root = make_casme2_tree(tmp_path, CASME_CLIPS[:2])
    wb = openpyxl.load_workbook(root / "CASME2-ObjectiveClasses.xlsx")
    wb.active.append(["sub09", "EP09_09", 2])
    wb.save(root / "CASME2-ObjectiveClasses.xlsx")
    with pytest.warns(DataWarning, match="sub09/EP09_09"):
        df = casme2.load(root)
    assert df.attrs["unused_objective_rows"] == ["sub09/EP09_09 (row 4)"]


# --------------------------------------------------------------------------- SAMM


def test_samm_values(samm_root: Path) -> None:
    with pytest.warns(UserWarning, match=rf"12 or 14.*{SAMM_FILE} row {_row(SAMM_HEADER_ROW, 2)}"):
        df = samm.load(samm_root)
    assert df.attrs["header_row"] == SAMM_HEADER_ROW
    assert tuple(df.columns) == COLUMNS
    assert list(zip(df.subject, df["clip"], strict=True)) == [
        ("samm/001", "001_2_1"), ("samm/006", "006_1_2"),
        ("samm/006", "006_1_5"), ("samm/011", "011_3_3"),
    ]
    by_clip = df.set_index("clip")
    r = by_clip.loc["006_1_2"]
    assert (r.onset, r.apex, r.offset, r.apex_estimated) == (5562, 5565, 5567, False)
    assert (r.aus, r.aus_text, r.objective_class) == ((12, 15), "R12 + R15", 3)
    assert (r.emotion, r["type"]) == ("contempt", "Micro - 1/2")
    assert r.source_row == _row(SAMM_HEADER_ROW, 0)
    r = by_clip.loc["006_1_5"]  # subject stored as "006", class 4.0, unpadded frame numbers
    assert (r.aus, r.objective_class, r.subject) == ((14,), 4, "samm/006")
    r = by_clip.loc["001_2_1"]  # "/" apex, "12 or 14", class "I"
    assert (r.apex, r.apex_estimated, r.aus, r.objective_class) == (22, True, (12, 14), 1)
    r = by_clip.loc["011_3_3"]
    assert (r.objective_class, r["type"], r.source_row) == (7, "Micro - 1/3", _row(SAMM_HEADER_ROW, 3))
    validate(df)


def test_samm_frames_grayscale_and_padding(samm_root: Path) -> None:
    df = _load_samm(samm_root).set_index("clip")
    frames = df.loc["006_1_2"].frames
    assert [p.name for p in frames] == [f"006_{n:05d}.jpg" for n in range(5562, 5568)]
    assert frames[0].parent == samm_root / "006" / "006_1_2"
    image = cv2.imread(str(frames[3]), cv2.IMREAD_UNCHANGED)
    assert image.ndim == 2 and int(image.mean().round()) == frame_value(5565)
    frames = df.loc["006_1_5"].frames  # written with 4 digits: found by number, not padding
    assert [p.name for p in frames] == [f"006_{n:04d}.jpg" for n in range(990, 999)]
    levels = [int(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).mean().round()) for p in frames]
    assert levels == [frame_value(n) for n in range(990, 999)]


@pytest.mark.parametrize("preamble", [0, 5, 13])
def test_samm_header_found_by_content(tmp_path: Path, preamble: int) -> None:
    root = make_samm_tree(tmp_path, SAMM_CLIPS[:1], preamble_rows=preamble)
    df = samm.load(root)
    assert df.attrs["header_row"] == preamble + 1
    assert df.source_row.tolist() == [preamble + 2]


def test_samm_bad_objective_class(tmp_path: Path) -> None:
    for bad in ("VIII", "x", 0, 2.5):
        root = make_samm_tree(tmp_path / str(bad), [dict(SAMM_CLIPS[0], objective_class=bad)])
        with pytest.raises(AnnotationError, match=rf"{SAMM_FILE} row {SAMM_HEADER_ROW + 1}: objective"):
            samm.load(root)


# --------------------------------------------------------------------------- MEGC 2018


def test_megc2018_filter_and_subjects(casme_root: Path, samm_root: Path) -> None:
    c = casme2.load(casme_root)
    s = _load_samm(samm_root)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*lists alternatives.*")
        df = megc2018.load(casme_root, samm_root)
    assert tuple(df.columns) == COLUMNS
    # hand count: CASME classes 3, 1, 2, 6 -> 3 kept; SAMM 3, 4, 1, 7 -> 3 kept
    assert (df.dataset == "casme2").sum() == 3 and (df.dataset == "samm").sum() == 3
    assert set(df.objective_class) <= {1, 2, 3, 4, 5}
    assert set(df["clip"]) == set(c["clip"][c.objective_class <= 5]) | set(s["clip"][s.objective_class <= 5])
    assert df.attrs["excluded_by_class"] == {"casme2": {"6": 1}, "samm": {"7": 1}}
    assert df.attrs["classes"] == [1, 2, 3, 4, 5]
    # subject ids unique across datasets (CASME sub01 and SAMM 001 are different people)
    by_dataset = df.groupby("subject").dataset.nunique()
    assert (by_dataset == 1).all()
    assert "casme2/sub01" in set(df.subject) and "samm/001" in set(df.subject)
    assert df.equals(df.sort_values(["dataset", "subject", "clip"]).reset_index(drop=True))
    validate(df)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*lists alternatives.*")
        every = megc2018.load(casme_root, samm_root, classes=(1, 2, 3, 4, 5, 6, 7))
        only3 = megc2018.load(casme_root, samm_root, classes=(3,))
    assert len(every) == len(c) + len(s)
    assert sorted(only3["clip"]) == ["006_1_2", "EP02_01f"]
    with pytest.raises(ValueError, match="classes"):
        megc2018.load(casme_root, samm_root, classes=(0, 8))


def test_megc2018_is_the_composite_of_the_registered_pair(casme_root: Path, samm_root: Path) -> None:
    roots = {"casme2": casme_root, "samm": samm_root}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*lists alternatives.*")
        for variant in ("raw", "cropped"):
            ours = megc2018.load(casme_root, samm_root, casme2_variant=variant)
            generic = composite.load(roots, options={"casme2": {"variant": variant}})
            assert ours.equals(generic) and ours.attrs == generic.attrs
            assert ours.attrs["casme2"]["variant"] == variant
        reverse = composite.load({"samm": samm_root, "casme2": casme_root})
        assert reverse.equals(megc2018.load(casme_root, samm_root))  # rows sorted by dataset
    assert list(ours.attrs)[:4] == ["classes", "skipped", "unused_objective_rows", "excluded_by_class"]
    with pytest.raises(ValueError, match="without a root"):
        composite.load({"samm": samm_root}, options={"casme2": {"variant": "raw"}})
    with pytest.raises(ValueError, match="at least one"):
        composite.load({})
    with pytest.raises(KeyError, match="unknown data set 'mmew'"):
        composite.load({"mmew": samm_root})


def test_megc2018_merges_skipped(tmp_path: Path) -> None:
    croot = make_casme2_tree(tmp_path / "c", [CASME_CLIPS[0], dict(CASME_CLIPS[2], frames=None)])
    sroot = make_samm_tree(tmp_path / "s", [SAMM_CLIPS[0], dict(SAMM_CLIPS[3], objective_class=2,
                                                                 frames=[7, 9])])
    with pytest.warns(DataWarning):
        df = megc2018.load(croot, sroot, on_missing="skip")
    assert sorted(df["clip"]) == ["006_1_2", "EP02_01f"]
    assert [(s["dataset"], s["clip"]) for s in df.attrs["skipped"]] == [
        ("casme2", "EP01_11f"), ("samm", "011_3_3")]
    assert "missing: 8" in df.attrs["skipped"][1]["reason"]


# --------------------------------------------------------------------------- errors


def _casme_row(index: int) -> str:
    return rf"{re.escape(CASME2_CODING)} row {_row(CASME2_HEADER_ROW, index)}"


def test_missing_frames_folder_and_gap(tmp_path: Path) -> None:
    clips = [CASME_CLIPS[0], dict(CASME_CLIPS[2], frames=None)]
    root = make_casme2_tree(tmp_path / "a", clips)
    with pytest.raises(FramesNotFoundError, match=rf"{_casme_row(1)} \(sub02/EP01_11f\).*does not exist"):
        casme2.load(root)
    gap = [CASME_CLIPS[0], dict(CASME_CLIPS[2], frames=[5, 8])]  # 6, 7 missing
    root = make_casme2_tree(tmp_path / "b", gap)
    with pytest.raises(FramesNotFoundError, match=r"row 3 \(sub02/EP01_11f\).*missing: 6-7"):
        casme2.load(root)
    with pytest.warns(DataWarning, match="EP01_11f"):
        df = casme2.load(root, on_missing="skip")
    assert df["clip"].tolist() == ["EP02_01f"]
    assert df.attrs["skipped"] == [{
        "dataset": "casme2", "subject": "casme2/sub02", "clip": "EP01_11f",
        "where": f"{CASME2_CODING} row 3", "reason": df.attrs["skipped"][0]["reason"]}]
    # SAMM: gap
    root = make_samm_tree(tmp_path / "s", [dict(SAMM_CLIPS[0], frames=[5562, 5563, 5567])])
    with pytest.raises(FramesNotFoundError, match=rf"{SAMM_FILE} row 15 \(006/006_1_2\).*5564-5566"):
        samm.load(root)


def test_onset_after_offset(tmp_path: Path) -> None:
    clips = [CASME_CLIPS[0], dict(CASME_CLIPS[2], onset=9, apex=9, offset=8, frames=[])]
    with pytest.raises(AnnotationError, match=rf"{_casme_row(1)}: onset frame 9 is after offset frame 8"):
        casme2.load(make_casme2_tree(tmp_path / "c", clips))
    clips = [dict(SAMM_CLIPS[0], onset=5570, frames=[])]
    with pytest.raises(AnnotationError, match=rf"{SAMM_FILE} row 15: onset frame 5570"):
        samm.load(make_samm_tree(tmp_path / "s", clips))


def test_apex_outside_range(tmp_path: Path) -> None:
    clips = [dict(CASME_CLIPS[0], apex=51)]
    with pytest.raises(AnnotationError, match=rf"{_casme_row(0)}: apex frame 51 lies outside onset..offset \(46..50\)"):
        casme2.load(make_casme2_tree(tmp_path / "c", clips))
    clips = [SAMM_CLIPS[0], dict(SAMM_CLIPS[3], apex=6)]
    with pytest.raises(AnnotationError, match=rf"{SAMM_FILE} row 16: apex frame 6 lies outside"):
        samm.load(make_samm_tree(tmp_path / "s", clips))


def test_apex_rule_error(casme_root: Path) -> None:
    with pytest.raises(AnnotationError, match=rf"{_casme_row(1)}: apex is '/'"):
        casme2.load(casme_root, apex_rule="error")


def test_missing_sheet_and_header(tmp_path: Path, casme_root: Path) -> None:
    with pytest.raises(AnnotationError, match=rf"{CASME2_CODING} has no sheet 'Coding'.*Sheet1"):
        casme2.load(casme_root, sheet="Coding")
    assert len(casme2.load(casme_root, sheet="Sheet1")) == len(CASME_CLIPS)
    header = [h if h != "Onset Frame" else "Start" for h in SAMM_HEADER]
    root = make_samm_tree(tmp_path / "s", SAMM_CLIPS[:1], header=header)
    with pytest.raises(AnnotationError, match=rf"{SAMM_FILE}: no header row found.*onset"):
        samm.load(root)


def test_missing_files(tmp_path: Path, casme_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        samm.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="SAMM_Micro_FACS_Codes"):
        samm.load(tmp_path / "empty")
    (casme_root / CASME2_CODING).rename(casme_root / "CASME2-coding-20990101.xlsx")
    assert casme2.load(casme_root).source_file.iloc[0] == "CASME2-coding-20990101.xlsx"
    (casme_root / "CASME2-coding-20990101.xlsx").write_bytes(b"not a zip")
    with pytest.raises(AnnotationError, match="cannot read .*CASME2-coding-20990101.xlsx"):
        casme2.load(casme_root)


def test_bad_cells_name_file_and_row(tmp_path: Path) -> None:
    clips = [CASME_CLIPS[0], dict(CASME_CLIPS[2], aus="4+smile")]
    with pytest.raises(ValueError, match=rf"{_casme_row(1)}.*smile"):
        casme2.load(make_casme2_tree(tmp_path / "a", clips))
    clips = [CASME_CLIPS[0], dict(CASME_CLIPS[2], subject="patient 2")]
    with pytest.raises(AnnotationError, match=rf"{_casme_row(1)}: subject 'patient 2'"):
        casme2.load(make_casme2_tree(tmp_path / "b", clips))
    clips = [dict(SAMM_CLIPS[0], onset="start", frames=[])]
    with pytest.raises(AnnotationError, match=rf"{SAMM_FILE} row 15: onset frame 'start'"):
        samm.load(make_samm_tree(tmp_path / "c", clips))


def test_duplicate_clip(tmp_path: Path) -> None:
    clips = [SAMM_CLIPS[0], dict(SAMM_CLIPS[0], subject="006")]
    with pytest.raises(AnnotationError, match=r"006/006_1_2 appears twice \(rows 15 and 16\)"):
        samm.load(make_samm_tree(tmp_path, clips))


def test_validate_catches_broken_rows(casme_root: Path) -> None:
    df = casme2.load(casme_root)
    broken = df.copy()
    broken.at[0, "frames"] = broken.at[0, "frames"][:-1]
    with pytest.raises(AnnotationError, match="casme2/sub01/EP02_01f"):
        validate(broken)
    broken = df.copy()
    broken.at[1, "subject"] = "sub01"
    with pytest.raises(AnnotationError, match="does not start with 'casme2/'"):
        validate(broken)


def test_empty_result_keeps_schema(tmp_path: Path) -> None:
    root = make_samm_tree(tmp_path, [dict(SAMM_CLIPS[0], frames=None)])
    with pytest.warns(DataWarning):
        df = samm.load(root, on_missing="skip")
    assert len(df) == 0 and tuple(df.columns) == COLUMNS
    assert df.dtypes["onset"] == "int64" and len(df.attrs["skipped"]) == 1
