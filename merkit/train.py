"""Fit and evaluate one model on in-memory tensors: Adam, fixed epochs, no test-fold peeking.

The papers train for a fixed number of epochs and report the model at the end; merkit does
the same. There is no model selection on the test fold: the last epoch's weights are
evaluated (a validation split of training subjects is possible through ``val_fraction``, which
only *records* a validation curve, it never picks an epoch).

The loop is generic over models: every merkit model returns a
:class:`~merkit.models.output.ModelOutput`, and ``loss_fn(output, y, au)`` (an objective of
:mod:`merkit.losses`: :class:`~merkit.losses.CrossEntropyObjective`,
:class:`~merkit.losses.JointObjective`, :class:`~merkit.losses.RRRNObjective`) turns it into a
scalar loss plus named parts for the curves. :func:`predict` reads ``logits``, ``au_probs``
and every other tensor field of the output.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from merkit.losses import CrossEntropyObjective, Objective
from merkit.models.output import ModelOutput

LossFn = Objective

_CROSS_ENTROPY = CrossEntropyObjective()  # fit's default objective (frozen, stateless)


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
    #: bf16 autocast of the forward pass and the loss ("auto": on CUDA only; "bf16" also on a
    #: CPU with bf16 units, measured by ``make bench train``). Weights and Adam stay fp32.
    amp: Literal["auto", "bf16", "off"] = "auto"
    #: NHWC memory layout of the model and its 4-D inputs ("auto": on CUDA only)
    channels_last: Literal["auto", "on", "off"] = "auto"
    #: after the last epoch, recompute every BatchNorm's running statistics over the training
    #: samples (:func:`recalibrate_batch_norm`); the papers are silent
    bn_recalibration: bool = True
    #: Adam's kernel: ``"fused"`` (one fused kernel per parameter group), ``"foreach"``
    #: (multi-tensor ops) or ``"loop"`` (one tensor at a time, torch's default on a CPU);
    #: ``"auto"`` = fused. The same update rule: they differ only in float rounding.
    #: ``make bench cpu`` measures them (fused: 2-5x faster Adam steps on this CPU)
    adam: Literal["auto", "fused", "foreach", "loop"] = "auto"
    #: deterministic kernels on CUDA (``torch.use_deterministic_algorithms``, cuDNN's
    #: deterministic algorithms, no cuDNN autotuning), so a seed gives the same numbers run
    #: after run. Off: cuDNN picks its fastest (autotuned, possibly non-deterministic) kernels.
    #: Its cost exists only on a GPU (CPU kernels are deterministic for a fixed thread count);
    #: ``python -m merkit.bench levers --device cuda`` (``scripts/gpu-check.sh``) measures it
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.adam not in ("auto", "fused", "foreach", "loop"):
            raise ValueError(f"TrainConfig.adam must be 'auto', 'fused', 'foreach' or 'loop', not {self.adam!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"TrainConfig.amp must be 'auto', 'bf16' or 'off', not {self.amp!r}")
        if self.channels_last not in ("auto", "on", "off"):
            raise ValueError(f"TrainConfig.channels_last must be 'auto', 'on' or 'off', not {self.channels_last!r}")


@dataclass(frozen=True)
class Levers:
    """What :class:`TrainConfig`'s ``"auto"`` settings resolve to on one device."""

    device: torch.device
    bf16: bool
    channels_last: bool

    @classmethod
    def resolve(cls, config: TrainConfig) -> Levers:
        device = resolve_device(config.device)
        cuda = device.type == "cuda"
        return cls(device, config.amp == "bf16" or (config.amp == "auto" and cuda),
                   config.channels_last == "on" or (config.channels_last == "auto" and cuda))

    def autocast(self) -> Any:
        """The forward pass's autocast context (a no-op when bf16 is off)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` on the device, NHWC when channels_last is on and ``x`` is 4-D."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def model(self, model: nn.Module) -> nn.Module:
        model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model  # type: ignore[call-overload]

    def pinned(self, t: torch.Tensor | None) -> torch.Tensor | None:
        """Page-locked host memory for fast non-blocking copies (CUDA only)."""
        return t.pin_memory() if t is not None and self.device.type == "cuda" else t


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); ``deterministic``: see
    :attr:`TrainConfig.deterministic` (only CUDA kernels are affected)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    set_deterministic(deterministic)


def set_deterministic(on: bool) -> None:
    """Deterministic CUDA kernels (``on``) or cuDNN's autotuned fastest ones."""
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on
    if torch.cuda.is_available():
        # cuBLAS needs a fixed workspace for deterministic GEMMs (read when its handle is made)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(on, warn_only=True)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but torch sees no GPU; use device='auto' or 'cpu'")
    return torch.device(name)


@dataclass
class History:
    """Per-epoch training curves (mean over batches) and wall time."""

    epochs: list[dict[str, float]]
    seconds: float
    samples_per_second: float


def _nonfinite_message(loss: float, epoch: int, x: torch.Tensor, au: torch.Tensor | None) -> str:
    """Why the loss is not finite: non-finite inputs first, the learning rate only if they are fine."""
    bad_x = int((~torch.isfinite(x)).sum()) if x.is_floating_point() else 0
    bad_au = int((~torch.isfinite(au)).sum()) if au is not None and au.is_floating_point() else 0
    if bad_x or bad_au:
        parts = [f"x has {bad_x} non-finite value(s)" if bad_x else "",
                 f"the AU targets have {bad_au} non-finite value(s)" if bad_au else ""]
        return (f"loss became {loss} at epoch {epoch}: the inputs are not finite "
                f"({'; '.join(p for p in parts if p)}); fix the data (flows, AU targets), "
                "not the learning rate")
    return (f"loss became {loss} at epoch {epoch}; the inputs (x and the AU targets) are finite, "
            "so the optimisation diverged: lower the learning rate")


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    au: torch.Tensor | None,
    config: TrainConfig,
    *,
    seed: int,
    loss_fn: LossFn = _CROSS_ENTROPY,
    log: Callable[[str], None] | None = None,
) -> History:
    """Train ``model`` in place on ``x (N, ...)``, labels ``y (N,)`` in 0..C-1, AU targets ``(N, K)``.

    ``model(x)`` must return a :class:`~merkit.models.output.ModelOutput`; ``loss_fn`` is an
    objective of :mod:`merkit.losses` (default plain cross-entropy). Mini-batches are
    reshuffled each epoch from a generator seeded by ``seed``; the whole data set lives in
    memory (micro-expression sets are small). Returns the loss curves.
    """
    if len(x) != len(y) or (au is not None and len(au) != len(y)):
        raise ValueError(f"fit: {len(x)} inputs, {len(y)} labels, {None if au is None else len(au)} AU rows")
    if len(x) == 0:
        raise ValueError("fit: empty training set")
    levers = Levers.resolve(config)
    device = levers.device
    seed_everything(seed, config.deterministic)
    levers.model(model).train()
    x, y, au = levers.pinned(x), levers.pinned(y), levers.pinned(au)  # type: ignore[assignment]
    optimiser = adam(model.parameters(), config)
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
            xb = levers.inputs(x[idx])
            yb = y[idx].to(device, non_blocking=True)
            ab = au[idx].to(device, non_blocking=True) if au is not None else None
            with levers.autocast():
                loss, parts = loss_fn(_output(model(xb)), yb, ab)
            if not torch.isfinite(loss):
                raise FloatingPointError(_nonfinite_message(float(loss.detach()), epoch + 1, x, au))
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
    if config.bn_recalibration:
        recalibrate_batch_norm(model, x, config)
    seconds = time.perf_counter() - start
    return History(curves, seconds, seen / seconds if seconds > 0 else float("nan"))


def adam(params: Any, config: TrainConfig) -> torch.optim.Adam:
    """``torch.optim.Adam`` over ``params`` with ``config``'s hyper-parameters and kernel
    (:attr:`TrainConfig.adam`)."""
    kind = "fused" if config.adam == "auto" else config.adam
    return torch.optim.Adam(params, lr=config.lr, betas=config.betas, eps=config.eps,
                            weight_decay=config.weight_decay, foreach=kind == "foreach", fused=kind == "fused")


def recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, config: TrainConfig) -> None:
    """Recompute the running mean and variance of every BatchNorm of ``model`` over ``x (N, ...)``
    (the training samples), as the plain average over batches of ``config.eval_batch_size``
    with the final weights (``torch.optim.swa_utils.update_bn``; "precise BN").

    Why: the running statistics are an exponential average (momentum 0.1) taken while the
    weights still change. After the few hundred steps of a micro-expression fold they lag the
    final weights, so ``eval()`` normalises with statistics of an older network. On a
    development set generated with another seed (SAMM -> CASME II, 3 seeds), ResNet18's
    accuracy on its own training clips in ``eval()`` mode was 0.29-0.47 before and 0.88-0.94
    after. No test sample is used. A model without BatchNorm is left untouched.
    """
    from torch.optim.swa_utils import update_bn

    levers = Levers.resolve(config)
    with torch.no_grad():  # update_bn restores the model's train / eval mode itself
        batches = (levers.inputs(x[i : i + config.eval_batch_size]) for i in range(0, len(x), config.eval_batch_size))
        update_bn(batches, model)


def _output(output: Any) -> ModelOutput:
    if not isinstance(output, ModelOutput):
        raise TypeError(
            f"the model returned a {type(output).__name__}; merkit's training loop needs a "
            "merkit.models.ModelOutput (every registered model's forward returns one)"
        )
    return output


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """Class probabilities, AU probabilities and every other output field, for ``x (N, ...)``.

    **Shapes** ``probs: (N, C)`` (softmax of ``logits``); ``au_probs: (N, K)`` or ``None``
    (no AU detectors); ``extras``: every other non-``None`` tensor field of the
    :class:`~merkit.models.output.ModelOutput` by name, concatenated over the evaluation
    batches along the first axis (e.g. RRRN's ``"alpha": (N, R)``, ``"region_logits":
    (N, R, C)``, and ``"features": (N, D)`` for every model), so notebooks can plot what the
    model attended to. Runs in ``eval()`` mode on ``config.device``.
    """
    levers = Levers.resolve(config)
    levers.model(model).eval()
    probs: list[np.ndarray] = []
    aus: list[np.ndarray] = []
    extras: dict[str, list[np.ndarray]] = {}
    batches = 0
    for begin in range(0, len(x), config.eval_batch_size):
        with levers.autocast():
            output = _output(model(levers.inputs(x[begin : begin + config.eval_batch_size])))
        batches += 1
        probs.append(torch.softmax(output.logits.float(), dim=1).cpu().numpy())
        if output.au_probs is not None:
            aus.append(output.au_probs.float().cpu().numpy())
        for name, value in output.tensors().items():
            if name not in ("logits", "au_probs"):
                value = value.detach()
                extras.setdefault(name, []).append((value.float() if value.is_floating_point() else value).cpu().numpy())
    ragged = sorted(k for k, v in extras.items() if len(v) != batches)
    if ragged or (aus and len(aus) != batches):
        raise ValueError(f"model outputs {ragged or ['au_probs']} are set in some batches only")
    return (
        np.concatenate(probs),
        np.concatenate(aus) if aus else None,
        {k: np.concatenate(v) for k, v in extras.items()},
    )
