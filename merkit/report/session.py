"""What every notebook calls first and last: the data/profile banner and provenance-stamped tables.

Results are data first: :meth:`Report.save_table` writes ``reports/tables/<notebook>.csv`` and
a ``.json`` beside it (values, profile, git SHA, data fingerprint, seeds, data source) before
anything is rendered, and the tests assert on those files.

Privacy: :meth:`Report.show_faces` is true only for the synthetic data set, or when the user
opts in with ``MERKIT_SHOW_FACES=1``; reports built from licensed data otherwise show flows,
graphs and numbers, never face frames.
"""

from __future__ import annotations

import functools
import html
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from merkit import paths
from merkit.config import Profile, get_profile
from merkit.data.source import DataSource, resolve
from merkit.io import atomic_path, stable_hash, write_json

METRIC_ORDER: tuple[str, ...] = ("war", "uar", "f1", "wf1", "au_f1", "au_f1_mean")
METRIC_NAMES: dict[str, str] = {"war": "WAR", "uar": "UAR", "f1": "F1", "wf1": "WF1",
                                "au_f1": "F1", "au_f1_mean": "Avg. F1"}
PUBLISHED_NOTE = "published = the number printed in the paper (reference, not ours)"


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


def data_fingerprint(df: pd.DataFrame) -> str:
    """Hash of the clip table and each clip's frame names and sizes (cheap, content-aware)."""
    rows = []
    for row in df.itertuples(index=False):
        frames = [(Path(f).name, Path(f).stat().st_size if Path(f).exists() else -1) for f in row.frames]
        rows.append([row.subject, row.clip, row.onset, row.apex, row.offset, list(row.aus),
                     row.objective_class, frames])
    return stable_hash(rows)


@dataclass
class Report:
    """A notebook's run: its name, profile, data source and where its results go."""

    name: str
    profile: Profile
    source: DataSource
    started: float = field(default_factory=time.time)
    opt_in_faces: bool = False

    @property
    def show_faces(self) -> bool:
        """Face frames may be shown: synthetic data, or the user opted in."""
        return self.source.is_synthetic or self.opt_in_faces

    def banner_html(self) -> str:
        if self.source.is_synthetic:
            colour, title = "#fff3cd", "SYNTHETIC DATA: these numbers are NOT results on CASME II / SAMM"
        else:
            colour, title = "#d1e7dd", "Licensed data"
        departures = "".join(f"<li>{html.escape(d)}</li>" for d in self.profile.departures)
        departures = departures or "<li>none: the papers' settings</li>"
        return (
            f'<div style="background:{colour};border:1px solid #999;padding:8px 12px;margin:4px 0">'
            f"<b>{html.escape(title)}</b><br>"
            f"Data: {html.escape(self.source.label)}<br>"
            f"Profile: <b>{html.escape(self.profile.name)}</b> ({html.escape(self.profile.description)}); "
            f"seeds {list(self.profile.seeds)}; code {git_revision()}<br>"
            f"Departures from the papers:<ul style='margin:2px 0'>{departures}</ul>"
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

    def save_figure(self, fig: Any, stem: str) -> None:
        """Save a matplotlib figure to ``figures/<name>-<stem>.png`` atomically (it still displays)."""
        out = paths.figures_dir() / f"{self.name}-{stem}.png"
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


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
    and ``n_seeds``, cells of several seeds read ``mean ± std``.
    """
    if digits is not None and {"std", "n_seeds"} <= set(table.columns):
        table = table.assign(**{ours: [
            v if pd.isna(v) or n <= 1 else f"{v:.{digits}f} ± {sd:.{digits}f}"
            for v, sd, n in zip(table[ours], table["std"].fillna(0.0), table["n_seeds"].fillna(0), strict=True)
        ]})
    wide = table.pivot_table(index=index, columns=columns, values=[ours, published], aggfunc="first",
                             sort=False)
    wide = wide.swaplevel(0, -1, axis=1)
    order = list(dict.fromkeys(table[columns] if isinstance(columns, str) else
                               map(tuple, table[columns].to_numpy())))
    wide = wide.reindex(columns=[(c, v) for c in order for v in (ours, published)])
    rows = list(dict.fromkeys(table[index] if isinstance(index, str) else map(tuple, table[index].to_numpy())))
    wide = wide.reindex(rows)
    wide = wide.rename(columns=METRIC_NAMES, level=0)
    if digits is not None:
        wide = wide.map(lambda v: "" if pd.isna(v) else (f"{v:.{digits}f}" if isinstance(v, float) else v))
    return wide


def start(
    name: str,
    profile: str = "quick",
    data: str = "auto",
    *,
    needs_data: bool = True,
    show: bool = True,
) -> Report:
    """Begin a notebook: resolve the profile and data source, show the banner.

    ``data`` overrides the profile's data source (``"auto"``, ``"synthetic"``, ``"real"``).
    ``needs_data=False`` (notebooks that read no clips) skips generating the synthetic set.
    """
    prof = get_profile(profile)
    if data != "auto":
        import dataclasses

        prof = dataclasses.replace(prof, data=dataclasses.replace(prof.data, source=data))
    report = Report(
        name=name,
        profile=prof,
        source=resolve(prof.data, generate=needs_data),
        opt_in_faces=os.environ.get("MERKIT_SHOW_FACES", "") == "1",
    )
    if show:
        report.display_banner()
    return report
