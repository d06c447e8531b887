"""Fit and evaluate one model on in-memory tensors: Adam, fixed epochs, no test-fold peeking.

The papers train for a fixed number of epochs and report the model at the end; merkit does
the same. There is no model selection on the test fold: the last epoch's weights are
evaluated (a validation split of training subjects is possible through ``val_fraction``, which
only *records* a validation curve, it never picks an epoch).

The loop is generic over models: ``loss_fn(output, y, au)`` turns a model's raw output into a
scalar loss (plus named parts for the curves), and ``outputs_fn(output)`` extracts class
logits ``(B, C)`` and AU probabilities ``(B, K)`` (or ``None``).
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

LossFn = Callable[[Any, torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, dict[str, float]]]
OutputsFn = Callable[[Any], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule. Defaults are MER-auGCN Sec. IV-B2 (Adam, lr 5e-4, batch 64, 50 epochs)."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    eval_batch_size: int = 256


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); make cuDNN deterministic."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but torch sees no GPU; use device='auto' or 'cpu'")
    return torch.device(name)


def _as_dict(output: Any) -> dict[str, Any] | None:
    """A dict or dataclass output (e.g. RRRN's) as a dict; ``None`` for tensors and tuples."""
    if isinstance(output, dict):
        return output
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return {f.name: getattr(output, f.name) for f in dataclasses.fields(output)}
    return None


def default_outputs(output: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits, au_probs)`` from a tuple (MER-auGCN), a bare logits tensor (plain
    backbones), or a dict / dataclass with ``logits`` (and optionally ``au_probs``), e.g. RRRN."""
    if isinstance(output, torch.Tensor):
        return output, None
    if isinstance(output, tuple):
        logits, au = output[0], output[1] if len(output) > 1 else None
        return logits, au if au is not None and au.numel() else None
    fields = _as_dict(output)
    if fields is not None and "logits" in fields:
        return fields["logits"], fields.get("au_probs")
    raise TypeError(f"cannot read logits from a {type(output).__name__}; pass outputs_fn")


def cross_entropy_loss(output: Any, y: torch.Tensor, au: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
    """Plain CE on the logits (the backbone baselines)."""
    logits, _ = default_outputs(output)
    loss = nn.functional.cross_entropy(logits, y)
    return loss, {"ce": float(loss.detach())}


@dataclass
class History:
    """Per-epoch training curves (mean over batches) and wall time."""

    epochs: list[dict[str, float]]
    seconds: float
    samples_per_second: float


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    au: torch.Tensor | None,
    config: TrainConfig,
    *,
    seed: int,
    loss_fn: LossFn = cross_entropy_loss,
    log: Callable[[str], None] | None = None,
) -> History:
    """Train ``model`` in place on ``x (N, ...)``, labels ``y (N,)`` in 0..C-1, AU targets ``(N, K)``.

    Mini-batches are reshuffled each epoch from a generator seeded by ``seed``; the whole
    data set lives in memory (micro-expression sets are small). Returns the loss curves.
    """
    if len(x) != len(y) or (au is not None and len(au) != len(y)):
        raise ValueError(f"fit: {len(x)} inputs, {len(y)} labels, {None if au is None else len(au)} AU rows")
    if len(x) == 0:
        raise ValueError("fit: empty training set")
    device = resolve_device(config.device)
    seed_everything(seed)
    model.to(device).train()
    optimiser = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    curves: list[dict[str, float]] = []
    start = time.perf_counter()
    seen = 0
    for epoch in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        sums: dict[str, float] = {}
        batches = 0
        for begin in range(0, len(order), config.batch_size):
            idx = order[begin : begin + config.batch_size]
            if len(idx) < 2 and len(order) > 1:  # BatchNorm cannot train on one sample
                continue
            xb = x[idx].to(device, non_blocking=True)
            yb = y[idx].to(device, non_blocking=True)
            ab = au[idx].to(device, non_blocking=True) if au is not None else None
            loss, parts = loss_fn(model(xb), yb, ab)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch + 1}; lower the learning rate")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            seen += len(idx)
            batches += 1
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        curves.append({"epoch": epoch + 1} | {k: v / max(batches, 1) for k, v in sums.items()})
        if log is not None:
            log(f"epoch {epoch + 1}/{config.epochs} loss {curves[-1].get('loss', float('nan')):.4f}")
    seconds = time.perf_counter() - start
    return History(curves, seconds, seen / seconds if seconds > 0 else float("nan"))


@torch.no_grad()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    config: TrainConfig,
    *,
    outputs_fn: OutputsFn = default_outputs,
) -> tuple[np.ndarray, np.ndarray | None, list[Any]]:
    """Class probabilities ``(N, C)``, AU probabilities ``(N, K)`` or ``None``, and extras.

    ``extras`` collects each batch's tensors when the output is a dict or dataclass (e.g. RRRN's
    region attention weights), so notebooks can plot what the model attended to.
    """
    device = resolve_device(config.device)
    model.to(device).eval()
    probs, aus, extras = [], [], []
    for begin in range(0, len(x), config.eval_batch_size):
        output = model(x[begin : begin + config.eval_batch_size].to(device))
        logits, au = outputs_fn(output)
        probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        if au is not None:
            aus.append(au.float().cpu().numpy())
        fields = _as_dict(output)
        if fields is not None:
            extras.append({k: v.detach().cpu().numpy() for k, v in fields.items() if isinstance(v, torch.Tensor)})
    return np.concatenate(probs), (np.concatenate(aus) if aus else None), extras
