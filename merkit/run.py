"""``make reproduce``: execute every notebook headlessly with papermill, export HTML, write the index.

Usage: ``python -m merkit.run [--profile quick] [--data auto] [--only 01 03] [--build DIR]``

Each ``notebooks/NN-*.ipynb`` runs in order with its ``parameters`` cell overridden
(``PROFILE``, ``DATA``); the executed copy goes to ``build/`` and its HTML to
``reports/NN-*.html``. A failing notebook is exported too (with its traceback), the others
still run, and the command exits non-zero at the end. ``reports/index.html`` lists every
report with its status, run time, profile and data source. Heavy work is cached inside the
package, so re-running after an interruption recomputes nothing that finished.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from merkit import paths
from merkit.io import atomic_write, read_json, write_json

STATUS_FILE = "run-status.json"


@dataclass(frozen=True)
class NotebookResult:
    name: str
    status: str  # "ok" | "failed"
    seconds: float
    profile: str
    data_source: str
    error: str = ""
    finished: str = ""


def discover(only: Sequence[str] = ()) -> list[Path]:
    """``notebooks/NN-*.ipynb`` in order; ``only`` filters by prefix (``"01"``) or name."""
    books = sorted(paths.notebooks_dir().glob("[0-9][0-9]-*.ipynb"))
    if only:
        books = [b for b in books if any(b.stem == o or b.stem.startswith(o) for o in only)]
    return books


def _data_label(data: str, profile: str) -> str:
    from merkit.config import get_profile
    from merkit.data.source import resolve

    prof = get_profile(profile)
    cfg = prof.data if data == "auto" else type(prof.data)(**{**asdict(prof.data), "source": data})
    try:
        return resolve(cfg, generate=False).label
    except (RuntimeError, FileNotFoundError) as exc:
        return f"unresolved: {exc}"


def execute_notebook(
    notebook: Path,
    *,
    profile: str,
    data: str = "auto",
    build: Path | None = None,
    export: bool = True,
    extra_parameters: dict[str, object] | None = None,
) -> NotebookResult:
    """Run one notebook with papermill; export HTML to the reports folder (also on failure)."""
    import papermill as pm

    build = build or paths.build_dir()
    build.mkdir(parents=True, exist_ok=True)
    output = build / notebook.name
    parameters = {"PROFILE": profile, "DATA": data} | (extra_parameters or {})
    start = time.time()
    error = ""
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(build),
            progress_bar=False,
            log_output=False,
        )
        status = "ok"
    except Exception as exc:  # papermill re-raises the cell's error; keep going
        status = "failed"
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    seconds = time.time() - start
    if export and output.exists():
        export_html(output, paths.reports_dir() / f"{notebook.stem}.html")
    return NotebookResult(
        name=notebook.stem,
        status=status,
        seconds=round(seconds, 1),
        profile=profile,
        data_source=_data_label(data, profile),
        error=error,
        finished=time.strftime("%Y-%m-%d %H:%M:%S"),
    )


def export_html(executed: Path, target: Path) -> Path:
    """nbconvert an executed notebook to standalone HTML (atomic)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    exporter = HTMLExporter()
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    return atomic_write(target, body)


def write_index(results: Sequence[NotebookResult]) -> Path:
    """``reports/index.html`` from the recorded status of every notebook run so far."""
    status_path = paths.reports_dir() / STATUS_FILE
    known: dict[str, dict[str, object]] = {}
    if status_path.exists():
        known = {r["name"]: r for r in read_json(status_path)}
    for r in results:
        known[r.name] = asdict(r)
    write_json(status_path, sorted(known.values(), key=lambda r: str(r["name"])))
    rows = []
    synthetic = False
    for r in sorted(known.values(), key=lambda r: str(r["name"])):
        name = str(r["name"])
        synthetic |= "synthetic" in str(r["data_source"])
        colour = "#d1e7dd" if r["status"] == "ok" else "#f8d7da"
        link = f'<a href="{html.escape(name)}.html">{html.escape(name)}</a>'
        rows.append(
            f"<tr style='background:{colour}'><td>{link}</td><td>{html.escape(str(r['status']))}</td>"
            f"<td>{float(r['seconds']):.1f} s</td><td>{html.escape(str(r['profile']))}</td>"
            f"<td>{html.escape(str(r['data_source']))}</td><td>{html.escape(str(r['finished']))}</td>"
            f"<td>{html.escape(str(r['error']))}</td></tr>"
        )
    warning = (
        "<p style='background:#fff3cd;padding:8px'><b>Synthetic data:</b> reports marked with the "
        "embedded synthetic data set are NOT results on CASME II / SAMM.</p>"
        if synthetic
        else ""
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>merkit reports</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;border-bottom:1px solid #ccc;text-align:left}}</style>
</head><body>
<h1>merkit: reproduced tables of MER-auGCN and RRRN</h1>
{warning}
<table><tr><th>report</th><th>status</th><th>run time</th><th>profile</th><th>data</th><th>finished</th><th>error</th></tr>
{''.join(rows)}
</table>
<p>Regenerate with <code>make reproduce</code> (profile via <code>PROFILE=smoke|quick|paper</code>).
Tables as CSV/JSON with provenance are in <a href="tables/">tables/</a>.</p>
</body></html>
"""
    return atomic_write(paths.reports_dir() / "index.html", page)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m merkit.run", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--data", default="auto", choices=("auto", "synthetic", "real"))
    parser.add_argument("--only", nargs="*", default=(), help="notebook prefixes, e.g. 01 03")
    args = parser.parse_args(argv)
    books = discover(args.only)
    if not books:
        print("no notebooks matched", file=sys.stderr)
        return 2
    results = []
    for book in books:
        print(f"[merkit] {book.name} (profile={args.profile}) ...", flush=True)
        result = execute_notebook(book, profile=args.profile, data=args.data)
        results.append(result)
        print(f"[merkit]   {result.status} in {result.seconds:.0f} s {result.error}", flush=True)
        write_index(results)
    index = write_index(results)
    failed = [r.name for r in results if r.status != "ok"]
    print(f"[merkit] reports: {index}")
    if failed:
        print(f"[merkit] FAILED: {', '.join(failed)} (see their reports)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
