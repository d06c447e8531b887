"""MER-auGCN (Zhou, Mao & Dong), Sec. III-B and Fig. 2, with every ablation of Tables III–V.

Pipeline for a flow batch ``(B, 2, S, S)``:

1. Backbone (Sec. III-B1): Dual-Inception (28x28) or two-path ResNet18 (112x112)
   -> global feature ``z: (B, d)``, d = 1024.
2. Attention (Eq. 1): ``z_k* = sigmoid(W_k z + b_k) * z`` for each of the K detector AUs.
   The K FC layers are one ``Linear(d, K * d)`` reshaped to ``(B, K, d)``; a block of rows
   per AU, so exactly K separate FC layers. Stacking gives ``X: (B, K, d)``.
3. AU detectors (Sec. III-B2): one MLP per AU on ``z_k*`` -> ``au_probs: (B, K)`` (sigmoid).
   Trained with the balanced detection loss (Eq. 3, :mod:`merkit.losses`).
4. GCN (Eq. 4): two layers ``Z' = ReLU(G Z W)`` over the AU knowledge graph G, widths
   d -> ``gcn_hidden`` -> 64; sum-pool over the K nodes -> ``z_r: (B, 64)``.
5. ``z_o = FC(sum_k X_k): (B, 64)``; fusion ``z_o + z_r`` -> ``Linear`` -> ``logits: (B, 5)``
   (the softmax of Eq. 5 is inside the cross-entropy).

Decisions where the paper is silent (each one config field away):

* ``detector_hidden = 64``: each AU detector is ``Linear(d, 64) -> ReLU -> Linear(64, 1) ->
  sigmoid`` ("a multi-layer perceptron with a Sigmoid layer as the output"). 0 gives a
  single logistic layer. The K MLPs are batched (weights ``(K, d, h)``), equivalent to K
  separate modules.
* ``gcn_hidden = 256`` (GCN layer 1 width; layer 2 is the paper's 64). ``gcn_bias = False``:
  Eq. 4 has no bias.
* ``graph_norm = "none"``: G is the binary adjacency with self-loops, as Eq. 4 and Sec. III-A
  write it; ``"sym"`` (D^-1/2 G D^-1/2) or ``"row"`` are one flag away.
* No activation on ``z_o`` (the paper says only "adjusted ... through a fully connected
  layer"); ``z_r`` ends with the ReLU of Eq. 4.
* ``aus``: the detector AUs, one X row and one graph node each, ascending. Default: the
  graph's nodes (FINAL_AUS, K = 12, for "final", "dense" and "none"; TABLE_I_AUS, K = 17, for
  "original"). For the Table VII AU task the ``"au_task"`` preset uses the 12 final AUs plus
  AU14 (K = 13): AU14 is not in Table I, so it is an isolated node with only its self-loop
  (it still has its own attention and detector, and its feature joins the sum-pools).
  Graph AUs missing from ``aus`` are dropped from the graph with a warning.
* ``attention="softmax"`` (SoftAtt., Table IV): ``softmax`` over the d feature elements of
  ``W_k z`` in place of the element-wise sigmoid. Unscaled, each AU's d = 1024 weights sum to
  1, so X starts near ``z / 1024`` and the detectors and the GCN see a feature three orders
  of magnitude smaller than with the sigmoid: the ablation would then measure the scale, not
  the competition between elements. ``softmax_rescale=True`` (default) multiplies the
  weights by d (mean weight 1, the same order as the sigmoid's, whose weights are in (0, 1));
  ``False`` is the unscaled form. ``"none"``: ``z_k* = z``.
* ResNet18 backbone (Table III "Resnet18", Sec. IV-C): ``resnet_blocks=(2, 2, 2, 2)``
  reads "four basic blocks of Resnet18" as ResNet18's four residual stages (the standard
  ResNet18); ``(1, 1, 1, 1)`` is the literal four-basic-block reading. "Cropped to 112x112":
  ``resize="resize"`` (default) feeds the flow as delivered, resized by the preprocessing to
  the model's ``input_size`` (the same rule as the 28x28 Dual-Inception input);
  ``resize="center_crop"`` crops at the model input: the model takes a flow of side
  ``input_size`` and keeps its central ``round(crop_fraction * input_size)`` square (0.5:
  112 of a 224 face-crop flow) before the backbone, so the crop cuts the face borders
  instead of rescaling them. The crop is in the model (not the flow cache) so one flow set
  serves both readings; :func:`merkit.reproduce.augcn.recipe` sizes the flow to
  ``resnet18_input_size / crop_fraction`` for it.
* Plain backbones (Table III "Resnet18", "Dual-Inception"): ``au_detection=False`` builds the
  backbone with a linear head on ``z``; their :class:`~merkit.models.output.ModelOutput` has
  ``au_logits = au_probs = None``.
* Data augmentation (Table III "w/o DA") is a data/run setting, not a model field.
* The input size is not a config field either: ``MERAuGCN(config, input_size=28)``. The
  papers' sizes are :data:`PAPER_INPUT_SIZE` (28 for Dual-Inception, 112 for ResNet18); nothing
  applies them implicitly.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Literal, overload

import networkx as nx
import torch
from torch import nn

from merkit.facs import FINAL_AUS, TABLE_I_AUS, TABLE_VII_AUS
from merkit.losses import LossConfig
from merkit.models.inception import DualInception, DualInceptionConfig
from merkit.models.layers import GraphConv
from merkit.models.output import ModelOutput
from merkit.models.registry import register_model, require_input_size
from merkit.models.resnet import ResNet18TwoPath, ResNet18TwoPathConfig

Backbone = Literal["dual_inception", "resnet18"]
Attention = Literal["sigmoid", "softmax", "none"]
GraphChoice = Literal["final", "original", "dense", "none"]
GraphNorm = Literal["none", "sym", "row"]
Fusion = Literal["sum", "concat", "z_o", "z_r"]
Resize = Literal["resize", "center_crop"]

BACKBONES: tuple[str, ...] = ("dual_inception", "resnet18")
ATTENTIONS: tuple[str, ...] = ("sigmoid", "softmax", "none")
GRAPHS: tuple[str, ...] = ("final", "original", "dense", "none")
GRAPH_NORMS: tuple[str, ...] = ("none", "sym", "row")
FUSIONS: tuple[str, ...] = ("sum", "concat", "z_o", "z_r")
RESIZES: tuple[str, ...] = ("resize", "center_crop")

#: The papers' flow sides per backbone (MER-auGCN Sec. IV-B2 / IV-C): documentation for the
#: callers that choose an input size; no constructor or builder reads it.
PAPER_INPUT_SIZE: dict[str, int] = {"dual_inception": 28, "resnet18": 112}

#: Detector AUs of the Table VII AU-detection model: the final graph's 12 AUs + AU14.
AU_TASK_AUS: tuple[int, ...] = tuple(sorted(set(FINAL_AUS) | set(TABLE_VII_AUS)))


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"MERAuGCNConfig.{name}={value!r}; choose one of {options}")


@dataclass(frozen=True)
class MERAuGCNConfig:
    """Every architectural option of MER-auGCN and its ablations (see module docstring).

    ``au_detection`` is Table III's AUdet. column (False = plain backbone + FC classifier,
    which requires ``attention="none"``, ``graph="none"``, ``fusion="z_o"`` and no ``aus``);
    ``graph != "none"`` is AUrel.; ``fusion`` is Con./Sum. (``"z_o"`` = AUFeat.,
    ``"z_r"`` = RelFeat.). The input size is a constructor argument of :class:`MERAuGCN`.
    """

    backbone: Backbone = "dual_inception"
    feature_dim: int = 1024
    backbone_batch_norm: bool = False
    resnet_blocks: tuple[int, int, int, int] = (2, 2, 2, 2)
    resnet_widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    resize: Resize = "resize"
    crop_fraction: float = 0.5
    au_detection: bool = True
    attention: Attention = "sigmoid"
    softmax_rescale: bool = True
    detector_hidden: int = 64
    graph: GraphChoice = "final"
    graph_norm: GraphNorm = "none"
    gcn_hidden: int = 256
    gcn_out: int = 64
    gcn_bias: bool = False
    fusion: Fusion = "sum"
    aus: tuple[int, ...] | None = None
    num_classes: int = 5
    drop_rate: float = 0.0

    def __post_init__(self) -> None:
        _choice("backbone", self.backbone, BACKBONES)
        _choice("attention", self.attention, ATTENTIONS)
        _choice("graph", self.graph, GRAPHS)
        _choice("graph_norm", self.graph_norm, GRAPH_NORMS)
        _choice("fusion", self.fusion, FUSIONS)
        _choice("resize", self.resize, RESIZES)
        if len(self.resnet_blocks) != 4 or min(self.resnet_blocks) <= 0:
            raise ValueError(
                f"MERAuGCNConfig.resnet_blocks must be 4 positive block counts, got "
                f"{self.resnet_blocks}"
            )
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ValueError(
                f"MERAuGCNConfig.crop_fraction must be in (0, 1], got {self.crop_fraction}"
            )
        for name in ("feature_dim", "gcn_hidden", "gcn_out", "num_classes"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"MERAuGCNConfig.{name} must be positive, got {getattr(self, name)}"
                )
        if self.detector_hidden < 0:
            raise ValueError(
                f"MERAuGCNConfig.detector_hidden must be >= 0, got {self.detector_hidden}"
            )
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"MERAuGCNConfig.drop_rate must be in [0, 1), got {self.drop_rate}")
        if self.aus is not None:
            aus = tuple(sorted({int(a) for a in self.aus}))
            if len(aus) != len(self.aus) or not aus or aus[0] <= 0:
                raise ValueError(
                    f"MERAuGCNConfig.aus={self.aus!r} must be distinct positive AU numbers"
                )
            object.__setattr__(self, "aus", aus)  # canonical ascending order (graph order)
        if not self.au_detection:
            odd = {
                k: v
                for k, v in (
                    ("attention", "none"),
                    ("graph", "none"),
                    ("fusion", "z_o"),
                    ("aus", None),
                )
                if getattr(self, k) != v
            }
            if odd:
                raise ValueError(
                    "au_detection=False is the plain backbone + FC classifier; set "
                    "attention='none', graph='none', fusion='z_o', aus=None "
                    f"(got {', '.join(f'{k}={getattr(self, k)!r}' for k in odd)})"
                )
        elif self.graph == "none" and self.fusion != "z_o":
            raise ValueError(
                f"fusion={self.fusion!r} needs z_r from the GCN but graph='none'; use "
                "fusion='z_o' (AUFeat.) or pick a graph"
            )
        elif self.graph != "none" and self.fusion == "z_o":
            raise ValueError(
                f"fusion='z_o' ignores the GCN but graph={self.graph!r}; set graph='none' (AUFeat.)"
            )

    @property
    def backbone_label(self) -> str:
        """Short name of the ResNet18 reading, e.g. ``"2-2-2-2, resize"`` (Table III label)."""
        return f"{'-'.join(str(b) for b in self.resnet_blocks)}, {self.resize}"

    @property
    def resolved_aus(self) -> tuple[int, ...]:
        """The detector AUs in order (``()`` for a plain backbone)."""
        if not self.au_detection:
            return ()
        if self.aus is not None:
            return self.aus
        return TABLE_I_AUS if self.graph == "original" else FINAL_AUS


def graph_adjacency(kind: str, aus: tuple[int, ...], normalize: str = "none") -> torch.Tensor:
    """Adjacency G ``(K, K)`` of the ``kind`` knowledge graph over the detector AUs ``aus``.

    Rows/columns follow ``aus`` (ascending). Edges between two AUs of ``aus`` come from
    :func:`merkit.graph.au_graph`; AUs of ``aus`` outside the graph become isolated nodes;
    every node has its self-loop (Sec. III-A). Graph AUs missing from ``aus`` are dropped with
    a warning. Normalisation is :func:`merkit.graph.adjacency`'s.
    """
    from merkit.graph import adjacency, au_graph

    graph = au_graph(kind)  # type: ignore[arg-type]
    keep = set(aus)
    dropped = sorted(a for a in graph.nodes if a not in keep)
    if dropped:
        warnings.warn(
            f"{kind!r} AU graph: nodes {dropped} have no detector in aus={aus} and are dropped "
            "with their edges; add them to MERAuGCNConfig.aus to keep them",
            stacklevel=2,
        )
    sub = nx.Graph()
    sub.add_nodes_from(aus)
    sub.add_edges_from((a, b) for a, b in graph.edges if a in keep and b in keep)
    return adjacency(sub, self_loops=True, normalize=normalize)  # type: ignore[arg-type]


class AUAttention(nn.Module):
    """K attention layers on the global feature (Eq. 1), computed as one ``Linear(d, K d)``.

    **Shapes** ``z: (B, d) -> X: (B, K, d)`` with ``X[:, k] = w_k(z) * z`` where
    ``w_k = sigmoid(W_k z + b_k)`` (``"sigmoid"``), ``softmax_d(W_k z + b_k)`` (``"softmax"``,
    over the d elements; times d with ``rescale``, so the mean weight is 1) or 1 (``"none"``,
    no parameters).
    """

    def __init__(
        self, dim: int, num_aus: int, mode: str = "sigmoid", *, rescale: bool = False
    ) -> None:
        super().__init__()
        _choice("attention", mode, ATTENTIONS)
        self.dim = dim
        self.num_aus = num_aus
        self.mode = mode
        self.rescale = rescale
        self.fc = nn.Linear(dim, num_aus * dim) if mode != "none" else None

    def weights(self, z: torch.Tensor) -> torch.Tensor:
        """Attention weights ``(B, K, d)``."""
        if self.fc is None:
            return z.new_ones(z.shape[0], self.num_aus, self.dim)
        scores = self.fc(z).view(z.shape[0], self.num_aus, self.dim)
        if self.mode == "sigmoid":
            return torch.sigmoid(scores)
        w = torch.softmax(scores, dim=-1)
        return w * self.dim if self.rescale else w

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.fc is None:
            return z.unsqueeze(1).expand(-1, self.num_aus, -1)
        return self.weights(z) * z.unsqueeze(1)


class AUDetectors(nn.Module):
    """K independent AU detector MLPs, batched (Sec. III-B2).

    **Shapes** ``X: (B, K, d) -> logits: (B, K)`` (apply sigmoid for probabilities).
    Detector k sees only ``X[:, k]``: ``Linear(d, h) -> ReLU -> Linear(h, 1)`` with its own
    weights (``hidden=0``: ``Linear(d, 1)``). Initialised like ``nn.Linear``.
    """

    def __init__(self, dim: int, num_aus: int, hidden: int = 64) -> None:
        super().__init__()
        self.dim, self.num_aus, self.hidden = dim, num_aus, hidden
        first = hidden if hidden > 0 else 1
        self.w1 = nn.Parameter(torch.empty(num_aus, dim, first))
        self.b1 = nn.Parameter(torch.empty(num_aus, first))
        if hidden > 0:
            self.w2 = nn.Parameter(torch.empty(num_aus, hidden))
            self.b2 = nn.Parameter(torch.empty(num_aus))
        else:
            self.register_parameter("w2", None)
            self.register_parameter("b2", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w, b, fan_in in ((self.w1, self.b1, self.dim), (self.w2, self.b2, self.hidden)):
            if w is None:
                continue
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.einsum("bkd,kdh->bkh", x, self.w1) + self.b1
        if self.w2 is None:
            return h.squeeze(-1)
        return torch.einsum("bkh,kh->bk", torch.relu(h), self.w2) + self.b2


class MERAuGCN(nn.Module):
    """MER-auGCN and its ablations (module docstring; config :class:`MERAuGCNConfig`).

    **Shapes** (S = ``input_size``, K = ``len(self.aus)``, 0 for a plain backbone)
    ``forward_features(flow: (B, 2, S, S)) -> z: (B, d)`` (the backbone, Sec. III-B1);
    ``forward_head(z) -> ModelOutput`` with ``logits: (B, num_classes)``,
    ``au_logits, au_probs: (B, K)`` (``None`` for a plain backbone) and ``features`` the
    fused ``(B, gcn_out)`` (``(B, 2 gcn_out)`` for concat) vector fed to the classifier
    (plain backbone: ``z``); ``pre_logits=True`` returns ``features``;
    ``forward(flow) -> ModelOutput``. :meth:`encode` returns every intermediate
    (``z, X, au_logits, au_probs, z_o, z_r, fused, logits``; absent parts omitted).
    """

    def __init__(self, config: MERAuGCNConfig | None = None, *, input_size: int) -> None:
        super().__init__()
        cfg = config if config is not None else MERAuGCNConfig()
        self.config = cfg
        self.input_size = input_size
        self.aus: tuple[int, ...] = cfg.resolved_aus
        head_classes = 0 if cfg.au_detection else cfg.num_classes
        if cfg.backbone == "dual_inception":
            self.backbone: nn.Module = DualInception(
                DualInceptionConfig(
                    num_classes=head_classes,
                    feature_dim=cfg.feature_dim,
                    batch_norm=cfg.backbone_batch_norm,
                    drop_rate=cfg.drop_rate,
                ),
                input_size=input_size,
            )
        else:
            self.crop_side = (
                max(1, round(cfg.crop_fraction * input_size))
                if cfg.resize == "center_crop"
                else input_size
            )
            self.backbone = ResNet18TwoPath(
                ResNet18TwoPathConfig(
                    num_classes=head_classes,
                    feature_dim=cfg.feature_dim,
                    blocks=cfg.resnet_blocks,
                    drop_rate=cfg.drop_rate,
                    widths=cfg.resnet_widths,
                ),
                input_size=self.crop_side,
            )
        self.attention: AUAttention | None = None
        self.detectors: AUDetectors | None = None
        self.gcn1: GraphConv | None = None
        self.gcn2: GraphConv | None = None
        self.proj_o: nn.Linear | None = None
        self.classifier: nn.Linear | None = None
        if not cfg.au_detection:
            return
        k, d = len(self.aus), cfg.feature_dim
        self.attention = AUAttention(d, k, cfg.attention, rescale=cfg.softmax_rescale)
        self.detectors = AUDetectors(d, k, cfg.detector_hidden)
        if cfg.graph != "none":
            self.register_buffer("adj", graph_adjacency(cfg.graph, self.aus, cfg.graph_norm))
            self.gcn1 = GraphConv(d, cfg.gcn_hidden, bias=cfg.gcn_bias)
            self.gcn2 = GraphConv(cfg.gcn_hidden, cfg.gcn_out, bias=cfg.gcn_bias)
        if cfg.fusion != "z_r":
            self.proj_o = nn.Linear(d, cfg.gcn_out)
        fused_dim = 2 * cfg.gcn_out if cfg.fusion == "concat" else cfg.gcn_out
        self.drop = nn.Dropout(cfg.drop_rate)
        self.classifier = nn.Linear(fused_dim, cfg.num_classes)

    def au_index(self, aus: tuple[int, ...] | list[int]) -> list[int]:
        """Column indices of ``aus`` in ``au_probs`` (e.g. the 7 Table VII AUs)."""
        missing = [a for a in aus if a not in self.aus]
        if missing:
            raise ValueError(f"AUs {missing} have no detector in this model (aus={self.aus})")
        return [self.aus.index(a) for a in aus]

    def forward_features(self, flow: torch.Tensor) -> torch.Tensor:
        """Backbone global feature ``z: (B, d)`` of a flow batch ``(B, 2, S, S)`` (with
        ``resize="center_crop"`` on the ResNet18 backbone: its central square first)."""
        if self.config.backbone == "resnet18" and self.config.resize == "center_crop":
            if flow.dim() != 4 or tuple(flow.shape[-2:]) != (self.input_size, self.input_size):
                raise ValueError(
                    f"MERAuGCN (center_crop) expects (B, 2, {self.input_size}, "
                    f"{self.input_size}); got {tuple(flow.shape)}"
                )
            c = self.crop_side
            top = (self.input_size - c) // 2
            flow = flow[..., top : top + c, top : top + c]
        return self.backbone.forward_features(flow)

    def _head(self, z: torch.Tensor, logits: bool = True) -> dict[str, torch.Tensor]:
        """Eq. 1, the AU detectors, Eq. 4, fusion and (``logits``) the classifier on ``z``."""
        if self.attention is None or self.detectors is None or self.classifier is None:
            out = {"fused": z}
            if logits:
                out["logits"] = self.backbone.forward_head(z).logits
            return out
        x = self.attention(z)  # Eq. 1: (B, K, d)
        out = {"X": x}
        out["au_logits"] = self.detectors(x)
        out["au_probs"] = torch.sigmoid(out["au_logits"])
        if self.proj_o is not None:
            out["z_o"] = self.proj_o(x.sum(dim=1))
        if self.gcn1 is not None and self.gcn2 is not None:
            h = torch.relu(self.gcn1(x, self.adj))  # Eq. 4, layer 1
            h = torch.relu(self.gcn2(h, self.adj))  # Eq. 4, layer 2
            out["z_r"] = h.sum(dim=1)
        fusion = self.config.fusion
        if fusion == "sum":
            fused = out["z_o"] + out["z_r"]
        elif fusion == "concat":
            fused = torch.cat([out["z_o"], out["z_r"]], dim=1)
        else:
            fused = out[fusion]
        out["fused"] = fused
        if logits:
            out["logits"] = self.classifier(self.drop(fused))
        return out

    def encode(self, flow: torch.Tensor) -> dict[str, torch.Tensor]:
        """All intermediates for a flow batch ``(B, 2, S, S)`` (see class docstring); a plain
        backbone has only ``z``, ``fused`` (= ``z``) and ``logits``."""
        z = self.forward_features(flow)
        return {"z": z} | self._head(z)

    @overload
    def forward_head(self, z: torch.Tensor, pre_logits: Literal[False] = ...) -> ModelOutput: ...
    @overload
    def forward_head(self, z: torch.Tensor, pre_logits: Literal[True]) -> torch.Tensor: ...
    def forward_head(self, z: torch.Tensor, pre_logits: bool = False) -> ModelOutput | torch.Tensor:
        """``z: (B, d) -> ModelOutput`` (class docstring); ``pre_logits=True``: the fused
        feature the classifier reads (before its dropout)."""
        out = self._head(z, logits=not pre_logits)
        if pre_logits:
            return out["fused"]
        return ModelOutput(
            logits=out["logits"],
            features=out["fused"],
            au_logits=out.get("au_logits"),
            au_probs=out.get("au_probs"),
        )

    def forward(self, flow: torch.Tensor) -> ModelOutput:
        return self.forward_head(self.forward_features(flow))


@register_model("mer_augcn", MERAuGCNConfig)
def mer_augcn(config: MERAuGCNConfig, *, input_size: int | None = None) -> MERAuGCN:
    """MER-auGCN or any ablation (``variant(name).model``); needs ``input_size`` (paper: 28 for
    Dual-Inception, 112 for ResNet18, :data:`PAPER_INPUT_SIZE`)."""
    return MERAuGCN(config, input_size=require_input_size("mer_augcn", input_size))


# ---------------------------------------------------------------------------------------
# Named variants: the rows of Tables III–V (and the Table VII AU model)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One method row: the model config, the loss config and the paper's row label."""

    model: MERAuGCNConfig
    loss: LossConfig
    label: str


_PLAIN = {"au_detection": False, "attention": "none", "graph": "none", "fusion": "z_o"}

#: The extra Table IV row (ours, not in the paper): Eq. 3 with the inverse alpha.
BAL_LOSS_INVERSE_LABEL = "BalLos. (inverse α; ours, not in the paper)"


def _resnet18_labelled(v: Variant) -> Variant:
    """The Table III "Resnet18" row's label names its reading: "Resnet18 (2-2-2-2, resize)"."""
    return dataclasses.replace(v, label=f"Resnet18 ({v.model.backbone_label})")


def table_variants() -> dict[str, Variant]:
    """The named method variants (a fresh dict each call).

    ``resnet18``, ``dual_inception``: plain backbones + FC classifier (Table III);
    ``aufeat``: AU module, classify from z_o; ``relfeat``: + GCN, classify from z_r;
    ``confeat``: concat fusion; ``mer_augcn``: sum fusion (the paper's model, Tables III–VI);
    ``softmax_att``, ``focal_loss`` (Table IV); ``bal_loss_inverse``: Eq. 3 with the inverse
    alpha (``LossConfig(balance="inverse")``; ours, not in the paper, an extra Table IV row);
    ``dense_graph``, ``original_graph`` (Table V);
    ``mer_augcn_resnet18``: the full model on the ResNet18 backbone (not a paper row);
    ``au_task``: the Table VII AU-detection model (12 final AUs + AU14). "w/o DA" is the
    ``mer_augcn`` variant with augmentation off in the data config.
    """
    base = MERAuGCNConfig()
    bal = LossConfig(detection="balanced")
    none = LossConfig(detection="none")
    r = dataclasses.replace
    return {
        "resnet18": _resnet18_labelled(
            Variant(MERAuGCNConfig(backbone="resnet18", **_PLAIN), none, "Resnet18")
        ),
        "dual_inception": Variant(MERAuGCNConfig(**_PLAIN), none, "Dual-Inception (Backbone)"),
        "aufeat": Variant(r(base, graph="none", fusion="z_o"), bal, "AUFeat."),
        "relfeat": Variant(r(base, fusion="z_r"), bal, "RelFeat."),
        "confeat": Variant(r(base, fusion="concat"), bal, "ConFeat."),
        "mer_augcn": Variant(base, bal, "MER-auGCN (Ours)"),
        "softmax_att": Variant(r(base, attention="softmax"), bal, "SoftmaxAtt."),
        "focal_loss": Variant(base, LossConfig(detection="focal"), "FocalLos."),
        "bal_loss_inverse": Variant(
            base, LossConfig(detection="balanced", balance="inverse"), BAL_LOSS_INVERSE_LABEL
        ),
        "dense_graph": Variant(r(base, graph="dense"), bal, "DenselyG."),
        "original_graph": Variant(r(base, graph="original"), bal, "OriginalG."),
        "mer_augcn_resnet18": Variant(r(base, backbone="resnet18"), bal, "MER-auGCN (ResNet18)"),
        "au_task": Variant(r(base, aus=AU_TASK_AUS), bal, "MER-auGCN (AU detection)"),
    }


def variant(name: str, **model_overrides: object) -> Variant:
    """The named :func:`table_variants` entry, with model-config fields replaced."""
    variants = table_variants()
    if name not in variants:
        raise ValueError(f"unknown MER-auGCN variant {name!r}; choose one of {sorted(variants)}")
    v = variants[name]
    if model_overrides:
        v = dataclasses.replace(v, model=dataclasses.replace(v.model, **model_overrides))
        if name == "resnet18":
            v = _resnet18_labelled(v)
    return v
