"""SMIC-HS loader: the folder as distributed -> one DataFrame row per clip.

Layout of ``root`` (the ``layout`` of the registry entry :data:`merkit.data.registry.SMIC`)::

    root/HS/s1/micro/negative/s1_ne_01/image0600001.bmp ...
                     positive/s1_po_02/...
                     surprise/s1_sur_01/...

``root`` may also be the ``HS`` folder itself. Assumptions, each checked with an error that
names the folder:

* the class is the folder's: ``negative``, ``positive`` or ``surprise`` (the ``emotion``
  column); a clip folder is ``s<N>_<ne|po|sur>_<NN>``, with the subject and class abbreviation
  of the folders it sits in (``s3_po_05`` under ``s3/micro/positive``). Other folders beside
  them (``non_micro``, ``__MACOSX``, notes) are an error unless ``on_unknown="ignore"``,
  which warns and lists them in ``df.attrs["ignored"]``;
* frames are image files whose name ends in their number (``image0600001.bmp``, ``12.jpg``;
  the number is parsed, not assumed to be padded); a clip runs from its first to its last
  frame (SMIC clips are cut from onset to offset), and a gap in the numbering is a missing
  frame (``on_missing``);
* SMIC has no AU coding and no apex annotation: ``aus`` is ``()``, ``objective_class`` is 0
  (not coded; the MEGC 2018 class filters drop such clips) and the apex is the middle frame
  ``(onset + offset) // 2`` with ``apex_estimated`` set, unless ``apex_table`` gives it. The
  apex table is a ``.csv`` or ``.xlsx`` with columns ``Subject`` (``s1`` or ``1``),
  ``Filename`` (the clip folder) and ``Apex`` (a frame number of the clip); a row naming an
  unknown clip or an apex outside the clip is an error naming the file and row.

``source_file`` is the clip's class folder relative to ``root`` (SMIC has no annotation
sheet) and ``source_row`` is 0, except for clips whose apex came from the apex table (its
file name and row).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from merkit.data._common import (
    NOT_CODED,
    AnnotationError,
    ClipRow,
    DataWarning,
    OnMissing,
    Skipper,
    check_unique,
    clip_record,
    frame_index,
    frames_problem,
    image_pattern,
    normalize_header,
    subject_number,
    to_frame,
)
from merkit.io import FrameError

DATASET = "smic"
#: the class folders and the abbreviation their clip folders carry
CLASSES: Mapping[str, str] = {"negative": "ne", "positive": "po", "surprise": "sur"}
#: frame files: any name ending in the frame number (``image0600001.bmp``)
FRAME_PATTERN: re.Pattern[str] = image_pattern(r"(?:.*?\D)?")
_CLIP = re.compile(r"s(\d+)_(ne|po|sur)_(\d+)", re.IGNORECASE)

OnUnknown = Literal["error", "ignore"]


def _hs_folder(root: Path) -> Path:
    """``root/HS`` (any case), or ``root`` itself when it holds the ``s<N>`` folders."""
    if not root.is_dir():
        raise FileNotFoundError(f"SMIC root {root} does not exist; set SMIC_ROOT to the folder holding HS/")
    for child in root.iterdir():
        if child.is_dir() and child.name.lower() == "hs":
            return child
    if any(child.is_dir() and re.fullmatch(r"s\d+", child.name, re.IGNORECASE) for child in root.iterdir()):
        return root
    raise FileNotFoundError(f"{root}: no HS/ folder and no s<N>/ subject folders; SMIC-HS is laid out as "
                            "HS/s1/micro/negative/s1_ne_01/<frames>")


class _Unknown:
    """The ``on_unknown`` switch for folders that are not part of the layout."""

    def __init__(self, on_unknown: OnUnknown) -> None:
        if on_unknown not in ("error", "ignore"):
            raise ValueError(f"on_unknown must be 'error' or 'ignore', not {on_unknown!r}")
        self.on_unknown = on_unknown
        self.ignored: list[str] = []

    def __call__(self, path: Path, expected: str) -> None:
        message = f"{path}: unexpected {'folder' if path.is_dir() else 'file'} in SMIC-HS (expected {expected})"
        if self.on_unknown == "error":
            raise AnnotationError(f"{message}; move it out of the data set, or pass on_unknown='ignore' "
                                  "(it is then warned about and listed in df.attrs['ignored'])")
        warnings.warn(f"ignoring {message}", DataWarning, stacklevel=3)
        self.ignored.append(str(path))


def _read_apex_table(path: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """``(subject folder, clip) -> (apex, spreadsheet row)`` from a ``.csv`` / ``.xlsx``."""
    if not path.is_file():
        raise FileNotFoundError(f"apex table {path} does not exist")
    raw = pd.read_csv(path, dtype=object) if path.suffix.lower() == ".csv" else pd.read_excel(path, dtype=object)
    columns = {normalize_header(c): c for c in raw.columns}
    needed = {"subject": ("subject",), "clip": ("filename", "clip"), "apex": ("apex", "apexframe")}
    found = {}
    for field, names in needed.items():
        hit = next((columns[n] for n in names if n in columns), None)
        if hit is None:
            raise AnnotationError(f"{path}: no {names[0].capitalize()} column (found {list(raw.columns)})")
        found[field] = hit
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for i, cells in raw.iterrows():
        row = int(i) + 2  # the header is row 1
        where = f"{path.name} row {row}"
        number = subject_number(cells[found["subject"]], where=where, dataset="SMIC")
        clip = str(cells[found["clip"]]).strip()
        try:
            apex = int(float(str(cells[found["apex"]]).strip()))
        except ValueError:
            raise AnnotationError(f"{where}: apex {cells[found['apex']]!r} is not a frame number") from None
        if (f"s{number}", clip) in out:
            raise AnnotationError(f"{where}: clip s{number}/{clip} appears twice in the apex table")
        out[(f"s{number}", clip)] = (apex, row)
    return out


def load(
    root: str | os.PathLike[str],
    *,
    on_missing: OnMissing = "error",
    apex_rule: str = "middle",
    apex_table: str | os.PathLike[str] | None = None,
    on_unknown: OnUnknown = "error",
) -> pd.DataFrame:
    """Load SMIC-HS from ``root`` -> DataFrame, one row per clip, columns ``merkit.data.COLUMNS``.

    Args:
        root: the SMIC folder holding ``HS/`` (or ``HS`` itself); see the module docstring.
        on_missing: a clip folder without frames, with a gap in its frame numbers or with a
            corrupt frame: ``"error"`` (default) raises naming the clip folder; ``"skip"``
            warns and lists the clip in ``df.attrs["skipped"]``.
        apex_rule: ``"middle"`` (the only rule: SMIC has no apex annotation, so the middle
            frame is used and flagged ``apex_estimated``) or ``"error"``, which refuses clips
            that ``apex_table`` does not cover.
        apex_table: optional ``.csv`` / ``.xlsx`` (Subject, Filename, Apex) giving apex frames.
        on_unknown: what to do with a folder or file outside the layout (``"error"`` or
            ``"ignore"``, which warns and lists it in ``df.attrs["ignored"]``).

    Raises:
        FileNotFoundError: the root, its HS folder or the apex table missing; a clip's frames
            missing (:class:`~merkit.data._common.FramesNotFoundError`) with ``on_missing="error"``.
        AnnotationError (a ValueError): an unexpected folder, a clip folder whose name disagrees
            with its subject or class folder, a bad apex table row.
    """
    if apex_rule not in ("middle", "error"):
        raise ValueError(f"apex_rule must be 'middle' or 'error', not {apex_rule!r}")
    root = Path(root).expanduser()
    hs = _hs_folder(root)
    apexes = _read_apex_table(Path(apex_table).expanduser()) if apex_table is not None else {}
    apex_name = "" if apex_table is None else Path(apex_table).name
    used: set[tuple[str, str]] = set()
    unknown = _Unknown(on_unknown)
    skipper = Skipper(on_missing, DATASET)
    records: list[dict[str, Any]] = []
    for subject_dir in sorted(hs.iterdir()):
        if not (subject_dir.is_dir() and re.fullmatch(r"s\d+", subject_dir.name, re.IGNORECASE)):
            unknown(subject_dir, "subject folders s1, s2, ...")
            continue
        subject = subject_dir.name
        number = int(subject[1:])
        for part in sorted(subject_dir.iterdir()):
            if part.name.lower() != "micro":
                unknown(part, f"{subject}/micro")
                continue
            for class_dir in sorted(part.iterdir()):
                emotion = class_dir.name.lower()
                if not class_dir.is_dir() or emotion not in CLASSES:
                    unknown(class_dir, "the class folders " + ", ".join(CLASSES))
                    continue
                for clip_dir in sorted(class_dir.iterdir()):
                    where = str(clip_dir.relative_to(root))
                    match = _CLIP.fullmatch(clip_dir.name)
                    if not clip_dir.is_dir() or match is None:
                        unknown(clip_dir, f"clip folders s{number}_{CLASSES[emotion]}_NN")
                        continue
                    if int(match.group(1)) != number or match.group(2).lower() != CLASSES[emotion]:
                        raise AnnotationError(
                            f"{where}: the clip folder's name says subject s{match.group(1)}, class "
                            f"{match.group(2)}, but it is in {subject}/micro/{class_dir.name} "
                            f"(expected s{number}_{CLASSES[emotion]}_NN); move or rename it")
                    record = _clip(root, clip_dir, subject, emotion, where, apexes, apex_name, apex_rule, skipper)
                    if record is not None:
                        used.add((f"s{number}", clip_dir.name))
                        records.append(record)
    stray = sorted(set(apexes) - used)
    if stray:
        (subject, clip) = stray[0]
        raise AnnotationError(f"{apex_name} row {apexes[stray[0]][1]}: clip {subject}/{clip} is not in "
                              f"{hs} ({len(stray)} row(s) name clips that are not there)")
    check_unique(records)
    attrs = {"dataset": DATASET, "root": str(root), "hs_folder": str(hs), "apex_rule": apex_rule,
             "apex_table": None if apex_table is None else str(apex_table), "skipped": skipper.skipped,
             "ignored": unknown.ignored}
    return to_frame(records, attrs)


def _clip(root: Path, folder: Path, subject: str, emotion: str, where: str,
          apexes: Mapping[tuple[str, str], tuple[int, int]], apex_name: str, apex_rule: str,
          skipper: Skipper) -> dict[str, Any] | None:
    """One clip's record, or ``None`` when it is skipped (``on_missing="skip"``)."""
    index = frame_index(folder, FRAME_PATTERN)
    if not index:
        skipper.problem(subject=subject, clip=folder.name, where=where, reason=f"no frame images in {folder}")
        return None
    onset, offset = min(index), max(index)
    missing = [n for n in range(onset, offset + 1) if n not in index]
    if missing:
        skipper.problem(subject=subject, clip=folder.name, where=where,
                        reason=f"{len(missing)} frame(s) missing between {onset} and {offset} in {folder} "
                               f"(first missing: {missing[0]})")
        return None
    frames = tuple(index[n] for n in range(onset, offset + 1))
    problem = frames_problem(frames)
    if problem:
        skipper.problem(subject=subject, clip=folder.name, where=where, reason=problem, error=FrameError)
        return None
    key = (f"s{int(subject[1:])}", folder.name)
    source_file, source_row = str(folder.parent.relative_to(root)), 0
    if key in apexes:
        apex, source_row = apexes[key]
        source_file = apex_name
        if not onset <= apex <= offset:
            raise AnnotationError(f"{apex_name} row {source_row}: apex {apex} of {where} is outside its frames "
                                  f"{onset}..{offset}")
        estimated = False
    elif apex_rule == "error":
        raise AnnotationError(f"{where}: no apex in the apex table and apex_rule='error'")
    else:
        apex, estimated = (onset + offset) // 2, True
    row = ClipRow(where, subject, folder.name, onset, apex, offset, estimated, "", ())
    return clip_record(DATASET, row, objective=NOT_CODED, emotion=emotion, frames=frames, type_="micro",
                       source_file=source_file, source_row=source_row)
