"""RRRN's losses (Sec. III-G): region biased (Eq. 7), correlation (Eq. 8) and the total (Eq. 9).

Written to be folded into :mod:`merkit.losses`. Conventions shared by all three:

* ``alpha: (B, R)`` region attention weights with region 0 the original face and regions
  ``1..R-1`` the crops (``merkit.models.regions.RRRN_REGIONS``, R = K + 1 = 6).
* ``region_logits: (B, R, C)`` the per-region classifier's logits, ``logits: (B, C)`` the
  final classifier's, ``target: (B,)`` class indices ``0..C-1``.
* ``reduction``: per-sample losses are averaged over the batch (``"mean"``, default),
  summed (``"sum"``) or returned as ``(B,)`` (``"none"``). The paper writes Eq. 6 as a sum
  over the N training samples; with mini-batches we average, which only rescales the
  learning rate and keeps the three terms on the same footing, so the paper's
  ``lambda1 = 1``, ``lambda2 = 0.2`` keep their meaning.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

Reduction = Literal["mean", "sum", "none"]


def _reduce(per_sample: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_target(target: Tensor, batch: int, num_classes: int) -> None:
    if target.shape != (batch,):
        raise ValueError(f"target must have shape ({batch},), got {tuple(target.shape)}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise ValueError(
            f"target holds class indices outside 0..{num_classes - 1}: "
            f"min {int(target.min())}, max {int(target.max())} (objective class I..V -> 0..4)"
        )


def region_biased_loss(alpha: Tensor, beta: float = 0.02, reduction: Reduction = "mean") -> Tensor:
    """Region biased loss, Eq. 7: ``max{0, beta - (alpha_max - alpha_0)}`` per sample.

    ``alpha_max`` is the largest weight among the crops (regions 1..R-1; the paper's text
    says "K-1 facial crops" but Eq. 1 has K = 5 crops, so all of them), ``alpha_0`` the
    original face's weight. **Shapes**: ``alpha: (B, R) -> ()`` (or ``(B,)`` with
    ``reduction="none"``).
    """
    if alpha.ndim != 2 or alpha.shape[1] < 2:
        raise ValueError(f"alpha must be (B, R) with R >= 2 regions, got {tuple(alpha.shape)}")
    alpha_max = alpha[:, 1:].max(dim=1).values
    per_sample = torch.clamp(beta - (alpha_max - alpha[:, 0]), min=0.0)
    return _reduce(per_sample, reduction)


def correlation_loss(
    region_logits: Tensor,
    logits: Tensor,
    target: Tensor,
    reduction: Reduction = "mean",
) -> Tensor:
    """Correlation loss, Eq. 8: ``sum_k max{0, log P(f_k) - log P(f_a)}`` per sample.

    ``P(.)`` is the softmax probability of the true class: ``P(f_k)`` from the per-region
    classifier (``region_logits[:, k]``), ``P(f_a)`` from the final classifier (``logits``).
    The sum runs over all R regions in ``region_logits`` (the original face included).
    **Shapes**: ``region_logits: (B, R, C), logits: (B, C), target: (B,) -> ()``.
    """
    if region_logits.ndim != 3 or logits.ndim != 2:
        raise ValueError(
            f"need region_logits (B, R, C) and logits (B, C), got {tuple(region_logits.shape)} "
            f"and {tuple(logits.shape)}"
        )
    batch, _, num_classes = region_logits.shape
    if logits.shape != (batch, num_classes):
        raise ValueError(
            f"logits {tuple(logits.shape)} do not match region_logits {tuple(region_logits.shape)}"
        )
    _check_target(target, batch, num_classes)
    index = target.long()
    log_p_regions = F.log_softmax(region_logits, dim=-1).gather(
        2, index.view(batch, 1, 1).expand(batch, region_logits.shape[1], 1)
    ).squeeze(2)  # (B, R)
    log_p_agg = F.log_softmax(logits, dim=-1).gather(1, index.view(batch, 1))  # (B, 1)
    per_sample = torch.clamp(log_p_regions - log_p_agg, min=0.0).sum(dim=1)
    return _reduce(per_sample, reduction)


class RRRNLoss(NamedTuple):
    """The total of Eq. 9 and its three terms (each already reduced)."""

    total: Tensor
    cls: Tensor
    rb: Tensor
    cor: Tensor


def rrrn_total_loss(
    logits: Tensor,
    target: Tensor,
    alpha: Tensor,
    region_logits: Tensor,
    lambda1: float = 1.0,
    lambda2: float = 0.2,
    beta: float = 0.02,
    class_weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> RRRNLoss:
    """Eq. 9: ``L = L_cls + lambda1 * L_rb + lambda2 * L_cor``.

    ``L_cls`` is the cross-entropy of Eq. 6 (optionally with per-class ``class_weight: (C,)``;
    the paper uses none), ``L_rb`` Eq. 7 with margin ``beta``, ``L_cor`` Eq. 8. Paper values:
    ``lambda1 = 1``, ``lambda2 = 0.2``, ``beta = 0.02``.
    **Shapes**: ``logits: (B, C), target: (B,), alpha: (B, R), region_logits: (B, R, C)``.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, C), got {tuple(logits.shape)}")
    _check_target(target, logits.shape[0], logits.shape[1])
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    # with class_weight, "mean" divides by the summed weights of the batch (torch's convention)
    cls = F.cross_entropy(logits, target.long(), weight=class_weight, reduction=reduction)
    rb = region_biased_loss(alpha, beta=beta, reduction=reduction)
    cor = correlation_loss(region_logits, logits, target, reduction=reduction)
    return RRRNLoss(total=cls + lambda1 * rb + lambda2 * cor, cls=cls, rb=rb, cor=cor)
