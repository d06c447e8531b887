"""Backbones, the GCN layer and MER-auGCN with all its Table III–V variants."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
from torch import nn

from merkit.facs import FINAL_AUS, TABLE_I_AUS, TABLE_VII_AUS
from merkit.graph import adjacency, au_graph
from merkit.losses import LossConfig, au_targets, joint_loss
from merkit.models import (
    AU_TASK_AUS,
    DualInception,
    GraphConv,
    MERAuGCN,
    MERAuGCNConfig,
    ResNet18TwoPath,
    create_model,
    graph_adjacency,
    list_models,
    resnet18,
    table_variants,
    variant,
)
from merkit.models.mer_augcn import AUAttention, AUDetectors

torch.manual_seed(0)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- GraphConv (Eq. 4)


def _hand_gcn(
    adj: list[list[float]], x: list[list[float]], w: list[list[float]]
) -> list[list[float]]:
    k, d_in, d_out = len(adj), len(w), len(w[0])
    return [
        [
            sum(adj[i][j] * x[j][a] * w[a][c] for j in range(k) for a in range(d_in))
            for c in range(d_out)
        ]
        for i in range(k)
    ]


def test_graph_conv_is_adj_x_w_by_hand() -> None:
    gen = torch.Generator().manual_seed(0)
    k, d_in, d_out, b = 4, 5, 3, 2
    layer = GraphConv(d_in, d_out, bias=True).double()
    nn.init.normal_(layer.bias)
    adj = (torch.rand(k, k, generator=gen) < 0.5).double() + torch.eye(k, dtype=torch.float64)
    x = torch.randn(b, k, d_in, generator=gen, dtype=torch.float64)
    out = layer(x, adj)
    assert out.shape == (b, k, d_out)
    for s in range(b):
        want = torch.tensor(
            _hand_gcn(adj.tolist(), x[s].tolist(), layer.weight.tolist()), dtype=torch.float64
        )
        torch.testing.assert_close(out[s], want + layer.bias)
    # unbatched x, and one adjacency per sample
    torch.testing.assert_close(layer(x[1], adj), out[1])
    adjs = torch.stack([adj, adj.flip(0)])
    out_b = layer(x, adjs)
    want1 = torch.tensor(
        _hand_gcn(adjs[1].tolist(), x[1].tolist(), layer.weight.tolist()), dtype=torch.float64
    )
    torch.testing.assert_close(out_b[1], want1 + layer.bias)
    assert GraphConv(d_in, d_out, bias=False).bias is None


def test_graph_conv_rejects_bad_shapes() -> None:
    layer = GraphConv(5, 3)
    with pytest.raises(ValueError, match="x of shape"):
        layer(torch.randn(2, 4, 6), torch.eye(4))
    with pytest.raises(ValueError, match="adj of shape"):
        layer(torch.randn(2, 4, 5), torch.eye(3))


# ---------------------------------------------------------------- backbones


def _inception_block_params(cin: int, f: int, bn: bool) -> int:
    # 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | pool -> 1x1: four 1x1 convs on cin, one 3x3 and one 5x5 on f
    weights = 4 * cin * f + 9 * f * f + 25 * f * f
    per_conv_extra = 2 * f if bn else f  # BN gamma+beta, or the conv bias
    return weights + 6 * per_conv_extra


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("size", [28, 32])
def test_dual_inception_param_count_formula(bn: bool, size: int) -> None:
    with torch.device("meta"):
        model = DualInception(num_classes=5, input_size=size, batch_norm=bn)
    stream = _inception_block_params(1, 6, bn) + _inception_block_params(24, 16, bn)
    side = size // 4
    fc = 2 * 64 * side * side * 1024 + 1024
    head = 1024 * 5 + 5
    assert n_params(model) == 2 * stream + fc + head


def test_dual_inception_streams_see_one_flow_component_each() -> None:
    model = DualInception(input_size=28)
    assert model(torch.randn(2, 2, 28, 28)).shape == (2, 5)
    assert model.forward_features(torch.randn(2, 2, 28, 28)).shape == (2, 1024)
    flow = torch.randn(2, 2, 28, 28, requires_grad=True)
    model.stream_u(flow[:, 0:1]).sum().backward()
    assert flow.grad[:, 1].abs().sum() == 0 and flow.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="input_size=28"):
        model(torch.randn(2, 2, 32, 32))


def test_resnet18_matches_reference_parameter_count_and_shapes() -> None:
    # ResNet18 with 3 input channels and 1000 classes has 11,689,512 parameters (He et al.).
    with torch.device("meta"):
        assert n_params(resnet18(in_chans=3, num_classes=1000)) == 11_689_512
    model = resnet18(in_chans=1, num_classes=5)
    x = torch.randn(2, 1, 64, 64)
    assert model.forward_feature_maps(x).shape == (2, 512, 2, 2)
    assert model.forward_features(x).shape == (2, 512)
    assert model(x).shape == (2, 5)
    with pytest.raises(ValueError, match="1, H, W"):
        model(torch.randn(2, 3, 64, 64))


def test_resnet18_two_path_forward_backward_112() -> None:
    model = ResNet18TwoPath(num_classes=5, input_size=112)
    assert (
        n_params(model)
        == 2 * (11_689_512 - 2 * 64 * 49 - 513_000) + 1024 * 1024 + 1024 + 5 * 1024 + 5
    )
    logits = model(torch.randn(2, 2, 112, 112))
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------- attention and detectors


def test_sigmoid_attention_equals_k_separate_fc_layers_eq1() -> None:
    d, k = 6, 3
    att = AUAttention(d, k, "sigmoid")
    z = torch.randn(4, d)
    x = att(z)
    assert x.shape == (4, k, d)
    for i in range(k):
        fc = nn.Linear(d, d)
        fc.weight.data = att.fc.weight.data[i * d : (i + 1) * d]
        fc.bias.data = att.fc.bias.data[i * d : (i + 1) * d]
        torch.testing.assert_close(x[:, i], torch.sigmoid(fc(z)) * z)


def test_softmax_and_no_attention() -> None:
    d, k = 6, 3
    z = torch.randn(4, d)
    soft = AUAttention(d, k, "softmax")
    w = soft.weights(z)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, k))
    assert (w > 0).all()
    torch.testing.assert_close(soft(z), w * z[:, None])
    # sigmoid weights are element-wise: several elements can be near 1 at once
    assert (AUAttention(d, k, "sigmoid").weights(z).sum(-1) > 1).all()
    none = AUAttention(d, k, "none")
    assert none.fc is None
    torch.testing.assert_close(none(z), z[:, None].expand(4, k, d))


@pytest.mark.parametrize("hidden", [0, 5])
def test_detectors_equal_k_separate_mlps(hidden: int) -> None:
    d, k = 7, 4
    det = AUDetectors(d, k, hidden)
    x = torch.randn(3, k, d)
    logits = det(x)
    assert logits.shape == (3, k)
    for i in range(k):
        if hidden:
            mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, 1))
            mlp[0].weight.data, mlp[0].bias.data = det.w1.data[i].T, det.b1.data[i]
            mlp[2].weight.data, mlp[2].bias.data = det.w2.data[i][None], det.b2.data[i : i + 1]
        else:
            mlp = nn.Linear(d, 1)
            mlp.weight.data, mlp.bias.data = det.w1.data[i].T, det.b1.data[i]
        torch.testing.assert_close(logits[:, i], mlp(x[:, i]).squeeze(-1))


# ---------------------------------------------------------------- knowledge graph over detector AUs


def test_graph_adjacency_over_detector_aus() -> None:
    final = graph_adjacency("final", FINAL_AUS)
    torch.testing.assert_close(final, adjacency(au_graph("final")))
    assert torch.equal(graph_adjacency("dense", FINAL_AUS), torch.ones(12, 12))
    assert graph_adjacency("original", TABLE_I_AUS).shape == (17, 17)
    task = graph_adjacency("final", AU_TASK_AUS)
    i14 = AU_TASK_AUS.index(14)
    assert torch.equal(task[i14], torch.eye(len(AU_TASK_AUS))[i14])  # isolated, self-loop only
    keep = [AU_TASK_AUS.index(a) for a in FINAL_AUS]
    torch.testing.assert_close(task[keep][:, keep], final)
    sym = graph_adjacency("final", FINAL_AUS, "sym")
    torch.testing.assert_close(sym, adjacency(au_graph("final"), normalize="sym"))
    with pytest.warns(UserWarning, match="dropped"):
        graph_adjacency("final", (1, 2, 4))


# ---------------------------------------------------------------- MER-auGCN


def _small(**fields: object) -> MERAuGCNConfig:
    return MERAuGCNConfig(feature_dim=16, gcn_hidden=8, gcn_out=4, detector_hidden=3, **fields)


@pytest.mark.parametrize("fusion", ["sum", "concat", "z_r"])
def test_mer_augcn_head_by_hand_eq4(fusion: str) -> None:
    model = MERAuGCN(_small(fusion=fusion)).eval()
    out = model.encode(torch.randn(3, 2, 28, 28))
    x, adj = out["X"], model.adj
    h = torch.relu(adj @ x @ model.gcn1.weight)
    z_r = torch.relu(adj @ h @ model.gcn2.weight).sum(1)
    torch.testing.assert_close(out["z_r"], z_r)
    if fusion != "z_r":
        torch.testing.assert_close(out["z_o"], model.proj_o(x.sum(1)))
    fused = {
        "sum": lambda: out["z_o"] + z_r,
        "concat": lambda: torch.cat([out["z_o"], z_r], 1),
        "z_r": lambda: z_r,
    }[fusion]()
    torch.testing.assert_close(out["logits"], model.classifier(fused))
    torch.testing.assert_close(out["au_probs"], torch.sigmoid(model.detectors(x)))
    torch.testing.assert_close(x, model.attention(out["z"]))


def test_aufeat_has_no_gcn_and_plain_backbone_has_no_au_module() -> None:
    aufeat = MERAuGCN(_small(graph="none", fusion="z_o"))
    assert aufeat.gcn1 is None and not hasattr(aufeat, "adj")
    out = aufeat.encode(torch.randn(2, 2, 28, 28))
    assert "z_r" not in out
    torch.testing.assert_close(out["logits"], aufeat.classifier(out["z_o"]))
    plain = MERAuGCN(
        MERAuGCNConfig(au_detection=False, attention="none", graph="none", fusion="z_o")
    )
    assert plain.attention is None and plain.detectors is None and plain.aus == ()
    assert n_params(plain) == n_params(DualInception())
    logits, probs = plain(torch.randn(2, 2, 28, 28))
    assert logits.shape == (2, 5) and probs.shape == (2, 0)


@pytest.mark.parametrize("name", sorted(table_variants()))
def test_every_variant_forward_backward(name: str) -> None:
    v = table_variants()[name]
    # thinner d and smaller ResNet input keep this fast; the full sizes are tested below
    small = {"feature_dim": 64} | ({"input_size": 32} if v.model.backbone == "resnet18" else {})
    model = MERAuGCN(dataclasses.replace(v.model, **small))
    s = model.config.resolved_input_size
    logits, probs = model(torch.randn(2, 2, s, s))
    k = len(model.aus)
    assert k == len(v.model.resolved_aus)
    assert logits.shape == (2, 5) and probs.shape == (2, k)
    assert ((probs >= 0) & (probs <= 1)).all()
    targets = au_targets([(1, 4, 14), (12,)], model.aus)
    loss = joint_loss(logits, torch.tensor([0, 3]), probs, targets, v.loss).total
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_paper_configuration_full_size() -> None:
    cfg = MERAuGCNConfig()
    d, k, h = 1024, 12, 64
    with torch.device("meta"):
        backbone = n_params(DualInception(num_classes=0))
        total = n_params(MERAuGCN(cfg))
    attention = d * k * d + k * d  # K FC layers d -> d (Eq. 1)
    detectors = k * (d * h + h + h + 1)
    gcn = d * 256 + 256 * 64  # Eq. 4, no bias
    head = (d * 64 + 64) + (64 * 5 + 5)  # z_o FC, classifier
    assert total == backbone + attention + detectors + gcn + head
    model = MERAuGCN(cfg)
    logits, probs = model(torch.randn(2, 2, 28, 28))
    assert logits.shape == (2, 5) and probs.shape == (2, 12)
    (logits.sum() + probs.sum()).backward()
    assert torch.isfinite(model.attention.fc.weight.grad).all()


def test_variants_differ_exactly_where_the_tables_say() -> None:
    variants = table_variants()
    ref = variants["mer_augcn"]

    def diff(name: str, base: object = ref) -> set[str]:
        a, b = variants[name], base
        out = {
            f.name
            for f in dataclasses.fields(MERAuGCNConfig)
            if getattr(a.model, f.name) != getattr(b.model, f.name)
        }
        out |= {
            f"loss.{f.name}"
            for f in dataclasses.fields(LossConfig)
            if getattr(a.loss, f.name) != getattr(b.loss, f.name)
        }
        return out

    plain = {"au_detection", "attention", "graph", "fusion", "loss.detection"}
    assert diff("dual_inception") == plain
    assert diff("resnet18") == plain | {"backbone"}
    assert diff("resnet18", variants["dual_inception"]) == {"backbone"}
    assert diff("aufeat") == {"graph", "fusion"} and variants["aufeat"].model.fusion == "z_o"
    assert diff("relfeat") == {"fusion"} and variants["relfeat"].model.fusion == "z_r"
    assert diff("confeat") == {"fusion"} and variants["confeat"].model.fusion == "concat"
    assert (
        diff("softmax_att") == {"attention"}
        and variants["softmax_att"].model.attention == "softmax"
    )
    assert (
        diff("focal_loss") == {"loss.detection"}
        and variants["focal_loss"].loss.detection == "focal"
    )
    assert diff("dense_graph") == {"graph"} and diff("original_graph") == {"graph"}
    assert diff("au_task") == {"aus"}
    assert set(TABLE_VII_AUS) <= set(variants["au_task"].model.resolved_aus)
    assert ref.model.resolved_aus == FINAL_AUS and ref.loss.lam == 0.75
    assert variants["original_graph"].model.resolved_aus == TABLE_I_AUS
    assert (
        ref.model.resolved_input_size == 28
        and variants["resnet18"].model.resolved_input_size == 112
    )


def test_config_validation_and_au_index() -> None:
    with pytest.raises(ValueError, match="attention"):
        MERAuGCNConfig(attention="tanh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs z_r"):
        MERAuGCNConfig(graph="none", fusion="sum")
    with pytest.raises(ValueError, match="ignores the GCN"):
        MERAuGCNConfig(fusion="z_o")
    with pytest.raises(ValueError, match="plain backbone"):
        MERAuGCNConfig(au_detection=False)
    assert MERAuGCNConfig(aus=(14, 1, 2)).aus == (1, 2, 14)
    with pytest.raises(ValueError, match="distinct"):
        MERAuGCNConfig(aus=(1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MERAuGCN(_small(aus=(4, 1, 14)))
    assert model.aus == (1, 4, 14) and model.au_index((14, 1)) == [2, 0]
    with pytest.raises(ValueError, match="no detector"):
        model.au_index((9,))
    with pytest.raises(ValueError, match="input_size=28"):
        model(torch.randn(2, 2, 30, 30))


def test_registry() -> None:
    assert {"mer_augcn", "dual_inception", "resnet18_two_path", "resnet18"} <= set(list_models())
    m = create_model("mer_augcn", variant="relfeat", feature_dim=16, gcn_hidden=8)
    assert (
        isinstance(m, MERAuGCN)
        and m.config == variant("relfeat", feature_dim=16, gcn_hidden=8).model
    )
    assert isinstance(create_model("dual_inception", num_classes=3), DualInception)
    assert isinstance(create_model("resnet18_two_path", input_size=64), ResNet18TwoPath)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("vgg99")
    with pytest.raises(ValueError, match="unknown MERAuGCNConfig fields"):
        create_model("mer_augcn", bogus=1)
    with pytest.raises(ValueError, match="unknown MER-auGCN variant"):
        variant("nope")


def test_bench_train_throughput_runs_and_restores_threads() -> None:
    from merkit.models.bench import bench_train_throughput

    before = torch.get_num_threads()
    r = bench_train_throughput(
        "mer_augcn", batch_size=2, steps=1, warmup=0, threads=1, feature_dim=16
    )
    assert torch.get_num_threads() == before
    assert (
        r["samples_per_s"] > 0 and r["input_size"] == 28 and r["overrides"] == {"feature_dim": 16}
    )
