"""The Slurm executor (merkit.cluster): env overrides, submission of pending runs only, retries,
failures that never become numbers, job ids in every record, manifests, the ledger, cancellation;
and (``-m slurm``) the smoke grid of notebook 03 on a real Slurm cluster, bit for bit the local one.

The unit tests run the array tasks in this process through a fake backend (no Slurm needed).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from merkit import cluster, config, experiments
from merkit.cluster import SlurmConfig
from merkit.experiments import ExecutionConfig, GridIncomplete, RunResult, RunSpec, RunStore

# --- fakes ------------------------------------------------------------------------------------


class FakeBackend:
    """Runs each submitted task at once, in this process, and writes submitit's result pickle.

    ``lose``: items whose task "dies" without a result (never queued afterwards);
    ``stderr``: text written to a lost task's stderr log (what slurmstepd writes).
    """

    def __init__(self, lose=lambda item: False, stderr: str = "") -> None:
        self.next_id = 900
        self.submitted: list[tuple[str, list]] = []  # (array id, items)
        self.cancelled: list[str] = []
        self.lose, self.stderr = lose, stderr
        self.queued_calls = 0

    def submit(self, fn, items, folder, parameters):
        array = str(self.next_id)
        self.next_id += 1
        self.submitted.append((array, list(items)))
        jobs = []
        for k, item in enumerate(items):
            job_id = f"{array}_{k}"
            paths = SimpleNamespace(result_pickle=folder / f"{job_id}_0_result.pkl",
                                    stdout=folder / f"{job_id}_0_log.out", stderr=folder / f"{job_id}_0_log.err")
            folder.mkdir(parents=True, exist_ok=True)
            jobs.append(SimpleNamespace(job_id=job_id, paths=paths))
            if self.lose(item):
                paths.stderr.write_text(self.stderr)
                continue
            env = {"SLURM_ARRAY_JOB_ID": array, "SLURM_ARRAY_TASK_ID": str(k), "SLURM_CPUS_PER_TASK": "1"}
            saved = {key: os.environ.get(key) for key in env}
            os.environ.update(env)
            try:
                outcome = ("success", fn(item))
            except Exception:
                outcome = ("error", traceback.format_exc())
            finally:
                for key, value in saved.items():
                    os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
            with open(paths.result_pickle, "wb") as handle:
                pickle.dump(outcome, handle)
        return jobs

    def queued(self, array_ids):
        self.queued_calls += 1
        return set()  # every task ran at submission

    def cancel(self, array_ids):
        self.cancelled.extend(array_ids)

    def final_state(self, job_id):
        return None

    @property
    def tasks(self) -> int:
        return sum(len(items) for _, items in self.submitted)


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr(cluster, "default_backend", lambda: backend)
    monkeypatch.delenv(cluster.LEDGER_ENV, raising=False)
    monkeypatch.delenv(cluster.SESSION_PID_ENV, raising=False)
    return backend


@dataclasses.dataclass(frozen=True)
class Runner:
    """Predicts class 1; fails on ``fail_fold`` for its first ``failures`` calls (counted in a file)."""

    log: str
    fail_fold: str = ""
    failures: int = 0

    def __call__(self, spec: RunSpec) -> RunResult:
        with open(self.log, "a") as handle:
            handle.write(spec.fold + "\n")
        calls = Path(self.log).read_text().split().count(spec.fold)
        if spec.fold == self.fail_fold and calls <= self.failures:
            raise RuntimeError(f"boom on fold {spec.fold}")
        n = len(spec.test)
        return RunResult("", {}, np.array(spec.test), np.array([1 + i % 3 for i in spec.test]),
                         np.ones(n, dtype=int), np.zeros((n, 3)))


def _specs():
    folds = {"a": ((0, 1, 2), (3, 4, 5)), "b": ((3, 4, 5), (0, 1, 2)), "c": ((0, 5), (1, 2))}
    return [RunSpec("m", "hde", f, tr, te, 0, {"lr": 1}, "data0") for f, (tr, te) in folds.items()]


def _slurm(tmp_path, **kw) -> SlurmConfig:
    return SlurmConfig(log_folder=str(tmp_path / "slurm"), poll_s=0.01, **kw)


# --- environment overrides --------------------------------------------------------------------


def test_env_overrides_map_onto_the_slurm_config():
    env = {"MERKIT_EXECUTOR": "slurm", "MERKIT_SLURM_PARTITION": "gpu", "MERKIT_SLURM_GPUS": "1",
           "MERKIT_SLURM_CPUS": "8", "MERKIT_SLURM_MEM_GB": "32", "MERKIT_SLURM_TIME_MIN": "90",
           "MERKIT_SLURM_ACCOUNT": "lab", "MERKIT_SLURM_QOS": "high", "MERKIT_SLURM_RETRIES": "5",
           "MERKIT_SLURM_EXTRA": "constraint=a100,exclusive="}
    ex = experiments.execution_from_env(ExecutionConfig(), env)
    assert ex.executor == "slurm"
    s = ex.slurm
    assert (s.partition, s.gpus_per_node, s.cpus_per_task, s.mem_gb, s.time_min, s.account, s.qos,
            s.max_retries) == ("gpu", 1, 8, 32.0, 90, "lab", "high", 5)
    assert s.extra == (("constraint", "a100"), ("exclusive", True))
    params = s.parameters("merkit-x")
    assert params["slurm_partition"] == "gpu" and params["gpus_per_node"] == 1 and params["mem_gb"] == 32.0
    assert params["timeout_min"] == 90 and params["cpus_per_task"] == 8
    assert params["slurm_additional_parameters"] == {"constraint": "a100", "exclusive": True}
    # nothing set: unchanged (the same object); blank values count as unset
    base = ExecutionConfig()
    assert experiments.execution_from_env(base, {}) is base
    assert experiments.execution_from_env(base, {"MERKIT_EXECUTOR": " ", "MERKIT_SLURM_CPUS": ""}) is base
    assert cluster.parse_extra("nodelist=n[1-3],n5;mail-type=END") == (("nodelist", "n[1-3],n5"),
                                                                       ("mail-type", "END"))


def test_variables_slurm_sets_inside_a_job_are_never_read(monkeypatch):
    for name, value in {"SLURM_CPUS_PER_TASK": "64", "SLURM_GPUS": "8", "SLURM_PARTITION": "debug",
                        "SLURM_MEM_PER_NODE": "1000", "SLURM_JOB_ID": "5", "SLURM_CPUS_ON_NODE": "64"}.items():
        monkeypatch.setenv(name, value)
    for name in ("MERKIT_EXECUTOR", *cluster.ENV_VARS):
        monkeypatch.delenv(name, raising=False)
    assert config.get_profile("smoke").execution == config._PROFILES["smoke"].execution


def test_get_profile_applies_the_environment(monkeypatch):
    monkeypatch.setenv("MERKIT_EXECUTOR", "slurm")
    monkeypatch.setenv("MERKIT_SLURM_PARTITION", "gpu")
    prof = config.get_profile("smoke")
    assert prof.execution.executor == "slurm" and prof.execution.slurm.partition == "gpu"
    assert prof.execution.n_jobs == 1  # the rest of the profile's execution is kept
    assert not any(k.startswith("execution") for k, _, _ in config.departures(prof))
    # run keys do not depend on the executor
    from merkit.reproduce import augcn

    monkeypatch.delenv("MERKIT_EXECUTOR")
    monkeypatch.delenv("MERKIT_SLURM_PARTITION")
    local = config.get_profile("smoke")
    assert augcn.recipe(prof, "mer_augcn").settings() == augcn.recipe(local, "mer_augcn").settings()


@pytest.mark.parametrize(("var", "value"), [
    ("MERKIT_EXECUTOR", "cluster"), ("MERKIT_SLURM_CPUS", "two"), ("MERKIT_SLURM_CPUS", "0"),
    ("MERKIT_SLURM_GPUS", "-1"), ("MERKIT_SLURM_MEM_GB", "lots"), ("MERKIT_SLURM_MEM_GB", "0"),
    ("MERKIT_SLURM_TIME_MIN", "1.5"), ("MERKIT_SLURM_RETRIES", "x"), ("MERKIT_SLURM_EXTRA", "=a100"),
    ("MERKIT_SLURM_EXTRA", "constraint a100=x"),
])
def test_bad_env_values_name_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):
        config.get_profile("smoke")


def test_config_validation():
    with pytest.raises(ValueError, match="executor"):
        ExecutionConfig(executor="cloud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cpus_per_task"):
        SlurmConfig(cpus_per_task=0)
    with pytest.raises(ValueError, match="extra"):
        SlurmConfig(extra=(("bad option", "x"),))


# --- run_grid under slurm (fake backend) -------------------------------------------------------


def test_only_pending_runs_are_submitted_and_job_ids_are_recorded(tmp_path, fake):
    store = RunStore(tmp_path / "runs")
    log = tmp_path / "log.txt"
    specs = _specs()
    local = experiments.run_grid(specs[:1], Runner(str(log)), store=store, progress=False)
    assert local[0].info["executor"] == "local" and "slurm_job_id" not in local[0].info
    results = experiments.run_grid(specs, Runner(str(log)), store=store, progress=False, executor="slurm",
                                   slurm=_slurm(tmp_path))
    assert fake.tasks == 2 and [len(items) for _, items in fake.submitted] == [2]  # one array of b, c
    assert [s.fold for chunk in fake.submitted[0][1] for s in chunk] == ["b", "c"]
    assert [r.info["executor"] for r in results] == ["local", "slurm", "slurm"]
    assert [r.info.get("slurm_job_id") for r in results] == [None, "900_0", "900_1"]
    assert [r.key for r in results] == [s.key() for s in specs]  # keys do not depend on the executor
    # the manifest names the array's tasks, their runs and logs
    manifest = cluster.read_manifest(tmp_path / "slurm" / "manifests" / "900.json")
    assert manifest["array_job_id"] == "900" and manifest["finished"]
    task = manifest["tasks"][1]
    assert task["job_id"] == "900_1" and task["state"] == "done"
    assert task["item"]["runs"][0] | {"key": "?"} == {"key": "?", "method": "m", "protocol": "hde", "fold": "c",
                                                     "seed": 0, "condition": "unocc"}
    assert task["stdout"].endswith("900_1_0_log.out") and task["stderr"].endswith("900_1_0_log.err")
    # everything stored: nothing is submitted again, and the payload file is gone
    experiments.run_grid(specs, Runner(str(log)), store=store, progress=False, executor="slurm",
                         slurm=_slurm(tmp_path))
    assert fake.tasks == 2 and log.read_text().split() == ["a", "b", "c"]
    assert not list((tmp_path / "slurm" / "payloads").iterdir())


def test_a_failed_task_is_retried_then_the_grid_is_incomplete(tmp_path, fake):
    store = RunStore(tmp_path / "runs")
    log = tmp_path / "log.txt"
    runner = Runner(str(log), fail_fold="b", failures=99)
    with pytest.warns(cluster.TaskRetryWarning, match="boom on fold b") as caught, \
            pytest.raises(GridIncomplete) as err:
        experiments.run_grid(_specs(), runner, store=store, progress=False, executor="slurm",
                             slurm=_slurm(tmp_path, max_retries=2), desc="m hde unocc")
    assert len([w for w in caught if issubclass(w.category, cluster.TaskRetryWarning)]) == 2
    assert log.read_text().split().count("b") == 3  # 1 + max_retries attempts
    assert [len(items) for _, items in fake.submitted] == [3, 1, 1]
    (missing,) = err.value.missing
    assert (missing.method, missing.fold, missing.seed) == ("m", "b", 0)
    assert [a.job_id for a in missing.attempts] == ["900_1", "901_0", "902_0"]
    text = str(err.value)
    assert "1 of 3 run(s)" in text and "fold b" in text and "boom on fold b" in text
    assert "900_1_0_log.err" in text and "902_0_0_log.out" in text
    assert err.value.stored == 2 and store.has(_specs()[0].key()) and store.has(_specs()[2].key())
    # the failure is recorded in each attempt's manifest
    assert cluster.read_manifest(tmp_path / "slurm" / "manifests" / "902.json")["tasks"][0]["state"] == "failed"
    # a re-run (the bug fixed) submits only the missing run
    experiments.run_grid(_specs(), Runner(str(log)), store=store, progress=False, executor="slurm",
                         slurm=_slurm(tmp_path))
    assert fake.submitted[-1][1] == [[_specs()[1]]]


def test_a_task_that_fails_once_succeeds_on_its_retry(tmp_path, fake):
    log = tmp_path / "log.txt"
    with pytest.warns(cluster.TaskRetryWarning, match="retry 1 of 2"):
        results = experiments.run_grid(_specs(), Runner(str(log), fail_fold="a", failures=1),
                                       store=RunStore(tmp_path / "runs"), progress=False, executor="slurm",
                                       slurm=_slurm(tmp_path))
    assert [r.info["slurm_job_id"] for r in results] == ["901_0", "900_1", "900_2"]


def test_a_missing_run_never_becomes_a_number(tmp_path, fake):
    """The table engine gets an error, not a table scored on fewer folds."""
    from merkit.reproduce import tables

    with pytest.warns(cluster.TaskRetryWarning), pytest.raises(GridIncomplete):
        results = experiments.run_grid(_specs(), Runner(str(tmp_path / "l"), fail_fold="c", failures=99),
                                       store=RunStore(tmp_path / "runs"), progress=False, executor="slurm",
                                       slurm=_slurm(tmp_path, max_retries=1))
        tables.score(results, "augcn.table3", metrics=("war",), pooled_over_folds=True)  # never reached


def test_batched_ensembles_are_one_task_each(tmp_path, fake):
    @dataclasses.dataclass(frozen=True)
    class Many(Runner):
        def run_many(self, specs):
            return [self(s) for s in specs]

    results = experiments.run_grid(_specs(), Many(str(tmp_path / "l")), store=RunStore(tmp_path / "runs"),
                                   progress=False, executor="slurm", slurm=_slurm(tmp_path), ensemble_size=2)
    assert [len(chunk) for _, items in fake.submitted for chunk in items] == [2, 1]
    assert [r.info["slurm_job_id"] for r in results] == ["900_0", "900_0", "900_1"]
    assert [r.info["ensemble"] for r in results] == [2, 2, 1]


def test_a_task_lost_without_result_is_retried_and_reported(tmp_path, monkeypatch):
    backend = FakeBackend(lose=lambda item: True,
                          stderr="slurmstepd: error: *** JOB 900 ON n1 CANCELLED AT 2025-01-01T00:00:00 "
                                 "DUE TO TIME LIMIT ***\n")
    with pytest.warns(cluster.TaskRetryWarning, match="TIME LIMIT"):
        out = cluster.run_array(str.upper, ["x"], _slurm(tmp_path, max_retries=1), progress=False, backend=backend)
    assert not out.ok and out.done == {} and backend.tasks == 2
    assert "left the Slurm queue" in out.failed[0].attempts[-1].error
    assert backend.queued_calls >= 4  # absent on two consecutive polls before it counts as lost


def test_a_task_cancelled_by_a_person_is_not_resubmitted(tmp_path):
    backend = FakeBackend(lose=lambda item: True,
                          stderr="slurmstepd: error: *** JOB 900 ON n1 CANCELLED AT 2025-01-01T00:00:00 ***\n")
    out = cluster.run_array(str.upper, ["x"], _slurm(tmp_path), progress=False, backend=backend)
    assert backend.tasks == 1 and "cancelled outside merkit" in out.failed[0].attempts[0].error


def test_run_array_with_and_without_a_shared_payload(tmp_path):
    backend = FakeBackend()
    out = cluster.run_array(str.upper, ["a", "b"], _slurm(tmp_path), progress=False, backend=backend)
    assert out.ok and out.done == {0: "A", 1: "B"} and out.array_ids == ("900",)
    out = cluster.run_array(_join, ["a", "b"], _slurm(tmp_path), shared={"sep": "-"}, progress=False,
                            backend=backend)
    assert out.done == {0: "a-", 1: "b-"}


def _join(shared, item):
    return item + shared["sep"]


# --- cancellation and the ledger ---------------------------------------------------------------


class PendingBackend(FakeBackend):
    """Jobs stay queued (no results); ``queued`` raises ``interrupt`` on its second call."""

    def __init__(self, interrupt=KeyboardInterrupt) -> None:
        super().__init__(lose=lambda item: True)
        self.interrupt = interrupt

    def queued(self, array_ids):
        self.queued_calls += 1
        if self.interrupt is not None and self.queued_calls >= 2:
            raise self.interrupt()
        return {f"{a}_{k}" for a, items in self.submitted for k in range(len(items)) if a in array_ids}


def test_interrupting_the_wait_cancels_the_submitted_jobs(tmp_path, monkeypatch):
    monkeypatch.delenv(cluster.LEDGER_ENV, raising=False)
    backend = PendingBackend()
    with pytest.raises(KeyboardInterrupt):
        cluster.run_array(str.upper, ["a", "b"], _slurm(tmp_path), progress=False, backend=backend)
    assert backend.cancelled == ["900"]
    manifest = cluster.read_manifest(tmp_path / "slurm" / "manifests" / "900.json")
    assert [t["state"] for t in manifest["tasks"]] == ["cancelled", "cancelled"] and manifest["finished"]


def test_the_ledger_lists_submissions_and_a_closed_ledger_stops_the_wait(tmp_path, monkeypatch):
    monkeypatch.setenv(cluster.LEDGER_ENV, "")  # restored after the test
    monkeypatch.setenv(cluster.SESSION_PID_ENV, "")
    ledger = cluster.open_ledger(tmp_path / "ledgers")
    assert not ledger.exists()  # created by the first submission only
    assert os.environ[cluster.LEDGER_ENV] == str(ledger)
    backend = PendingBackend(interrupt=None)
    monkeypatch.setattr(cluster, "default_backend", lambda: backend)
    calls = []

    def close_on_second_poll(array_ids):
        calls.append(1)
        if len(calls) == 2:  # the session stops meanwhile (squeue unanswered: cancel them all)
            unsure = SimpleNamespace(queued=lambda ids: None, cancel=backend.cancel)
            assert cluster.cancel_ledger(ledger, unsure, close=True) == ["900"]
        return PendingBackend.queued(backend, array_ids)

    backend.queued = close_on_second_poll
    with pytest.raises(cluster.SessionCancelled):
        cluster.run_array(str.upper, ["a"], _slurm(tmp_path, max_retries=5), progress=False)
    assert cluster.ledger_jobs(ledger) == ["900"] and cluster.ledger_closed(ledger)
    assert backend.cancelled.count("900") >= 1 and backend.tasks == 1  # nothing resubmitted
    with pytest.raises(cluster.SessionCancelled):  # nor submitted afterwards
        cluster.run_array(str.upper, ["a"], _slurm(tmp_path), progress=False)


def test_a_dead_session_stops_an_orphaned_kernel(tmp_path, monkeypatch):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    monkeypatch.setenv(cluster.SESSION_PID_ENV, str(dead.pid))
    monkeypatch.setenv(cluster.LEDGER_ENV, str(tmp_path / "ledger.tsv"))
    with pytest.raises(cluster.SessionCancelled):
        cluster.run_array(str.upper, ["a"], _slurm(tmp_path), progress=False, backend=FakeBackend())


def test_merkit_run_cancels_the_ledger_when_a_notebook_fails_and_at_exit(tmp_path, monkeypatch, isolated_env):
    from merkit import run
    from merkit.report.index import NotebookResult

    cancelled = []

    def fake_cancel(path, backend=None, *, close=False):
        cancelled.append(("close" if close else "notebook", Path(path).parent.name))
        return ["77"]

    def fake_execute(book, **kw):
        assert os.environ[cluster.NOTEBOOK_ENV] == book.stem and os.environ[cluster.LEDGER_ENV]
        return NotebookResult(name=book.stem, status="failed", seconds=0.0, profile="smoke", data_source="x",
                              error="GridIncomplete", finished="now")

    monkeypatch.setattr(cluster, "cancel_ledger", fake_cancel)
    monkeypatch.setattr(run, "execute_notebook", fake_execute)
    monkeypatch.setattr(run, "kernel_spec", lambda name: None)
    assert run.main(["--profile", "smoke", "--only", "01"]) == 1
    assert [c[0] for c in cancelled] == ["notebook", "close"] and cancelled[0][1] == "ledgers"
    assert cluster.NOTEBOOK_ENV not in os.environ


# --- the flow preprocessing under slurm (fake backend) -------------------------------------------


def test_build_flowset_fans_out_clip_batches_and_equals_the_local_build(tmp_path, fake):
    from merkit.bench.common import make_demo_clips
    from merkit.preprocess import pipeline as P
    from merkit.preprocess.flow import FlowConfig

    df = make_demo_clips(tmp_path / "clips", n_clips=5, n_frames=7, size=128)
    cfg = P.PreprocessConfig(flow=FlowConfig(crop_size=32, out_size=8, **P.QUICK_TVL1), n_jobs=1)  # type: ignore[arg-type]
    local = P.build_flowset(df, cfg, train_mask=False, progress=False, cache_root=tmp_path / "local")
    remote = P.build_flowset(df, cfg, train_mask=False, progress=False, cache_root=tmp_path / "remote",
                             slurm=_slurm(tmp_path, clips_per_task=2))
    assert [len(items) for _, items in fake.submitted] == [3]  # 5 clips, 2 per task
    assert sorted(len(b) for b in fake.submitted[0][1]) == [1, 2, 2]
    assert np.array_equal(local.x, remote.x) and remote.names == local.names
    assert remote.stats["computed"] == 5
    again = P.build_flowset(df, cfg, train_mask=False, progress=False, cache_root=tmp_path / "remote",
                            slurm=_slurm(tmp_path))
    assert len(fake.submitted) == 1 and again.stats["cached"] == 5  # all cached: nothing submitted


# --- the real cluster -------------------------------------------------------------------------

_NO_SLURM = not cluster.slurm_available() and not os.environ.get("CI")


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.skipif(_NO_SLURM, reason="no Slurm on this machine (sbatch/srun not on the PATH); "
                                      "with CI set this test runs (and fails without Slurm)")
def test_notebook_03_smoke_grid_on_slurm_equals_the_local_grid(tmp_path_factory, monkeypatch):
    """Notebook 03's grid (augcn.ablation_table, smoke profile) with EXECUTOR=slurm and with
    local, each in its own cache and run store: every Slurm record carries its job id, and the
    scored table and every run's predictions are the local ones to the bit."""
    if not cluster.slurm_available():
        pytest.fail("CI is set but Slurm is missing (sbatch/srun not on the PATH)")
    from merkit.data.source import resolve
    from merkit.reproduce import augcn

    root = tmp_path_factory.mktemp("slurm-vs-local")
    monkeypatch.setenv("MERKIT_DATA", str(root / "shared"))
    resolve(config.get_profile("smoke").data)  # the synthetic clips, generated once, read by both
    for name in ("CASME2_ROOT", "SAMM_ROOT", cluster.LEDGER_ENV, cluster.SESSION_PID_ENV, *cluster.ENV_VARS):
        monkeypatch.delenv(name, raising=False)

    def grid(executor: str) -> tuple[pd.DataFrame, dict, float]:
        data = root / executor
        data.mkdir()
        (data / "synthetic").symlink_to(root / "shared" / "synthetic")
        monkeypatch.setenv("MERKIT_DATA", str(data))
        monkeypatch.setenv("MERKIT_EXECUTOR", executor)
        # two CPUs per task: the threads of the local run on this 2-core machine (same rounding)
        monkeypatch.setenv("MERKIT_SLURM_CPUS", str(os.cpu_count() or 1))
        monkeypatch.setenv("MERKIT_SLURM_TIME_MIN", "10")
        profile = config.get_profile("smoke")
        assert profile.execution.executor == executor
        profile = dataclasses.replace(profile, execution=dataclasses.replace(
            profile.execution, slurm=dataclasses.replace(profile.execution.slurm, poll_s=1.0)))
        start = time.perf_counter()
        ws = augcn.workspace(resolve(profile.data))
        table, results = augcn.ablation_table(ws, profile, "table3", progress=False)
        return table, results, time.perf_counter() - start

    slurm_table, slurm_runs, slurm_s = grid("slurm")
    local_table, local_runs, local_s = grid("local")
    print(f"\nnotebook 03 smoke grid: slurm {slurm_s:.1f} s, local {local_s:.1f} s")
    runs = [r for rs in slurm_runs.values() for r in rs]
    assert runs and all(r.info["executor"] == "slurm" for r in runs)
    ids = [r.info["slurm_job_id"] for r in runs]
    assert all(isinstance(i, str) and i.split("_")[0].isdigit() for i in ids) and len(set(ids)) == len(ids)
    print("slurm job ids:", ", ".join(ids))
    assert all(r.info["executor"] == "local" for rs in local_runs.values() for r in rs)
    manifests = list((root / "slurm" / "interim" / "slurm" / "manifests").glob("*.json"))
    assert any(cluster.read_manifest(m)["desc"].startswith("flows") for m in manifests)  # flows fanned out too
    pd.testing.assert_frame_equal(slurm_table, local_table, check_exact=True)
    for method, rs in local_runs.items():
        for a, b in zip(rs, slurm_runs[method], strict=True):
            assert a.key == b.key
            for name in ("test", "y_true", "y_pred", "scores"):
                assert np.array_equal(getattr(a, name), getattr(b, name)), (method, name)


# --- python -m merkit.experiments status --------------------------------------------------------


def test_status_counts_done_failed_running_pending_and_stopped_runs(tmp_path, fake, monkeypatch, capsys):
    store = RunStore(tmp_path / "runs")
    slurm = _slurm(tmp_path, max_retries=0)
    monkeypatch.setenv(cluster.NOTEBOOK_ENV, "03-table3-module-ablation")
    with pytest.raises(GridIncomplete):
        experiments.run_grid(_specs(), Runner(str(tmp_path / "l"), fail_fold="b", failures=99), store=store,
                             progress=False, executor="slurm", slurm=slurm, desc="m hde unocc")
    (grid,) = experiments.grid_status(store, slurm)
    assert (grid.notebook, grid.desc, grid.executor) == ("03-table3-module-ablation", "m hde unocc", "slurm")
    assert grid.counts == {"done": 2, "running": 0, "pending": 0, "failed": 1, "stopped": 0}
    ((run, job, error, log),) = grid.failures
    assert run == "m hde fold b seed 0" and job == "900_1" and "boom on fold b" in error
    assert log.endswith("900_1_0_log.err")
    # a task still in squeue is running or pending as squeue says
    manifest = tmp_path / "slurm" / "manifests" / "900.json"
    record = cluster.read_manifest(manifest)
    record["tasks"][1]["state"] = "submitted"
    experiments.write_json(manifest, record)
    monkeypatch.setattr(cluster, "slurm_available", lambda: True)
    for squeue, state in (("RUNNING", "running"), ("PENDING", "pending")):
        monkeypatch.setattr(cluster, "queue_states", lambda ids, s=squeue: {"900_1": s} if "900" in ids else {})
        assert experiments.grid_status(store, slurm)[0].counts[state] == 1
    record["tasks"][1]["state"] = "failed"
    experiments.write_json(manifest, record)
    # a local grid whose process is gone left its unstored runs "stopped"
    monkeypatch.setenv(cluster.NOTEBOOK_ENV, "05-table5-backbones")
    experiments.run_grid(_specs()[:1], Runner(str(tmp_path / "l")), store=store, progress=False, desc="local one")
    (path,) = (experiments.grids_dir(store) / "05-table5-backbones").glob("*.json")
    record = experiments.read_json(path)
    record["runs"].append(record["runs"][0] | {"key": "f" * 64, "fold": "z"})
    record["finished"] = None
    record["pid"] = 2 ** 22 + 12345  # beyond pid_max: no such process
    experiments.write_json(path, record)
    grids = experiments.grid_status(store, slurm)
    assert grids[-1].counts == {"done": 1, "running": 0, "pending": 0, "failed": 0, "stopped": 1}
    text = experiments.format_status(grids)
    lines = text.splitlines()
    assert lines[0].split() == ["table", "/", "grid", "executor", "runs", *experiments.STATES]
    assert any(line.split() == ["03-table3-module-ablation", "3", "2", "0", "0", "1", "0"] for line in lines)
    assert "failed runs (1" in text and "job 900_1" in text
    # the CLI prints the same table for the store it is given
    assert experiments.main(["status", "--store", str(store.root)]) == 0
    assert "05-table5-backbones" in capsys.readouterr().out
