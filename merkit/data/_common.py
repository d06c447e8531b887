"""Shared machinery of the CASME II and SAMM loaders: spreadsheets, cells, frames, the table.

Everything here is dataset-agnostic; :mod:`merkit.data.casme2` and :mod:`merkit.data.samm`
only say which columns they need and where their frames live.

* :func:`read_table` finds the header row of an ``.xlsx`` sheet *by its content* (copies of
  the annotation files differ in their preamble) and returns every data row with its
  spreadsheet row number, so that each error can name ``<file> row <n>``.
* ``as_int`` / ``parse_objective_class`` / ``parse_apex`` turn cells into values or raise
  :class:`AnnotationError` naming the file and row.
* :func:`find_frames` lists a clip folder, parses the frame number out of each file name (no
  assumption about zero padding) and returns the frames ``onset..offset`` in temporal order,
  or says which ones are missing; :func:`frames_problem` then checks that each is a complete
  image file (:func:`merkit.io.check_image_file`: a JPEG ends with its end-of-image marker, a
  PNG with IEND; only the files' ends are read, so it is cheap). A clip with a truncated or
  corrupt frame is handled like one with a missing frame (``on_missing``). This load-time check
  is structural; :func:`merkit.io.read_image` repeats it and also fails on an undecodable file
  when the pixels are read.
* :func:`subject_number` reads a subject cell in every form both data sets use (``1``,
  ``1.0``, ``"1.0"``, ``"01"``, ``"sub1"``, ``"Sub01"``, ``"006"``).
* A header row with two columns that map to the same field (``OnsetFrame`` and ``Onset``) is
  an :class:`AnnotationError` naming both; AU cells that cannot be parsed are
  :class:`AnnotationError`; AU alternatives (``"12 or 14"``) are a :class:`DataWarning`.
* :class:`Skipper` implements the ``on_missing="error"|"skip"`` switch: raise, or warn and
  record the clip in ``df.attrs["skipped"]``, never drop silently.
* :func:`to_frame` builds the one-row-per-clip DataFrame with the schema :data:`COLUMNS`, and
  :func:`validate` checks a DataFrame against that schema (useful for any new source).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from merkit.facs import OBJECTIVE_CLASSES, parse_aus
from merkit.io import check_image_file

OnMissing = Literal["error", "skip"]
ApexRule = Literal["middle", "error"]

#: The columns every loader returns, in this order (one row per clip).
#:
#: ``dataset`` ("casme2" | "samm"), ``subject`` (unique across datasets: "casme2/sub01",
#: "samm/006"), ``clip`` ("EP02_01f", "006_1_2"), ``onset`` / ``apex`` / ``offset`` (int frame
#: numbers as in the annotation file and the frame file names), ``apex_estimated`` (bool: the
#: sheet held "/" and the apex was estimated, see :func:`parse_apex`), ``aus`` (sorted tuple of
#: int AU numbers), ``objective_class`` (int 1–7), ``emotion`` (the coder's estimated emotion,
#: lower case), ``frames`` (tuple of :class:`~pathlib.Path`, frames onset..offset inclusive in
#: temporal order, so ``frames[apex - onset]`` is the apex frame), ``n_frames`` (int,
#: ``offset - onset + 1 == len(frames)``), ``type`` (SAMM's "Type" cell as written, "micro" for
#: CASME II whose clips are all micro-expressions), ``aus_text`` (the AU cell as written,
#: laterality and intensity included), ``source_file`` (annotation file name) and
#: ``source_row`` (its 1-based spreadsheet row).
COLUMNS: tuple[str, ...] = (
    "dataset",
    "subject",
    "clip",
    "onset",
    "apex",
    "offset",
    "apex_estimated",
    "aus",
    "objective_class",
    "emotion",
    "frames",
    "n_frames",
    "type",
    "aus_text",
    "source_file",
    "source_row",
)

_DTYPES: dict[str, str] = {
    "onset": "int64",
    "apex": "int64",
    "offset": "int64",
    "apex_estimated": "bool",
    "objective_class": "int64",
    "n_frames": "int64",
    "source_row": "int64",
    **dict.fromkeys(("dataset", "subject", "clip", "emotion", "type", "aus_text", "source_file"), "str"),
}

#: ``objective_class`` of a clip whose data set has no AU coding (SMIC): no objective class
NOT_CODED = 0

_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}

#: How many rows from the top of a sheet are searched for the header row.
HEADER_SEARCH_ROWS = 60

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class AnnotationError(ValueError):
    """An annotation file or one of its rows cannot be used; the message names file and row."""


class FramesNotFoundError(FileNotFoundError):
    """A clip's frame folder or some of its frames are missing; the message names the clip."""


class DataWarning(UserWarning):
    """A clip was skipped (``on_missing="skip"``) or an annotation file looks unusual."""


# --------------------------------------------------------------------------- spreadsheets


def normalize_header(value: object) -> str:
    """``"Onset Frame" -> "onsetframe"``: lower case, letters and digits only."""
    if value is None:
        return ""
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


@dataclass(frozen=True)
class Table:
    """The data rows of one sheet below its detected header row.

    ``columns`` maps a canonical column name to its 0-based index in each row; ``rows`` holds
    ``(spreadsheet_row_number, cells)`` for every non-blank row under the header.
    """

    path: Path
    sheet: str
    header_row: int
    columns: dict[str, int]
    rows: tuple[tuple[int, tuple[Any, ...]], ...]

    def where(self, row: int) -> str:
        """``"CASME2-coding-20140508.xlsx row 12"``, the context every message starts with."""
        return f"{self.path.name} row {row}"

    def cell(self, cells: tuple[Any, ...], name: str) -> Any:
        """The cell of column ``name`` (``None`` for an optional column the sheet lacks)."""
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return None
        value = cells[index]
        if isinstance(value, str) and not value.strip():
            return None
        return value


def _open_workbook(path: Path) -> Any:
    import openpyxl  # local: keeps ``import merkit.data`` light
    from openpyxl.utils.exceptions import InvalidFileException

    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    try:
        return openpyxl.load_workbook(path, read_only=False, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise AnnotationError(
            f"cannot read {path} as an .xlsx workbook ({type(exc).__name__}: {exc}); "
            "re-save it as .xlsx (Excel 2007+) and try again"
        ) from exc
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise AnnotationError(
            f"cannot read {path} as an .xlsx workbook ({type(exc).__name__}: {exc})"
        ) from exc


def _match_header(
    cells: Sequence[Any], aliases: Mapping[str, tuple[str, ...]]
) -> dict[str, int]:
    normalized = [normalize_header(c) for c in cells]
    found: dict[str, int] = {}
    for name, names in aliases.items():
        for alias in names:
            if alias in normalized:
                found[name] = normalized.index(alias)
                break
    return found


def _ambiguous_columns(
    cells: Sequence[Any], aliases: Mapping[str, tuple[str, ...]]
) -> list[tuple[str, list[str]]]:
    """Fields that two or more header cells map to: ``[(field, [cell, cell...])]``."""
    normalized = [normalize_header(c) for c in cells]
    out = []
    for name, names in aliases.items():
        hits = [str(cells[i]).strip() for i, n in enumerate(normalized) if n and n in names]
        if len(hits) > 1:
            out.append((name, hits))
    return out


def read_table(
    path: Path,
    required: Mapping[str, tuple[str, ...]],
    optional: Mapping[str, tuple[str, ...]] | None = None,
    *,
    sheet: str | None = None,
) -> Table:
    """Read the sheet of ``path`` whose header row holds every ``required`` column.

    ``required`` / ``optional`` map a canonical column name to its accepted spellings, already
    normalised by :func:`normalize_header` (``{"onset": ("onsetframe", "onset")}``). The header
    is the first row, within the first :data:`HEADER_SEARCH_ROWS` rows, that contains all
    required columns; with ``sheet=None`` every sheet is searched in workbook order. Rows that
    are blank in every required column (trailing rows, spacer rows) are left out.

    Raises :class:`AnnotationError` naming the file when ``sheet`` does not exist or no header
    row is found (the message lists the columns that were looked for).
    """
    optional = dict(optional or {})
    workbook = _open_workbook(path)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise AnnotationError(
                f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)}); "
                "pass sheet=None to search every sheet for the header row"
            )
        names = [sheet] if sheet is not None else list(workbook.sheetnames)
        for name in names:
            ws = workbook[name]
            rows = list(ws.iter_rows(min_row=1, values_only=True))
            for number, cells in enumerate(rows[:HEADER_SEARCH_ROWS], start=1):
                found = _match_header(cells, required)
                if len(found) < len(required):
                    continue
                found.update(_match_header(cells, optional))
                ambiguous = _ambiguous_columns(cells, {**required, **optional})
                if ambiguous:
                    listed = "; ".join(
                        f"{', '.join(repr(c) for c in hits)} all map to {field}"
                        for field, hits in ambiguous
                    )
                    raise AnnotationError(
                        f"{path.name} (sheet {name!r}, header row {number}): {listed}; "
                        "keep one of the columns (rename or delete the others)"
                    )
                data: list[tuple[int, tuple[Any, ...]]] = []
                for row_number, row in enumerate(rows[number:], start=number + 1):
                    values = tuple(row)
                    if all(_blank(values[i] if i < len(values) else None) for i in found.values()):
                        continue
                    data.append((row_number, values))
                return Table(path, name, number, found, tuple(data))
    finally:
        workbook.close()
    wanted = ", ".join(f"{k} ({'/'.join(v)})" for k, v in required.items())
    where = f"sheet {sheet!r}" if sheet is not None else f"any of the sheets {names}"
    raise AnnotationError(
        f"{path.name}: no header row found in the first {HEADER_SEARCH_ROWS} rows of {where}; "
        f"a header row must contain the columns {wanted} (spelling, case and spaces are free). "
        "Check that this is the right file and that its header row was not removed."
    )


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def find_file(root: Path, name: str, pattern: str, explicit: str | os.PathLike[str] | None) -> Path:
    """The annotation file: ``explicit`` if given (relative to ``root``), else ``root/name``,
    else the last (by name) ``root/pattern`` match, warning when several match.

    Excel lock files (``~$...``) are ignored. Raises :class:`FileNotFoundError` naming the
    folder and what was looked for.
    """
    if explicit is not None:
        path = Path(explicit)
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise FileNotFoundError(f"annotation file {path} does not exist")
        return path
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a folder")
    if (root / name).is_file():
        return root / name
    matches = sorted(p for p in root.glob(pattern) if p.is_file() and not p.name.startswith("~$"))
    if not matches:
        raise FileNotFoundError(
            f"no annotation file {name!r} (or {pattern!r}) in {root}; point the loader at the "
            "dataset folder as distributed, or pass the file explicitly"
        )
    if len(matches) > 1:
        warnings.warn(
            f"{root}: several annotation files match {pattern!r} "
            f"({', '.join(p.name for p in matches)}); using {matches[-1].name}",
            DataWarning,
            stacklevel=3,
        )
    return matches[-1]


# --------------------------------------------------------------------------- cells


def as_int(value: object, *, what: str, where: str) -> int:
    """An integer cell: ``46``, ``46.0`` or ``" 46 "`` -> 46; anything else is an error."""
    if isinstance(value, bool):
        value = None  # True/False is never a frame number
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.0*)?\s*", value):
        return int(float(value))
    raise AnnotationError(f"{where}: {what} {value!r} is not an integer; fix the cell")


def subject_number(value: object, *, where: str, dataset: str = "") -> int:
    """A subject cell -> its positive number, in every form CASME II and SAMM copies use.

    ``1``, ``1.0``, ``"1"``, ``"01"``, ``"1.0"``, ``"006"``, ``"sub1"``, ``"Sub01"``,
    ``"sub 1"``, ``"s01"``. Anything else, or 0, raises :class:`AnnotationError` naming ``where``.
    """
    number: int | None = None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(?:sub|s)?\s*[-_]?\s*(\d+)(?:\.0*)?\s*", value, re.IGNORECASE)
        number = int(match.group(1)) if match else None
    elif not isinstance(value, bool):
        try:
            number = as_int(value, what="subject", where=where)
        except AnnotationError:
            number = None
    label = f"{dataset} " if dataset else ""
    if number is None:
        raise AnnotationError(
            f"{where}: subject {value!r} is not a {label}subject number (forms: 1, 1.0, '01', "
            "'sub01', '006'); fix the cell"
        )
    if number <= 0:
        raise AnnotationError(f"{where}: subject {value!r} must be a positive number")
    return number


def subject_folder(tree: Path, clip: str, candidates: Sequence[str]) -> Path:
    """``tree/<subject>/<clip>`` for the first candidate subject folder name that exists
    (e.g. ``("sub01", "sub1")``), else the first candidate's path (reported as missing)."""
    for name in candidates:
        folder = tree / name / clip
        if folder.is_dir():
            return folder
    return tree / candidates[0] / clip


def parse_objective_class(value: object, *, where: str) -> int:
    """An objective class cell as an int 1–7.

    Accepts ints, integer-valued floats (``3.0``), digit strings (``"3"``) and Roman numerals
    in any case (``"III"``, ``"vii"``). Anything else, or a value outside 1–7, raises
    :class:`AnnotationError` naming ``where``.
    """
    number: int | None = None
    if isinstance(value, str) and value.strip().upper() in _ROMAN:
        number = _ROMAN[value.strip().upper()]
    else:
        try:
            number = as_int(value, what="objective class", where=where)
        except AnnotationError:
            number = None
    if number is None or number not in OBJECTIVE_CLASSES:
        raise AnnotationError(
            f"{where}: objective class {value!r} is not one of 1–7 (int, float or Roman "
            "numeral I–VII); fix the cell"
        )
    return number


def parse_apex(
    value: object, onset: int, offset: int, *, rule: ApexRule, where: str
) -> tuple[int, bool]:
    """``(apex, estimated)`` from an apex cell.

    A ``"/"`` cell means the coders marked no apex. With ``rule="middle"`` (default of the
    loaders) the apex is estimated as the middle frame ``(onset + offset) // 2`` (the lower of
    the two middle frames for an even count) and flagged ``estimated=True``. Reason: the loader
    reads no pixels, so it cannot look for the frame of largest motion, and the midpoint is the
    usual convention for CASME II's unmarked apexes; a motion-based estimate can be computed
    later from ``frames`` and the flag. ``rule="error"`` refuses such rows instead.

    An apex outside ``onset..offset`` raises :class:`AnnotationError` naming ``where``.
    """
    if isinstance(value, str) and value.strip() == "/":
        if rule == "error":
            raise AnnotationError(
                f"{where}: apex is '/' (not coded) and apex_rule='error'; "
                "use apex_rule='middle' to estimate it as the middle frame"
            )
        if rule != "middle":
            raise ValueError(f"apex_rule must be 'middle' or 'error', not {rule!r}")
        return (onset + offset) // 2, True
    apex = as_int(value, what="apex frame", where=where)
    if not onset <= apex <= offset:
        raise AnnotationError(
            f"{where}: apex frame {apex} lies outside onset..offset ({onset}..{offset}); "
            "fix the row"
        )
    return apex, False


@dataclass(frozen=True)
class ClipRow:
    """The fields every annotation row has, parsed and checked (both data sets)."""

    where: str
    subject: str  # dataset-local id, e.g. "sub01" or "006"
    clip: str
    onset: int
    apex: int
    offset: int
    apex_estimated: bool
    aus_cell: object
    aus: tuple[int, ...]


def read_clip_row(
    table: Table,
    row: int,
    cells: Sequence[object],
    subject_id: Callable[..., str],
    *,
    apex_rule: str,
) -> ClipRow:
    """Subject, clip, onset/apex/offset and AUs of one row; errors name the file and row."""
    where = table.where(row)
    subject = subject_id(table.cell(cells, "subject"), where=where)
    clip = cell_text(table.cell(cells, "clip"))
    if not clip:
        raise AnnotationError(f"{where}: Filename is empty; fill it in or delete the row")
    onset = as_int(table.cell(cells, "onset"), what="onset frame", where=where)
    offset = as_int(table.cell(cells, "offset"), what="offset frame", where=where)
    check_order(onset, offset, where=where)
    apex, estimated = parse_apex(table.cell(cells, "apex"), onset, offset, rule=apex_rule, where=where)
    aus_cell = table.cell(cells, "aus")
    return ClipRow(where, subject, clip, onset, apex, offset, estimated, aus_cell,
                   read_aus(aus_cell, where=where))


def read_aus(cell: object, *, where: str) -> tuple[int, ...]:
    """:func:`merkit.facs.parse_aus` of an AU cell; a bad cell is an :class:`AnnotationError`
    and an alternative (``"12 or 14"``, both kept) a :class:`DataWarning`, each naming ``where``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            aus = parse_aus(cell, context=where)
        except ValueError as err:
            raise AnnotationError(str(err)) from None
    for w in caught:
        category = DataWarning if issubclass(w.category, UserWarning) else w.category
        warnings.warn(str(w.message), category, stacklevel=3)
    return aus


def clip_record(
    dataset: str,
    clip: ClipRow,
    *,
    objective: int,
    emotion: object,
    frames: tuple[Path, ...],
    type_: str,
    source_file: str,
    source_row: int,
) -> dict[str, Any]:
    """One row of the loaders' DataFrame (the schema in :mod:`merkit.data`)."""
    return {
        "dataset": dataset,
        "subject": f"{dataset}/{clip.subject}",
        "clip": clip.clip,
        "onset": clip.onset,
        "apex": clip.apex,
        "offset": clip.offset,
        "apex_estimated": clip.apex_estimated,
        "aus": clip.aus,
        "objective_class": objective,
        "emotion": emotion_text(emotion),
        "frames": frames,
        "n_frames": len(frames),
        "type": type_,
        "aus_text": cell_text(clip.aus_cell),
        "source_file": source_file,
        "source_row": source_row,
    }


def check_order(onset: int, offset: int, *, where: str) -> None:
    """Raise :class:`AnnotationError` when ``onset > offset``."""
    if onset > offset:
        raise AnnotationError(
            f"{where}: onset frame {onset} is after offset frame {offset}; fix the row "
            "(are the two columns swapped?)"
        )


def emotion_text(value: object) -> str:
    """The estimated-emotion cell, stripped and lower case (``""`` when blank)."""
    return "" if _blank(value) else str(value).strip().lower()


def cell_text(value: object) -> str:
    """A cell as written, stripped (``""`` when blank)."""
    if _blank(value):
        return ""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value).strip()


# --------------------------------------------------------------------------- frames


def frame_index(folder: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    """Frame number -> file for every image in ``folder`` whose name matches ``pattern``.

    ``pattern`` must have one group, the frame number, parsed as an int, so ``006_5562.jpg``
    and ``006_05562.jpg`` are both frame 5562. Two files with the same number raise
    :class:`AnnotationError`. Files that do not match (``Thumbs.db``) are ignored.
    """
    index: dict[int, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match is None or not entry.is_file():
                continue
            number = int(match.group(1))
            if number in index:
                raise AnnotationError(
                    f"{folder}: frame {number} is stored twice ({index[number].name} and "
                    f"{entry.name}); remove one"
                )
            index[number] = Path(entry.path)
    return index


def find_frames(
    folder: Path, onset: int, offset: int, pattern: re.Pattern[str]
) -> tuple[tuple[Path, ...], str]:
    """``(frames, problem)``: the files of frames ``onset..offset`` in order, or what is wrong.

    ``problem`` is ``""`` when every frame exists; otherwise it describes the missing folder
    or the missing frame numbers and ``frames`` is empty.
    """
    if not folder.is_dir():
        return (), f"frame folder {folder} does not exist"
    index = frame_index(folder, pattern)
    missing = [n for n in range(onset, offset + 1) if n not in index]
    if missing:
        shown = ", ".join(map(str, _ranges(missing)))
        return (), (
            f"{len(missing)} of the {offset - onset + 1} frames {onset}..{offset} are missing "
            f"in {folder} (missing: {shown}; the folder holds {len(index)} matching images)"
        )
    return tuple(index[n] for n in range(onset, offset + 1)), ""


def frames_problem(frames: Sequence[Path]) -> str:
    """``""`` when every frame file is a complete image, else what is wrong with which ones.

    The structural check of :func:`merkit.io.check_image_file` (first and last bytes only:
    a truncated JPEG lacks its ``FF D9`` end marker, a PNG its ``IEND`` chunk).
    """
    bad = []
    for path in frames:
        problem = check_image_file(path)
        if problem:
            bad.append(f"{path.name} {problem}")
    if not bad:
        return ""
    shown = "; ".join(bad[:3]) + (f"; ... ({len(bad)} in all)" if len(bad) > 3 else "")
    folder = Path(frames[0]).parent
    return f"{len(bad)} corrupt frame file(s) in {folder}: {shown}"


def _ranges(numbers: Sequence[int]) -> list[str]:
    out: list[str] = []
    start = prev = numbers[0]
    for n in list(numbers[1:]) + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return out


def image_pattern(prefix: str) -> re.Pattern[str]:
    """``prefix`` + frame number + an image suffix, e.g. ``image_pattern("reg_img")``."""
    suffixes = "|".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
    return re.compile(rf"{prefix}(\d+)\.(?:{suffixes})", re.IGNORECASE)


# --------------------------------------------------------------------------- skip / error


@dataclass
class Skipper:
    """The ``on_missing`` switch: raise, or warn and remember the clip for ``df.attrs``.

    Each record: ``dataset``, ``subject`` (the unique id, ``"casme2/sub01"``), ``clip``,
    ``where`` (``"<file> row <n>"``) and ``reason``.
    """

    on_missing: OnMissing
    dataset: str
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_missing not in ("error", "skip"):
            raise ValueError(f"on_missing must be 'error' or 'skip', not {self.on_missing!r}")

    def problem(
        self,
        *,
        subject: str,
        clip: str,
        where: str,
        reason: str,
        error: type[Exception] = FramesNotFoundError,
    ) -> None:
        """Raise ``error`` (``on_missing="error"``) or warn and record the clip."""
        message = f"{where} ({subject}/{clip}): {reason}"
        if self.on_missing == "error":
            raise error(
                f"{message}. Fix the data, or pass on_missing='skip' to skip such clips "
                "(they are warned about and listed in df.attrs['skipped'])"
            )
        warnings.warn(f"skipping clip: {message}", DataWarning, stacklevel=3)
        self.skipped.append(
            {
                "dataset": self.dataset,
                "subject": f"{self.dataset}/{subject}",
                "clip": clip,
                "where": where,
                "reason": reason,
            }
        )


# --------------------------------------------------------------------------- the table


def to_frame(records: Iterable[Mapping[str, Any]], attrs: Mapping[str, Any]) -> pd.DataFrame:
    """One-row-per-clip DataFrame with columns :data:`COLUMNS`, sorted by (dataset, subject,
    clip), a fresh RangeIndex, and ``attrs`` copied into ``df.attrs``."""
    rows = list(records)
    data = {name: [r[name] for r in rows] for name in COLUMNS}
    df = pd.DataFrame(data, columns=list(COLUMNS))
    for name, dtype in _DTYPES.items():
        df[name] = df[name].astype(dtype)
    for name in ("aus", "frames"):
        df[name] = df[name].astype(object)
    df = df.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)
    df.attrs.update(dict(attrs))
    return df


def check_unique(records: Sequence[Mapping[str, Any]]) -> None:
    """Raise :class:`AnnotationError` when two rows describe the same (subject, clip)."""
    seen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in records:
        key = (r["subject"], r["clip"])
        if key in seen:
            first = seen[key]
            raise AnnotationError(
                f"{r['source_file']}: clip {r['subject']}/{r['clip']} appears twice "
                f"(rows {first['source_row']} and {r['source_row']}); remove the duplicate"
            )
        seen[key] = r


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Check that ``df`` follows the loader schema; return it unchanged.

    Checks the columns (:data:`COLUMNS`, in order), one row per (subject, clip), subjects
    prefixed by their dataset, ``onset <= apex <= offset``, ``n_frames == offset - onset + 1 ==
    len(frames)``, existing frame files, AU tuples of positive ints and classes 1–7 (or :data:`NOT_CODED`
    for a clip without AU codes, as in SMIC). Raises
    :class:`AnnotationError` naming the first bad clip.
    """
    if tuple(df.columns) != COLUMNS:
        raise AnnotationError(f"columns {tuple(df.columns)} differ from merkit.data.COLUMNS")
    duplicated = df.duplicated(["subject", "clip"])
    if duplicated.any():
        row = df[duplicated].iloc[0]
        raise AnnotationError(f"clip {row['subject']}/{row['clip']} appears twice")
    for row in df.itertuples(index=False):
        name = f"{row.subject}/{row.clip}"
        problems = []
        if not str(row.subject).startswith(f"{row.dataset}/"):
            problems.append(f"subject {row.subject!r} does not start with '{row.dataset}/'")
        if not row.onset <= row.apex <= row.offset:
            problems.append(f"apex {row.apex} outside {row.onset}..{row.offset}")
        if not row.n_frames == row.offset - row.onset + 1 == len(row.frames):
            problems.append(f"{len(row.frames)} frames for onset..offset {row.onset}..{row.offset}")
        if not isinstance(row.frames, tuple) or not all(
            isinstance(p, Path) and p.is_file() for p in row.frames
        ):
            problems.append("some frame paths are not files")
        if not (isinstance(row.aus, tuple) and all(isinstance(a, int) and a > 0 for a in row.aus)):
            problems.append(f"aus {row.aus!r} is not a tuple of positive ints")
        if row.objective_class not in OBJECTIVE_CLASSES and not (row.objective_class == NOT_CODED and row.aus == ()):
            problems.append(f"objective class {row.objective_class} not in 1–7 (0, not coded, only without AUs)")
        if problems:
            raise AnnotationError(f"{name}: " + "; ".join(problems))
    return df
