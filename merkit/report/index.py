"""``reports/index.html``: every report at a glance, and the headline files notebooks leave for it.

The index is what a reader opens first. Per report it shows the headline numbers beside the
published ones, a thumbnail of the main figure, the status, run time, profile and data
source; above the table, a warning when any report was built on the embedded synthetic data,
and the total run time.

Two files feed it, both in the reports folder:

``run-status.json``
    one :class:`NotebookResult` per notebook, merged across partial runs
    (``--only 03`` updates 03 and keeps the others).
``tables/<notebook>-headline.json``
    written by a notebook through :func:`write_headline`::

        {"items": [{"label": str, "ours": float | null, "std": float | null,
                    "ci_low": float | null, "ci_high": float | null,
                    "published": float | null}],
         "figure": "figures/<notebook>-<stem>.png" | null}

The reader (:func:`read_headline`) is defensive: a missing file shows as "no headline", a
malformed one as "no headline" plus a small note naming the file; the index never crashes
on what a notebook left behind. Everything shown is escaped with :func:`html.escape`.

Imports only :mod:`merkit.paths`, :mod:`merkit.io` and the standard library.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from merkit import paths
from merkit.io import atomic_write, read_json, write_json

STATUS_FILE = "run-status.json"
HEADLINE_SUFFIX = "-headline.json"
THUMBNAIL_WIDTH = 220
NUMBER_KEYS: tuple[str, ...] = ("ours", "std", "ci_low", "ci_high", "published")
SYNTHETIC_PREFIX = "embedded synthetic"


# --------------------------------------------------------------------------- status store


@dataclass(frozen=True)
class NotebookResult:
    """One notebook's run, as ``run-status.json`` records it."""

    name: str
    status: str  # "ok" | "failed"
    seconds: float
    profile: str
    data_source: str
    error: str = ""
    finished: str = ""

    @property
    def synthetic(self) -> bool:
        """Built on the embedded synthetic data set (not CASME II / SAMM)."""
        return is_synthetic(self.data_source)


def is_synthetic(data_source: str) -> bool:
    """Whether a data-source label (``DataSource.label``) names the embedded synthetic set."""
    return str(data_source).strip().lower().startswith(SYNTHETIC_PREFIX)


def _status_record(raw: Any) -> NotebookResult | None:
    """A status record from JSON, or ``None`` when it is not one (defensive)."""
    if not isinstance(raw, Mapping) or not _valid_name(raw.get("name")):
        return None
    try:
        seconds = float(raw.get("seconds", 0.0))
    except (TypeError, ValueError):
        seconds = 0.0
    return NotebookResult(
        name=raw["name"],
        status=str(raw.get("status", "unknown")),
        seconds=seconds if math.isfinite(seconds) else 0.0,
        profile=str(raw.get("profile", "")),
        data_source=str(raw.get("data_source", "")),
        error=str(raw.get("error", "")),
        finished=str(raw.get("finished", "")),
    )


def read_status() -> dict[str, NotebookResult]:
    """Every recorded run by notebook name; an unreadable store reads as empty."""
    path = paths.reports_dir() / STATUS_FILE
    try:
        raw = read_json(path)
    except (OSError, ValueError):
        return {}
    records = (_status_record(r) for r in raw) if isinstance(raw, list) else ()
    return {r.name: r for r in records if r is not None}


def _as_result(result: NotebookResult | Mapping[str, Any] | Any) -> NotebookResult:
    if isinstance(result, NotebookResult):
        return result
    raw = asdict(result) if is_dataclass(result) and not isinstance(result, type) else result
    record = _status_record(raw)
    if record is None:
        raise TypeError(f"not a notebook result: {result!r}")
    return record


def merge_status(results: Iterable[NotebookResult | Mapping[str, Any]]) -> list[NotebookResult]:
    """Merge ``results`` into ``run-status.json`` (atomic) and return every record, by name."""
    known = read_status()
    for result in results:
        record = _as_result(result)
        known[record.name] = record
    merged = [known[name] for name in sorted(known)]
    write_json(paths.reports_dir() / STATUS_FILE, [asdict(r) for r in merged])
    return merged


# --------------------------------------------------------------------------- headline files


@dataclass(frozen=True)
class HeadlineItem:
    """One headline number: ours (optionally ± std, with a confidence interval) and the paper's."""

    label: str
    ours: float | None = None
    std: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    published: float | None = None


@dataclass(frozen=True)
class Headline:
    """What a notebook's headline file says; ``problem`` is non-empty when parts were unusable."""

    items: tuple[HeadlineItem, ...] = ()
    figure: str | None = None
    problem: str = ""


def headline_path(name: str) -> Path:
    """``reports/tables/<name>-headline.json``."""
    _check_name(name)
    return paths.tables_dir() / f"{name}{HEADLINE_SUFFIX}"


def _valid_name(name: object) -> bool:
    """A notebook stem: non-empty, no path separators, not hidden."""
    return isinstance(name, str) and bool(name) and not any(c in name for c in "/\\") and name[0] != "."


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise ValueError(f"not a notebook name: {name!r}")


def _number(value: Any) -> float | None:
    """A finite float, ``None`` for null / NaN / inf; raises ``TypeError`` on a non-number."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()  # numpy scalars
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    value = float(value)
    return value if math.isfinite(value) else None


def _item(raw: HeadlineItem | Mapping[str, Any]) -> HeadlineItem:
    """Validate one item (raises ``TypeError`` / ``ValueError`` when it is not one)."""
    if isinstance(raw, HeadlineItem):
        raw = asdict(raw)
    if not isinstance(raw, Mapping):
        raise TypeError(f"an item is a mapping, not {type(raw).__name__}")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"an item needs a non-empty 'label' (got {label!r})")
    unknown = set(raw) - {"label", *NUMBER_KEYS}
    if unknown:
        raise ValueError(f"unknown item keys {sorted(unknown)}")
    return HeadlineItem(label=label, **{k: _number(raw.get(k)) for k in NUMBER_KEYS})


def _figure(figure: str | os.PathLike[str] | None) -> str | None:
    """A figure link relative to the reports folder (``figures/*.png``), or raise ``ValueError``."""
    if figure is None:
        return None
    path = Path(figure)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(paths.reports_dir().resolve())
        except ValueError as exc:
            raise ValueError(f"figure {figure} is not inside the reports folder") from exc
    rel = PurePosixPath(path.as_posix())
    if rel.parts[:1] != ("figures",) or ".." in rel.parts or rel.suffix.lower() != ".png":
        raise ValueError(f"figure must be 'figures/<notebook>-<stem>.png', got {str(figure)!r}")
    return str(rel)


def write_headline(
    name: str,
    items: Sequence[HeadlineItem | Mapping[str, Any]],
    figure: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``tables/<name>-headline.json`` atomically (the index shows it); return the path.

    ``items`` are :class:`HeadlineItem` or mappings with ``label`` and any of ``ours``,
    ``std``, ``ci_low``, ``ci_high``, ``published`` (numbers, numpy scalars, or ``None``;
    NaN is written as ``null``). ``figure`` is ``"figures/<name>-<stem>.png"`` (or that
    file's absolute path). Invalid input raises here, in the notebook, not in the index.
    """
    path = headline_path(name)
    checked = [asdict(_item(item)) for item in items]
    return write_json(path, {"items": checked, "figure": _figure(figure)})


def read_headline(name: str) -> Headline | None:
    """The notebook's headline: ``None`` when there is no file; never raises on its content.

    A file that is not the documented shape gives a :class:`Headline` with ``problem`` set
    (naming the file); unusable items are skipped and counted in ``problem``.
    """
    path = headline_path(name)
    rel = f"tables/{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return Headline(problem=f"{rel} is unreadable ({type(exc).__name__})")
    try:
        raw = json.loads(text)
    except ValueError:
        return Headline(problem=f"{rel} is not valid JSON")
    if not isinstance(raw, Mapping) or not isinstance(raw.get("items", []), list):
        return Headline(problem=f"{rel} is not {{'items': [...], 'figure': ...}}")
    items: list[HeadlineItem] = []
    bad = 0
    for entry in raw.get("items", []):
        try:
            items.append(_item(entry))
        except (TypeError, ValueError):
            bad += 1
    problems = [f"{bad} malformed item(s) skipped"] if bad else []
    try:
        figure = _figure(raw.get("figure"))
    except (TypeError, ValueError):
        figure = None
        problems.append("figure link ignored")
    return Headline(tuple(items), figure, f"{rel}: {'; '.join(problems)}" if problems else "")


# --------------------------------------------------------------------------- rendering


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None, digits: int = 3) -> str:
    """A metric with ``digits`` decimals; a count (an integral value above 1) without any."""
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) > 1:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def _ours(item: HeadlineItem) -> str:
    text = _fmt(item.ours)
    if item.ours is not None and item.std is not None:
        text += f" ± {_fmt(item.std)}"
    if item.ci_low is not None or item.ci_high is not None:
        text += f" <span class='ci'>[{_fmt(item.ci_low)}, {_fmt(item.ci_high)}]</span>"
    return text


def _headline_html(headline: Headline | None, *, failed: bool) -> str:
    """The headline cell: numbers beside the published ones, or "no headline" (with a note)."""
    note = f"<div class='note'>{_e(headline.problem)}</div>" if headline and headline.problem else ""
    if headline is None or not headline.items:
        return f"<span class='muted'>no headline</span>{note}"
    rows = "".join(
        f"<tr><td>{_e(i.label)}</td><td class='num'>{_ours(i)}</td>"
        f"<td class='num pub'>{_e(_fmt(i.published))}</td></tr>"
        for i in headline.items
    )
    stale = "<div class='note'>the run failed: these numbers may be from an earlier run</div>"
    return (
        f"<table class='headline'><tr><th></th><th>ours</th><th>published</th></tr>{rows}</table>"
        f"{note}{stale if failed else ''}"
    )


def _thumbnail_html(name: str, headline: Headline | None) -> str:
    """``<img>`` of the main figure, linked to the full-size PNG (relative link)."""
    if headline is None or headline.figure is None:
        return ""
    if not (paths.reports_dir() / headline.figure).is_file():
        return f"<span class='note'>{_e(headline.figure)} not found</span>"
    src = _e(headline.figure)
    return (
        f"<a href='{src}'><img src='{src}' width='{THUMBNAIL_WIDTH}' "
        f"alt='{_e(name)}: main figure' loading='lazy'></a>"
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _row(record: NotebookResult) -> str:
    headline = read_headline(record.name)
    ok = record.status == "ok"
    error = f"<div class='error'>{_e(record.error)}</div>" if record.error else ""
    data = _e(record.data_source)
    if record.synthetic:
        data = f"<span class='synthetic'>{data}</span>"
    return (
        f"<tr class='{'ok' if ok else 'failed'}'>"
        f"<td class='name'><a href='{_e(record.name)}.html'>{_e(record.name)}</a>"
        f"<div class='status'>{_e(record.status)}</div>{error}</td>"
        f"<td>{_headline_html(headline, failed=not ok)}</td>"
        f"<td class='thumb'>{_thumbnail_html(record.name, headline)}</td>"
        f"<td class='num'>{_e(_minutes(record.seconds))}</td>"
        f"<td>{_e(record.profile)}</td><td class='data'>{data}</td>"
        f"<td class='muted'>{_e(record.finished)}</td></tr>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1400px;
     padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}
.summary{color:#444;margin:.2em 0 1em}
.warning{background:#fff3cd;border:1px solid #e0c060;padding:8px 12px;margin:1em 0}
table.reports{border-collapse:collapse;width:100%}
table.reports>tbody>tr>td,table.reports>tbody>tr>th{padding:8px 10px;border-bottom:1px solid #ddd;
     text-align:left;vertical-align:top}
table.reports th{background:#f4f4f4;font-weight:600}
tr.ok>td.name{border-left:5px solid #2e8b57}
tr.failed>td.name{border-left:5px solid #c0392b}
tr.failed{background:#fdf1f0}
.status{font-size:.85em;color:#555}
tr.failed .status{color:#c0392b;font-weight:600}
.error{font-family:monospace;font-size:.8em;color:#c0392b;max-width:28em;white-space:pre-wrap}
table.headline{border-collapse:collapse;font-size:.9em}
table.headline td,table.headline th{padding:1px 8px;border:none;text-align:left}
table.headline th{background:none;color:#666;font-weight:normal}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pub{color:#666}
.ci{color:#777;font-size:.85em}
.muted{color:#888}
.note{font-size:.8em;color:#a06000}
.synthetic{color:#8a6d00}
.data{font-size:.85em;max-width:18em}
td.thumb img{border:1px solid #ccc}
"""


def render_index(records: Sequence[NotebookResult], *, total_seconds: float | None = None,
                 budget_minutes: float | None = None) -> str:
    """The index page for ``records`` (already merged); pure apart from reading headline files.

    ``budget_minutes``: the profile's wall-clock budget of a whole run; the summary says whether
    this run's total (or, without one, the recorded total) is within it."""
    records = sorted(records, key=lambda r: r.name)
    synthetic = [r.name for r in records if r.synthetic]
    failed = [r.name for r in records if r.status != "ok"]
    warning = (
        "<p class='warning'><b>Synthetic data:</b> "
        f"{_e(', '.join(synthetic))} used the embedded synthetic data set: "
        "those numbers are NOT results on CASME II / SAMM and are not comparable with the "
        "published ones.</p>"
        if synthetic
        else ""
    )
    recorded = sum(r.seconds for r in records)
    total = f"total run time {_minutes(recorded)} (sum over {len(records)} report(s))"
    if total_seconds is not None:
        total = f"this run took {_minutes(total_seconds)}; {total}"
    if budget_minutes is not None:
        spent = (total_seconds if total_seconds is not None else recorded) / 60
        verdict = "within" if spent <= budget_minutes else f"OVER by {spent - budget_minutes:.1f} min"
        total += f"; budget {budget_minutes:g} min: {verdict}"
    profiles = sorted({r.profile for r in records})
    summary = (
        f"{len(records)} report(s), {len(records) - len(failed)} ok, {len(failed)} failed; "
        f"{total}; profile {', '.join(profiles) or '–'}; written {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    rows = "".join(_row(r) for r in records) or (
        "<tr><td colspan='7' class='muted'>no reports yet: run <code>make reproduce</code></td></tr>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>merkit reports</title>
<style>{STYLE}</style>
</head><body>
<h1>merkit: reproduced tables of MER-auGCN and RRRN</h1>
<p class="summary">{_e(summary)}</p>
{warning}
<table class="reports">
<thead><tr><th>report</th><th>headline (ours beside published)</th><th>main figure</th>
<th>run time</th><th>profile</th><th>data</th><th>finished</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="muted">"published" is the number printed in the paper (a reference, not ours).
Regenerate with <code>make reproduce</code> (profile via <code>PROFILE=smoke|quick|paper</code>).
Tables as CSV/JSON with provenance are in <a href="tables/">tables/</a>, figures in
<a href="figures/">figures/</a>.</p>
</body></html>
"""


def write_index(
    results: Sequence[NotebookResult | Mapping[str, Any]] = (),
    *,
    total_seconds: float | None = None,
    budget_minutes: float | None = None,
) -> Path:
    """Merge ``results`` into ``run-status.json`` and write ``reports/index.html`` (atomic).

    Reports from earlier (partial) runs stay listed with their recorded status.
    ``total_seconds`` is this run's wall time, shown beside the recorded total and against
    ``budget_minutes`` (the profile's budget, when it has one).
    """
    records = merge_status(results)
    page = render_index(records, total_seconds=total_seconds, budget_minutes=budget_minutes)
    return atomic_write(paths.reports_dir() / "index.html", page)


__all__ = [
    "HEADLINE_SUFFIX", "STATUS_FILE", "Headline", "HeadlineItem", "NotebookResult", "headline_path",
    "is_synthetic", "merge_status", "read_headline", "read_status", "render_index", "write_headline",
    "write_index",
]
