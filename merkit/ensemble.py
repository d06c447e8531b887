"""Folds and seeds as one batched ensemble: K trainings of one model config in one loop.

The runs of one table row share a model config and differ only by fold (their training
samples) and seed (their initialisation and shuffling). :func:`fit_ensemble` trains them
together: the K members' parameters and buffers are stacked (``torch.func.stack_module_state``)
and one ``torch.func.vmap`` of ``functional_call`` runs all members' forward passes as one
batched computation; one backward pass gives every member its own gradients, and one masked
Adam step (:func:`masked_adam_step`) updates them.

Each member does exactly what :func:`merkit.train.fit` would do alone:

* its own samples: member k trains on ``x[members[k]]`` and nothing else;
* its own seed: the caller builds member k's model after seeding with ``seeds[k]`` (as
  :class:`~merkit.reproduce.runners.DeepRunner` does), and member k's mini-batches come from
  a ``torch.Generator`` seeded with ``seeds[k]``, one ``randperm`` per epoch, as ``fit``;
* its own batch norm: running statistics are per-member buffers, and a batch normalises with
  its own member's batch statistics only (vmap keeps members apart); after the last epoch
  each member's statistics are recomputed over its own samples
  (:func:`merkit.train.recalibrate_batch_norm`, ``TrainConfig.bn_recalibration``);
* its own dropout masks: ``vmap(randomness="different")`` draws an independent mask per
  member (from the global generator, so not the same stream as a lone ``fit``: with dropout
  on, members match ``fit`` in distribution, not sample by sample);
* its own optimiser state: Adam is element-wise, so one Adam over stacked tensors equals K
  Adams, except that members whose folds have fewer batches per epoch (or whose last batch
  is a single sample, skipped by ``fit`` for batch norm) sit some steps out. The masked
  step keeps a step count per member and leaves a resting member's weights and moments
  untouched, exactly like ``fit``, which never takes that step.

At one step the members' batches may differ in size (the last batch of an epoch): members
are grouped by batch size and each group is one vmapped call over its members' slices of
the stacked parameters (batch-norm buffers are written back after the call).

``tests/test_ensemble.py`` trains K = 3 members batched and the same three one by one and
checks that losses and predictions agree within float tolerance (without the final
recalibration, which turns the vmapped rounding drift of the weights into a larger one of the
statistics; ``test_members_recalibrate_as_alone`` checks that step on its own). On a GPU one row's 47
LOSO folds fit in one ensemble (``ExecutionConfig.ensemble``, default on CUDA only); on
this project's 2-core CPU the batched forms of the small convolutions are slower than the
plain loop (``make bench train`` measures the ratio), so CPU grids train one by one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from merkit.models.output import ModelOutput
from merkit.train import (
    History,
    Levers,
    TrainConfig,
    _nonfinite_message,
    _output,
    recalibrate_batch_norm,
    seed_everything,
)

LossFn = Callable[..., tuple[Tensor, dict[str, float]]]


def _check_members(models: Sequence[nn.Module]) -> None:
    if not models:
        raise ValueError("fit_ensemble: no members")
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in models]
    for i, s in enumerate(shapes[1:], start=1):
        if s != shapes[0]:
            raise ValueError(f"fit_ensemble: member {i} has another architecture than member 0 "
                             "(an ensemble trains one model config)")


def masked_adam_step(params: dict[str, Tensor], state: dict[str, Any], active: Tensor,
                     config: TrainConfig) -> None:
    """One Adam step (``torch.optim.Adam``'s formula) for the members where ``active`` is True.

    ``params``: name -> stacked leaf ``(K, ...)`` with ``.grad``; ``state``: ``"step"`` (K,)
    float64 step counts and per-name ``(exp_avg, exp_avg_sq)`` (created on first use);
    ``active``: (K,) bool. An inactive member's weights, moments and step count are left as
    they are (as if it had not been in this step at all).
    """
    beta1, beta2 = config.betas
    steps = state.setdefault("step", torch.zeros(active.shape[0], dtype=torch.float64, device=active.device))
    steps += active.to(torch.float64)
    t = steps.clamp_min(1.0)
    step_size = (config.lr / (1 - beta1**t)).to(torch.float32)  # (K,)
    bc2_sqrt = torch.sqrt(1 - beta2**t).to(torch.float32)
    with torch.no_grad():
        for name, p in params.items():
            g = p.grad
            if g is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            mask = active.view(shape)
            if config.weight_decay:
                g = g.add(p, alpha=config.weight_decay)
            if name not in state:
                state[name] = (torch.zeros_like(p), torch.zeros_like(p))
            m, v = state[name]
            new_m = m.lerp(g, 1 - beta1)
            new_v = v * beta2 + (1 - beta2) * g * g
            denom = new_v.sqrt() / bc2_sqrt.to(p.device).view(shape) + config.eps
            new_p = p - step_size.to(p.device).view(shape) * (new_m / denom)
            m.copy_(torch.where(mask, new_m, m))
            v.copy_(torch.where(mask, new_v, v))
            p.copy_(torch.where(mask, new_p, p))


def fit_ensemble(
    models: Sequence[nn.Module],
    x: Tensor,
    y: Tensor,
    au: Tensor | None,
    members: Sequence[np.ndarray],
    config: TrainConfig,
    *,
    seeds: Sequence[int],
    loss_fn: LossFn,
) -> list[History]:
    """Train K models of one config together, member k on samples ``members[k]`` with seed ``seeds[k]``.

    **Shapes** ``x: (N, ...)`` every sample any member uses (stored once), ``y: (N,)``,
    ``au: (N, A)`` or ``None``; ``members[k]``: positions into ``x`` of member k's training
    samples (its fold). The models are trained in place (their weights and buffers hold the
    result afterwards, so :func:`merkit.train.predict` works on each). Returns one
    :class:`~merkit.train.History` per member (wall time is the ensemble's).
    """
    k_members = len(models)
    if len(members) != k_members or len(seeds) != k_members:
        raise ValueError(f"fit_ensemble: {k_members} models, {len(members)} sample sets, {len(seeds)} seeds")
    if len(x) != len(y) or (au is not None and len(au) != len(y)):
        raise ValueError(f"fit_ensemble: {len(x)} inputs, {len(y)} labels, {None if au is None else len(au)} AU rows")
    for k, rows in enumerate(members):
        if len(rows) == 0:
            raise ValueError(f"fit_ensemble: member {k} has an empty training set")
    _check_members(models)
    levers = Levers.resolve(config)
    device = levers.device
    seed_everything(seeds[0], config.deterministic)
    for m in models:
        m.to(device).train()
    params, buffers = stack_module_state(list(models))
    base = copy.deepcopy(models[0]).to("meta")

    def forward(p: dict[str, Tensor], b: dict[str, Tensor], xb: Tensor) -> dict[str, Tensor]:
        return _output(functional_call(base, (p, b), (xb,))).tensors()

    batched = vmap(forward, randomness="different")
    x, y = x.to(device), y.to(device)
    au = au.to(device) if au is not None else None
    rows = [torch.as_tensor(np.asarray(r, dtype=np.int64), device=device) for r in members]
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    state: dict[str, Any] = {}
    curves: list[list[dict[str, float]]] = [[] for _ in range(k_members)]
    seen = [0] * k_members
    start = time.perf_counter()
    for epoch in range(config.epochs):
        batches = []
        for k in range(k_members):
            order = torch.randperm(len(rows[k]), generator=generators[k]).to(device)
            own = [rows[k][order[b:b + config.batch_size]] for b in range(0, len(order), config.batch_size)]
            # fit skips a one-sample batch (batch norm cannot train on it) unless it is all there is
            batches.append([idx for idx in own if not (len(idx) < 2 and len(order) > 1)])
        sums: list[dict[str, float]] = [{} for _ in range(k_members)]
        counts = [0] * k_members
        for step in range(max(len(b) for b in batches)):
            taking = [k for k in range(k_members) if step < len(batches[k])]
            groups: dict[int, list[int]] = {}
            for k in taking:
                groups.setdefault(len(batches[k][step]), []).append(k)
            total: Tensor | None = None
            for group in groups.values():
                everyone = len(group) == k_members
                sel = torch.as_tensor(group, device=device)
                p = params if everyone else {n: v[sel] for n, v in params.items()}
                b = buffers if everyone else {n: v[sel] for n, v in buffers.items()}
                idx = torch.stack([batches[k][step] for k in group])  # (M, B)
                xb = x[idx]  # (M, B, ...)
                with levers.autocast():
                    outs = batched(p, b, xb)
                    for j, k in enumerate(group):
                        yb = y[idx[j]]
                        ab = au[idx[j]] if au is not None else None
                        loss, parts = loss_fn(ModelOutput(**{n: v[j] for n, v in outs.items()}), yb, ab)
                        value = float(loss.detach())
                        if not math.isfinite(value):
                            raise FloatingPointError(f"ensemble member {k} (seed {seeds[k]}): "
                                                     + _nonfinite_message(value, epoch + 1, x[rows[k]],
                                                                          None if au is None else au[rows[k]]))
                        total = loss if total is None else total + loss
                        seen[k] += len(idx[j])
                        counts[k] += 1
                        sums[k]["loss"] = sums[k].get("loss", 0.0) + value
                        for name, v in parts.items():
                            sums[k][name] = sums[k].get(name, 0.0) + v
                if not everyone:  # batch-norm running statistics of the group's members
                    with torch.no_grad():
                        for n, v in b.items():
                            buffers[n][sel] = v
            for v in params.values():
                v.grad = None
            assert total is not None
            total.backward()
            active = torch.zeros(k_members, dtype=torch.bool, device=device)
            active[taking] = True
            masked_adam_step(params, state, active, config)
        for k in range(k_members):
            curves[k].append({"epoch": epoch + 1} | {n: v / max(counts[k], 1) for n, v in sums[k].items()})
    seconds = time.perf_counter() - start
    with torch.no_grad():  # the trained members back into their modules
        for k, model in enumerate(models):
            for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
                source = params[name] if name in params else buffers[name]
                tensor.copy_(source[k])
    if config.bn_recalibration:  # as fit does, each member over its own training samples
        for model, rows in zip(models, members, strict=True):
            recalibrate_batch_norm(model, x[torch.as_tensor(np.asarray(rows))], config)
    return [History(curves[k], seconds, seen[k] / seconds if seconds > 0 else float("nan"))
            for k in range(k_members)]
