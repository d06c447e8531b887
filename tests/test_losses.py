"""MER-auGCN losses against explicit hand computations (loops over samples j and AUs i), and
the training objectives (ModelOutput -> (loss, parts)) of merkit.losses."""

from __future__ import annotations

import math
import pickle
from types import SimpleNamespace

import pytest
import torch

from merkit.losses import (
    CrossEntropyObjective,
    JointObjective,
    LossConfig,
    MERAuGCNLoss,
    RRRNObjective,
    au_targets,
    balanced_detection_loss,
    classification_loss,
    detection_loss,
    focal_loss,
    joint_loss,
)
from merkit.models.output import ModelOutput


def hand_balanced(
    probs: list[list[float]], y: list[list[int]], o: float = 0.05, g: float = 2.0
) -> float:
    """Eq. 2-3 written out with plain Python loops."""
    m, k = len(probs), len(probs[0])
    alpha = [sum(y[j][i] for j in range(m)) / m for i in range(k)]
    total = 0.0
    for j in range(m):
        for i in range(k):
            p = probs[j][i]
            total += alpha[i] * (1 - p) ** g * y[j][i] * math.log((p + o) / (1 + o))
            total += (1 - alpha[i]) * p**g * (1 - y[j][i]) * math.log((1 + o - p) / (1 + o))
    return -total / (k * m)


def hand_focal(
    probs: list[list[float]], y: list[list[int]], a: float = 0.25, g: float = 2.0
) -> float:
    total, n = 0.0, 0
    for j in range(len(probs)):
        for i in range(len(probs[0])):
            p = probs[j][i]
            if y[j][i] == 1:
                total += -a * (1 - p) ** g * math.log(max(p, 1e-6))
            else:
                total += -(1 - a) * p**g * math.log(max(1 - p, 1e-6))
            n += 1
    return total / n


def hand_ce(logits: list[list[float]], labels: list[int]) -> float:
    total = 0.0
    for row, c in zip(logits, labels, strict=True):
        denom = sum(math.exp(v) for v in row)
        total += -math.log(math.exp(row[c]) / denom)
    return total / len(labels)


def _batch(seed: int, m: int = 9, k: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    probs = torch.rand(m, k, generator=gen, dtype=torch.float64)
    targets = (torch.rand(m, k, generator=gen) < 0.4).to(torch.float64)
    targets[:, 0] = 0.0  # an AU with no positive in the batch: alpha = 0
    targets[:, 1] = 1.0  # an AU positive in every sample: alpha = 1
    return probs, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("offset", "gamma"), [(0.05, 2.0), (0.1, 1.0)])
def test_balanced_detection_loss_matches_hand_computation(
    seed: int, offset: float, gamma: float
) -> None:
    probs, targets = _batch(seed)
    got = balanced_detection_loss(probs, targets, offset=offset, gamma=gamma)
    want = hand_balanced(probs.tolist(), targets.int().tolist(), offset, gamma)
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_balanced_alpha_extremes_keep_only_one_term() -> None:
    probs = torch.tensor([[0.3], [0.8], [0.1]], dtype=torch.float64)
    # no positives: alpha = 0 -> only the negative term, weight 1
    zeros = torch.zeros_like(probs)
    neg = [-(p**2) * math.log((1.05 - p) / 1.05) for p in (0.3, 0.8, 0.1)]
    assert balanced_detection_loss(probs, zeros).item() == pytest.approx(sum(neg) / 3, rel=1e-12)
    # all positive: alpha = 1 -> only the positive term, weight 1
    ones = torch.ones_like(probs)
    pos = [-((1 - p) ** 2) * math.log((p + 0.05) / 1.05) for p in (0.3, 0.8, 0.1)]
    assert balanced_detection_loss(probs, ones).item() == pytest.approx(sum(pos) / 3, rel=1e-12)


def test_balanced_loss_is_zero_for_perfect_predictions_and_alpha_override() -> None:
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    assert balanced_detection_loss(targets.clone(), targets).item() == pytest.approx(0.0, abs=1e-7)
    probs, targets = _batch(5)
    inverse = 1 - targets.mean(0)
    got = balanced_detection_loss(probs, targets, alpha=inverse)
    # hand computation with the inverse weighting
    p, y = probs.tolist(), targets.int().tolist()
    total = 0.0
    for j in range(len(p)):
        for i in range(len(p[0])):
            a = inverse[i].item()
            total += a * (1 - p[j][i]) ** 2 * y[j][i] * math.log((p[j][i] + 0.05) / 1.05)
            total += (1 - a) * p[j][i] ** 2 * (1 - y[j][i]) * math.log((1.05 - p[j][i]) / 1.05)
    assert got.item() == pytest.approx(-total / (len(p) * len(p[0])), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (0.6, 0.0)])
def test_focal_loss_matches_hand_computation(seed: int, alpha: float, gamma: float) -> None:
    probs, targets = _batch(seed)
    probs[0, 2], probs[1, 3] = 0.0, 1.0  # exercise the clamp
    got = focal_loss(probs, targets, alpha=alpha, gamma=gamma)
    want = hand_focal(probs.tolist(), targets.int().tolist(), alpha, gamma)
    assert got.item() == pytest.approx(want, rel=1e-9)


def test_focal_gamma0_alpha_half_is_half_bce() -> None:
    probs, targets = _batch(7)
    bce = torch.nn.functional.binary_cross_entropy(probs, targets)
    assert focal_loss(probs, targets, alpha=0.5, gamma=0.0).item() == pytest.approx(
        0.5 * bce.item(), rel=1e-9
    )


@pytest.mark.parametrize("loss", [balanced_detection_loss, focal_loss])
def test_gradients_finite_at_probability_0_and_1(loss) -> None:
    probs = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.5, 0.5]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    value = loss(probs, targets)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(probs.grad).all()


def test_empty_au_set_and_bad_targets() -> None:
    assert balanced_detection_loss(torch.zeros(4, 0), torch.zeros(4, 0)).item() == 0.0
    assert focal_loss(torch.zeros(4, 0), torch.zeros(4, 0)).item() == 0.0
    with pytest.raises(ValueError, match="0/1"):
        balanced_detection_loss(torch.rand(3, 2), torch.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"\(M, K\)"):
        focal_loss(torch.rand(3, 2), torch.zeros(3, 3))


def test_classification_loss_is_mean_cross_entropy_eq5() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 4, 2, 2, 1, 3, 0])
    assert classification_loss(logits, labels).item() == pytest.approx(
        hand_ce(logits.tolist(), labels.tolist()), rel=1e-12
    )
    masked = labels.clone()
    masked[[1, 3]] = -100
    keep = [0, 2, 4, 5, 6]
    assert classification_loss(logits, masked).item() == pytest.approx(
        hand_ce([logits[j].tolist() for j in keep], [int(labels[j]) for j in keep]), rel=1e-12
    )
    assert classification_loss(logits, torch.full((7,), -100)).item() == 0.0


@pytest.mark.parametrize("detection", ["balanced", "focal", "none"])
def test_joint_loss_eq6(detection: str) -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(9, 5, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 5, (9,), generator=gen)
    probs, targets = _batch(1)
    cfg = LossConfig(detection=detection)
    out = MERAuGCNLoss(cfg)(logits, labels, probs, targets)
    ce = hand_ce(logits.tolist(), labels.tolist())
    if detection == "balanced":
        detc = hand_balanced(probs.tolist(), targets.int().tolist())
    elif detection == "focal":
        detc = hand_focal(probs.tolist(), targets.int().tolist())
    else:
        detc = 0.0
    assert out.cls.item() == pytest.approx(ce, rel=1e-12)
    assert out.detc.item() == pytest.approx(detc, rel=1e-9, abs=1e-15)
    assert out.total.item() == pytest.approx(ce + 0.75 * detc, rel=1e-9)


def test_joint_loss_rejects_detection_without_detectors_or_targets() -> None:
    logits, labels = torch.randn(3, 5), torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="no AU detectors"):
        joint_loss(logits, labels, torch.zeros(3, 0), torch.zeros(3, 0))
    with pytest.raises(ValueError, match="needs AU targets"):
        joint_loss(logits, labels, torch.rand(3, 2), None)
    out = joint_loss(logits, labels, torch.zeros(3, 0), None, LossConfig(detection="none"))
    assert out.detc.item() == 0.0
    with pytest.raises(ValueError, match="detection"):
        LossConfig(detection="bce")  # type: ignore[arg-type]


def test_au_targets_multi_hot() -> None:
    t = au_targets([(1, 2), (4, 14), ()], aus=(1, 2, 4, 9))
    assert t.tolist() == [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert au_targets([], aus=(1, 2)).shape == (0, 2)


def test_cross_entropy_objective_by_hand() -> None:
    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(4, 5, generator=gen, dtype=torch.float64), torch.tensor([0, 4, 2, 2])
    loss, parts = CrossEntropyObjective()(ModelOutput(logits=logits), labels, None)
    assert loss.item() == pytest.approx(hand_ce(logits.tolist(), labels.tolist()))
    assert parts == {"ce": pytest.approx(loss.item())} and isinstance(parts["ce"], float)
    # AU targets and extra output fields are ignored
    out = ModelOutput(logits=logits, au_probs=torch.rand(4, 3, dtype=torch.float64))
    assert CrossEntropyObjective()(out, labels, torch.ones(4, 3))[0].item() == loss.item()


def test_joint_objective_is_eq6_on_the_model_output() -> None:
    logits, labels = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    probs, targets = torch.rand(4, 3), torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 1]])
    out = ModelOutput(logits=logits, au_logits=torch.logit(probs), au_probs=probs)
    total, parts = JointObjective()(out, labels, targets)
    ref = joint_loss(logits, labels, probs, targets)
    assert total.item() == ref.total.item()
    assert parts == {"ce": pytest.approx(ref.cls.item()), "detc": pytest.approx(ref.detc.item())}
    ce = hand_ce(logits.double().tolist(), labels.tolist())
    hand_detc = hand_balanced(probs.double().tolist(), targets.int().tolist())
    assert total.item() == pytest.approx(ce + 0.75 * hand_detc, rel=1e-5)
    focal = JointObjective(LossConfig(detection="focal", lam=0.5))
    assert focal(out, labels, targets)[0].item() == pytest.approx(
        ce + 0.5 * hand_focal(probs.double().tolist(), targets.int().tolist(), 0.25, 2.0),
        rel=1e-5,
    )


def test_joint_objective_plain_backbone_has_no_au_probs() -> None:
    logits, labels = torch.randn(3, 5), torch.tensor([0, 1, 2])
    plain = ModelOutput(logits=logits)  # au_probs None
    total, parts = JointObjective(LossConfig(detection="none"))(plain, labels, None)
    assert total.item() == pytest.approx(CrossEntropyObjective()(plain, labels, None)[0].item())
    assert parts["detc"] == 0.0
    with pytest.raises(ValueError, match="no AU detectors"):
        JointObjective()(plain, labels, torch.zeros(3, 0))


def test_objectives_are_picklable_frozen_and_duck_typed() -> None:
    for objective in (CrossEntropyObjective(), JointObjective(LossConfig(lam=0.5)),
                      RRRNObjective(lambda2=0.1)):  # fmt: skip
        again = pickle.loads(pickle.dumps(objective))
        assert again == objective and hash(again) == hash(objective)
    with pytest.raises(AttributeError):
        RRRNObjective().beta = 0.1  # type: ignore[misc]
    # losses never import merkit.models: any object with the fields works
    duck = SimpleNamespace(logits=torch.randn(2, 5), au_probs=None, alpha=None, region_logits=None)
    assert torch.isfinite(CrossEntropyObjective()(duck, torch.tensor([1, 2]), None)[0])


def test_eq3_both_balances_against_hand_computation() -> None:
    """Eq. 3 as printed (alpha = batch share of positives on the positive term) and with the
    inverse alpha (1 - share), by hand on a 3 x 2 batch."""
    probs = [[0.9, 0.2], [0.3, 0.6], [0.7, 0.1]]
    y = [[1, 0], [0, 0], [1, 1]]
    o, g = 0.05, 2.0

    def by_hand(alpha: list[float]) -> float:
        total = 0.0
        for pj, yj in zip(probs, y, strict=True):
            for i, (p, t) in enumerate(zip(pj, yj, strict=True)):
                if t:
                    total += alpha[i] * (1 - p) ** g * math.log((p + o) / (1 + o))
                else:
                    total += (1 - alpha[i]) * p**g * math.log((1 + o - p) / (1 + o))
        return -total / 6

    share = [2 / 3, 1 / 3]
    p, t = torch.tensor(probs, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    printed = detection_loss(p, t, LossConfig())
    inverse = detection_loss(p, t, LossConfig(balance="inverse"))
    assert printed.item() == pytest.approx(by_hand(share), rel=1e-12)
    assert inverse.item() == pytest.approx(by_hand([1 - a for a in share]), rel=1e-12)
    assert printed.item() != pytest.approx(inverse.item())
    assert LossConfig().balance == "as_printed"
    with pytest.raises(ValueError, match="balance"):
        LossConfig(balance="weird")  # type: ignore[arg-type]


def test_joint_objective_leaves_uncoded_clips_out_of_the_au_loss() -> None:
    """SMIC clips (no AU codes) carry -1 targets: L_detc (Eq. 2's fractions and Eq. 3's mean)
    runs over the coded samples only, L_cls over all; a batch of uncoded clips has L_detc = 0."""
    gen = torch.Generator().manual_seed(3)
    logits, labels = torch.randn(5, 3, generator=gen), torch.tensor([0, 1, 2, 0, 1])
    probs = torch.rand(5, 4, generator=gen)
    targets = torch.tensor([[1.0, 0, 0, 1], [-1, -1, -1, -1], [0, 1, 0, 0], [-1, -1, -1, -1], [1, 1, 0, 0]])
    out = ModelOutput(logits=logits, au_logits=torch.logit(probs), au_probs=probs)
    total, parts = JointObjective()(out, labels, targets)
    coded = [0, 2, 4]
    ce = hand_ce(logits.double().tolist(), labels.tolist())
    detc = hand_balanced(probs[coded].double().tolist(), targets[coded].int().tolist())
    assert parts["ce"] == pytest.approx(ce, rel=1e-5) and parts["detc"] == pytest.approx(detc, rel=1e-5)
    assert total.item() == pytest.approx(ce + 0.75 * detc, rel=1e-5)
    none, parts = JointObjective()(out, labels, torch.full((5, 4), -1.0))
    assert parts["detc"] == 0.0 and none.item() == pytest.approx(ce, rel=1e-5)
