import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from merkit import experiments, metrics, train
from merkit.experiments import RunResult, RunSpec, RunStore
from merkit.models import ModelOutput


@dataclasses.dataclass(frozen=True)
class CountingRunner:
    """Predicts class 1 for every test clip and appends to a log file (to count executions)."""

    log: str

    def __call__(self, spec: RunSpec) -> RunResult:
        with open(self.log, "a") as handle:
            handle.write(spec.fold + "\n")
        n = len(spec.test)
        y_true = np.array([1 + (i % 3) for i in spec.test])
        return RunResult("", {}, np.array(spec.test), y_true, np.ones(n, dtype=int), np.zeros((n, 3)))


def _specs(seed=0):
    folds = {"a": ((0, 1, 2), (3, 4, 5)), "b": ((3, 4, 5), (0, 1, 2))}
    return [RunSpec("m", "hde", f, tr, te, seed, {"lr": 1}, "data0") for f, (tr, te) in folds.items()]


def test_grid_is_resumable_and_keys_are_content(tmp_path):
    store = RunStore(tmp_path / "runs")
    log = tmp_path / "log.txt"
    runner = CountingRunner(str(log))
    first = experiments.run_grid(_specs(), runner, store=store, progress=False)
    assert log.read_text().split() == ["a", "b"]
    again = experiments.run_grid(_specs(), runner, store=store, progress=False)
    assert log.read_text().split() == ["a", "b"]  # nothing recomputed
    assert [r.key for r in again] == [r.key for r in first]
    changed = [dataclasses.replace(s, settings={"lr": 2}) for s in _specs()]
    assert {s.key() for s in changed}.isdisjoint({s.key() for s in _specs()})


def test_corrupted_result_is_recomputed(tmp_path):
    store = RunStore(tmp_path / "runs")
    log = tmp_path / "log.txt"
    runner = CountingRunner(str(log))
    (result, _) = experiments.run_grid(_specs(), runner, store=store, progress=False)
    npz = next((tmp_path / "runs").rglob(f"{result.key}.npz"))
    npz.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="recomputed"):
        experiments.run_grid(_specs(), runner, store=store, progress=False)
    assert log.read_text().split() == ["a", "b", "a"]


def test_pooled_equals_metrics_on_concatenation(tmp_path):
    store = RunStore(tmp_path / "runs")
    results = experiments.run_grid(_specs(0) + _specs(1), CountingRunner(str(tmp_path / "l")), store=store,
                                   progress=False)
    labels = [1, 2, 3]
    seed0 = [r for r in results if r.info["seed"] == 0]
    y_true = np.concatenate([r.y_true for r in seed0])
    expected = metrics.uar(y_true, np.ones_like(y_true), labels)
    assert experiments.pooled(seed0, labels)["uar"] == pytest.approx(expected)
    table = experiments.summarize(results, labels, by=("method",))
    row = table[table.metric == "uar"].iloc[0]
    assert row["n_seeds"] == 2 and row["mean"] == pytest.approx(expected) and row["std"] == 0


def test_fit_learns_and_is_deterministic():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=gen)
    y = (x[:, 0] > 0).long()
    config = train.TrainConfig(epochs=15, batch_size=32, lr=1e-2, device="cpu")

    class Tiny(nn.Module):  # the model contract: forward returns a ModelOutput
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))

        def forward(self, x):
            return ModelOutput(logits=self.net(x))

    def make():
        torch.manual_seed(1)
        return Tiny()

    m1, m2 = make(), make()
    h1 = train.fit(m1, x, y, None, config, seed=3)
    h2 = train.fit(m2, x, y, None, config, seed=3)
    assert h1.epochs[-1]["loss"] < 0.5 * h1.epochs[0]["loss"]
    assert [e["loss"] for e in h1.epochs] == [e["loss"] for e in h2.epochs]
    probs, au, _ = train.predict(m1, x, config)
    assert au is None and probs.shape == (128, 2)
    assert (probs.argmax(1) == y.numpy()).mean() > 0.9


def test_fit_rejects_mismatched_inputs():
    with pytest.raises(TypeError, match="ModelOutput"):
        train.fit(nn.Linear(2, 2), torch.zeros(2, 2), torch.zeros(2).long(), None, train.TrainConfig(), seed=0)
    with pytest.raises(ValueError, match="inputs"):
        train.fit(nn.Linear(2, 2), torch.zeros(3, 2), torch.zeros(2).long(), None, train.TrainConfig(), seed=0)


@dataclasses.dataclass(frozen=True)
class CrashOnFold:
    """Like CountingRunner but raises on one fold (a killed or crashed grid)."""

    log: str
    crash: str

    def __call__(self, spec: RunSpec) -> RunResult:
        if spec.fold == self.crash:
            raise KeyboardInterrupt("simulated interruption")
        return CountingRunner(self.log)(spec)


def test_interrupted_grid_keeps_finished_runs(tmp_path):
    store = RunStore(tmp_path / "runs")
    log = tmp_path / "log.txt"
    with pytest.raises(KeyboardInterrupt):
        experiments.run_grid(_specs(), CrashOnFold(str(log), crash="b"), store=store, progress=False)
    assert log.read_text().split() == ["a"]  # run "a" finished and was stored before the crash
    experiments.run_grid(_specs(), CountingRunner(str(log)), store=store, progress=False)
    assert log.read_text().split() == ["a", "b"]  # only "b" ran on restart
