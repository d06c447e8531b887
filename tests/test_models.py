"""Backbones, the GCN layer, MER-auGCN with all its Table III–V variants, and the one model
contract (registry, configs, ModelOutput, forward_features / forward_head)."""

from __future__ import annotations

import dataclasses
import importlib
import warnings

import pytest
import torch
from torch import nn

from merkit.facs import FINAL_AUS, TABLE_I_AUS, TABLE_VII_AUS
from merkit.graph import adjacency, au_graph
from merkit.losses import JointObjective, LossConfig, au_targets
from merkit.models import (
    AU_TASK_AUS,
    PAPER_INPUT_SIZE,
    RRRN,
    VGG,
    DualInception,
    DualInceptionConfig,
    GraphConv,
    MERAuGCN,
    MERAuGCNConfig,
    ModelOutput,
    ResNet18,
    ResNet18Config,
    ResNet18TwoPath,
    ResNet18TwoPathConfig,
    RRRNConfig,
    VGGConfig,
    create_model,
    default_config,
    graph_adjacency,
    list_models,
    register_model,
    table_variants,
    variant,
)
from merkit.models import registry as model_registry
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
        model = DualInception(DualInceptionConfig(batch_norm=bn), input_size=size)
    stream = _inception_block_params(1, 6, bn) + _inception_block_params(24, 16, bn)
    side = size // 4
    fc = 2 * 64 * side * side * 1024 + 1024
    head = 1024 * 5 + 5
    assert n_params(model) == 2 * stream + fc + head


def test_dual_inception_streams_see_one_flow_component_each() -> None:
    model = DualInception(input_size=28)
    assert model(torch.randn(2, 2, 28, 28)).logits.shape == (2, 5)
    assert model.forward_features(torch.randn(2, 2, 28, 28)).shape == (2, 1024)
    flow = torch.randn(2, 2, 28, 28, requires_grad=True)
    model.stream_u(flow[:, 0:1]).sum().backward()
    assert flow.grad[:, 1].abs().sum() == 0 and flow.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="input_size=28"):
        model(torch.randn(2, 2, 32, 32))


def test_resnet18_matches_reference_parameter_count_and_shapes() -> None:
    # ResNet18 with 3 input channels and 1000 classes has 11,689,512 parameters (He et al.).
    with torch.device("meta"):
        assert n_params(ResNet18(ResNet18Config(in_chans=3, num_classes=1000))) == 11_689_512
    model = create_model("resnet18")  # one input channel, 5 classes
    x = torch.randn(2, 1, 64, 64)
    assert model.forward_feature_maps(x).shape == (2, 512, 2, 2)
    assert model.forward_features(x).shape == (2, 512)
    assert model(x).logits.shape == (2, 5)
    with pytest.raises(ValueError, match="1, H, W"):
        model(torch.randn(2, 3, 64, 64))
    sized = create_model("resnet18", input_size=64)  # optional, checked when given
    assert sized(x).logits.shape == (2, 5)
    with pytest.raises(ValueError, match="input_size=64"):
        sized(torch.randn(2, 1, 32, 32))


def test_resnet18_two_path_forward_backward_112() -> None:
    model = ResNet18TwoPath(ResNet18TwoPathConfig(num_classes=5), input_size=112)
    assert (
        n_params(model)
        == 2 * (11_689_512 - 2 * 64 * 49 - 513_000) + 1024 * 1024 + 1024 + 5 * 1024 + 5
    )
    logits = model(torch.randn(2, 2, 112, 112)).logits
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
    model = MERAuGCN(_small(fusion=fusion), input_size=28).eval()
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
    aufeat = MERAuGCN(_small(graph="none", fusion="z_o"), input_size=28)
    assert aufeat.gcn1 is None and not hasattr(aufeat, "adj")
    out = aufeat.encode(torch.randn(2, 2, 28, 28))
    assert "z_r" not in out
    torch.testing.assert_close(out["logits"], aufeat.classifier(out["z_o"]))
    plain = MERAuGCN(
        MERAuGCNConfig(au_detection=False, attention="none", graph="none", fusion="z_o"),
        input_size=28,
    )
    assert plain.attention is None and plain.detectors is None and plain.aus == ()
    assert n_params(plain) == n_params(DualInception(input_size=28))
    out = plain(torch.randn(2, 2, 28, 28))
    assert out.logits.shape == (2, 5) and out.au_probs is None and out.au_logits is None
    assert out.features.shape == (2, 1024)


@pytest.mark.parametrize("name", sorted(table_variants()))
def test_every_variant_forward_backward(name: str) -> None:
    v = table_variants()[name]
    # thinner d and smaller ResNet input keep this fast; the full sizes are tested below
    s = 32 if v.model.backbone == "resnet18" else 28
    model = MERAuGCN(dataclasses.replace(v.model, feature_dim=64), input_size=s)
    out = model(torch.randn(2, 2, s, s))
    k = len(model.aus)
    assert k == len(v.model.resolved_aus)
    assert out.logits.shape == (2, 5)
    if k == 0:  # the plain backbones
        assert out.au_probs is None and out.au_logits is None
    else:
        assert out.au_probs.shape == (2, k)
        assert ((out.au_probs >= 0) & (out.au_probs <= 1)).all()
        torch.testing.assert_close(out.au_probs, torch.sigmoid(out.au_logits))
    targets = au_targets([(1, 4, 14), (12,)], model.aus)
    loss, parts = JointObjective(v.loss)(out, torch.tensor([0, 3]), targets if k else None)
    assert set(parts) == {"ce", "detc"}
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_paper_configuration_full_size() -> None:
    cfg = MERAuGCNConfig()
    d, k, h = 1024, 12, 64
    with torch.device("meta"):
        backbone = n_params(DualInception(DualInceptionConfig(num_classes=0), input_size=28))
        total = n_params(MERAuGCN(cfg, input_size=28))
    attention = d * k * d + k * d  # K FC layers d -> d (Eq. 1)
    detectors = k * (d * h + h + h + 1)
    gcn = d * 256 + 256 * 64  # Eq. 4, no bias
    head = (d * 64 + 64) + (64 * 5 + 5)  # z_o FC, classifier
    assert total == backbone + attention + detectors + gcn + head
    model = MERAuGCN(cfg, input_size=28)
    out = model(torch.randn(2, 2, 28, 28))
    assert out.logits.shape == (2, 5) and out.au_probs.shape == (2, 12)
    (out.logits.sum() + out.au_probs.sum()).backward()
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
    assert diff("bal_loss_inverse") == {"loss.balance"}
    assert variants["bal_loss_inverse"].loss.balance == "inverse"
    assert "ours" in variants["bal_loss_inverse"].label
    assert diff("dense_graph") == {"graph"} and diff("original_graph") == {"graph"}
    assert diff("au_task") == {"aus"}
    assert set(TABLE_VII_AUS) <= set(variants["au_task"].model.resolved_aus)
    assert ref.model.resolved_aus == FINAL_AUS and ref.loss.lam == 0.75
    assert variants["original_graph"].model.resolved_aus == TABLE_I_AUS
    # the input size is not a config field; the paper's sizes are documentation only
    assert "input_size" not in {f.name for f in dataclasses.fields(MERAuGCNConfig)}
    assert PAPER_INPUT_SIZE == {"dual_inception": 28, "resnet18": 112}


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
        model = MERAuGCN(_small(aus=(4, 1, 14)), input_size=28)
    assert model.aus == (1, 4, 14) and model.au_index((14, 1)) == [2, 0]
    with pytest.raises(ValueError, match="no detector"):
        model.au_index((9,))
    with pytest.raises(ValueError, match="input_size=28"):
        model(torch.randn(2, 2, 30, 30))


# ---------------------------------------------------------------- the model contract

# per registered model: small config fields, the input size and the input's channels
SMALL_MODELS: dict[str, tuple[dict[str, object], int, int]] = {
    "dual_inception": ({"feature_dim": 16}, 28, 2),
    "mer_augcn": ({"feature_dim": 16, "gcn_hidden": 8, "detector_hidden": 4}, 28, 2),
    "resnet18": ({"blocks": (1, 1, 1, 1), "widths": (8, 8, 16, 16)}, 32, 1),
    "resnet18_two_path": ({"blocks": (1, 1, 1, 1), "feature_dim": 16}, 32, 2),
    "resnet18_flow": ({"blocks": (1, 1, 1, 1), "feature_dim": 16}, 32, 2),
    "rrrn": ({"backbone_blocks": (1, 1, 1, 1), "squeeze_channels": 8, "gcn_dims": (32, 1024)},
             32, 2),
    "vgg16": ({"pool_size": 1, "fc_dims": (16, 16)}, 32, 2),
}  # fmt: skip

CONFIG_TYPES = {
    "dual_inception": DualInceptionConfig,
    "mer_augcn": MERAuGCNConfig,
    "resnet18": ResNet18Config,
    "resnet18_two_path": ResNet18TwoPathConfig,
    "resnet18_flow": ResNet18TwoPathConfig,
    "rrrn": RRRNConfig,
    "vgg16": VGGConfig,
}


def test_every_model_is_registered_with_its_config() -> None:
    assert set(list_models()) == set(SMALL_MODELS) == set(CONFIG_TYPES)
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("name", list_models())
def test_every_model_returns_model_output_and_composes(name: str) -> None:
    fields, size, chans = SMALL_MODELS[name]
    torch.manual_seed(0)
    model = create_model(name, input_size=size, **fields).eval()
    x = torch.randn(3, chans, size, size)
    with torch.no_grad():
        out = model(x)
        assert isinstance(out, ModelOutput)
        assert out.logits.shape == (3, 5)
        assert out.features is not None and out.features.shape[0] == 3
        # forward = forward_head(forward_features(x)), field by field
        composed = model.forward_head(model.forward_features(x))
        assert isinstance(composed, ModelOutput)
        assert composed.tensors().keys() == out.tensors().keys()
        for key, value in out.tensors().items():
            torch.testing.assert_close(getattr(composed, key), value)
        # pre_logits: the embedding the classifier reads, a tensor
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
        assert isinstance(pre, torch.Tensor)
        torch.testing.assert_close(pre, out.features)
    out.logits.sum()  # a tensor, not a tuple
    model.train()
    model(x).logits.sum().backward()


def test_model_output_optional_fields() -> None:
    out = ModelOutput(logits=torch.zeros(2, 5), alpha=torch.ones(2, 6))
    assert list(out.tensors()) == ["logits", "alpha"]
    assert out.au_probs is None and out.region_logits is None and out.features is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.logits = torch.ones(2, 5)  # type: ignore[misc]


def test_mer_augcn_output_fields() -> None:
    model = create_model("mer_augcn", input_size=28, **SMALL_MODELS["mer_augcn"][0]).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 2, 28, 28))
        enc = model.encode(torch.randn(2, 2, 28, 28))
    assert out.au_logits.shape == out.au_probs.shape == (2, 12)
    assert out.features.shape == (2, 64)  # z_o + z_r, gcn_out = 64
    assert out.alpha is None and out.region_logits is None
    assert set(enc) == {"z", "X", "au_logits", "au_probs", "z_o", "z_r", "fused", "logits"}


@pytest.mark.parametrize("name", list_models())
def test_default_config_is_typed_and_frozen(name: str) -> None:
    cfg = default_config(name)
    assert type(cfg) is CONFIG_TYPES[name] and cfg == CONFIG_TYPES[name]()
    assert dataclasses.is_dataclass(cfg)
    field = dataclasses.fields(cfg)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, field, getattr(cfg, field))
    assert "input_size" not in {f.name for f in dataclasses.fields(cfg)}
    assert "weights" not in {f.name for f in dataclasses.fields(cfg)}


def test_create_model_configs_and_fields() -> None:
    cfg = dataclasses.replace(default_config("mer_augcn"), feature_dim=16, gcn_hidden=8)
    m = create_model("mer_augcn", variant("relfeat").model, input_size=28, feature_dim=16,
                     gcn_hidden=8)  # fmt: skip
    assert isinstance(m, MERAuGCN) and m.input_size == 28
    assert m.config == variant("relfeat", feature_dim=16, gcn_hidden=8).model
    assert create_model("mer_augcn", cfg, input_size=28).config == cfg
    assert isinstance(create_model("dual_inception", input_size=28, num_classes=3), DualInception)
    assert isinstance(create_model("resnet18_two_path", input_size=64), ResNet18TwoPath)
    assert isinstance(create_model("vgg16", pool_size=1, fc_dims=(8,)), VGG)
    with pytest.raises(TypeError, match="MERAuGCNConfig"):
        create_model("mer_augcn", VGGConfig(), input_size=28)


def test_create_model_errors() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        create_model("vgg99")
    with pytest.raises(ValueError, match=r"unknown MERAuGCNConfig fields \['bogus'\].*known: .*"
                       r"'feature_dim'"):  # fmt: skip
        create_model("mer_augcn", input_size=28, bogus=1)
    with pytest.raises(ValueError, match="unknown VGGConfig fields.*pool_size"):
        create_model("vgg16", input_size=32, weight="x.pt")
    for name in ("mer_augcn", "dual_inception", "resnet18_two_path", "resnet18_flow", "rrrn"):
        with pytest.raises(ValueError, match="needs input_size"):
            create_model(name)
    with pytest.raises(ValueError, match="input_size must be >= 32"):
        create_model("resnet18_flow", input_size=16)
    with pytest.raises(ValueError, match="unknown MER-auGCN variant"):
        variant("nope")
    with pytest.raises(ValueError, match="unknown model"):
        default_config("vgg99")


def test_register_model_rejects_duplicates_and_supports_configless_builders() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("vgg16", VGGConfig)(lambda config, input_size=None: VGG(config))
    name = "_test_configless_linear"
    try:

        @register_model(name)
        def _linear(*, input_size: int | None = None, width: int = 3) -> nn.Module:
            return nn.Linear(width, 5)

        assert name in list_models()
        assert create_model(name, width=4).in_features == 4
        with pytest.raises(ValueError, match="without a config class"):
            default_config(name)
        with pytest.raises(ValueError, match="takes no config"):
            create_model(name, VGGConfig())
        with pytest.raises(ValueError, match="already registered"):
            register_model(name)(_linear)
    finally:
        model_registry._REGISTRY.pop(name, None)
    assert name not in list_models()
    with pytest.raises(TypeError, match="dataclass"):
        register_model("_test_bad", config_cls=dict)


def test_registry_module_imports_no_model_module() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(model_registry))
    imported = {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    } | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m.startswith("merkit")} == {"merkit.models.pretrained"}
    pretrained = importlib.import_module("merkit.models.pretrained")
    tree = ast.parse(inspect.getsource(pretrained))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {m for m in imported if m.startswith("merkit")} == {"merkit.models.weights"}


def test_input_size_is_a_constructor_argument() -> None:
    assert "input_size" not in {f.name for f in dataclasses.fields(RRRNConfig)}
    with pytest.raises(TypeError):
        MERAuGCN(MERAuGCNConfig())  # type: ignore[call-arg]  input_size is required
    with pytest.raises(TypeError):
        RRRN(RRRNConfig())  # type: ignore[call-arg]


def test_softmax_attention_is_rescaled_by_d_by_default() -> None:
    d, k = 1024, 3
    z = torch.randn(4, d)
    scaled = AUAttention(d, k, "softmax", rescale=True)
    w = scaled.weights(z)
    assert w.mean().item() == pytest.approx(1.0, rel=1e-5)  # mean weight 1, like the sigmoid's order
    torch.testing.assert_close(w.sum(-1), torch.full((4, k), float(d)))
    unscaled = AUAttention(d, k, "softmax")
    unscaled.load_state_dict(scaled.state_dict())
    torch.testing.assert_close(unscaled.weights(z) * d, w)
    # the model config: rescaled by default, the unscaled form one flag away
    cfg = variant("softmax_att").model
    assert cfg.softmax_rescale is True
    m = create_model("mer_augcn", cfg, input_size=28, feature_dim=64, gcn_hidden=8)
    assert m.attention.rescale and m.attention.weights(torch.randn(2, 64)).mean().item() == pytest.approx(1.0)
    m0 = create_model("mer_augcn", cfg, input_size=28, feature_dim=64, gcn_hidden=8, softmax_rescale=False)
    assert m0.attention.weights(torch.randn(2, 64)).sum(-1).allclose(torch.ones(2, 12))


@pytest.mark.parametrize("blocks", [(2, 2, 2, 2), (1, 1, 1, 1)])
@pytest.mark.parametrize("resize", ["resize", "center_crop"])
def test_resnet18_row_readings_from_the_config(blocks, resize) -> None:
    from merkit.config import get_profile
    from merkit.reproduce import augcn

    profile = get_profile("smoke")
    sec = dataclasses.replace(profile.augcn, resnet18_blocks=blocks, resnet18_resize=resize)
    r = augcn.recipe(dataclasses.replace(profile, augcn=sec), "resnet18")
    assert r.config.resnet_blocks == blocks and r.config.resize == resize
    assert r.label == f"Resnet18 ({'-'.join(map(str, blocks))}, {resize})"
    side = sec.resnet18_input_size
    assert r.input_size == (side if resize == "resize" else 2 * side)
    model = create_model(r.model, r.config, input_size=r.input_size)
    assert model.crop_side == side and model.backbone.input_size == side
    assert [len(model.backbone.path_u.layer1), len(model.backbone.path_u.layer4)] == [blocks[0]] * 2
    flow = torch.randn(2, 2, r.input_size, r.input_size)
    assert model(flow).logits.shape == (2, 5)
    if resize == "center_crop":  # the backbone sees the central square, nothing else
        c0 = (r.input_size - side) // 2
        with torch.no_grad():
            z = model.eval().forward_features(flow)
            torch.testing.assert_close(
                z, model.backbone.forward_features(flow[..., c0 : c0 + side, c0 : c0 + side])
            )


def test_default_resnet18_row_is_unchanged() -> None:
    """The default reading builds exactly the backbone it built before (bit-identical runs)."""
    v = variant("resnet18")
    assert v.model.resnet_blocks == (2, 2, 2, 2) and v.model.resize == "resize"
    assert v.label == "Resnet18 (2-2-2-2, resize)"
    torch.manual_seed(0)
    a = create_model("mer_augcn", v.model, input_size=32, feature_dim=64)
    torch.manual_seed(0)
    b = ResNet18TwoPath(ResNet18TwoPathConfig(feature_dim=64), input_size=32)
    sa, sb = a.backbone.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
