"""merkit.train on the one model contract: fit with the objectives, predict's extras, and the
``train`` benchmark's single-variant timer (merkit.bench.train)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from merkit import train as tr
from merkit.losses import JointObjective, LossConfig, RRRNObjective
from merkit.models import ModelOutput, create_model, variant

CPU = tr.TrainConfig(epochs=2, batch_size=4, device="cpu", eval_batch_size=3)
SMALL_RRRN = {"backbone_blocks": (1, 1, 1, 1), "squeeze_channels": 8, "gcn_dims": (32, 1024)}


def _flows(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, size, size, generator=gen), torch.randint(0, 5, (n,), generator=gen)


def test_predict_concatenates_every_output_field_over_batches() -> None:
    torch.manual_seed(0)
    model = create_model("rrrn", input_size=32, **SMALL_RRRN)
    x, _ = _flows(7, 36)  # 3 evaluation batches: 3 + 3 + 1
    probs, au_probs, extras = tr.predict(model, x, CPU)
    assert probs.shape == (7, 5) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert au_probs is None
    assert set(extras) == {"features", "alpha", "region_logits", "psi", "region_graph"}
    assert extras["alpha"].shape == (7, 6) and extras["region_logits"].shape == (7, 6, 5)
    assert extras["region_graph"].shape == (7, 6, 6) and extras["features"].shape == (7, 2048)
    with torch.no_grad():
        whole = model.eval()(x)
    np.testing.assert_allclose(extras["alpha"], whole.alpha.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(probs, torch.softmax(whole.logits, 1).numpy(), rtol=1e-4, atol=1e-6)


def test_predict_au_probs_and_plain_backbones() -> None:
    torch.manual_seed(0)
    x, _ = _flows(5, 28)
    full = create_model("mer_augcn", input_size=28, feature_dim=16, gcn_hidden=8)
    probs, au_probs, extras = tr.predict(full, x, CPU)
    assert probs.shape == (5, 5) and au_probs.shape == (5, 12)
    assert set(extras) == {"features", "au_logits"}
    np.testing.assert_allclose(au_probs, 1 / (1 + np.exp(-extras["au_logits"])), rtol=1e-5)
    plain = create_model("mer_augcn", variant("dual_inception").model, input_size=28, feature_dim=16)
    _, au_plain, extras_plain = tr.predict(plain, x, CPU)
    assert au_plain is None and set(extras_plain) == {"features"}


def test_fit_is_reproducible_with_every_objective() -> None:
    x, y = _flows(9, 32, seed=1)
    au = (torch.rand(9, 12, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    cases = [
        # default objective: cross-entropy
        ("vgg16", {"pool_size": 1, "fc_dims": (8,)}, None, None, {"ce"}),
        ("rrrn", SMALL_RRRN, RRRNObjective(), None, {"ce", "rb", "cor"}),
        ("mer_augcn", {"feature_dim": 16, "gcn_hidden": 8}, JointObjective(LossConfig()), au,
         {"ce", "detc"}),
    ]  # fmt: skip
    for name, fields, objective, targets, parts in cases:
        size = 28 if name == "mer_augcn" else 32
        xs = x[..., :size, :size].contiguous()
        runs = []
        for _ in range(2):
            torch.manual_seed(0)
            model = create_model(name, input_size=size, **fields)
            kwargs = {} if objective is None else {"loss_fn": objective}
            history = tr.fit(model, xs, y, targets, CPU, seed=3, **kwargs)
            runs.append((history.epochs, tr.predict(model, xs, CPU)[0]))
        assert runs[0][0] == runs[1][0], name
        np.testing.assert_array_equal(runs[0][1], runs[1][1])
        assert set(runs[0][0][-1]) == {"epoch", "loss"} | parts, name


def test_fit_and_predict_need_model_output() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 5))  # returns a bare tensor
    x, y = torch.randn(4, 2, 4, 4), torch.tensor([0, 1, 2, 3])
    with pytest.raises(TypeError, match="ModelOutput"):
        tr.fit(model, x, y, None, CPU, seed=0)
    with pytest.raises(TypeError, match="ModelOutput"):
        tr.predict(model, x, CPU)

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(logits=self.net(x))

    history = tr.fit(Wrapped(), x, y, None, CPU, seed=0)
    assert [e["epoch"] for e in history.epochs] == [1, 2]


def test_bench_train_throughput_runs_and_restores_threads() -> None:
    from merkit.bench.train import bench_train_throughput

    before = torch.get_num_threads()
    r = bench_train_throughput(
        "mer_augcn", batch_size=2, steps=1, warmup=0, threads=1, feature_dim=16
    )
    assert torch.get_num_threads() == before
    assert r["samples_per_s"] > 0 and r["overrides"] == {"feature_dim": 16}
    assert r["input_size"] == 28  # the paper's side for Dual-Inception, chosen explicitly
    r = bench_train_throughput(
        "dual_inception", batch_size=2, steps=1, warmup=0, threads=1, input_size=20,
        feature_dim=8,
    )  # fmt: skip
    assert r["input_size"] == 20


def test_bf16_autocast_and_channels_last_match_fp32_on_cpu() -> None:
    """The CPU levers (TrainConfig amp="bf16", channels_last="on"): the autocast loss is the
    fp32 loss within bf16 tolerance, one fit step runs, predict returns float32 arrays."""
    import dataclasses

    from merkit.losses import CrossEntropyObjective
    from merkit.models import ResNet18TwoPathConfig, create_model
    from merkit.train import Levers, TrainConfig, fit, predict

    torch.manual_seed(0)
    model = create_model("resnet18_flow", ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), feature_dim=32), input_size=32)
    model.eval()
    x, y = torch.randn(8, 2, 32, 32), torch.randint(0, 5, (8,))
    fp32 = TrainConfig(device="cpu", amp="off", channels_last="off")
    fast = dataclasses.replace(fp32, amp="bf16", channels_last="on", epochs=1, batch_size=4)
    objective = CrossEntropyObjective()
    losses = {}
    for name, cfg in (("fp32", fp32), ("bf16", fast)):
        levers = Levers.resolve(cfg)
        with torch.no_grad(), levers.autocast():
            losses[name] = float(objective(model(levers.inputs(x)), y, None)[0])
    assert Levers.resolve(fast).bf16 and not Levers.resolve(fp32).bf16
    assert not Levers.resolve(TrainConfig(device="cpu")).bf16  # "auto" is fp32 on a CPU
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=2e-2)
    assert losses["bf16"] != losses["fp32"]  # autocast really ran in bf16
    fit(model, x, y, None, fast, seed=0, loss_fn=objective)
    probs, _, extras = predict(model, x, fast)
    assert probs.dtype == np.float32 and extras["features"].dtype == np.float32
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp16")  # type: ignore[arg-type]


def test_recalibrate_batch_norm_is_the_training_set_average():
    """After :func:`recalibrate_batch_norm` a BatchNorm's running mean is the average of the
    batch means and its running variance the average of the unbiased batch variances (hand
    computation, batches of ``eval_batch_size``); a model without BatchNorm is untouched."""
    torch.manual_seed(0)
    x = torch.randn(12, 3) * torch.tensor([1.0, 2.0, 3.0]) + torch.tensor([5.0, -1.0, 0.5])
    bn = nn.BatchNorm1d(3)
    bn.running_mean.fill_(100.0)
    tr.recalibrate_batch_norm(bn, x, tr.TrainConfig(eval_batch_size=4))
    batches = x.split(4)
    mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var)
    assert bn.training  # the mode is restored
    lin = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in lin.state_dict().items()}
    tr.recalibrate_batch_norm(lin, x, tr.TrainConfig())
    assert all(torch.equal(before[k], v) for k, v in lin.state_dict().items())


def test_fit_recalibrates_batch_norm_unless_told_not_to():
    """``fit`` ends with the recalibration (``bn_recalibration=True``, the default): the running
    mean is then that of the training inputs under the final weights, not the momentum average."""
    torch.manual_seed(0)
    x = torch.randn(32, 4) + 3.0
    y = torch.randint(0, 2, (32,))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm1d(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, v):
            return ModelOutput(logits=self.fc(self.bn(v)))

    on, off = Net(), Net()
    tr.fit(on, x, y, None, tr.TrainConfig(epochs=1, batch_size=8), seed=0)
    tr.fit(off, x, y, None, tr.TrainConfig(epochs=1, batch_size=8, bn_recalibration=False), seed=0)
    torch.testing.assert_close(on.bn.running_mean, x.mean(0))  # one eval batch of 32: exact
    assert not torch.allclose(off.bn.running_mean, x.mean(0), atol=0.1)  # momentum 0.1, 4 steps


def test_adam_kernels_follow_one_update_rule() -> None:
    """TrainConfig.adam: the fused, foreach and loop kernels are the same Adam (weight decay
    included): three fits from the same start give the same weights within float rounding
    (measured: at most 1.7e-5 apart after 9 steps of lr 5e-4), and
    a hand-computed first step (bias-corrected, so the step is lr * sign(g) with eps ~ 0)."""
    import dataclasses

    base = dataclasses.replace(CPU, epochs=3, weight_decay=0.01, bn_recalibration=False)
    x, y = _flows(12, 32)
    from merkit.models import ResNet18TwoPathConfig

    def small() -> nn.Module:
        return create_model("resnet18_flow", ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), feature_dim=16), input_size=32)

    weights = {}
    for kind in ("loop", "foreach", "fused"):
        torch.manual_seed(0)
        model = small()
        tr.fit(model, x, y, None, dataclasses.replace(base, adam=kind), seed=0)
        weights[kind] = torch.cat([p.detach().flatten() for p in model.parameters()])
    for kind in ("fused", "foreach"):  # 9 steps: rounding stays far below one step's size (lr)
        assert float((weights[kind] - weights["loop"]).abs().max()) < 0.2 * base.lr
    torch.manual_seed(0)
    assert not torch.allclose(weights["loop"], torch.cat([p.detach().flatten() for p in small().parameters()]))

    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = tr.adam([p], dataclasses.replace(CPU, lr=0.1, eps=0.0))
    assert opt.defaults["fused"] is True  # "auto" is the fused kernel
    p.grad = torch.tensor([3.0, -0.5])
    opt.step()
    assert torch.allclose(p.detach(), torch.tensor([0.9, -1.9]))
    with pytest.raises(ValueError, match="adam"):
        tr.TrainConfig(adam="sgd")  # type: ignore[arg-type]


def test_deterministic_flag_sets_cudnn_and_fit_honours_it() -> None:
    """TrainConfig.deterministic: off lets cuDNN autotune, on (the default) forbids it; fit
    applies the flag of its config, and a CPU fit is reproducible either way."""
    import dataclasses

    try:
        tr.seed_everything(0, deterministic=False)
        assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
        x, y = _flows(8, 32)
        cfg = dataclasses.replace(CPU, epochs=1, deterministic=True)
        from merkit.models import ResNet18TwoPathConfig

        weights = []
        for _ in range(2):
            torch.manual_seed(0)
            model = create_model("resnet18_flow", ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), feature_dim=16),
                                 input_size=32)
            tr.fit(model, x, y, None, cfg, seed=3)
            weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.equal(weights[0], weights[1])
    finally:
        tr.set_deterministic(True)
