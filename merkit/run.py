"""``make reproduce``: execute every notebook headlessly with papermill, export HTML, write the index.

Usage: ``python -m merkit.run [--profile quick] [--data auto] [--only 01 03]``

Each ``notebooks/NN-*.ipynb`` runs in order with its ``parameters`` cell overridden
(``PROFILE``, ``DATA``) in the ``merkit`` kernel (the one ``make venv`` registers inside
``.venv``); the executed copy goes to ``build/`` and its HTML to ``reports/NN-*.html``. A
failing notebook is exported too (with its traceback), the others still run, and the command
exits non-zero at the end. ``reports/index.html`` (:mod:`merkit.report.index`) lists every
report with its headline numbers, main figure, status, run time, profile and data source.
Heavy work is cached inside the package, so re-running after an interruption recomputes
nothing that finished.

The console shows one line per notebook and the total against the profile's budget::

    [merkit] 03-table3-module-ablation  ok      236 s
    [merkit] total 51.3 min (budget 60 min for the quick profile)

The kernel's transport: ipykernel warns "Kernel is running over TCP without encryption" for
every plain-TCP kernel. Rather than filter that line, the runner removes its cause: the
kernel manager provisions CurveZMQ keys (``KernelManager.transport_encryption = "auto"``,
jupyter_client >= 8.10, when pyzmq has CURVE and the kernelspec declares
``supported_encryption: ["curve"]``), else it uses the local ``ipc`` transport on POSIX.
Nothing the kernel or a notebook prints is filtered.

Slurm (``make reproduce EXECUTOR=slurm ...``, :mod:`merkit.cluster`): the session opens a ledger
(``MERKIT_SLURM_LEDGER``) that every kernel appends its submitted job arrays to, and names the
running notebook in ``MERKIT_NOTEBOOK`` (the submission manifests record it). When a notebook
fails, what its arrays still have queued is cancelled; when the session ends, by SIGINT or
SIGTERM too, everything of the ledger still queued is cancelled and the ledger is closed (a
kernel still waiting stops instead of resubmitting). A re-run computes only what is not stored.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from merkit import cluster, paths
from merkit.io import atomic_write
from merkit.report.index import STATUS_FILE, NotebookResult, write_index

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpec
    from traitlets.config import Config

KERNEL_NAME = "merkit"
"""The kernelspec notebooks run in (``make venv``: ``ipykernel install --sys-prefix --name merkit``)."""

BUDGET_MINUTES: dict[str, float | None] = {"smoke": 10, "quick": 60, "paper": None}
"""Wall-clock budget of a whole ``make reproduce`` per profile (``None``: no budget)."""

__all__ = [
    "BUDGET_MINUTES", "KERNEL_NAME", "STATUS_FILE", "KernelMissingError", "NotebookResult", "discover",
    "execute_notebook", "export_html", "format_line", "format_total", "kernel_config", "kernel_spec",
    "main", "write_index",
]


class KernelMissingError(RuntimeError):
    """The ``merkit`` kernelspec is not installed where Jupyter looks."""


def discover(only: Sequence[str] = ()) -> list[Path]:
    """``notebooks/NN-*.ipynb`` in order; ``only`` filters by prefix (``"01"``) or name."""
    books = sorted(paths.notebooks_dir().glob("[0-9][0-9]-*.ipynb"))
    if only:
        books = [b for b in books if any(b.stem == o or b.stem.startswith(o) for o in only)]
    return books


def kernel_spec(name: str = KERNEL_NAME) -> KernelSpec:
    """The installed kernelspec ``name``; :class:`KernelMissingError` says how to install it."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel as exc:
        raise KernelMissingError(
            f"Jupyter kernel {name!r} is not installed; run `make venv` (it registers the .venv "
            f"interpreter with `python -m ipykernel install --sys-prefix --name {name}`)"
        ) from exc


@functools.cache
def _quiet_shutdown_manager() -> type:
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        """jupyter_client interrupts a kernel (SIGINT) before asking it to shut down; when the
        kernel is in a message handler at that instant, ipykernel logs "KeyboardInterrupt
        caught in kernel" on stderr. A notebook papermill has finished is idle, so merkit skips
        that interrupt during an orderly shutdown (explicit interrupts, e.g. on a timeout, are
        unchanged; a kernel that ignores the shutdown request is still killed)."""

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


def kernel_config(spec: KernelSpec | None = None) -> Config:
    """Kernel-manager config for an encrypted (CurveZMQ) or local (ipc) kernel transport.

    Curve when jupyter_client supports ``transport_encryption``, pyzmq has CURVE and the
    kernelspec declares it; else ``ipc`` on POSIX; else the default (plain TCP, and the
    kernel says so).
    """
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config()
    config.NotebookClient.kernel_manager_class = _quiet_shutdown_manager()
    raw = (spec.metadata if spec is not None else {}).get("supported_encryption") or ()
    declared = {str(v).strip().lower() for v in ([raw] if isinstance(raw, str) else raw)}
    has_policy = "transport_encryption" in KernelManager.class_trait_names()
    if has_policy and zmq.has("curve") and "curve" in declared:
        config.KernelManager.transport_encryption = "auto"
    elif os.name == "posix":
        config.KernelManager.transport = "ipc"
    return config


def _data_label(data: str, profile: str) -> str:
    from merkit.config import get_profile
    from merkit.data.source import resolve

    prof = get_profile(profile)
    cfg = prof.data if data == "auto" else type(prof.data)(**{**asdict(prof.data), "source": data})
    try:
        return resolve(cfg, generate=False).label
    except (RuntimeError, FileNotFoundError) as exc:
        return f"unresolved: {exc}"


def _error_line(exc: BaseException) -> str:
    """``Type: last line of the message`` (papermill puts the cell's error last)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1]}" if text else type(exc).__name__


def execute_notebook(
    notebook: Path,
    *,
    profile: str,
    data: str = "auto",
    build: Path | None = None,
    export: bool = True,
    extra_parameters: dict[str, object] | None = None,
) -> NotebookResult:
    """Run one notebook with papermill in the ``merkit`` kernel; export HTML (also on failure).

    Raises :class:`KernelMissingError` (before running anything) when the kernel is not
    installed; a notebook's own error is recorded in the result, not raised.
    """
    import papermill as pm

    spec = kernel_spec(KERNEL_NAME)
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
            kernel_name=KERNEL_NAME,
            cwd=str(build),
            progress_bar=False,
            log_output=False,
            config=kernel_config(spec),  # nbclient hands it to the kernel manager
        )
        status = "ok"
    except Exception as exc:  # papermill re-raises the cell's error; keep going
        status = "failed"
        error = _error_line(exc)
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


# --------------------------------------------------------------------------- console


def format_line(result: NotebookResult, width: int = 0) -> str:
    """``[merkit] 03-table3-module-ablation  ok      236 s`` (failures add their error)."""
    status = "ok" if result.status == "ok" else result.status.upper()
    line = f"[merkit] {result.name:<{width}}  {status:<6}  {result.seconds:>5.0f} s"
    return f"{line}  {result.error}" if result.error else line


def format_total(
    seconds: float, profile: str, budgets: dict[str, float | None] = BUDGET_MINUTES
) -> str:
    """``[merkit] total 51.3 min (budget 60 min for the quick profile)``; says when it is over."""
    minutes = seconds / 60
    budget = budgets.get(profile)
    if budget is None:
        return f"[merkit] total {minutes:.1f} min (no budget for the {profile} profile)"
    if minutes > budget:
        return (f"[merkit] total {minutes:.1f} min: OVER the budget of {budget:g} min "
                f"for the {profile} profile")
    return f"[merkit] total {minutes:.1f} min (budget {budget:g} min for the {profile} profile)"


class _Progress:
    """A start line per notebook, replaced in place by its result line on a terminal."""

    def __init__(self, width: int, stream: TextIO | None = None) -> None:
        self.width, self.stream = width, stream or sys.stdout
        self.tty = self.stream.isatty()

    def start(self, name: str) -> None:
        text = f"[merkit] {name:<{self.width}}  running ..."
        print(text, end="" if self.tty else "\n", file=self.stream, flush=True)

    def done(self, result: NotebookResult) -> None:
        prefix = "\r\033[K" if self.tty else ""
        print(prefix + format_line(result, self.width), file=self.stream, flush=True)


def _report_cancelled(ids: Sequence[str], why: str) -> None:
    if ids:
        print(f"[merkit] cancelled Slurm job(s) {', '.join(ids)} ({why})", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m merkit.run``: run the notebooks, write the index; the exit status (0 ok, 1 a
    notebook failed, 2 nothing to run, 130 interrupted by SIGINT/SIGTERM)."""
    with cluster.sigterm_as_interrupt(only_if_default=False):
        try:
            return _main(argv)
        except KeyboardInterrupt:
            print("[merkit] interrupted", file=sys.stderr, flush=True)
            return 130


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m merkit.run", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--data", default="auto", choices=("auto", "synthetic", "real"))
    parser.add_argument("--only", nargs="*", default=(), help="notebook prefixes, e.g. 01 03")
    args = parser.parse_args(argv)
    books = discover(args.only)
    if not books:
        print("[merkit] no notebooks matched", file=sys.stderr)
        return 2
    try:
        kernel_spec(KERNEL_NAME)
    except KernelMissingError as exc:
        print(f"[merkit] {exc}", file=sys.stderr)
        return 2
    print(f"[merkit] {len(books)} notebook(s), profile {args.profile}, data {args.data}", flush=True)
    progress = _Progress(max(len(b.stem) for b in books))
    results: list[NotebookResult] = []
    began = time.time()
    saved = {k: os.environ.get(k) for k in (cluster.LEDGER_ENV, cluster.SESSION_PID_ENV)}
    ledger = cluster.open_ledger()
    try:
        for book in books:
            progress.start(book.stem)
            os.environ[cluster.NOTEBOOK_ENV] = book.stem  # the kernel inherits it (manifests)
            result = execute_notebook(book, profile=args.profile, data=args.data)
            results.append(result)
            progress.done(result)
            if result.status != "ok":  # what the failed notebook left queued on Slurm
                _report_cancelled(cluster.cancel_ledger(ledger), f"left by {book.stem}")
            write_index(results, total_seconds=time.time() - began,
                        budget_minutes=BUDGET_MINUTES.get(args.profile))
    finally:
        os.environ.pop(cluster.NOTEBOOK_ENV, None)
        with _ignoring_signals():
            _report_cancelled(cluster.cancel_ledger(ledger, close=True), "the session ended")
        for key, value in saved.items():  # a caller in the same process is not left in this session
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    total = time.time() - began
    index = write_index(results, total_seconds=total, budget_minutes=BUDGET_MINUTES.get(args.profile))
    print(format_total(total, args.profile), flush=True)
    print(f"[merkit] reports: {index}", flush=True)
    failed = [r.name for r in results if r.status != "ok"]
    if failed:
        print(f"[merkit] FAILED: {', '.join(failed)} (see their reports)", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _ignoring_signals() -> Iterator[None]:
    """SIGINT and SIGTERM held off in the block (a second Ctrl-C must not skip the cancelling)."""
    try:
        saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
