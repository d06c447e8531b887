"""Folds and seeds as one batched ensemble (merkit.ensemble) equal their lone trainings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from merkit.ensemble import fit_ensemble, masked_adam_step
from merkit.losses import CrossEntropyObjective, JointObjective, LossConfig
from merkit.models import MERAuGCNConfig, ResNet18TwoPathConfig, create_model
from merkit.train import TrainConfig, fit, predict, seed_everything

N, SIDE = 58, 32
#: three folds of different sizes (40, 43, 38 samples): with batch 16 their last batches differ
#: (8, 11, 6), so the grouped-by-batch-size path runs; member 2 has one batch fewer per epoch
MEMBERS = [np.arange(0, 40), np.arange(10, 53), np.arange(20, 58)]
SEEDS = [0, 1, 2]
#: without the final BatchNorm recalibration: it recomputes the statistics from the final
#: weights, which amplifies the vmapped rounding drift; test_members_recalibrate_as_alone
#: checks it on its own
CONFIG = TrainConfig(epochs=3, batch_size=16, lr=1e-3, bn_recalibration=False)


def _data(aus: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 2, SIDE, SIDE, generator=g)
    y = torch.randint(0, 5, (N,), generator=g)
    au = torch.randint(0, 2, (N, aus), generator=g).float() if aus else None
    return x, y, au


def _pair(name: str, config, objective, aus: int = 0):
    x, y, au = _data(aus)

    def build(seed: int):
        seed_everything(seed)
        return create_model(name, config, input_size=SIDE if name != "mer_augcn" else 28)

    if name == "mer_augcn":
        x = x[:, :, :28, :28].contiguous()
    lone = []
    for rows, seed in zip(MEMBERS, SEEDS, strict=True):
        model = build(seed)
        history = fit(model, x[rows], y[rows], None if au is None else au[rows], CONFIG, seed=seed,
                      loss_fn=objective)
        lone.append((model, history))
    members = [build(s) for s in SEEDS]
    histories = fit_ensemble(members, x, y, au, MEMBERS, CONFIG, seeds=SEEDS, loss_fn=objective)
    return x, lone, members, histories


@pytest.mark.parametrize("case", ["resnet18_flow", "mer_augcn"])
def test_batched_ensemble_equals_one_by_one(case):
    """K = 3 members batched vs the same three trained alone: per-epoch losses and the
    trained models' predictions (batch norm in eval mode: the running statistics too) agree."""
    if case == "resnet18_flow":
        cfg = ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), widths=(8, 8, 16, 16), feature_dim=32)
        x, lone, members, histories = _pair("resnet18_flow", cfg, CrossEntropyObjective())
    else:
        cfg = MERAuGCNConfig(feature_dim=32, backbone_batch_norm=True, aus=(1, 2, 4, 12))
        x, lone, members, histories = _pair("mer_augcn", cfg, JointObjective(LossConfig()), aus=4)
    for (model, history), member, batched in zip(lone, members, histories, strict=True):
        assert len(history.epochs) == len(batched.epochs) == CONFIG.epochs
        for a, b in zip(history.epochs, batched.epochs, strict=True):
            assert a.keys() == b.keys()
            for key in a:
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key
        p_lone, au_lone, _ = predict(model, x, CONFIG)
        p_batched, au_batched, _ = predict(member, x, CONFIG)
        # vmapped (grouped) convolutions sum in another order: rounding drifts by ~1e-5 per
        # epoch (measured: 4e-5 after one epoch, 3e-4 after three, for MER-auGCN)
        np.testing.assert_allclose(p_batched, p_lone, atol=1e-3)
        if au_lone is not None:
            np.testing.assert_allclose(au_batched, au_lone, atol=1e-3)
    # the members really are different trainings (own folds and seeds)
    assert not np.allclose(predict(members[0], x, CONFIG)[0], predict(members[1], x, CONFIG)[0])


def test_members_have_their_own_dropout_masks():
    """Identical members on identical data diverge under dropout: each draws its own masks."""
    cfg = ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), widths=(8, 8, 16, 16), feature_dim=32, drop_rate=0.5)
    x, y, _ = _data()
    members = []
    for _ in range(2):
        seed_everything(0)
        members.append(create_model("resnet18_flow", cfg, input_size=SIDE))
    rows = [np.arange(N), np.arange(N)]
    fit_ensemble(members, x, y, None, rows, TrainConfig(epochs=1, batch_size=16), seeds=[0, 0],
                 loss_fn=CrossEntropyObjective())
    a = dict(members[0].named_parameters())["head.weight"]
    b = dict(members[1].named_parameters())["head.weight"]
    assert not torch.allclose(a, b)


def test_masked_adam_step_matches_torch_adam_and_rests_inactive_members():
    """The masked step is torch's Adam for active members and a no-op for resting ones."""
    torch.manual_seed(0)
    w = torch.randn(3, 4, 5)
    grads = [torch.randn(3, 4, 5) for _ in range(3)]
    config = TrainConfig(lr=1e-2, weight_decay=0.1)
    stacked = {"w": w.clone().requires_grad_()}
    state: dict = {}
    reference = [w[k].clone().requires_grad_() for k in range(3)]
    optims = [torch.optim.Adam([p], lr=config.lr, betas=config.betas, eps=config.eps,
                               weight_decay=config.weight_decay) for p in reference]
    schedule = [[True, True, True], [True, False, True], [True, False, False]]
    for g, active in zip(grads, schedule, strict=True):
        stacked["w"].grad = g.clone()
        masked_adam_step(stacked, state, torch.tensor(active), config)
        for k in range(3):
            if active[k]:
                reference[k].grad = g[k].clone()
                optims[k].step()
    for k in range(3):
        torch.testing.assert_close(stacked["w"].detach()[k], reference[k].detach(), rtol=1e-5, atol=1e-6)
    assert state["step"].tolist() == [3.0, 1.0, 2.0]


def test_members_must_share_one_architecture():
    a = create_model("resnet18_flow", ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), feature_dim=16), input_size=SIDE)
    b = create_model("resnet18_flow", ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), feature_dim=32), input_size=SIDE)
    x, y, _ = _data()
    with pytest.raises(ValueError, match="another architecture"):
        fit_ensemble([a, b], x, y, None, [np.arange(10), np.arange(10)], CONFIG, seeds=[0, 1],
                     loss_fn=CrossEntropyObjective())


def test_run_grid_trains_a_row_as_one_ensemble(tmp_path):
    """run_grid(ensemble_size=3): one ensemble, every member stored as its own run, the same
    predictions as the one-by-one grid; a second call recomputes nothing."""
    from merkit.experiments import RunSpec, RunStore, run_grid
    from merkit.reproduce.runners import DeepRunner, FlowData, ModelBuilder

    x, _, _ = _data()
    clips = np.arange(N)
    labels = np.random.default_rng(0).integers(1, 6, N)
    data = FlowData(x.numpy(), clips, np.ones(N, bool), labels, np.zeros((N, 0), np.int64))
    cfg = ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), widths=(8, 8, 16, 16), feature_dim=32)
    runner = DeepRunner(data, ModelBuilder("resnet18_flow", cfg, SIDE), CrossEntropyObjective(),
                        TrainConfig(epochs=2, batch_size=16), augment=False)
    specs = [RunSpec("toy", "cde", f"f{i}", tuple(rows.tolist()), tuple(np.setdiff1d(clips, rows).tolist()),
                     seed, {"toy": 1}, "data") for i, (rows, seed) in enumerate(zip(MEMBERS, SEEDS, strict=True))]
    alone = run_grid(specs, runner, store=RunStore(tmp_path / "alone"), progress=False)
    store = RunStore(tmp_path / "batched")
    batched = run_grid(specs, runner, store=store, progress=False, ensemble_size=3)
    for a, b in zip(alone, batched, strict=True):
        assert b.info["ensemble"] == 3 and "ensemble" not in a.info
        np.testing.assert_array_equal(a.test, b.test)
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-3)
    mtimes = sorted(p.stat().st_mtime_ns for p in (tmp_path / "batched").rglob("*.json"))
    run_grid(specs, runner, store=store, progress=False, ensemble_size=3)
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "batched").rglob("*.json")) == mtimes


def test_members_recalibrate_as_alone():
    """With ``bn_recalibration`` each member's BatchNorm statistics are recomputed over its own
    fold, exactly as :func:`merkit.train.recalibrate_batch_norm` does for a lone model with the
    same weights."""
    import copy
    import dataclasses

    from merkit.train import recalibrate_batch_norm

    config = dataclasses.replace(CONFIG, epochs=1, bn_recalibration=True)
    cfg = ResNet18TwoPathConfig(blocks=(1, 1, 1, 1), widths=(8, 8, 16, 16), feature_dim=32)
    x, y, _ = _data()
    members = []
    for s in SEEDS:
        seed_everything(s)
        members.append(create_model("resnet18_flow", cfg, input_size=SIDE))
    fit_ensemble(members, x, y, None, MEMBERS, config, seeds=SEEDS, loss_fn=CrossEntropyObjective())
    for model, rows in zip(members, MEMBERS, strict=True):
        alone = copy.deepcopy(model)
        for m in alone.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
        recalibrate_batch_norm(alone, x[rows], config)
        for (name, a), (_, b) in zip(model.named_buffers(), alone.named_buffers(), strict=True):
            if "running" in name:
                torch.testing.assert_close(a, b, msg=name)
