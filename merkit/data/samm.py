"""SAMM loader: the folder as distributed -> one DataFrame row per clip.

Layout of ``root``: the ``layout`` of the registry entry :data:`merkit.data.registry.SAMM`
(``SAMM_Micro_FACS_Codes_v2.xlsx`` with a preamble above the header, grayscale frames
``NNN/<clip>/NNN_<frame>.jpg``).

Quirks handled: the header row is found by its content (copies differ in their preamble);
``Subject`` may be stored as ``6`` or ``"006"`` (both -> ``"samm/006"``); AU cells such as
``"R12 + R15"``, ``"R14A"`` and ``"12 or 14"`` are parsed by :func:`merkit.facs.parse_aus`
(alternatives keep both AUs, with a warning); objective classes may be ints, floats or Roman
numerals; an apex ``"/"`` is estimated as the middle frame and flagged.

Decision on the "Type" column: every row is kept and the cell is stored in the ``type``
column. The sheet holds micro-movements only, and the MEGC 2018 SAMM set (68 clips of
classes I–V) is obtained by the objective-class filter of :mod:`merkit.data.megc2018`, not by
the type; filter on ``type`` yourself if your copy of the sheet mixes in other kinds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from merkit.data._common import (
    ApexRule,
    OnMissing,
    Skipper,
    cell_text,
    check_unique,
    clip_record,
    find_file,
    find_frames,
    frames_problem,
    image_pattern,
    parse_objective_class,
    read_clip_row,
    read_table,
    subject_folder,
    subject_number,
    to_frame,
)
from merkit.io import FrameError

DATASET = "samm"
ANNOTATION_FILE = "SAMM_Micro_FACS_Codes_v2.xlsx"
ANNOTATION_GLOB = "SAMM_Micro_FACS_Codes*.xlsx"

#: Frame files: ``<anything>_<frame number>.<image suffix>`` (``006_05562.jpg``).
FRAME_PATTERN: re.Pattern[str] = image_pattern(r"[^.]*_")

_COLUMNS = {
    "subject": ("subject",),
    "clip": ("filename",),
    "onset": ("onsetframe", "onset"),
    "apex": ("apexframe", "apex"),
    "offset": ("offsetframe", "offset"),
    "aus": ("actionunits", "actionunit", "aus"),
    "emotion": ("estimatedemotion", "emotion"),
    "objective_class": ("objectiveclasses", "objectiveclass"),
}
_OPTIONAL = {
    "type": ("type",),
    "inducement": ("inducementcode",),
    "duration": ("duration",),
    "notes": ("notes",),
}


def subject_id(value: object, *, where: str) -> str:
    """``6``, ``6.0``, ``"6"``, ``"6.0"``, ``"006"``, ``"sub6"`` -> ``"006"`` (the frame folder
    name; :func:`merkit.data._common.subject_number`, shared with CASME II)."""
    return f"{subject_number(value, where=where, dataset='SAMM'):03d}"


def load(
    root: str | os.PathLike[str],
    *,
    on_missing: OnMissing = "error",
    apex_rule: ApexRule = "middle",
    annotation_file: str | os.PathLike[str] | None = None,
    sheet: str | None = None,
    frames_root: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Load SAMM from ``root`` -> DataFrame, one row per clip, columns ``merkit.data.COLUMNS``.

    Args:
        root: the SAMM folder as distributed (see the module docstring).
        on_missing: what to do with a clip whose frame folder is missing or whose frames
            onset..offset have a gap: ``"error"`` (default) raises naming the file, row and
            clip; ``"skip"`` warns and lists the clip in ``df.attrs["skipped"]``.
        apex_rule: ``"middle"`` estimates a ``"/"`` apex as ``(onset + offset) // 2`` and sets
            ``apex_estimated``; ``"error"`` refuses such rows.
        annotation_file: override the annotation file (relative to ``root`` or absolute).
        sheet: the sheet's name; ``None`` searches every sheet for the header row.
        frames_root: folder holding the ``NNN/`` subject folders (default ``root``).

    Raises:
        FileNotFoundError: root or annotation file missing; a clip's frames missing
            (:class:`~merkit.data._common.FramesNotFoundError`) with ``on_missing="error"``.
        AnnotationError (a ValueError): missing sheet or header, a bad cell, onset > offset,
            apex outside onset..offset, a duplicate clip; the message names file and row.
    """
    root = Path(root).expanduser()
    path = find_file(root, ANNOTATION_FILE, ANNOTATION_GLOB, annotation_file)
    table = read_table(path, _COLUMNS, _OPTIONAL, sheet=sheet)
    tree = Path(frames_root).expanduser() if frames_root is not None else root

    skipper = Skipper(on_missing, DATASET)
    records: list[dict[str, Any]] = []
    for row, cells in table.rows:
        r = read_clip_row(table, row, cells, subject_id, apex_rule=apex_rule)
        objective = parse_objective_class(table.cell(cells, "objective_class"), where=r.where)
        number = int(r.subject)  # a copy may have unpadded subject folders
        folder = subject_folder(tree, r.clip, (r.subject, str(number), f"{number:02d}"))
        frames, problem = find_frames(folder, r.onset, r.offset, FRAME_PATTERN)
        if problem:
            skipper.problem(subject=r.subject, clip=r.clip, where=r.where, reason=problem)
            continue
        problem = frames_problem(frames)
        if problem:
            skipper.problem(subject=r.subject, clip=r.clip, where=r.where, reason=problem,
                            error=FrameError)
            continue
        records.append(
            clip_record(DATASET, r, objective=objective, emotion=table.cell(cells, "emotion"),
                        frames=frames, type_=cell_text(table.cell(cells, "type")),
                        source_file=path.name, source_row=row)
        )
    check_unique(records)
    attrs = {
        "dataset": DATASET,
        "root": str(root),
        "annotation_file": str(path),
        "sheet": table.sheet,
        "header_row": table.header_row,
        "frames_root": str(tree),
        "apex_rule": apex_rule,
        "skipped": skipper.skipped,
    }
    return to_frame(records, attrs)
