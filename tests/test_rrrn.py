"""RRRN: region crops, RI / RR modules, forward / backward, Eq. 2, 3, 7, 8, 9 by hand."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from merkit.losses import RRRNObjective, correlation_loss, region_biased_loss, rrrn_total_loss
from merkit.models import ModelOutput, create_model
from merkit.models.regions import REGION_NAMES, crop_regions, region_boxes
from merkit.models.rrrn import RRRN, RRRNConfig, cosine_graph, degree_normalize
from merkit.models.weights import WeightsFileError

# small but complete: every module of the paper is present, only thinner where allowed
SMALL = dict(squeeze_channels=8, backbone_blocks=(1, 1, 1, 1))


def rrrn(input_size: int, weights: str | None = None, **fields) -> RRRN:
    """A small RRRN from the registry (``fields`` replace RRRNConfig fields)."""
    return create_model("rrrn", input_size=input_size, weights=weights, **(SMALL | fields))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------- regions (Sec. III-B)


def test_region_boxes_by_hand():
    # face of 64 rows x 48 columns; 0.75 -> 48 x 36, 0.9 -> 57.6 ~ 58 x 43.2 ~ 43,
    # 0.85 -> 54.4 ~ 54 x 40.8 ~ 41 (round half up); boxes are (top, left, h, w)
    expected = {
        "original": (0, 0, 64, 48),
        "top_left": (0, 0, 48, 36),
        "top_right": (0, 48 - 36, 48, 36),
        "center_down": (64 - 48, (48 - 36) // 2, 48, 36),
        "center_90": ((64 - 58) // 2, (48 - 43) // 2, 58, 43),
        "center_85": ((64 - 54) // 2, (48 - 41) // 2, 54, 41),
    }
    assert tuple(expected) == REGION_NAMES
    assert region_boxes(64, 48) == list(expected.values())


def test_crop_regions_takes_the_documented_pixels():
    # value of pixel (row, col) is 1000 * row + col, channel 1 shifted by 0.5
    h, w, size = 40, 52, 64
    rows = torch.arange(h, dtype=torch.float64).view(h, 1)
    cols = torch.arange(w, dtype=torch.float64).view(1, w)
    coded = 1000.0 * rows + cols
    flow = torch.stack([coded, coded + 0.5]).unsqueeze(0).repeat(2, 1, 1, 1)  # (2, 2, h, w)
    out = crop_regions(flow, size)
    assert out.shape == (2, 6, 2, size, size)
    for k, (top, left, bh, bw) in enumerate(region_boxes(h, w)):
        # every crop is enlarged, so bilinear (align_corners=False) keeps the corner pixels
        # exactly and stays inside the box's value range (the code is monotone in row, col)
        region = out[:, k, 0]
        first = 1000.0 * top + left
        last = 1000.0 * (top + bh - 1) + (left + bw - 1)
        assert torch.allclose(region[:, 0, 0], torch.tensor(first, dtype=torch.float64))
        assert torch.allclose(region[:, -1, -1], torch.tensor(last, dtype=torch.float64))
        assert region.min() >= first - 1e-9 and region.max() <= last + 1e-9
        assert torch.allclose(out[:, k, 1], out[:, k, 0] + 0.5)


def test_crop_regions_identity_for_original_at_input_size():
    flow = torch.randn(1, 2, 36, 36)
    out = crop_regions(flow, 36)
    assert torch.equal(out[:, 0], flow)
    assert crop_regions(torch.randn(1, 2, 64, 64), 32).shape == (1, 6, 2, 32, 32)


# ---------------------------------------------------------------- graph (Eq. 2, 3)


def test_cosine_graph_and_degree_by_hand():
    f = torch.rand(2, 6, 7, dtype=torch.float64)  # non-negative, like pooled ReLU maps
    gamma = cosine_graph(f)
    adj = degree_normalize(gamma)
    for b in range(2):
        for i in range(6):
            for k in range(6):
                dot = sum(float(f[b, i, c] * f[b, k, c]) for c in range(7))
                ni = math.sqrt(sum(float(f[b, i, c]) ** 2 for c in range(7)))
                nk = math.sqrt(sum(float(f[b, k, c]) ** 2 for c in range(7)))
                assert gamma[b, i, k].item() == pytest.approx(dot / (ni * nk), rel=1e-10)
        for k in range(6):
            degree = sum(float(gamma[b, k, i]) for i in range(6))  # Eq. 3
            assert gamma[b, k, k].item() == pytest.approx(1.0)
            for i in range(6):
                assert adj[b, k, i].item() == pytest.approx(float(gamma[b, k, i]) / degree)
    # scaling a region's feature (its attention weight) leaves the graph unchanged
    scaled = f * torch.rand(2, 6, 1, dtype=torch.float64).add(0.1)
    assert torch.allclose(cosine_graph(scaled), gamma)


# ---------------------------------------------------------------- model


@pytest.mark.parametrize(("size", "flow_hw"), [(32, (32, 32)), (64, (48, 56))])
def test_rrrn_forward_backward_shapes(size, flow_hw):
    model = rrrn(input_size=size)
    flow = torch.randn(2, 2, *flow_hw)
    out = model(flow)
    side = math.ceil(size / 32)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 5)
    assert out.alpha.shape == (2, 6)
    assert out.region_logits.shape == (2, 6, 5)
    assert out.psi.shape == (2, 6, side, side)
    assert out.region_graph.shape == (2, 6, 6)
    assert out.features.shape == (2, 2 * 1024)
    assert out.au_probs is None and out.au_logits is None
    assert model.forward_features(flow).shape == (2, 6, 1024, side, side)
    loss, parts = RRRNObjective()(out, torch.tensor([0, 4]), None)
    assert torch.isfinite(loss) and set(parts) == {"ce", "rb", "cor"}
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, no_grad
    assert model.ri.f1.weight.grad.abs().sum() > 0  # attention receives gradient


def test_alpha_ranges():
    flow = torch.randn(3, 2, 32, 32)
    soft = rrrn(input_size=32)(flow).alpha
    assert torch.all((soft > 0) & (soft < 1))
    assert torch.allclose(soft.sum(dim=1), torch.ones(3))
    sig = rrrn(input_size=32, attention="sigmoid")(flow).alpha
    assert torch.all((sig > 0) & (sig < 1))


def test_forward_composition_by_hand():
    """Recompute Eq. 2-4, the element-wise addition and the aggregation from the parts."""
    model = rrrn(input_size=32).eval()
    flow = torch.randn(2, 2, 40, 40)
    with torch.no_grad():
        out = model(flow)
        p = model.forward_features(flow)  # (B, R, C, h, w)
        f = out.alpha.unsqueeze(-1) * p.mean(dim=(3, 4))
        gamma = cosine_graph(f)
        assert torch.allclose(out.region_graph, gamma, atol=1e-6)
        w1, w2 = (layer.weight for layer in model.rr.layers)
        for b in range(2):
            a = torch.diag(1.0 / gamma[b].sum(dim=1)) @ gamma[b]  # D^-1 Gamma
            h1 = torch.relu(a @ f[b] @ w1)
            h2 = torch.relu(a @ h1 @ w2)
            z = torch.cat([f[b], h2 + f[b]], dim=1)  # (R, 2C)
            assert torch.allclose(out.features[b], z.sum(dim=0), rtol=1e-4, atol=1e-5)
            assert torch.allclose(out.logits[b], model.head(z.sum(dim=0)), rtol=1e-4, atol=1e-5)
            region_head = model.region_head if model.region_head is not None else model.head
            assert torch.allclose(out.region_logits[b], region_head(z), atol=1e-5)


def test_backbone_is_shared_across_regions_and_flag_unshares():
    shared = rrrn(input_size=32)
    assert len(shared.backbone_v) == len(shared.backbone_h) == 1
    separate = rrrn(input_size=32, share_backbone=False)
    assert len(separate.backbone_v) == 6
    assert separate(torch.randn(2, 2, 32, 32)).logits.shape == (2, 5)


def test_streams_read_the_documented_channels():
    model = rrrn(input_size=32).eval()
    flow = torch.randn(1, 2, 32, 32)
    with torch.no_grad():
        p = model.forward_features(flow)
        zv = model.backbone_v[0].forward_feature_maps(flow[:, 1:2])
        zh = model.backbone_h[0].forward_feature_maps(flow[:, 0:1])
    assert torch.allclose(p[0, 0], torch.cat([zv, zh], dim=1)[0], atol=1e-6)


def test_config_validation():
    with pytest.raises(ValueError, match="input_size must be >= 32"):
        RRRN(RRRNConfig(**SMALL), input_size=16)
    with pytest.raises(ValueError, match="needs input_size"):
        create_model("rrrn", **SMALL)
    with pytest.raises(ValueError, match="shared"):
        RRRNConfig(region_classifier="shared", aggregate="flatten")
    with pytest.raises(ValueError, match="GCN width"):
        RRRN(RRRNConfig(gcn_dims=(64, 32), **SMALL), input_size=32)
    fields = {f.name for f in dataclasses.fields(RRRNConfig)}
    # input size: RRRN's argument; weights: create_model's; Eq. 9's weights: RRRNObjective's
    assert not fields & {"input_size", "weights", "lambda1", "lambda2", "beta"}
    cfg = dataclasses.replace(RRRNConfig(), squeeze_channels=16)
    assert cfg.squeeze_channels == 16 and cfg.num_regions == 6
    model = RRRN(dataclasses.replace(cfg, **SMALL), input_size=48)
    assert model.input_size == 48 and model(torch.randn(1, 2, 40, 40)).logits.shape == (1, 5)


def test_registry_and_weights_round_trip(tmp_path):
    model = create_model("rrrn", input_size=32, **SMALL).eval()
    assert isinstance(model, RRRN)
    path = tmp_path / "rrrn.pt"
    torch.save(model.state_dict(), path)
    loaded = create_model("rrrn", input_size=32, weights=str(path), **SMALL).eval()
    flow = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(flow).logits, loaded(flow).logits)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        rrrn(input_size=32, weights=str(tmp_path / "missing.pt"))
    with pytest.raises(WeightsFileError, match="rrrn.pt"):
        rrrn(input_size=32, num_classes=3, weights=str(path))


def test_resnet18_flow_baseline(tmp_path):
    model = create_model("resnet18_flow", input_size=32, blocks=(1, 1, 1, 1)).eval()
    flow = torch.randn(2, 2, 32, 32)
    assert model(flow).logits.shape == (2, 5)
    path = tmp_path / "r18.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    loaded = create_model(
        "resnet18_flow", input_size=32, weights=path, blocks=(1, 1, 1, 1)
    ).eval()
    with torch.no_grad():
        assert torch.equal(model(flow).logits, loaded(flow).logits)
    with pytest.raises(ValueError, match="input_size=32"):
        model(torch.randn(1, 2, 64, 64))


# ---------------------------------------------------------------- losses (Eq. 7, 8, 9)


def _log_softmax_by_hand(row):
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def test_region_biased_loss_by_hand():
    alpha = torch.tensor([[0.30, 0.10, 0.20, 0.10, 0.20, 0.10],  # crops below the face
                          [0.10, 0.50, 0.10, 0.10, 0.10, 0.10],  # a crop well above
                          [0.15, 0.16, 0.17, 0.17, 0.17, 0.18]])  # within the margin
    # Eq. 7 by hand: max(0, 0.02 - (max crop - face))
    hand = [0.02 - (0.20 - 0.30), 0.0, 0.02 - (0.18 - 0.15)]
    hand[2] = max(0.0, hand[2])
    per = region_biased_loss(alpha, beta=0.02, reduction="none")
    assert per.tolist() == pytest.approx(hand)
    assert region_biased_loss(alpha).item() == pytest.approx(sum(hand) / 3)
    rand = torch.rand(5, 6)
    for b in range(5):
        a = rand[b].tolist()
        expected = max(0.0, 0.05 - (max(a[1:]) - a[0]))
        assert region_biased_loss(rand, beta=0.05, reduction="none")[b].item() == pytest.approx(
            expected, abs=1e-6
        )


def test_correlation_and_total_loss_by_hand():
    b, r, c = 4, 6, 5
    region_logits = torch.randn(b, r, c, dtype=torch.float64) * 2
    logits = torch.randn(b, c, dtype=torch.float64) * 2
    target = torch.tensor([0, 3, 4, 1])
    alpha = torch.softmax(torch.randn(b, r, dtype=torch.float64), dim=1)
    cor_hand, ce_hand, rb_hand = [], [], []
    for i in range(b):
        y = int(target[i])
        log_p_a = _log_softmax_by_hand(logits[i].tolist())[y]
        total = 0.0
        for k in range(r):
            log_p_k = _log_softmax_by_hand(region_logits[i, k].tolist())[y]
            total += max(0.0, log_p_k - log_p_a)
        cor_hand.append(total)
        ce_hand.append(-log_p_a)
        a = alpha[i].tolist()
        rb_hand.append(max(0.0, 0.02 - (max(a[1:]) - a[0])))
    cor = correlation_loss(region_logits, logits, target, reduction="none")
    assert cor.tolist() == pytest.approx(cor_hand, rel=1e-9, abs=1e-12)
    assert any(v > 0 for v in cor_hand)  # the test exercises the hinge's active side
    loss = rrrn_total_loss(logits, target, alpha, region_logits, lambda1=1.0, lambda2=0.2)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert loss.cls.item() == pytest.approx(mean(ce_hand))
    assert loss.rb.item() == pytest.approx(mean(rb_hand))
    assert loss.cor.item() == pytest.approx(mean(cor_hand))
    assert loss.total.item() == pytest.approx(
        mean(ce_hand) + 1.0 * mean(rb_hand) + 0.2 * mean(cor_hand)
    )


def test_rrrn_objective_is_eq9_on_the_model_output():
    """RRRNObjective (the loss ``fit`` trains RRRN with) = Eq. 9 by hand, and its parts."""
    b, r, c = 4, 6, 5
    gen = torch.Generator().manual_seed(1)
    out = ModelOutput(
        logits=torch.randn(b, c, generator=gen, dtype=torch.float64) * 2,
        alpha=torch.softmax(torch.randn(b, r, generator=gen, dtype=torch.float64), dim=1),
        region_logits=torch.randn(b, r, c, generator=gen, dtype=torch.float64) * 2,
    )
    target = torch.tensor([0, 3, 4, 1])
    ce, rb, cor = [], [], []
    for i in range(b):
        y = int(target[i])
        log_p_a = _log_softmax_by_hand(out.logits[i].tolist())[y]
        ce.append(-log_p_a)
        a = out.alpha[i].tolist()
        rb.append(max(0.0, 0.05 - (max(a[1:]) - a[0])))
        cor.append(sum(max(0.0, _log_softmax_by_hand(out.region_logits[i, k].tolist())[y]
                           - log_p_a) for k in range(r)))  # fmt: skip
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    objective = RRRNObjective(lambda1=0.5, lambda2=0.3, beta=0.05)
    total, parts = objective(out, target, None)
    assert total.item() == pytest.approx(mean(ce) + 0.5 * mean(rb) + 0.3 * mean(cor))
    assert parts == {"ce": pytest.approx(mean(ce)), "rb": pytest.approx(mean(rb)),
                     "cor": pytest.approx(mean(cor))}  # fmt: skip
    assert all(isinstance(v, float) for v in parts.values())
    ref = rrrn_total_loss(out.logits, target, out.alpha, out.region_logits)
    assert RRRNObjective()(out, target, None)[0].item() == ref.total.item()  # paper defaults
    with pytest.raises(ValueError, match="alpha"):
        RRRNObjective()(ModelOutput(logits=out.logits), target, None)


def test_correlation_loss_is_zero_when_the_aggregate_is_most_confident():
    target = torch.tensor([2])
    logits = torch.tensor([[0.0, 0.0, 9.0]])
    region_logits = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    assert correlation_loss(region_logits, logits, target).item() == 0.0


def test_loss_rejects_bad_targets():
    with pytest.raises(ValueError, match="0..4"):
        correlation_loss(torch.zeros(2, 6, 5), torch.zeros(2, 5), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="alpha"):
        region_biased_loss(torch.zeros(4))


# ---------------------------------------------------------------- P(f_k) of Eq. 8 is trained forward


def _separable_batch(n: int = 10, size: int = 32):
    """Two classes whose flows differ in sign: class 0 moves right, class 4 moves left."""
    gen = torch.Generator().manual_seed(3)
    y = torch.tensor([0, 4] * (n // 2))
    flow = 0.1 * torch.randn(n, 2, size, size, generator=gen)
    flow[:, 0] += torch.where(y == 0, 1.0, -1.0).view(n, 1, 1)
    return flow, y


def _mean_log_p_regions(model, flow, y):
    out = model(flow)
    logp = torch.log_softmax(out.region_logits, dim=-1)
    return logp.gather(2, y.view(-1, 1, 1).expand(-1, logp.shape[1], 1)).mean().item()


@pytest.mark.parametrize(
    "fields, objective",
    [
        ({}, RRRNObjective()),  # our default: the shared head, hinge through P(f_a) only
        ({"region_classifier": "separate"}, RRRNObjective(region_ce=1.0)),  # one field away
    ],
)
def test_one_step_raises_log_p_of_the_true_class_per_region(fields, objective):
    torch.manual_seed(0)
    model = rrrn(input_size=32, **fields).train()
    flow, y = _separable_batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    before = _mean_log_p_regions(model, flow, y)
    loss, parts = objective(model(flow), y, None)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = _mean_log_p_regions(model, flow, y)
    assert after > before, (before, after)
    assert ("reg" in parts) == (objective.region_ce > 0)


def test_literal_cor_gradient_trains_a_separate_region_head_backwards():
    """The issue: with a separate head and no CE of its own, Eq. 8's hinge is the head's only
    gradient and it lowers log P(f_k) of the true class wherever it is active."""
    b, r, c = 4, 6, 5
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(b, r, 8, generator=gen)
    head = torch.nn.Linear(8, c)
    logits = torch.full((b, c), -3.0)  # an aggregate that is not confident: the hinge is active
    y = torch.tensor([0, 1, 2, 3])
    alpha = torch.full((b, r), 1.0 / r)

    def log_p():
        lp = torch.log_softmax(head(z), dim=-1)
        return lp.gather(2, y.view(-1, 1, 1).expand(-1, r, 1)).mean().item()

    literal = RRRNObjective(cor_gradient="both")
    before = log_p()
    loss, _ = literal(ModelOutput(logits=logits, alpha=alpha, region_logits=head(z)), y, None)
    loss.backward()
    with torch.no_grad():
        for p in head.parameters():
            p -= 0.5 * p.grad
    assert log_p() < before
    # our default lets no gradient reach the region side of the hinge
    ours, _ = RRRNObjective()(ModelOutput(logits=logits, alpha=alpha, region_logits=head(z)), y, None)
    assert not ours.requires_grad  # (the constant logits here are the only other input)


def test_region_ce_term_by_hand():
    b, r, c = 3, 6, 5
    gen = torch.Generator().manual_seed(2)
    out = ModelOutput(
        logits=torch.randn(b, c, generator=gen, dtype=torch.float64),
        alpha=torch.softmax(torch.randn(b, r, generator=gen, dtype=torch.float64), dim=1),
        region_logits=torch.randn(b, r, c, generator=gen, dtype=torch.float64),
    )
    y = torch.tensor([0, 2, 4])
    reg = sum(-_log_softmax_by_hand(out.region_logits[i, k].tolist())[int(y[i])]
              for i in range(b) for k in range(r)) / (b * r)  # fmt: skip
    base, _ = RRRNObjective()(out, y, None)
    total, parts = RRRNObjective(region_ce=0.5)(out, y, None)
    assert parts["reg"] == pytest.approx(reg)
    assert total.item() == pytest.approx(base.item() + 0.5 * reg)


def test_profile_lambdas_reach_the_recipe_and_change_the_total():
    from merkit.config import get_profile
    from merkit.reproduce import rrrn as rrrn_rows

    profile = get_profile("smoke")
    assert rrrn_rows.recipe(profile, "rrrn").objective == profile.occlusion.rrrn_loss == RRRNObjective()
    b, r, c = 4, 6, 5
    gen = torch.Generator().manual_seed(5)
    out = ModelOutput(
        logits=torch.randn(b, c, generator=gen) * 2,
        alpha=torch.full((b, r), 1.0 / r),  # RB active: alpha_max - alpha_0 = 0 < beta
        region_logits=torch.randn(b, r, c, generator=gen) * 2,
    )
    y = torch.tensor([0, 1, 2, 3])
    base = rrrn_rows.recipe(profile, "rrrn").objective(out, y, None)[0].item()
    for override in ({"lambda1": 3.0}, {"lambda2": 0.9}, {"beta": 0.2}):
        occ = dataclasses.replace(
            profile.occlusion, rrrn_loss=dataclasses.replace(RRRNObjective(), **override)
        )
        objective = rrrn_rows.recipe(dataclasses.replace(profile, occlusion=occ), "rrrn").objective
        assert objective == occ.rrrn_loss
        assert objective(out, y, None)[0].item() != pytest.approx(base), override
