"""Training losses.

MER-auGCN (Zhou, Mao & Dong), Sec. III-B:

* :func:`balanced_detection_loss`: the balanced (adaptive focal) AU detection loss, Eq. 2–3.
* :func:`focal_loss`: the original focal loss of Lin et al. (fixed alpha), the FocalLos.
  ablation of Table IV.
* :func:`classification_loss`: the cross-entropy of Eq. 5.
* :func:`joint_loss` / :class:`MERAuGCNLoss`: Eq. 6, ``L = L_cls + lambda * L_detc``.

RRRN (Mao et al.) losses have their own section after these.

Training objectives (last section): picklable frozen dataclasses that turn a model's
:class:`~merkit.models.output.ModelOutput` into ``(loss, parts)`` for
:func:`merkit.train.fit`: :class:`CrossEntropyObjective` (the plain baselines),
:class:`JointObjective` (MER-auGCN Eq. 6) and :class:`RRRNObjective` (RRRN Eq. 9). This module
sits below :mod:`merkit.models` and never imports it: the objectives read the output's fields
(``logits``, ``au_probs``, ``alpha``, ``region_logits``) by attribute.

Conventions: ``probs`` are AU probabilities in [0, 1] (the sigmoid outputs of the AU
detectors), ``targets`` the matching 0/1 labels, both ``(M, K)`` (M samples, K AUs; build
them with :func:`au_targets`). Class ``labels`` are 0-based indices (objective class I -> 0,
..., V -> 4); ``ignore_index`` (-100) marks samples without a class label (e.g. clips of
classes VI/VII in the AU-detection task), which then contribute only to the detection loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DetectionLoss = Literal["balanced", "focal", "none"]
DETECTION_LOSSES: tuple[str, ...] = ("balanced", "focal", "none")
Balance = Literal["as_printed", "inverse"]
BALANCES: tuple[str, ...] = ("as_printed", "inverse")

# ---------------------------------------------------------------------------------------
# MER-auGCN losses (Eq. 2, 3, 5, 6)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LossConfig:
    """The MER-auGCN training objective (Eq. 6) and its Table IV ablation.

    ``detection``: ``"balanced"`` (Eq. 3, the paper), ``"focal"`` (Lin et al., FocalLos.),
    ``"none"`` (cross-entropy only: the plain backbones of Table III).
    ``lam``: lambda of Eq. 6 (0.75 in Sec. IV-B2). ``offset`` and ``gamma``: Eq. 3's 0.05
    and exponent 2. ``focal_alpha``: the fixed alpha of the focal loss (0.25, Lin et al.).
    ``balance``: the alpha_i of Eq. 3. ``"as_printed"`` (default, the paper's Eq. 2):
    ``alpha_i`` = the batch share of positives of AU i weights the *positive* term, which
    down-weights rare AUs (probably a typo in the paper); ``"inverse"``:
    ``alpha_i = 1 - share``, the usual class-balancing that up-weights rare positives (ours,
    the "BalLos. (inverse alpha)" row of Table IV, not in the paper).
    """

    detection: DetectionLoss = "balanced"
    lam: float = 0.75
    offset: float = 0.05
    gamma: float = 2.0
    focal_alpha: float = 0.25
    ignore_index: int = -100
    balance: Balance = "as_printed"

    def __post_init__(self) -> None:
        if self.detection not in DETECTION_LOSSES:
            raise ValueError(
                f"LossConfig.detection={self.detection!r}; choose one of {DETECTION_LOSSES}"
            )
        if self.balance not in BALANCES:
            raise ValueError(f"LossConfig.balance={self.balance!r}; choose one of {BALANCES}")
        if self.lam < 0:
            raise ValueError(f"LossConfig.lam must be >= 0, got {self.lam}")
        if self.offset <= 0:
            raise ValueError(f"LossConfig.offset must be > 0 (Eq. 3 uses 0.05), got {self.offset}")


def au_targets(clip_aus: Iterable[Iterable[int]], aus: Sequence[int]) -> torch.Tensor:
    """Multi-hot AU labels: ``targets[j, i] = 1`` iff clip j shows AU ``aus[i]``.

    ``clip_aus``: one AU collection per clip (the DataFrame's ``aus`` column);
    ``aus``: the model's detector AUs (``model.aus``) -> float32 ``(M, K)``.
    AUs of a clip that the model does not detect are simply not columns (not an error).
    """
    index = {au: i for i, au in enumerate(aus)}
    rows = []
    for clip in clip_aus:
        row = [0.0] * len(index)
        for au in clip:
            i = index.get(int(au))
            if i is not None:
                row[i] = 1.0
        rows.append(row)
    if not rows:
        return torch.zeros(0, len(index))
    return torch.tensor(rows, dtype=torch.float32)


def _check_pair(probs: torch.Tensor, targets: torch.Tensor, name: str) -> torch.Tensor:
    if probs.dim() != 2 or probs.shape != targets.shape:
        raise ValueError(
            f"{name}: probs and targets must both be (M, K); got {tuple(probs.shape)} and "
            f"{tuple(targets.shape)}"
        )
    if targets.numel() and bool(((targets != 0) & (targets != 1)).any()):
        raise ValueError(f"{name}: targets must be 0/1 AU labels (use merkit.losses.au_targets)")
    return targets.to(probs.dtype)


def balanced_detection_loss(
    probs: torch.Tensor,
    targets: torch.Tensor,
    offset: float = 0.05,
    gamma: float = 2.0,
    *,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """Balanced AU detection loss, MER-auGCN Eq. 2–3 (scalar).

    **Shapes** ``probs, targets: (M, K)`` -> ``()``.

    Eq. 2: ``alpha_i = (1/M) sum_j [y_ij = 1]``, the fraction of positives of AU i in the
    batch (computed from ``targets``; pass ``alpha`` (K,) to override it). Eq. 3::

        L = -1/(K M) sum_j sum_i [ alpha_i (1 - p_ij)^gamma y_ij log((p_ij + o) / (1 + o))
                                 + (1 - alpha_i) p_ij^gamma (1 - y_ij) log((1 + o - p_ij) / (1 + o)) ]

    with ``o = offset = 0.05``. Implemented exactly as printed: the offset keeps both logs
    finite for p in [0, 1] (no clamping is needed; the gradient is finite at p = 0 and 1).
    Note that, as printed, alpha_i weights the *positive* term by the positive fraction; an
    AU with no positive in the batch (alpha_i = 0) contributes only its negative term with
    weight 1, and an AU positive in every sample only its positive term. The common
    "inverse" weighting is one argument away: ``alpha=1 - targets.mean(0)``, and one config
    field away in training: ``LossConfig(balance="inverse")``.
    K = 0 (no detectors) gives 0.
    """
    t = _check_pair(probs, targets, "balanced_detection_loss")
    if probs.numel() == 0:
        return probs.sum() * 0.0
    a = t.mean(dim=0) if alpha is None else alpha.to(probs.dtype)
    norm = 1.0 + offset
    pos = a * (1.0 - probs).pow(gamma) * t * torch.log((probs + offset) / norm)
    neg = (1.0 - a) * probs.pow(gamma) * (1.0 - t) * torch.log((norm - probs) / norm)
    return -(pos + neg).mean()


def focal_loss(
    probs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    *,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Binary focal loss of Lin et al. (2017) on probabilities, fixed alpha (scalar).

    **Shapes** ``probs, targets: (M, K)`` -> ``()``.

    ``FL = -alpha_t (1 - p_t)^gamma log(p_t)`` with ``p_t = p`` and ``alpha_t = alpha`` for
    a positive label, ``p_t = 1 - p`` and ``alpha_t = 1 - alpha`` for a negative one;
    averaged over all M x K entries (the same normalisation as Eq. 3, so the two losses are
    interchangeable under lambda; Lin et al. normalise by the number of positives instead).
    Clamp: ``log(max(p_t, eps))`` with eps = 1e-6, so a confidently wrong prediction costs at
    most ``-alpha_t log(1e-6) ~ 13.8 alpha_t`` and the gradient stays finite at p = 0 and 1.
    """
    t = _check_pair(probs, targets, "focal_loss")
    if probs.numel() == 0:
        return probs.sum() * 0.0
    p_t = t * probs + (1.0 - t) * (1.0 - probs)
    alpha_t = t * alpha + (1.0 - t) * (1.0 - alpha)
    loss = -alpha_t * (1.0 - p_t).pow(gamma) * torch.log(p_t.clamp(min=eps))
    return loss.mean()


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """Softmax cross-entropy, MER-auGCN Eq. 5 (scalar).

    **Shapes** ``logits: (M, C)``, ``labels: (M,)`` int (0-based classes) -> ``()``.

    Eq. 5 writes a sum over the N training samples; with mini-batch training we take the
    mean over the labelled samples of the batch (PyTorch's default), which only rescales the
    gradient and keeps lambda = 0.75 of Eq. 6 meaningful for any batch size. Samples with
    ``labels == ignore_index`` are skipped; a batch without any labelled sample gives 0.
    """
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"classification_loss: logits must be (M, C) and labels (M,); got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    labels = labels.long()
    if not bool((labels != ignore_index).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=ignore_index)


class JointLoss(NamedTuple):
    """Eq. 6 and its two parts (scalar tensors; ``total`` is the one to backpropagate)."""

    total: torch.Tensor
    cls: torch.Tensor
    detc: torch.Tensor


def detection_loss(
    probs: torch.Tensor, targets: torch.Tensor | None, config: LossConfig = LossConfig()
) -> torch.Tensor:
    """``L_detc`` as selected by ``config.detection`` (0 for ``"none"``)."""
    if config.detection == "none":
        return probs.sum() * 0.0
    if targets is None:
        raise ValueError(
            f"detection loss {config.detection!r} needs AU targets (M, K); pass au_targets or "
            "use LossConfig(detection='none')"
        )
    if probs.shape[-1] == 0:
        raise ValueError(
            f"detection loss {config.detection!r} but the model has no AU detectors (K = 0): "
            "a plain backbone trains with LossConfig(detection='none')"
        )
    if config.detection == "balanced":
        alpha = None
        if config.balance == "inverse":
            alpha = 1.0 - _check_pair(probs, targets, "balanced_detection_loss").mean(dim=0)
        return balanced_detection_loss(probs, targets, config.offset, config.gamma, alpha=alpha)
    return focal_loss(probs, targets, config.focal_alpha, config.gamma)


def joint_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    au_probs: torch.Tensor,
    au_targets: torch.Tensor | None,
    config: LossConfig = LossConfig(),
) -> JointLoss:
    """MER-auGCN Eq. 6: ``L = L_cls (Eq. 5) + lambda * L_detc (Eq. 3 or focal)``.

    **Shapes** ``logits: (M, C)``, ``labels: (M,)``, ``au_probs, au_targets: (M, K)``
    -> :class:`JointLoss` of scalars.
    """
    cls = classification_loss(logits, labels, config.ignore_index)
    detc = detection_loss(au_probs, au_targets, config)
    return JointLoss(cls + config.lam * detc, cls, detc)


class MERAuGCNLoss(nn.Module):
    """:func:`joint_loss` as a module holding its :class:`LossConfig`."""

    def __init__(self, config: LossConfig = LossConfig()) -> None:
        super().__init__()
        self.config = config

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        au_probs: torch.Tensor,
        au_targets: torch.Tensor | None = None,
    ) -> JointLoss:
        return joint_loss(logits, labels, au_probs, au_targets, self.config)

    def extra_repr(self) -> str:
        return repr(self.config)


# ---------------------------------------------------------------------------------------
# RRRN's losses (Sec. III-G): region biased (Eq. 7), correlation (Eq. 8) and the total (Eq. 9).
#
# Conventions shared by all three:
#
# * ``alpha: (B, R)`` region attention weights with region 0 the original face and regions
#   ``1..R-1`` the crops (``merkit.models.regions.RRRN_REGIONS``, R = K + 1 = 6).
# * ``region_logits: (B, R, C)`` the per-region classifier's logits, ``logits: (B, C)`` the
#   final classifier's, ``target: (B,)`` class indices ``0..C-1``.
# * ``reduction``: per-sample losses are averaged over the batch (``"mean"``, default),
#   summed (``"sum"``) or returned as ``(B,)`` (``"none"``). The paper writes Eq. 6 as a sum
#   over the N training samples; with mini-batches we average, which only rescales the
#   learning rate and keeps the three terms on the same footing, so the paper's
#   ``lambda1 = 1``, ``lambda2 = 0.2`` keep their meaning.
# ---------------------------------------------------------------------------------------

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
    *,
    detach_regions: bool = True,
) -> Tensor:
    """Correlation loss, Eq. 8: ``sum_k max{0, log P(f_k) - log P(f_a)}`` per sample.

    ``P(.)`` is the softmax probability of the true class: ``P(f_k)`` from the per-region
    classifier (``region_logits[:, k]``), ``P(f_a)`` from the final classifier (``logits``).
    The sum runs over all R regions in ``region_logits`` (the original face included).
    **Shapes**: ``region_logits: (B, R, C), logits: (B, C), target: (B,) -> ()``.

    Gradient (the paper is silent; the value is the same either way): with
    ``detach_regions=True`` (default) ``log P(f_k)`` is a fixed reference that the aggregate
    must beat, so the hinge only raises ``P(f_a)``. Letting the gradient through the region
    side (``False``, the literal reading) rewards the region classifier for giving the true
    class a *low* probability: where the hinge is active, its gradient is
    ``+d log P(f_k)``, i.e. it trains P(f_k)'s classifier backwards. Either way P(f_k) must
    come from a classifier that is itself trained on the class (see :class:`RRRNObjective`).
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
    if detach_regions:
        region_logits = region_logits.detach()
    log_p_regions = F.log_softmax(region_logits, dim=-1).gather(
        2, index.view(batch, 1, 1).expand(batch, region_logits.shape[1], 1)
    ).squeeze(2)  # (B, R)
    log_p_agg = F.log_softmax(logits, dim=-1).gather(1, index.view(batch, 1))  # (B, 1)
    per_sample = torch.clamp(log_p_regions - log_p_agg, min=0.0).sum(dim=1)
    return _reduce(per_sample, reduction)


class RRRNLoss(NamedTuple):
    """The total of Eq. 9 and its three terms (each already reduced), plus ``reg``, the
    region classifier's own cross-entropy (ours; only with ``region_ce > 0``, else None)."""

    total: Tensor
    cls: Tensor
    rb: Tensor
    cor: Tensor
    reg: Tensor | None = None


def region_classification_loss(
    region_logits: Tensor, target: Tensor, reduction: Reduction = "mean"
) -> Tensor:
    """The region classifier's own loss (ours, not in the paper): the mean over the R
    regions of ``CE(region_logits[:, k], target)``. **Shapes**: ``(B, R, C), (B,) -> ()``.

    It trains the separate region head (``RRRNConfig(region_classifier="separate")``) to
    recognise the class, so that P(f_k) in Eq. 8 means what the paper says."""
    if region_logits.ndim != 3:
        raise ValueError(f"region_logits must be (B, R, C), got {tuple(region_logits.shape)}")
    b, r, c = region_logits.shape
    _check_target(target, b, c)
    per = F.cross_entropy(
        region_logits.reshape(b * r, c), target.long().repeat_interleave(r), reduction="none"
    )
    return _reduce(per.view(b, r).mean(dim=1), reduction)


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
    *,
    region_ce: float = 0.0,
    detach_regions: bool = True,
) -> RRRNLoss:
    """Eq. 9: ``L = L_cls + lambda1 * L_rb + lambda2 * L_cor`` (+ ``region_ce * L_reg``).

    ``L_cls`` is the cross-entropy of Eq. 6 (optionally with per-class ``class_weight: (C,)``;
    the paper uses none), ``L_rb`` Eq. 7 with margin ``beta``, ``L_cor`` Eq. 8
    (``detach_regions``: see :func:`correlation_loss`). Paper values: ``lambda1 = 1``,
    ``lambda2 = 0.2``, ``beta = 0.02``. ``L_reg`` (:func:`region_classification_loss`) is
    ours, needed only with a separate region head; it joins the total when ``region_ce > 0``.
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
    cor = correlation_loss(
        region_logits, logits, target, reduction=reduction, detach_regions=detach_regions
    )
    total = cls + lambda1 * rb + lambda2 * cor
    reg = None
    if region_ce > 0:
        reg = region_classification_loss(region_logits, target, reduction=reduction)
        total = total + region_ce * reg
    return RRRNLoss(total=total, cls=cls, rb=rb, cor=cor, reg=reg)


# ---------------------------------------------------------------------------------------
# Training objectives: ModelOutput -> (loss, parts), the ``loss_fn`` of merkit.train.fit
# ---------------------------------------------------------------------------------------


class OutputLike(Protocol):
    """The fields of :class:`merkit.models.output.ModelOutput` the objectives read."""

    @property
    def logits(self) -> Tensor: ...
    @property
    def au_probs(self) -> Tensor | None: ...
    @property
    def alpha(self) -> Tensor | None: ...
    @property
    def region_logits(self) -> Tensor | None: ...


class Objective(Protocol):
    """``objective(output, y, au) -> (loss, parts)``: the scalar to backpropagate and its named
    parts as floats (averaged per epoch into the training curves)."""

    def __call__(
        self, output: OutputLike, y: Tensor, au: Tensor | None
    ) -> tuple[Tensor, dict[str, float]]: ...


@dataclass(frozen=True)
class CrossEntropyObjective:
    """Plain softmax cross-entropy on ``output.logits`` (the VGG16 / ResNet18 / backbone
    baselines). **Shapes** ``logits: (B, C)``, ``y: (B,)`` -> ``()``; parts ``{"ce"}``."""

    def __call__(
        self, output: OutputLike, y: Tensor, au: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        loss = F.cross_entropy(output.logits, y)
        return loss, {"ce": float(loss.detach())}


@dataclass(frozen=True)
class JointObjective:
    """MER-auGCN Eq. 6, ``L_cls + lambda L_detc`` (:func:`joint_loss`) with ``config``.

    **Shapes** ``output.logits: (B, C)``, ``output.au_probs: (B, K)`` (``None`` for a plain
    backbone, which needs ``LossConfig(detection="none")``), ``y: (B,)``, ``au: (B, K)`` 0/1
    targets -> ``()``; parts ``{"ce": L_cls, "detc": L_detc}``.

    **Clips without AU codes** (SMIC in the MEGC 2019 composite) carry ``-1`` targets
    (:func:`merkit.protocols.au_targets` with ``uncoded=-1``): a sample with any negative
    target is left out of ``L_detc`` (Eq. 2's batch fractions and Eq. 3's mean run over the
    coded samples only; a batch without any gives ``L_detc = 0``), and still counts in ``L_cls``.
    """

    config: LossConfig = field(default_factory=LossConfig)

    def __call__(
        self, output: OutputLike, y: Tensor, au: Tensor | None
    ) -> tuple[Tensor, dict[str, float]]:
        logits = output.logits
        probs = output.au_probs
        if probs is None:  # no AU detectors: K = 0 (detection "none" gives 0, others raise)
            probs = logits.new_zeros(logits.shape[0], 0)
        if au is not None and au.numel() and bool((au < 0).any()):  # uncoded clips: no AU loss
            coded = (au >= 0).all(dim=1)
            cls = classification_loss(logits, y, self.config.ignore_index)
            detc = detection_loss(probs[coded], au[coded], self.config)
            total = cls + self.config.lam * detc
            return total, {"ce": float(cls.detach()), "detc": float(detc.detach())}
        out = joint_loss(logits, y, probs, au, self.config)
        return out.total, {"ce": float(out.cls.detach()), "detc": float(out.detc.detach())}


@dataclass(frozen=True)
class RRRNObjective:
    """RRRN Eq. 9, ``L_cls + lambda1 L_rb (Eq. 7) + lambda2 L_cor (Eq. 8)``
    (:func:`rrrn_total_loss`); paper values ``lambda1 = 1``, ``lambda2 = 0.2``, ``beta = 0.02``.
    The profile holds it (``OcclusionTablesConfig.rrrn_loss``), so overrides reach training.

    **Where P(f_k) of Eq. 8 comes from** (the paper does not say): it must be a classifier
    that is itself trained to recognise the class, or the hinge, its only gradient, teaches
    it to give the true class a low probability. Our choice (the default): the *shared*
    final head applied to each region vector ``z_k`` (``RRRNConfig(region_classifier=
    "shared")``), trained by ``L_cls``, so P(f_k) and P(f_a) come from the same classifier
    and Eq. 9 needs no term the paper does not print; and ``cor_gradient="aggregate"``: the
    hinge's gradient reaches only ``log P(f_a)`` (the regions are the reference the aggregate
    must beat). The alternative, one field away: a separate region head
    (``region_classifier="separate"``) trained by its own cross-entropy,
    ``region_ce * mean_k CE(region_logits_k, y)`` with ``region_ce=1.0`` (part ``"reg"``).
    ``cor_gradient="both"`` lets Eq. 8's gradient through ``log P(f_k)`` as well (literal).

    **Shapes** ``output.logits: (B, C)``, ``output.alpha: (B, R)``,
    ``output.region_logits: (B, R, C)``, ``y: (B,)`` -> ``()``; parts ``{"ce", "rb", "cor"}``
    (plus ``"reg"`` when ``region_ce > 0``).
    """

    lambda1: float = 1.0
    lambda2: float = 0.2
    beta: float = 0.02
    region_ce: float = 0.0
    cor_gradient: Literal["aggregate", "both"] = "aggregate"

    def __post_init__(self) -> None:
        if self.cor_gradient not in ("aggregate", "both"):
            raise ValueError(
                f"RRRNObjective.cor_gradient={self.cor_gradient!r}; choose 'aggregate' or 'both'"
            )
        for name in ("lambda1", "lambda2", "beta", "region_ce"):
            if getattr(self, name) < 0:
                raise ValueError(f"RRRNObjective.{name} must be >= 0, got {getattr(self, name)}")

    def __call__(
        self, output: OutputLike, y: Tensor, au: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        if output.alpha is None or output.region_logits is None:
            raise ValueError(
                "RRRNObjective needs a model output with alpha (B, R) and region_logits "
                "(B, R, C), i.e. RRRN's; use CrossEntropyObjective for the baselines"
            )
        out = rrrn_total_loss(
            output.logits,
            y,
            output.alpha,
            output.region_logits,
            lambda1=self.lambda1,
            lambda2=self.lambda2,
            beta=self.beta,
            region_ce=self.region_ce,
            detach_regions=self.cor_gradient == "aggregate",
        )
        parts = {"ce": out.cls, "rb": out.rb, "cor": out.cor}
        if out.reg is not None:
            parts["reg"] = out.reg
        return out.total, {k: float(v.detach()) for k, v in parts.items()}
