"""Build tiny CASME II and SAMM folders in the layouts the real data sets are distributed in.

Test helper, shared: any test that needs a dataset on disk can call

    make_casme2_tree(tmp_path / "CASME2", [dict(subject=1, clip="EP02_01f", onset=46, ...)])
    make_samm_tree(tmp_path / "SAMM", [dict(subject=6, clip="006_1_2", onset=5562, ...)])

The real files' quirks are reproduced: blank columns in the CASME II coding sheet, a preamble
above the SAMM header (header on spreadsheet row 14 by default), subjects stored as written in
the dicts (``1`` / ``"01"`` / ``"sub01"``, ``6`` / ``"006"``), raw ``imgN.jpg`` and cropped
``reg_imgN.jpg`` frames, grayscale SAMM frames zero-padded to 5 digits.

Every frame is a tiny uniform image whose gray level is :func:`frame_value` of its frame
number, so a test can check the temporal order by reading pixels.

Clip dict keys (CASME II): ``subject``, ``clip``, ``onset``, ``apex`` (int or ``"/"``),
``offset``, ``aus`` (cell text, e.g. ``"4+L10"``), ``emotion``, ``objective_class`` (cell value;
``None`` leaves the clip out of ``CASME2-ObjectiveClasses.xlsx``), optional
``objective_subject`` (the subject cell in the objective file, default ``"subNN"``) and
``frames`` (the frame numbers to write; default onset..offset; ``None`` writes no folder).

Clip dict keys (SAMM): ``subject``, ``clip``, ``onset``, ``apex``, ``offset``, ``aus``,
``emotion``, ``objective_class`` (cell value: 3, 3.0, ``"III"``), optional ``type`` (default
``"Micro - 1/2"``), ``inducement``, ``notes``, ``frames`` (as above) and ``pad`` (digits of
the frame number in file names, default 5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import openpyxl

CASME2_CODING = "CASME2-coding-20140508.xlsx"
CASME2_OBJECTIVE = "CASME2-ObjectiveClasses.xlsx"
CASME2_HEADER = (
    "Subject",
    "Filename",
    None,  # the real sheet has a blank (unnamed) column here ...
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,  # ... and here
    "Action Units",
    "Estimated Emotion",
)
#: Spreadsheet row of the CASME II coding header (no preamble); data start one row below.
CASME2_HEADER_ROW = 1

SAMM_FILE = "SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_HEADER = (
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Type",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
    "Notes",
)
#: Spreadsheet row of the SAMM header with the default preamble (as in the real file).
SAMM_HEADER_ROW = 14


def frame_value(number: int) -> int:
    """Gray level of frame ``number`` in these fake trees (distinct for nearby frames)."""
    return (number * 7) % 256


def _write_frame(path: Path, number: int, size: int, *, gray: bool) -> None:
    shape = (size, size) if gray else (size, size, 3)
    image = np.full(shape, frame_value(number), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cv2.imwrite failed for {path}")


def _frame_numbers(clip: Mapping[str, Any]) -> Iterable[int] | None:
    if "frames" in clip:
        return clip["frames"]
    return range(int(clip["onset"]), int(clip["offset"]) + 1)


def casme2_subject_folder(subject: object) -> str:
    """``1`` / ``"01"`` / ``"sub01"`` -> ``"sub01"``."""
    match = re.search(r"(\d+)", str(subject))
    assert match is not None, subject
    return f"sub{int(match.group(1)):02d}"


def samm_subject_folder(subject: object) -> str:
    """``6`` / ``"006"`` -> ``"006"``."""
    return f"{int(subject):03d}"


def _save(path: Path, sheet_title: str, rows: Sequence[Sequence[Any]]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet_title
    for row in rows:
        ws.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def make_casme2_tree(
    root: Path,
    clips: Sequence[Mapping[str, Any]],
    *,
    variant: str = "raw",
    image_size: int = 8,
    objective_file: bool = True,
    coding_name: str = CASME2_CODING,
    sheet_title: str = "Sheet1",
) -> Path:
    """Write a CASME II folder under ``root`` and return ``root``.

    ``variant``: ``"raw"`` (``CASME2_RAW_selected/subNN/<clip>/imgN.jpg``), ``"cropped"``
    (``Cropped/subNN/<clip>/reg_imgN.jpg``) or ``"both"``. Colour (3-channel) frames.
    ``objective_file=False`` writes no ``CASME2-ObjectiveClasses.xlsx``.
    """
    root = Path(root)
    coding = [CASME2_HEADER]
    for c in clips:
        coding.append(
            (c["subject"], c["clip"], None, c["onset"], c["apex"], c["offset"], None,
             c["aus"], c["emotion"])
        )
    _save(root / coding_name, sheet_title, coding)
    if objective_file:
        rows: list[tuple[Any, ...]] = [("Subject", "Filename", "Objective Class")]
        for c in clips:
            if c.get("objective_class") is None:
                continue
            subject = c.get("objective_subject", casme2_subject_folder(c["subject"]))
            rows.append((subject, c["clip"], c["objective_class"]))
        _save(root / CASME2_OBJECTIVE, "Sheet1", rows)
    trees = {"raw": [("CASME2_RAW_selected", "img")], "cropped": [("Cropped", "reg_img")]}
    trees["both"] = trees["raw"] + trees["cropped"]
    for tree, prefix in trees[variant]:
        (root / tree).mkdir(parents=True, exist_ok=True)
        for c in clips:
            numbers = _frame_numbers(c)
            if numbers is None:
                continue
            folder = root / tree / casme2_subject_folder(c["subject"]) / c["clip"]
            folder.mkdir(parents=True, exist_ok=True)
            for n in numbers:
                _write_frame(folder / f"{prefix}{n}.jpg", n, image_size, gray=False)
    return root


def make_samm_tree(
    root: Path,
    clips: Sequence[Mapping[str, Any]],
    *,
    preamble_rows: int = SAMM_HEADER_ROW - 1,
    image_size: int = 8,
    header: Sequence[str | None] = SAMM_HEADER,
    annotation_name: str = SAMM_FILE,
    sheet_title: str = "FACS_Codes",
) -> Path:
    """Write a SAMM folder under ``root`` and return ``root``.

    ``preamble_rows`` rows of title / licence text (some blank, one mentioning "Subject" and
    "Filename" in prose) precede the header, so it lands on row ``preamble_rows + 1``.
    Frames are grayscale ``NNN/<clip>/NNN_<frame, zero-padded to pad digits>.jpg``.
    """
    root = Path(root)
    preamble_text = [
        "SAMM: Spontaneous Actions and Micro-Movements",
        "Micro-movement FACS codes, version 2",
        None,
        "Subject: participant number; Filename: clip folder",
        "Frames are 1-based; see the readme for the inducement codes",
    ]
    rows: list[tuple[Any, ...]] = []
    for i in range(preamble_rows):
        text = preamble_text[i % len(preamble_text)]
        rows.append((text,) if text is not None else ())
    rows.append(tuple(header))
    for c in clips:
        onset, offset = c["onset"], c["offset"]
        duration = offset - onset + 1 if isinstance(onset, int) and isinstance(offset, int) else None
        rows.append(
            (c["subject"], c["clip"], c.get("inducement", 1), onset, c["apex"],
             offset, duration, c.get("type", "Micro - 1/2"), c["aus"],
             c["emotion"], c["objective_class"], c.get("notes"))
        )
    _save(root / annotation_name, sheet_title, rows)
    for c in clips:
        numbers = _frame_numbers(c)
        if numbers is None:
            continue
        subject = samm_subject_folder(c["subject"])
        folder = root / subject / c["clip"]
        folder.mkdir(parents=True, exist_ok=True)
        pad = int(c.get("pad", 5))
        for n in numbers:
            _write_frame(folder / f"{subject}_{n:0{pad}d}.jpg", n, image_size, gray=True)
    return root


#: SMIC-HS class folders -> the abbreviation in their clip folders' names
SMIC_CLASSES = {"negative": "ne", "positive": "po", "surprise": "sur"}


def make_smic_tree(root: Path, clips: Sequence[Mapping[str, Any]], *, image_size: int = 8,
                   suffix: str = ".bmp") -> Path:
    """A SMIC-HS folder ``root/HS/s<N>/micro/<class>/<clip>/image<NNNNNNN><suffix>`` (colour
    frames, 7-digit numbers as in the real data). Clip dict keys: ``subject`` (int),
    ``emotion`` (a class folder), ``number`` (the clip's NN), ``onset``, ``offset``, optional
    ``clip`` (the folder name, default ``s<N>_<abbrev>_<NN>``) and ``frames`` (as above)."""
    for c in clips:
        name = c.get("clip") or f"s{c['subject']}_{SMIC_CLASSES[c['emotion']]}_{c['number']:02d}"
        folder = root / "HS" / f"s{c['subject']}" / "micro" / c["emotion"] / name
        folder.mkdir(parents=True, exist_ok=True)
        for n in _frame_numbers(c) or ():
            _write_frame(folder / f"image{n:07d}{suffix}", n, image_size, gray=False)
    return root
