"""Slurm job arrays through submitit: the one module of merkit that talks to a cluster.

:func:`run_array` runs ``fn`` over ``items`` as one Slurm job array, one array task per item
(:class:`submitit.AutoExecutor`, ``map_array``), waits by polling, resubmits each failed task up
to :attr:`SlurmConfig.max_retries` times and returns an :class:`ArrayOutcome`: what finished and
what failed, with every attempt's job id, Slurm stdout/stderr log and error. The grid of runs
(:func:`merkit.experiments.run_grid`) and the flow preprocessing
(:func:`merkit.preprocess.pipeline.build_flowset`) fan out through it when
``ExecutionConfig.executor == "slurm"``; no other module imports submitit (imported lazily, so
merkit works without it where nothing is submitted).

Files, under the log folder (:meth:`SlurmConfig.folder`, default ``<cache>/slurm/``; it must be
on a file system the compute nodes share, as the run store and the flow cache must)::

    jobs/<job>_submitted.pkl, <job>_0_result.pkl, <job>_0_log.out, <job>_0_log.err   (submitit's)
    payloads/<uuid>.pkl       what every task of one run_array call shares (e.g. the runner and
                              its flows), pickled once instead of once per task; removed at the end
    manifests/<array id>.json one per submission (format below)
    ledgers/<stamp>-<pid>.tsv one per ``python -m merkit.run`` session: the arrays it submitted

How a task's state is known, with or without Slurm accounting: submitit's result pickle (written
by the task itself: success and its value, or the error's traceback) means finished; a task still
listed by ``squeue`` is waiting or running; a task gone from the queue without a result (killed
for its time limit or memory, a node failure, ``scancel``) is failed after two consecutive polls.
submitit's own state watcher (``sacct`` every poll, and a warning per poll where accounting is
off) is not used; ``sacct`` is asked once about each lost task, to name its state (TIMEOUT,
OUT_OF_MEMORY, ...) in the error, and where it is unavailable that is noticed once per process
and never asked again (:func:`accounting_available`).

Manifest (``manifests/<array job id>.json``, written at submission, rewritten when the wait
ends; read by a status command)::

    {"format": "merkit.slurm-manifest/1", "array_job_id": "123", "desc": "mer_augcn ablation unocc",
     "notebook": "03-table3-module-ablation" | null, "attempt": 1, "submitted": ISO time,
     "finished": ISO time | null, "host": ..., "pid": ..., "slurm": {SlurmConfig fields},
     "tasks": [{"job_id": "123_0", "index": 0, "state": "submitted" | "done" | "failed" | "cancelled",
                "error": str | null, "stdout": path, "stderr": path, "item": {what the task does,
                e.g. "runs": [{"key", "method", "protocol", "fold", "seed", "condition"}]}}]}

``attempt`` is 1 for the first submission of a task and n + 1 for its n-th retry; a retry is a
new array with its own manifest. ``notebook`` comes from :data:`NOTEBOOK_ENV` (set by
:mod:`merkit.run` per notebook).

Cancellation: the wait loop cancels (``scancel``) every array it submitted on any exception,
KeyboardInterrupt included (stopping a notebook). A process that is SIGKILLed cannot, so every
submitted array id is also appended to the ledger named by :data:`LEDGER_ENV`:
``python -m merkit.run`` opens one per session (:func:`open_ledger`) and cancels what is still
queued of it (:func:`cancel_ledger`) when a notebook fails and when it exits, SIGINT and
SIGTERM included. A re-run then submits only what is not stored.

Environment variables (read where a profile is loaded, :func:`slurm_from_env`): the Make
variables ``SLURM_PARTITION=... make reproduce`` are mapped onto ``MERKIT_SLURM_*`` by the
Makefile; merkit never reads a ``SLURM_*`` variable to configure a submission, because Slurm
itself sets ``SLURM_*`` variables inside every job (``SLURM_CPUS_PER_TASK``,
``SLURM_MEM_PER_NODE``, ``SLURM_GPUS`` when ``--gpus`` is given, ...) and ``srun`` reads others
as its input (``SLURM_PARTITION``, ``SLURM_ACCOUNT``, ``SLURM_QOS``): see :data:`ENV_VARS`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from merkit import paths
from merkit.io import pid_alive, read_json, write_json

#: the environment variable naming the session's ledger of submitted arrays (:func:`open_ledger`)
LEDGER_ENV = "MERKIT_SLURM_LEDGER"
#: the environment variable holding the pid of the session that opened the ledger
SESSION_PID_ENV = "MERKIT_SLURM_SESSION_PID"
#: the environment variable naming the notebook being run (set by :mod:`merkit.run`; manifests)
NOTEBOOK_ENV = "MERKIT_NOTEBOOK"
#: format tag of every manifest
MANIFEST_FORMAT = "merkit.slurm-manifest/1"

#: ``MERKIT_SLURM_*`` variable -> (:class:`SlurmConfig` field, the Make variable mapped onto it)
ENV_VARS: Mapping[str, tuple[str, str]] = {
    "MERKIT_SLURM_PARTITION": ("partition", "SLURM_PARTITION"),
    "MERKIT_SLURM_GPUS": ("gpus_per_node", "SLURM_GPUS"),
    "MERKIT_SLURM_CPUS": ("cpus_per_task", "SLURM_CPUS"),
    "MERKIT_SLURM_MEM_GB": ("mem_gb", "SLURM_MEM_GB"),
    "MERKIT_SLURM_TIME_MIN": ("time_min", "SLURM_TIME_MIN"),
    "MERKIT_SLURM_ACCOUNT": ("account", "SLURM_ACCOUNT"),
    "MERKIT_SLURM_QOS": ("qos", "SLURM_QOS"),
    "MERKIT_SLURM_EXTRA": ("extra", "SLURM_EXTRA"),
    "MERKIT_SLURM_RETRIES": ("max_retries", "SLURM_RETRIES"),
}

_FLAG = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class SlurmConfig:
    """How tasks are submitted to Slurm (never part of a run or cache key).

    Each task is one Slurm job (an array element) of one node and one task with
    ``cpus_per_task`` CPUs (its torch and OpenCV thread count), ``gpus_per_node`` /
    ``gpus_per_task`` GPUs, ``mem_gb`` GB (``None``: the partition's default) and a time limit
    of ``time_min`` minutes. ``extra``: more sbatch options as ``(option, value)`` pairs (value
    ``True`` for a bare flag: ``(("constraint", "a100"), ("exclusive", True))``), passed as
    submitit's ``slurm_additional_parameters``. ``array_parallelism``: at most that many tasks
    of an array run at once. ``max_retries``: a failed task is resubmitted that many times, then
    reported. ``poll_s``: the longest wait between two polls of the queue (it starts at 0.5 s
    and grows). ``log_folder``: default ``<cache>/slurm`` (:meth:`folder`).
    ``clips_per_task``: the flow preprocessing's clips per array task.
    """

    partition: str | None = None
    gpus_per_node: int = 0
    gpus_per_task: int = 0
    cpus_per_task: int = 2
    mem_gb: float | None = None
    time_min: int = 120
    account: str | None = None
    qos: str | None = None
    extra: tuple[tuple[str, str | bool], ...] = ()
    array_parallelism: int = 64
    max_retries: int = 2
    poll_s: float = 10.0
    log_folder: str | None = None
    clips_per_task: int = 16

    def __post_init__(self) -> None:
        positive = {"cpus_per_task": self.cpus_per_task, "time_min": self.time_min,
                    "array_parallelism": self.array_parallelism, "clips_per_task": self.clips_per_task}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SlurmConfig.{name} must be an integer >= 1, not {value!r}")
        for name in ("gpus_per_node", "gpus_per_task", "max_retries"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"SlurmConfig.{name} must be an integer >= 0, not {value!r}")
        if self.mem_gb is not None and not self.mem_gb > 0:
            raise ValueError(f"SlurmConfig.mem_gb must be > 0 (or None), not {self.mem_gb!r}")
        if not self.poll_s > 0:
            raise ValueError(f"SlurmConfig.poll_s must be > 0, not {self.poll_s!r}")
        for pair in self.extra:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
                    and _FLAG.match(pair[0])):
                raise ValueError(f"SlurmConfig.extra: each entry is (option, value), option like "
                                 f"'constraint' or 'mail-type'; got {pair!r}")

    def folder(self) -> Path:
        """The log folder: :attr:`log_folder`, else ``<cache>/slurm`` (:func:`merkit.paths.cache_dir`)."""
        return Path(self.log_folder).expanduser().resolve() if self.log_folder else paths.cache_dir() / "slurm"

    def parameters(self, name: str = "merkit") -> dict[str, Any]:
        """The keyword arguments of submitit's ``AutoExecutor.update_parameters`` (job ``name``)."""
        params: dict[str, Any] = {
            "name": name, "timeout_min": self.time_min, "cpus_per_task": self.cpus_per_task,
            "nodes": 1, "tasks_per_node": 1, "slurm_array_parallelism": self.array_parallelism,
            # BLAS / OpenMP threads = the task's CPUs, before Python imports numpy or torch
            "slurm_setup": [f"export {v}=${{SLURM_CPUS_PER_TASK:-{self.cpus_per_task}}}"
                            for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")],
        }
        if self.gpus_per_node:
            params["gpus_per_node"] = self.gpus_per_node
        if self.gpus_per_task:
            params["slurm_gpus_per_task"] = self.gpus_per_task
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        for key, value in (("slurm_partition", self.partition), ("slurm_account", self.account),
                           ("slurm_qos", self.qos)):
            if value:
                params[key] = value
        if self.extra:
            params["slurm_additional_parameters"] = dict(self.extra)
        return params


def parse_extra(text: str, *, variable: str = "MERKIT_SLURM_EXTRA") -> tuple[tuple[str, str | bool], ...]:
    """``"constraint=a100,exclusive="`` -> ``(("constraint", "a100"), ("exclusive", True))``.

    Options are separated by ``,`` (or by ``;`` when the text has one, for values holding a
    comma: ``"nodelist=n[1-3],n5;exclusive"``); an option without ``=`` or with an empty value
    is a bare flag. ``ValueError`` names ``variable`` on a malformed option.
    """
    parts = [p.strip() for p in text.split(";" if ";" in text else ",") if p.strip()]
    out: list[tuple[str, str | bool]] = []
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().lstrip("-")
        if not _FLAG.match(key):
            raise ValueError(f"{variable}: {part!r} is not an sbatch option 'name=value' or 'name' "
                             f"(e.g. 'constraint=a100,exclusive=')")
        out.append((key, value.strip() if sep and value.strip() else True))
    return tuple(out)


def slurm_from_env(config: SlurmConfig, environ: Mapping[str, str] | None = None) -> SlurmConfig:
    """``config`` with the ``MERKIT_SLURM_*`` variables of ``environ`` (default ``os.environ``)
    applied (:data:`ENV_VARS`); an unset or blank variable changes nothing.

    ``MERKIT_SLURM_GPUS`` sets :attr:`SlurmConfig.gpus_per_node` (one task per node);
    ``MERKIT_SLURM_EXTRA`` is parsed by :func:`parse_extra`. A bad value is a ``ValueError``
    naming the variable and its Make name.
    """
    environ = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for var, (name, make) in ENV_VARS.items():
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        where = f"{var} (make reproduce {make}=...)"
        if name in ("partition", "account", "qos"):
            changes[name] = raw
        elif name == "extra":
            changes[name] = parse_extra(raw, variable=where)
        elif name == "mem_gb":
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{where} must be a number of GB > 0, not {raw!r}")
            changes[name] = value
        else:
            low = 1 if name in ("cpus_per_task", "time_min") else 0
            if not re.fullmatch(r"\d+", raw) or int(raw) < low:
                raise ValueError(f"{where} must be an integer >= {low}, not {raw!r}")
            changes[name] = int(raw)
    return dataclasses.replace(config, **changes) if changes else config


# --- inside a task ---------------------------------------------------------------------------


def current_job_id(environ: Mapping[str, str] | None = None) -> str | None:
    """The Slurm job id of this process as submitit names it: ``"<array job>_<task>"`` in an
    array task, ``"<job>"`` in a plain job, ``None`` outside Slurm."""
    env = os.environ if environ is None else environ
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return env.get("SLURM_JOB_ID") or None


def task_cpus(default: int = 1) -> int:
    """The CPUs Slurm gave this task (``SLURM_CPUS_PER_TASK``), else ``default``."""
    raw = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def set_threads(n: int) -> None:
    """torch's (when imported) and OpenCV's (when installed) thread counts set to ``n``."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    with contextlib.suppress(ImportError):
        import cv2

        cv2.setNumThreads(n)


_PAYLOADS: dict[str, Any] = {}


def _cloudpickle() -> Any:
    """cloudpickle (a submitit dependency), else joblib's vendored copy."""
    try:
        import cloudpickle
    except ImportError:
        from joblib.externals import cloudpickle
    return cloudpickle


@dataclass(frozen=True)
class _Task:
    """What a Slurm task runs: ``fn(shared, item)`` (``fn(item)`` without a payload), with
    torch / OpenCV threads = the task's CPUs. The payload is read once per process."""

    fn: Callable[..., Any]
    payload: str | None
    cpus: int

    def __call__(self, item: Any) -> Any:
        set_threads(task_cpus(self.cpus))
        if self.payload is None:
            return self.fn(item)
        if self.payload not in _PAYLOADS:
            with open(self.payload, "rb") as handle:
                _PAYLOADS[self.payload] = _cloudpickle().load(handle)
        return self.fn(_PAYLOADS[self.payload], item)


# --- the cluster, behind a small interface (tests substitute a fake) --------------------------


class JobLike(Protocol):
    """The part of a :class:`submitit.Job` merkit uses."""

    job_id: str
    paths: Any  # .result_pickle, .stdout, .stderr


class Backend(Protocol):
    """Submits arrays and answers questions about their jobs (:class:`SubmititBackend`)."""

    def submit(self, fn: Callable[[Any], Any], items: Sequence[Any], folder: Path,
               parameters: dict[str, Any]) -> list[JobLike]: ...

    def queued(self, array_ids: Sequence[str]) -> set[str] | None: ...

    def cancel(self, array_ids: Sequence[str]) -> None: ...

    def final_state(self, job_id: str) -> str | None: ...


_ACCOUNTING: dict[str, bool] = {}


def accounting_available() -> bool:
    """Whether ``sacct`` answers on this machine (asked once per process; ``False`` where Slurm
    runs without accounting storage or ``sacct`` is not installed)."""
    if "ok" not in _ACCOUNTING:
        ok = shutil.which("sacct") is not None
        if ok:
            try:
                proc = subprocess.run(["sacct", "-n", "-X", "-o", "JobID", "-S", "now"], capture_output=True,
                                      text=True, timeout=30)
                ok = proc.returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _ACCOUNTING["ok"] = ok
    return _ACCOUNTING["ok"]


class SubmititBackend:
    """The real cluster: submitit's ``AutoExecutor(cluster="slurm")``, ``squeue``, ``scancel``
    and (where accounting is on) ``sacct``."""

    def submit(self, fn: Callable[[Any], Any], items: Sequence[Any], folder: Path,
               parameters: dict[str, Any]) -> list[JobLike]:
        """One array of ``fn`` over ``items`` (a plain job when there is one item)."""
        try:
            import submitit
        except ImportError as exc:
            raise RuntimeError("the slurm executor needs submitit (pip install submitit==1.5.4; "
                               "it is in requirements.txt)") from exc
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(**parameters)
        return list(executor.map_array(fn, list(items)))

    def queued(self, array_ids: Sequence[str]) -> set[str] | None:
        """Job ids (``"123_4"``, ``"125"``) of ``array_ids`` that ``squeue`` lists; ``None``
        when it cannot answer (the caller then assumes nothing)."""
        states = queue_states(array_ids)
        return None if states is None else set(states)

    def cancel(self, array_ids: Sequence[str]) -> None:
        """``scancel`` the arrays (quiet about those already finished)."""
        if array_ids:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(["scancel", *array_ids], capture_output=True, timeout=60)

    def final_state(self, job_id: str) -> str | None:
        """sacct's State and ExitCode of a finished job (``"TIMEOUT 0:0"``), ``None`` without accounting."""
        if not accounting_available():
            return None
        try:
            proc = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "State,ExitCode", "-j", job_id],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        line = next((x for x in proc.stdout.splitlines() if x.strip()), "")
        return line.replace("|", " ").strip() or None


def queue_states(array_ids: Sequence[str]) -> dict[str, str] | None:
    """``squeue``'s state (``"PENDING"``, ``"RUNNING"``, ...) of every queued task of
    ``array_ids``, by job id (``"123_4"``); ``None`` when ``squeue`` cannot answer."""
    if not array_ids:
        return {}
    try:
        proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(array_ids)],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        # every id unknown (purged after MinJobAge): squeue says "Invalid job id specified"
        return {} if "invalid job id" in proc.stderr.lower() else None
    return dict(line.split(None, 1) for line in proc.stdout.splitlines() if len(line.split()) == 2)


def default_backend() -> Backend:
    """The backend :func:`run_array` uses unless given one (tests substitute a fake here)."""
    return SubmititBackend()


def slurm_available() -> bool:
    """Whether this machine can submit Slurm jobs (``sbatch`` and ``srun`` on the PATH)."""
    return shutil.which("sbatch") is not None and shutil.which("srun") is not None


# --- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One submission of one task: its Slurm job id, logs, and (when it failed) why."""

    job_id: str
    stdout: str
    stderr: str
    error: str | None = None


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed on every attempt (``1 + max_retries``), or was never run."""

    index: int
    item: Any
    attempts: tuple[Attempt, ...]

    def describe(self) -> str:
        """``job 123_4 (attempt 1): <error>; logs: <stdout>, <stderr>`` per attempt, one per line."""
        return "\n".join(f"    job {a.job_id} (attempt {n}): {a.error or 'failed'}\n"
                         f"      logs: {a.stdout}\n            {a.stderr}"
                         for n, a in enumerate(self.attempts, 1))


@dataclass(frozen=True)
class ArrayOutcome:
    """What :func:`run_array` got: ``done`` (item index -> the task's return value), ``failed``,
    the array job ids it submitted and their manifests."""

    done: dict[int, Any]
    failed: tuple[TaskFailure, ...]
    array_ids: tuple[str, ...]
    manifests: tuple[Path, ...]

    @property
    def ok(self) -> bool:
        """Every task finished."""
        return not self.failed


class ArrayIncomplete(RuntimeError):
    """Tasks of a Slurm array failed on every attempt; ``failures`` lists them (job ids, logs)."""

    def __init__(self, message: str, failures: Sequence[TaskFailure]) -> None:
        super().__init__(message)
        self.failures = tuple(failures)


class TaskRetryWarning(UserWarning):
    """A Slurm task failed and is resubmitted (its job id, error and logs are in the message)."""


class SessionCancelled(KeyboardInterrupt):
    """The ``python -m merkit.run`` session whose ledger this process writes to was stopped
    (:func:`cancel_ledger` with ``close=True``): the wait ends, its jobs are cancelled, and
    nothing is resubmitted, even by a kernel that outlived its session."""


# --- manifests and the ledger ------------------------------------------------------------------


def now() -> str:
    """This moment as an ISO 8601 time with its UTC offset, to the second."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _array_id(job_id: str) -> str:
    return job_id.split("_", 1)[0]


@dataclass
class _Submission:
    """One submitted array and its manifest (rewritten as its tasks finish)."""

    array_id: str
    path: Path
    record: dict[str, Any]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> its task row

    def mark(self, job_id: str, state: str, error: str | None = None) -> None:
        row = self.rows[job_id]
        row["state"], row["error"] = state, error

    def write(self, *, finished: bool = False) -> None:
        if finished:
            self.record["finished"] = now()
        write_json(self.path, self.record)


def _manifest(folder: Path, jobs: Sequence[JobLike], indices: Sequence[int], items: Sequence[Any],
              config: SlurmConfig, desc: str, attempt: int,
              describe: Callable[[Any], Any] | None) -> _Submission:
    array_id = _array_id(jobs[0].job_id)
    tasks = [{"job_id": j.job_id, "index": int(i), "state": "submitted", "error": None,
              "stdout": str(j.paths.stdout), "stderr": str(j.paths.stderr),
              "item": describe(item) if describe else repr(item)[:500]}
             for j, i, item in zip(jobs, indices, items, strict=True)]
    record = {"format": MANIFEST_FORMAT, "array_job_id": array_id, "desc": desc,
              "notebook": os.environ.get(NOTEBOOK_ENV) or None, "attempt": attempt, "submitted": now(),
              "finished": None, "host": socket.gethostname(), "pid": os.getpid(),
              "slurm": dataclasses.asdict(config), "tasks": tasks}
    sub = _Submission(array_id, folder / "manifests" / f"{array_id}.json", record,
                      {t["job_id"]: t for t in tasks})
    sub.write()
    return sub


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A manifest written by :func:`run_array` (``ValueError`` when it is not one)."""
    record = read_json(path)
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: not a merkit Slurm manifest ({MANIFEST_FORMAT})")
    return record


def _append_ledger(array_id: str, manifest: Path) -> None:
    ledger = os.environ.get(LEDGER_ENV, "").strip()
    if not ledger:
        return
    path = Path(ledger)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:  # one short O_APPEND write per array
        handle.write(f"{array_id}\t{manifest}\n")


def open_ledger(folder: Path | None = None) -> Path:
    """A new ledger for this session, named in ``os.environ[LEDGER_ENV]`` so that every kernel
    started afterwards appends the arrays it submits to it (default folder ``<log
    folder>/ledgers``). The file is created by the first submission: a session that submits
    nothing leaves nothing behind."""
    folder = folder or SlurmConfig().folder() / "ledgers"
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}.tsv"
    os.environ[LEDGER_ENV] = str(path)
    os.environ[SESSION_PID_ENV] = str(os.getpid())
    return path


_CLOSED = "closed"


def _ledger_lines(path: str | os.PathLike[str]) -> list[str]:
    try:
        return [x.strip() for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
    except FileNotFoundError:
        return []


def ledger_jobs(path: str | os.PathLike[str]) -> list[str]:
    """The array job ids a ledger lists, in submission order (none when it does not exist).

    Format: one line ``<array job id>\t<manifest path>`` per submitted array, and a last line
    ``closed\t<time>`` once the session was stopped (:func:`cancel_ledger` with ``close``).
    """
    ids = (line.split("\t", 1)[0] for line in _ledger_lines(path))
    return list(dict.fromkeys(i for i in ids if i != _CLOSED))


def ledger_closed(path: str | os.PathLike[str] | None = None) -> bool:
    """Whether the ledger (default: this process's, :data:`LEDGER_ENV`) was closed, or (for
    this process's) the session that opened it (:data:`SESSION_PID_ENV`) is gone."""
    if path is None:
        pid = os.environ.get(SESSION_PID_ENV, "").strip()
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            return True
    path = path or os.environ.get(LEDGER_ENV, "").strip()
    return bool(path) and any(line.split("\t", 1)[0] == _CLOSED for line in _ledger_lines(path))


    return True


def cancel_ledger(path: str | os.PathLike[str], backend: Backend | None = None, *,
                  close: bool = False) -> list[str]:
    """``scancel`` the arrays of a ledger that still have tasks in the queue; their ids.

    ``close``: also mark the ledger closed first, so that a process still waiting on one of its
    arrays (a kernel that outlived its session) stops instead of resubmitting what was cancelled
    (:class:`SessionCancelled`).
    """
    if close and Path(path).exists():
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{_CLOSED}\t{now()}\n")
    ids = ledger_jobs(path)
    if not ids:
        return []
    backend = backend or default_backend()
    queued = backend.queued(ids)
    alive = ids if queued is None else [a for a in ids if any(_array_id(j) == a for j in queued)]
    backend.cancel(alive)
    return alive


# --- run_array ----------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "tasks"


def _last_line(text: str) -> str:
    lines = [x.strip() for x in str(text).strip().splitlines() if x.strip()]
    return lines[-1][:300] if lines else "failed"


def _outcome(job: JobLike) -> tuple[str, Any] | None:
    """``("success", value)`` / ``("error", traceback)`` from the task's result pickle, if written."""
    path = Path(job.paths.result_pickle)
    if not path.exists():
        return None
    import pickle

    for _ in range(3):
        try:
            with open(path, "rb") as handle:
                return pickle.load(handle)
        except (EOFError, pickle.UnpicklingError):  # a slow shared file system: try again
            time.sleep(1.0)
    return ("error", f"unreadable result file {path}")


_CANCELLED_LOG = re.compile(r"\*\*\* (?:JOB|STEP) \S+ ON \S+ CANCELLED AT \S+(?: DUE TO ([A-Z _]+?))? \*\*\*")


def _state_from_log(stderr: Any) -> str | None:
    """The state Slurm wrote into a killed job's stderr (``CANCELLED``, ``CANCELLED DUE TO TIME
    LIMIT``, ``OUT_OF_MEMORY``), for clusters without accounting; ``None`` when it says nothing."""
    try:
        text = Path(stderr).read_text(encoding="utf-8", errors="replace")[-20000:]
    except OSError:
        return None
    found = _CANCELLED_LOG.findall(text)
    if found:
        reason = found[-1].strip()
        return f"CANCELLED DUE TO {reason}" if reason else "CANCELLED"
    if "oom-kill" in text or "Out Of Memory" in text:
        return "OUT_OF_MEMORY"
    return None


def _deliberately_cancelled(state: str) -> bool:
    """``scancel`` by a person (sacct ``CANCELLED by <uid>``, or the log's bare ``CANCELLED``),
    not a time limit, preemption or node failure (those are retried)."""
    return state.startswith("CANCELLED") and "DUE TO" not in state


def run_array(
    fn: Callable[..., Any],
    items: Sequence[Any],
    config: SlurmConfig,
    *,
    shared: Any = None,
    desc: str = "tasks",
    describe: Callable[[Any], Any] | None = None,
    progress: bool = True,
    backend: Backend | None = None,
) -> ArrayOutcome:
    """Run ``fn(shared, item)`` (``fn(item)`` when ``shared`` is None) for every item as the
    tasks of one Slurm job array; wait; resubmit failures; report.

    ``fn``, ``shared`` and the items must be picklable (cloudpickle); ``shared`` is written
    once to ``payloads/`` and read by each task, so a large object (a runner holding its flows)
    is not copied per task. Each task runs with torch / OpenCV threads = its CPUs. A task that
    raised, or left the queue without a result, is resubmitted (a new array) up to
    ``config.max_retries`` times, with a :class:`TaskRetryWarning` (one cancelled by a person,
    ``scancel``, as sacct or the job's log says, is not). Returns when every task has
    finished or failed for good: :attr:`ArrayOutcome.failed` then lists the latter with each
    attempt's job id, error and log paths (the caller decides what a failure means; it raises
    nothing for them). On any exception while waiting, KeyboardInterrupt included, every array
    submitted here is cancelled (``scancel``) before it propagates. ``describe(item)`` is the
    item's JSON-able description in the manifest (:mod:`module docs <merkit.cluster>`).
    """
    if ledger_closed():
        raise SessionCancelled(f"{desc}: the merkit.run session that started this process has ended; "
                               "nothing is submitted")
    backend = backend or default_backend()
    folder = config.folder()
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    payload: Path | None = None
    if shared is not None:
        payload = folder / "payloads" / f"{uuid.uuid4().hex}.pkl"
        payload.parent.mkdir(parents=True, exist_ok=True)
        with open(payload, "wb") as handle:
            _cloudpickle().dump(shared, handle)
    task = _Task(fn, None if payload is None else str(payload), config.cpus_per_task)
    parameters = config.parameters(f"merkit-{slug(desc)}")
    attempts: dict[int, list[Attempt]] = {i: [] for i in range(len(items))}
    done: dict[int, Any] = {}
    failed: list[TaskFailure] = []
    pending: dict[str, tuple[int, JobLike, _Submission]] = {}  # job id -> (item index, job, submission)
    submissions: list[_Submission] = []
    absent: dict[str, int] = {}

    stack = contextlib.ExitStack()

    def submit(indices: list[int], attempt: int) -> None:
        jobs = backend.submit(task, [items[i] for i in indices], folder / "jobs", parameters)
        sub = _manifest(folder, jobs, indices, [items[i] for i in indices], config, desc, attempt, describe)
        submissions.append(sub)
        _append_ledger(sub.array_id, sub.path)
        for i, job in zip(indices, jobs, strict=True):
            pending[job.job_id] = (i, job, sub)

    bar = _bar(len(items), f"{desc} (slurm)", progress)
    try:
        stack.enter_context(sigterm_as_interrupt())
        if items:
            submit(list(range(len(items))), 1)
            bar.set_postfix_str(f"array {submissions[-1].array_id}")
        first = delay = min(0.5, config.poll_s)
        while pending:
            if ledger_closed():
                raise SessionCancelled(f"{desc}: the merkit.run session was stopped; Slurm jobs cancelled")
            queued = backend.queued(sorted({s.array_id for _, _, s in pending.values()}))
            retry: list[int] = []
            touched: dict[str, _Submission] = {}
            for job_id, (i, job, sub) in list(pending.items()):
                got = _outcome(job)
                if got is None:
                    if queued is None or job_id in queued:
                        absent.pop(job_id, None)
                        continue
                    absent[job_id] = absent.get(job_id, 0) + 1
                    if absent[job_id] < 2:  # once more: a result may be on its way
                        continue
                    state = backend.final_state(job_id) or _state_from_log(job.paths.stderr)
                    got = ("error", f"left the Slurm queue without a result (state: "
                                    f"{state or 'unknown, no accounting'}; killed for its time limit or memory, "
                                    f"or cancelled? see its logs)")
                    if state and _deliberately_cancelled(state):
                        got = ("cancelled", f"cancelled outside merkit ({state}); not resubmitted")
                del pending[job_id]
                touched[sub.array_id] = sub
                status, value = got
                if status == "success":
                    done[i] = value
                    sub.mark(job_id, "done")
                    bar.update(1)
                    continue
                error = _last_line(value)
                sub.mark(job_id, "cancelled" if status == "cancelled" else "failed", error)
                attempts[i].append(Attempt(job_id, str(job.paths.stdout), str(job.paths.stderr), error))
                if status != "cancelled" and len(attempts[i]) <= config.max_retries:
                    warnings.warn(f"{desc}: Slurm task {job_id} failed ({error}); resubmitting "
                                  f"(retry {len(attempts[i])} of {config.max_retries}); logs: "
                                  f"{job.paths.stdout}, {job.paths.stderr}", TaskRetryWarning, stacklevel=2)
                    retry.append(i)
                else:
                    failed.append(TaskFailure(i, items[i], tuple(attempts[i])))
                    bar.update(1)
            for sub in touched.values():
                sub.write(finished=not any(p[2] is sub for p in pending.values()))
            for attempt in sorted({1 + len(attempts[i]) for i in retry}):  # one array per attempt number
                submit(sorted(i for i in retry if 1 + len(attempts[i]) == attempt), attempt)
            if pending:
                delay = first if touched else min(config.poll_s, delay * 1.5)
                time.sleep(delay)
    except BaseException:
        live = sorted({s.array_id for _, _, s in pending.values()})
        backend.cancel(live)
        for job_id, (_, _, sub) in pending.items():
            sub.mark(job_id, "cancelled")
        for sub in submissions:
            with contextlib.suppress(Exception):
                sub.write(finished=True)
        raise
    finally:
        stack.close()
        bar.close()
        if payload is not None:
            payload.unlink(missing_ok=True)
    return ArrayOutcome(done, tuple(sorted(failed, key=lambda f: f.index)),
                        tuple(s.array_id for s in submissions), tuple(s.path for s in submissions))


@contextlib.contextmanager
def sigterm_as_interrupt(*, only_if_default: bool = True) -> Iterator[None]:
    """In the main thread, SIGTERM raises KeyboardInterrupt in the block (as SIGINT does), so
    that a killed wait still cancels its jobs and a killed session its ledger.
    ``only_if_default``: only where SIGTERM has its default action (terminate without cleanup),
    leaving another handler (``python -m merkit.run``'s, a kernel's) alone."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            (only_if_default and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled)
