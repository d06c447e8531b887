"""CASME II loader: the folder as distributed -> one DataFrame row per clip.

Layout of ``root`` (as distributed by the CASME II authors): the ``layout`` of the registry
entry :data:`merkit.data.registry.CASME2` (``CASME2-coding-*.xlsx``,
``CASME2-ObjectiveClasses.xlsx``, ``CASME2_RAW_selected/subNN/<clip>/imgN.jpg`` or
``Cropped/subNN/<clip>/reg_imgN.jpg``).

Quirks handled: the header row is found by its content (blank columns and preamble rows are
fine); ``Subject`` may be ``1``, ``"01"`` or ``"sub01"`` in either file; ``ApexFrame`` may hold
``"/"`` (no apex coded: estimated as the middle frame and flagged, see
:func:`merkit.data._common.parse_apex`); AU cells such as ``"4+L10"``, ``"R12"``, ``"1+2"`` are
parsed by :func:`merkit.facs.parse_aus`; frame files are found by the number in their name, not
by an assumed zero padding. If ``CASME2-ObjectiveClasses.xlsx`` is absent but the coding sheet
has an "Objective Class" column, that column is used; when both exist the objective-class file
wins and every clip whose coding-sheet class disagrees with it is listed in a
:class:`~merkit.data._common.DataWarning` (and in ``df.attrs["class_conflicts"]``). Subjects
are read by :func:`merkit.data._common.subject_number` (``1``, ``1.0``, ``"1.0"``, ``"01"``,
``"sub1"``: the forms SAMM accepts too) and their frame folder may be ``sub01/`` or ``sub1/``.
A clip with a truncated or corrupt frame file is handled like one with a missing frame
(``on_missing``), see :func:`merkit.data._common.frames_problem`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from merkit.data._common import (
    AnnotationError,
    ApexRule,
    DataWarning,
    OnMissing,
    Skipper,
    Table,
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

DATASET = "casme2"
CODING_FILE = "CASME2-coding-20140508.xlsx"
CODING_GLOB = "CASME2-coding-*.xlsx"
OBJECTIVE_FILE = "CASME2-ObjectiveClasses.xlsx"

Variant = Literal["raw", "cropped", "auto"]

#: Frame tree folder names tried for each variant, in order, and the frame file prefix.
FRAME_TREES: dict[str, tuple[str, ...]] = {
    "raw": ("CASME2_RAW_selected", "CASME2-RAW-selected", "CASME2_RAW"),
    "cropped": ("Cropped", "CASME2_Cropped"),
}
FRAME_PREFIX: dict[str, str] = {"raw": "img", "cropped": "reg_img"}

_CODING_COLUMNS = {
    "subject": ("subject",),
    "clip": ("filename",),
    "onset": ("onsetframe", "onset"),
    "apex": ("apexframe", "apex"),
    "offset": ("offsetframe", "offset"),
    "aus": ("actionunits", "actionunit", "aus"),
    "emotion": ("estimatedemotion", "emotion"),
}
_CLASS_ALIASES = ("objectiveclass", "objectiveclasses")
_OBJECTIVE_COLUMNS = {
    "subject": ("subject",),
    "clip": ("filename",),
    "objective_class": _CLASS_ALIASES,
}


def subject_id(value: object, *, where: str) -> str:
    """``1``, ``1.0``, ``"1.0"``, ``"01"``, ``"sub1"``, ``"Sub01"`` -> ``"sub01"`` (the frame
    folder name; :func:`merkit.data._common.subject_number`)."""
    return f"sub{subject_number(value, where=where, dataset='CASME II'):02d}"


def frame_tree(root: Path, variant: Variant) -> tuple[Path, str]:
    """``(folder, variant)``: the frame tree of ``variant`` (``"auto"``: raw, else cropped).

    Raises :class:`FileNotFoundError` listing the folders looked for and the trees that do
    exist, so the user knows which ``variant`` to pass.
    """
    if variant not in ("raw", "cropped", "auto"):
        raise ValueError(f"variant must be 'raw', 'cropped' or 'auto', not {variant!r}")
    found = {
        name: next((root / d for d in dirs if (root / d).is_dir()), None)
        for name, dirs in FRAME_TREES.items()
    }
    order = ("raw", "cropped") if variant == "auto" else (variant,)
    for name in order:
        folder = found[name]
        if folder is not None:
            return folder, name
    looked = ", ".join(d for name in order for d in FRAME_TREES[name])
    present = [f"variant={k!r} ({v.name})" for k, v in found.items() if v is not None]
    hint = f"; this root has {', '.join(present)}" if present else "; it has no frame tree at all"
    raise FileNotFoundError(f"CASME II root {root}: no frame folder {looked}{hint}")


def _objective_lookup(
    table: Table,
) -> dict[tuple[str, str], tuple[int, int]]:
    """(subject, clip) -> (objective class, row) from ``CASME2-ObjectiveClasses.xlsx``."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for row, cells in table.rows:
        where = table.where(row)
        subject = subject_id(table.cell(cells, "subject"), where=where)
        clip = cell_text(table.cell(cells, "clip"))
        if not clip:
            raise AnnotationError(f"{where}: Filename is empty; fill it in or delete the row")
        cls = parse_objective_class(table.cell(cells, "objective_class"), where=where)
        if (subject, clip) in out:
            raise AnnotationError(
                f"{table.path.name}: {subject}/{clip} appears twice (rows "
                f"{out[(subject, clip)][1]} and {row}); remove the duplicate"
            )
        out[(subject, clip)] = (cls, row)
    return out


def load(
    root: str | os.PathLike[str],
    *,
    variant: Variant = "raw",
    on_missing: OnMissing = "error",
    apex_rule: ApexRule = "middle",
    coding_file: str | os.PathLike[str] | None = None,
    objective_file: str | os.PathLike[str] | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Load CASME II from ``root`` -> DataFrame, one row per clip, columns ``merkit.data.COLUMNS``.

    Args:
        root: the CASME II folder as distributed (see the module docstring).
        variant: ``"raw"`` (``CASME2_RAW_selected/.../imgN.jpg``, default: the frames the
            papers' optical flow is computed from before their own face alignment),
            ``"cropped"`` (``Cropped/.../reg_imgN.jpg``) or ``"auto"`` (raw if present, else
            cropped). A chosen tree that is absent is an error that names the trees present.
        on_missing: what to do with a clip whose frame folder is missing, whose frames
            onset..offset have a gap, or that has no row in the objective-class file:
            ``"error"`` (default) raises naming the file, row and clip; ``"skip"`` warns
            (:class:`~merkit.data._common.DataWarning`) and lists the clip in
            ``df.attrs["skipped"]`` (dicts with dataset, subject, clip, where, reason).
        apex_rule: ``"middle"`` estimates a ``"/"`` apex as ``(onset + offset) // 2`` and sets
            ``apex_estimated``; ``"error"`` refuses such rows.
        coding_file / objective_file: override the annotation files (relative to ``root`` or
            absolute); by default ``CASME2-coding-*.xlsx`` and ``CASME2-ObjectiveClasses.xlsx``.
        sheet: the coding sheet's name; ``None`` searches every sheet for the header row.

    Raises:
        FileNotFoundError: root, annotation file or frame tree missing; a clip's frames
            missing (:class:`~merkit.data._common.FramesNotFoundError`) with ``on_missing="error"``.
        AnnotationError (a ValueError): missing sheet or header, a bad cell, onset > offset,
            apex outside onset..offset, a duplicate clip; the message names file and row.
    """
    root = Path(root).expanduser()
    coding_path = find_file(root, CODING_FILE, CODING_GLOB, coding_file)
    coding = read_table(
        coding_path, _CODING_COLUMNS, {"objective_class": _CLASS_ALIASES}, sheet=sheet
    )
    tree, chosen = frame_tree(root, variant)
    pattern = image_pattern(FRAME_PREFIX[chosen])

    objective_path: Path | None = None
    lookup: dict[tuple[str, str], tuple[int, int]] | None = None
    if objective_file is not None or (root / OBJECTIVE_FILE).is_file():
        objective_path = find_file(root, OBJECTIVE_FILE, OBJECTIVE_FILE, objective_file)
        lookup = _objective_lookup(read_table(objective_path, _OBJECTIVE_COLUMNS))
    elif "objective_class" not in coding.columns:
        raise FileNotFoundError(
            f"CASME II root {root}: no {OBJECTIVE_FILE} and {coding_path.name} has no "
            "'Objective Class' column; put the objective-class file beside the coding file "
            "or pass objective_file="
        )

    skipper = Skipper(on_missing, DATASET)
    records: list[dict[str, Any]] = []
    used: set[tuple[str, str]] = set()
    conflicts: list[str] = []
    for row, cells in coding.rows:
        r = read_clip_row(coding, row, cells, subject_id, apex_rule=apex_rule)
        if lookup is not None:
            assert objective_path is not None
            hit = lookup.get((r.subject, r.clip))
            if hit is None:
                skipper.problem(
                    subject=r.subject,
                    clip=r.clip,
                    where=r.where,
                    reason=f"no row for this clip in {objective_path.name}",
                    error=AnnotationError,
                )
                continue
            used.add((r.subject, r.clip))
            objective = hit[0]
            if "objective_class" in coding.columns:
                cell = coding.cell(cells, "objective_class")
                try:
                    coded = None if cell is None else parse_objective_class(cell, where=r.where)
                except AnnotationError:
                    coded = -1
                if coded is not None and coded != objective:
                    conflicts.append(
                        f"{r.subject}/{r.clip} ({r.where}: {cell!r} vs {objective} in "
                        f"{objective_path.name} row {hit[1]})"
                    )
        else:
            objective = parse_objective_class(coding.cell(cells, "objective_class"), where=r.where)

        number = int(r.subject[3:])
        folder = subject_folder(tree, r.clip, (r.subject, f"sub{number}", f"{number:02d}", str(number)))
        frames, problem = find_frames(folder, r.onset, r.offset, pattern)
        if problem:
            skipper.problem(subject=r.subject, clip=r.clip, where=r.where, reason=problem)
            continue
        problem = frames_problem(frames)
        if problem:
            skipper.problem(subject=r.subject, clip=r.clip, where=r.where, reason=problem,
                            error=FrameError)
            continue
        records.append(
            clip_record(DATASET, r, objective=objective, emotion=coding.cell(cells, "emotion"),
                        frames=frames, type_="micro", source_file=coding_path.name, source_row=row)
        )
    check_unique(records)

    if conflicts:
        warnings.warn(
            f"{coding_path.name}: the 'Objective Class' column disagrees with "
            f"{objective_path.name if objective_path else OBJECTIVE_FILE} for {len(conflicts)} "
            f"clip(s); the objective-class file is used: {', '.join(conflicts[:10])}"
            f"{' ...' if len(conflicts) > 10 else ''} (listed in df.attrs['class_conflicts'])",
            DataWarning,
            stacklevel=2,
        )
    unused: list[str] = []
    if lookup is not None:
        unused = [
            f"{s}/{c} (row {r})" for (s, c), (_, r) in sorted(lookup.items()) if (s, c) not in used
        ]
        if unused:
            warnings.warn(
                f"{objective_path.name if objective_path else OBJECTIVE_FILE}: {len(unused)} "
                f"rows match no clip of {coding_path.name}: {', '.join(unused[:10])}"
                f"{' ...' if len(unused) > 10 else ''} (listed in df.attrs['unused_objective_rows'])",
                DataWarning,
                stacklevel=2,
            )
    attrs = {
        "dataset": DATASET,
        "root": str(root),
        "annotation_file": str(coding_path),
        "objective_file": str(objective_path) if objective_path else None,
        "sheet": coding.sheet,
        "header_row": coding.header_row,
        "variant": chosen,
        "frames_root": str(tree),
        "apex_rule": apex_rule,
        "skipped": skipper.skipped,
        "unused_objective_rows": unused,
        "class_conflicts": conflicts,
    }
    return to_frame(records, attrs)
