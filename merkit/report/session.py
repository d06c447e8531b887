"""What every notebook calls first and last: the banner, and provenance-stamped tables and figures.

Results are data first: :meth:`Report.save_table` writes ``reports/tables/<notebook>.csv`` and
a ``.json`` beside it (values, profile, git SHA, data fingerprint, seeds, data source) before
anything is rendered, and the tests assert on those files. :meth:`Report.save_headline` writes
the few numbers the index shows for the notebook, beside the published ones.

The banner's departures from the papers are computed, not written by hand: the profile's
fields that differ from the ``paper`` profile (:func:`merkit.config.departures`), limited to
the sections the notebook uses, then the paper profile's own departures
(:data:`merkit.paper.PAPER_PROFILE_DEPARTURES`).

Privacy: :attr:`Report.show_faces` is true only for the synthetic data set, or when the user
opts in with ``MERKIT_SHOW_FACES=1``; reports built from licensed data otherwise show flows,
graphs and numbers, never face frames.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import math
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from merkit import paths
from merkit.config import Profile, departures, get_profile
from merkit.data import DataSource, data_fingerprint, get_dataset, resolve
from merkit.io import atomic_path, write_json
from merkit.paper import PAPER_PROFILE_DEPARTURES
from merkit.report.index import write_headline
from merkit.reproduce.tables import FOLD_NAMES, METRIC_NAMES, METRIC_ORDER, iter_runs, predictions

__all__ = ["METRIC_NAMES", "METRIC_ORDER", "PUBLISHED_NOTE", "Report", "beside", "git_revision", "start"]

PUBLISHED_NOTE = "published = the number printed in the paper (reference, not ours)"

#: how epochs were fixed, stated in every report that trains
EPOCHS_NOTE = ("epochs are fixed by the profile and the model after the last epoch is evaluated: "
               "no model selection on a test fold or test subject; the quick profile's budgets, "
               "the head-motion compensation and the BatchNorm recalibration were chosen on a "
               "development set generated with seed 1, never on the evaluated set")


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """``<sha>`` or ``<sha>-dirty`` of the repository, ``"unknown"`` outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=paths.REPO_ROOT, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=paths.REPO_ROOT, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


@dataclass
class Report:
    """A notebook's run: its name, profile, data source, the profile sections it uses."""

    name: str
    profile: Profile
    source: DataSource
    sections: tuple[str, ...] | None = None
    trains: bool = False
    started: float = field(default_factory=time.time)
    opt_in_faces: bool = False
    headline: list[dict[str, Any]] = field(default_factory=list, repr=False)
    main_figure: str | None = None

    @property
    def show_faces(self) -> bool:
        """Face frames may be shown: synthetic data, or the user opted in."""
        return self.source.is_synthetic or self.opt_in_faces

    def departures(self) -> list[str]:
        """This notebook's departures from the papers, one line each (computed)."""
        lines = [f"{k} = {_fmt(v)} (paper profile: {_fmt(p)})"
                 for k, v, p in departures(self.profile, self.sections)]
        return lines + list(PAPER_PROFILE_DEPARTURES)

    def banner_html(self) -> str:
        if self.source.is_synthetic:
            names = " / ".join(get_dataset(n).label for n in self.source.datasets)
            colour, title = "#fff3cd", f"SYNTHETIC DATA: these numbers are NOT results on {names}"
        else:
            colour, title = "#d1e7dd", "Licensed data"
        items = "".join(f"<li>{html.escape(d)}</li>" for d in self.departures())
        epochs = f"{html.escape(EPOCHS_NOTE)}.<br>" if self.trains else ""
        return (
            f'<div style="background:{colour};border:1px solid #999;padding:8px 12px;margin:4px 0">'
            f"<b>{html.escape(title)}</b><br>"
            f"Data: {html.escape(self.source.label)}<br>"
            f"Profile: <b>{html.escape(self.profile.name)}</b> ({html.escape(self.profile.description)}); "
            f"seeds {list(self.profile.seeds)}; code {git_revision()}<br>{epochs}"
            f"Departures from the papers:<ul style='margin:2px 0'>{items}</ul>"
            f"{PUBLISHED_NOTE}.</div>"
        )

    def display_banner(self) -> None:
        from IPython.display import HTML, display

        display(HTML(self.banner_html()))

    def provenance(self, df: pd.DataFrame | None = None) -> dict[str, Any]:
        return {
            "notebook": self.name,
            "profile": self.profile.to_dict(),
            "profile_key": self.profile.key(),
            "git": git_revision(),
            "data_source": self.source.label,
            "synthetic": self.source.is_synthetic,
            "data_fingerprint": data_fingerprint(df) if df is not None else None,
            "seeds": list(self.profile.seeds),
            "departures": self.departures(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def save_table(
        self,
        table: pd.DataFrame,
        *,
        stem: str | None = None,
        clips: pd.DataFrame | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write ``tables/<name>[-stem].csv`` and ``.json`` (values + provenance) atomically."""
        base = self.name if stem is None else f"{self.name}-{stem}"
        out = paths.tables_dir() / f"{base}.csv"
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        meta = self.provenance(clips) | {"table": base, "extra": extra or {}}
        meta["values"] = table.to_dict(orient="records")
        write_json(out.with_suffix(".json"), meta)

    def save_predictions(self, results: Any, clips: pd.DataFrame) -> Any:
        """Write every run's per-clip predictions to ``tables/<name>-predictions.csv``
        (:func:`merkit.reproduce.tables.predictions`) and its provenance beside it; returns a
        link to display (``display(rep.save_predictions(results, ws.df))``). ``results`` may
        also be the predictions frame itself (notebook 11's two workspaces:
        :func:`merkit.reproduce.controls.predictions`)."""
        from IPython.display import HTML

        frame = results if isinstance(results, pd.DataFrame) else predictions(results, clips)
        out = paths.tables_dir() / f"{self.name}-predictions.csv"
        with atomic_path(out) as tmp:
            frame.to_csv(tmp, index=False)
        write_json(out.with_suffix(".json"), self.provenance(clips) | {
            "table": out.stem, "rows": len(frame), "columns": list(frame.columns)})
        runs = (len(iter_runs(results)) if not isinstance(results, pd.DataFrame)
                else len(frame.drop_duplicates([c for c in ("set", "method", "condition", "fold", "seed")
                                                if c in frame])))
        return HTML(f'<p>Per-clip predictions of all {runs} runs ({len(frame)} rows: clip, subject, data set, '
                    f'fold, seed, true and predicted class, class and AU probabilities), to re-score with any '
                    f'metric: <a href="tables/{html.escape(out.name)}">tables/{html.escape(out.name)}</a></p>')

    def save_figure(self, fig: Any, stem: str, *, main: bool = False) -> None:
        """Save a matplotlib figure to ``figures/<name>-<stem>.png`` atomically (it still displays).

        ``main=True`` marks it as the report's main figure (the index shows its thumbnail).
        """
        out = paths.figures_dir() / f"{self.name}-{stem}.png"
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        if main:
            self.main_figure = f"figures/{out.name}"
            self._write_headline()

    def save_headline(self, table: pd.DataFrame, *, label: str | Sequence[str] = "label",
                      where: dict[str, Any] | None = None) -> None:
        """The index's headline numbers: the rows of ``table`` (long form, ``ours`` /
        ``published`` columns) matching ``where``, labelled by the ``label`` column(s)."""
        sub = table
        for k, v in (where or {}).items():
            sub = sub[sub[k].isin(v) if isinstance(v, (list, tuple)) else sub[k] == v]
        cols = [label] if isinstance(label, str) else list(label)
        names = {**FOLD_NAMES, **METRIC_NAMES}

        def num(value: Any) -> float | None:
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

        def spread(r: Any) -> float | None:  # a std only where several seeds ran
            return num(getattr(r, "std", None)) if getattr(r, "n_seeds", 1) > 1 else None

        self.headline = [
            {"label": " ".join(names.get(str(getattr(r, c)), str(getattr(r, c))) for c in cols),
             "ours": num(getattr(r, "ours", None)), "std": spread(r),
             "ci_low": num(getattr(r, "ci_low", None)), "ci_high": num(getattr(r, "ci_high", None)),
             "published": num(getattr(r, "published", None))}
            for r in sub.itertuples()
        ]
        self._write_headline()

    def _write_headline(self) -> None:
        write_headline(self.name, self.headline, self.main_figure)


def beside(
    table: pd.DataFrame,
    index: str | list[str],
    columns: str | list[str],
    *,
    ours: str = "ours",
    published: str = "published",
    digits: int | None = 3,
) -> pd.DataFrame:
    """Wide view with each column as ``ours`` next to ``published``, in first-seen order.

    ``table`` is long (one row per cell, e.g. ``dataset, column, ours, published``); the
    result has two-level columns ``(column, "ours" | "published")`` so our number always sits
    beside the paper's. Missing published values show as blank. When the table carries ``std``
    and ``n_seeds``, cells of several seeds read ``mean ± std``; when it carries ``ci_low`` /
    ``ci_high`` (the bootstrap interval over test subjects), cells read ``0.708 [0.652, 0.761]``
    (``0.708 ± 0.012 [0.652, 0.761]`` with several seeds).
    """
    if digits is not None and ({"std", "n_seeds"} <= set(table.columns) or {"ci_low", "ci_high"} <= set(table.columns)):
        n_seeds = table["n_seeds"].fillna(0) if {"std", "n_seeds"} <= set(table.columns) else [1] * len(table)
        std = table["std"].fillna(0.0) if "std" in table else [0.0] * len(table)
        nan = [float("nan")] * len(table)
        low, high = (table.get("ci_low", nan), table.get("ci_high", nan))

        def cell(v: Any, sd: float, n: int, lo: float, hi: float) -> Any:
            if pd.isna(v) or (n <= 1 and (pd.isna(lo) or pd.isna(hi))):
                return v
            text = f"{v:.{digits}f}" + (f" ± {sd:.{digits}f}" if n > 1 else "")
            return text + ("" if pd.isna(lo) or pd.isna(hi) else f" [{lo:.{digits}f}, {hi:.{digits}f}]")

        table = table.assign(**{ours: [cell(*c) for c in zip(table[ours], std, n_seeds, low, high, strict=True)]})
    wide = table.pivot_table(index=index, columns=columns, values=[ours, published], aggfunc="first",
                             sort=False)
    wide = wide.swaplevel(0, -1, axis=1)
    order = list(dict.fromkeys(table[columns] if isinstance(columns, str) else
                               map(tuple, table[columns].to_numpy())))
    wide = wide.reindex(columns=[(c, v) for c in order for v in (ours, published)])
    rows = list(dict.fromkeys(table[index] if isinstance(index, str) else map(tuple, table[index].to_numpy())))
    wide = wide.reindex(rows)
    wide = wide.rename(columns=dict(METRIC_NAMES), level=0)
    if digits is not None:
        wide = wide.map(lambda v: "" if pd.isna(v) else (f"{v:.{digits}f}" if isinstance(v, float) else v))
    return wide


def start(
    name: str,
    profile: str = "quick",
    data: str = "auto",
    *,
    needs_data: bool = True,
    sections: Sequence[str] | None = None,
    trains: bool = False,
    show: bool = True,
    datasets: Sequence[str] | None = None,
) -> Report:
    """Begin a notebook: resolve the profile and data source, show the banner.

    ``data`` overrides the profile's data source (``"auto"``, ``"synthetic"``, ``"real"``).
    ``needs_data=False`` (notebooks that read no clips) skips generating the synthetic set.
    ``sections``: the profile sections the notebook uses (its banner lists departures there
    only); ``trains``: the notebook trains models (its banner says how epochs were fixed);
    ``datasets``: the registered data sets the notebook reads, when not the profile's
    (notebook 12: ``("smic", "casme2", "samm")``).
    """
    prof = get_profile(profile)
    if data != "auto":
        prof = dataclasses.replace(prof, data=dataclasses.replace(prof.data, source=data))
    if datasets is not None:
        prof = dataclasses.replace(prof, data=dataclasses.replace(prof.data, datasets=tuple(datasets)))
    report = Report(
        name=name,
        profile=prof,
        source=resolve(prof.data, generate=needs_data),
        sections=tuple(sections) if sections is not None else None,
        trains=trains,
        opt_in_faces=os.environ.get("MERKIT_SHOW_FACES", "") == "1",
    )
    if show:
        report.display_banner()
    return report
