"""FACS knowledge: Action Unit strings, MER-auGCN Table I and the objective-class rule.

Objective classes (Davison et al., 2018) group micro-expressions by the AUs that move, not by
the emotion a coder guessed. MER-auGCN's Table I lists, for classes I–V, the AU combinations
that define each class; "+" means the AUs co-occur in one sample. Classes VI and VII
("other") are not defined by Table I: :func:`objective_class` returns ``None`` for them and
the datasets' own labels are used.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable

#: MER-auGCN Table I: objective class -> the AU combinations that define it.
#: ("A23" in the paper's Table I is read as AU23.)
TABLE_I: dict[int, tuple[tuple[int, ...], ...]] = {
    1: ((6,), (12,), (6, 12), (6, 7, 12), (7, 12)),
    2: ((1, 2), (5,), (25,), (1, 2, 25), (25, 26), (5, 24)),
    3: ((23,), (4,), (4, 7), (4, 5), (4, 5, 7), (17, 24), (4, 6, 7), (4, 38)),
    4: (
        (10,),
        (9,),
        (4, 9),
        (4, 40),
        (4, 5, 40),
        (4, 7, 9),
        (4, 9, 17),
        (4, 7, 10),
        (4, 5, 7, 9),
        (7, 10),
    ),
    5: ((1,), (15,), (1, 4), (6, 15), (15, 17)),
}

#: Every objective class of Davison et al. (2018): I–VII.
OBJECTIVE_CLASSES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)

#: The MEGC 2018 objective classes I–V (the recognition task's labels; VI and VII are dropped).
MEGC_CLASSES: tuple[int, ...] = (1, 2, 3, 4, 5)

#: Roman numerals for reports.
ROMAN: dict[int, str] = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII"}

#: The 17 AUs of Table I (the nodes of the original knowledge graph, Fig. 3a).
TABLE_I_AUS: tuple[int, ...] = tuple(sorted({au for combos in TABLE_I.values() for c in combos for au in c}))

#: AUs removed from the original graph because one HDE training set never shows them
#: (Sec. III-A: AU23, 24, 26, 40 absent from CASME II; AU38, 40 absent from SAMM).
REMOVED_AUS: tuple[int, ...] = (23, 24, 26, 38, 40)

#: The 12 AUs of the final knowledge graph (Fig. 3b) and of the AU detectors (K = 12).
FINAL_AUS: tuple[int, ...] = tuple(au for au in TABLE_I_AUS if au not in REMOVED_AUS)

#: The AUs of the micro-expression AU detection task (Table VII, as in STAPF).
TABLE_VII_AUS: tuple[int, ...] = (1, 2, 4, 9, 12, 14, 17)

# One AU token: optional "AU", optional side/position letter (L, R, B = bilateral, T, U),
# the number, optional FACS intensity A–E.  "AU12B", "L10", "R14A", "4".
_TOKEN = re.compile(r"^(?:AU)?\s*([LRBTU])?\s*(\d{1,2})\s*([A-E])?$", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s*(?:\+|,|;|&|\band\b)\s*", re.IGNORECASE)
_OR = re.compile(r"\s+or\s+|/", re.IGNORECASE)


def parse_aus(text: object, *, context: str = "") -> tuple[int, ...]:
    """Parse an AU cell of CASME II or SAMM into a sorted tuple of unique AU numbers.

    Handles the forms both datasets hold: ``"4+L10" -> (4, 10)``, ``"R12" -> (12,)``,
    ``"AU12B" -> (12,)``, ``"R12 + R15" -> (12, 15)``, ``"R14A" -> (14,)``,
    ``"1+2" -> (1, 2)``, numeric cells (``12`` or ``12.0``) -> ``(12,)``.
    ``""``, ``"/"``, ``None`` and NaN give ``()``.

    A coder's alternative such as ``"12 or 14"`` keeps both AUs and warns: the sample may show
    either, and dropping one would silently change its label set.  A token that is not an AU
    raises ``ValueError`` naming it and ``context`` (e.g. the file and row), so bad
    annotations are never dropped silently.
    """
    if text is None:
        return ()
    if isinstance(text, float) and math.isnan(text):
        return ()
    if isinstance(text, (int, float)):
        if float(text) != int(text) or int(text) <= 0:
            raise ValueError(f"{context}: AU cell {text!r} is not an AU number")
        return (int(text),)
    raw = str(text).strip()
    if raw in {"", "/", "-", "nan", "None"}:
        return ()
    parts = _OR.split(raw)
    if len(parts) > 1 and all(p.strip() for p in parts):
        where = f" ({context})" if context else ""
        warnings.warn(
            f"AU cell {raw!r}{where} lists alternatives; keeping all of them",
            stacklevel=2,
        )
    aus: set[int] = set()
    for part in parts:
        for token in _SEPARATORS.split(part.strip()):
            token = token.strip()
            if not token:
                continue
            match = _TOKEN.match(token)
            if match is None:
                where = f"{context}: " if context else ""
                raise ValueError(
                    f"{where}cannot read AU token {token!r} in {raw!r}; expected forms like "
                    "'4', 'L10', 'R14A', 'AU12B' joined by '+'. Fix the cell or report the format."
                )
            au = int(match.group(2))
            if au <= 0:
                raise ValueError(f"{context}: AU number must be positive in {raw!r}")
            aus.add(au)
    return tuple(sorted(aus))


def format_aus(aus: Iterable[int]) -> str:
    """``(4, 10) -> "AU4+AU10"`` for tables and plots."""
    return "+".join(f"AU{au}" for au in sorted(aus)) or "-"


def objective_class(aus: Iterable[int]) -> int | None:
    """The objective class (1–5) that Table I assigns to a set of AUs, or ``None``.

    Rule: a class *matches* when one of its Table I combinations is a subset of ``aus``;
    its score is the size of its largest matching combination (the most specific
    definition wins: ``{1, 4}`` is class V through ``AU1+AU4``, not class III through
    ``AU4``).  Ties are broken by how many of the sample's AUs the class's matching
    combinations cover together, then by the lower class number (the only tie in practice is
    ``{4, 6, 7, 12}``, class I through ``AU6+AU7+AU12`` against class III through
    ``AU4+AU6+AU7``).  ``None`` means no Table I combination is present: such samples
    belong to classes VI/VII, which Table I does not define.
    """
    present = set(aus)
    best: tuple[int, int, int] | None = None  # (score, coverage, -class)
    for cls, combos in TABLE_I.items():
        matching = [c for c in combos if set(c) <= present]
        if not matching:
            continue
        score = max(len(c) for c in matching)
        coverage = len(set().union(*map(set, matching)))
        key = (score, coverage, -cls)
        if best is None or key > best:
            best = key
    return None if best is None else -best[2]


def table_i_frame():  # -> pandas.DataFrame (pandas imported lazily: facs stays light)
    """Table I as a DataFrame: one row per (class, combination), for notebooks and reports."""
    import pandas as pd

    rows = [
        {"class": ROMAN[cls], "class_id": cls, "combination": format_aus(combo), "aus": combo,
         "n_aus": len(combo)}
        for cls, combos in TABLE_I.items()
        for combo in combos
    ]
    return pd.DataFrame(rows)
