"""RRRN: Region-inspired Relation Reasoning Network (Mao et al., Sec. III; Eq. 1–9).

Pipeline (**Shapes** for batch B, R = K + 1 = 6 regions, input size S (224 in the paper),
C = 1024):

1. Regions (Sec. III-B, Eq. 1): ``flow: (B, 2, H, W)`` -> six crops resized to ``S x S``
   (:func:`merkit.models.regions.crop_regions`): ``(B, R, 2, S, S)``. Channel 0 of the flow
   is the horizontal component ``x_h`` (OpenCV's ``flow[..., 0]``), channel 1 the vertical
   ``x_v``.
2. Backbone (Sec. III-C): two ResNet18 with one input channel, ``Z_1`` on the vertical and
   ``Z_2`` on the horizontal component; ``p_k = [Z_1(x_v^k); Z_2(x_h^k)]``:
   ``(B, R, 1024, h, w)`` with ``h = w = ceil(S / 32)``.
3. RI module (Sec. III-E, Eq. 5): one independent region-squeeze block per region,
   ``mu_k = F_2([AvgPool_c(F_1(p_k)); MaxPool_c(F_1(p_k))])``: ``(B, 1, h, w)``;
   concatenated to ``psi: (B, R, h, w)``; region weights ``alpha: (B, R)``; weighted
   features ``f_k = alpha_k * GAP(p_k)``: ``(B, R, C)``.
4. RR module (Sec. III-D/F, Eq. 2–4 with p_k replaced by f_k): cosine graph
   ``Gamma_ik = <f_i / |f_i|, f_k / |f_k|>``: ``(B, R, R)``; degree ``D_kk = sum_i Gamma_ki``;
   two GCN layers ``F^(l+1) = ReLU(D^-1 Gamma F^(l) W^(l))`` -> ``F^(2): (B, R, C)``;
   relational features ``r_k = F^(2)_k + f_k`` (element-wise addition).
5. Aggregation (Sec. III-F): ``z_k = [f_k; r_k]: (B, R, 2C)``, aggregated over regions to
   ``f_a: (B, 2C)`` and classified: ``logits: (B, num_classes)``.
6. Losses (Sec. III-G): CE + lambda1 RB (Eq. 7) + lambda2 Cor (Eq. 8), Eq. 9:
   :class:`merkit.losses.RRRNObjective` on the model's :class:`~merkit.models.output.ModelOutput`
   (``logits``, ``alpha``, ``region_logits``).

``forward_features`` is steps 1–2 (``p``), ``forward_head`` steps 3–5. The input size S is a
constructor argument (``RRRN(config, input_size=224)``), not a config field.

Decisions where the paper is silent (each one config field away, see :class:`RRRNConfig`):

* ``share_backbone=True``: the same two ResNet18 (Z_1, Z_2) process every region. Sec. III-C
  names "a CNN module with two ResNet18" and writes ``Z_1(x_v^k)`` with one ``Z_1`` for all
  k, as RAN does. ``False`` gives every region its own pair (6x the backbone weights).
* F_1 is a ``f1_kernel x f1_kernel`` convolution ``C -> squeeze_channels`` ("same" padding,
  so the resolution is kept; default 1x1, C = 1024 -> 256) followed by ReLU; F_2 a
  ``squeeze_kernel x squeeze_kernel`` convolution ``2 -> 1`` ("same" padding, default 7x7),
  as CBAM's spatial attention: F_1 mixes channels, F_2 brings the spatial context. (A 3x3
  F_1 would add 6 x 1024 x 256 x 9 = 14 M weights, more than half a ResNet18.) The
  per-region blocks run as grouped convolutions (groups = R): exactly R independent blocks.
* ``attention="softmax"``: ``alpha = softmax_k(GAP_{h,w}(psi))``, the regions compete for
  one unit of attention, which is what concatenating the squeezed maps into one psi
  suggests; alpha lies in (0, 1) and sums to 1 over the R regions, so the weighted
  part of ``f_a`` is an attention-weighted average of the region features.
  ``attention="sigmoid"``: ``alpha_k = sigmoid(GAP(mu_k))`` independently per region, in
  (0, 1) (RAN's form; RAN's 0.02 margin for Eq. 7 was tuned for it).
* Eq. 2–3: node indices run over all R regions (the paper's sums start at 0 in Eq. 2 and at
  1 in Eq. 3; we take all nodes). ``f_k >= 0`` (pooled post-ReLU maps), so ``Gamma >= 0``
  and ``D_kk >= Gamma_kk = 1``; D is clamped at 1e-6 for the all-zero corner case. GCN
  widths ``gcn_dims=(C, C)`` (the paper's ``F^(2) in R^{K x C}``), no bias (Eq. 4 has none).
* ``aggregate="sum"``: ``f_a = sum_k z_k`` (with softmax attention the weighted half is the
  attention-weighted mean of the region features, RAN's aggregation). ``"mean"`` divides by
  R, ``"flatten"`` concatenates the R region vectors (``f_a: (B, R * 2C)``).
  Classifier head: dropout then one linear layer ``f_a -> num_classes``.
* Cor loss ``P(f_k)`` (Eq. 8): ``region_classifier="shared"`` (default) reuses the main
  head on each region vector ``z_k`` (the region-level counterpart of ``f_a``), so P(f_k)
  comes from a classifier that ``L_cls`` trains to recognise the class and P(f_k), P(f_a) are
  read off the same classifier (not with ``aggregate="flatten"``). ``"separate"``: an
  auxiliary linear classifier ``2C -> num_classes`` shared by all regions; its only
  gradient in Eq. 9 would be the Cor hinge, which trains it backwards (to give the true
  class a low probability), so it needs its own cross-entropy:
  ``RRRNObjective(region_ce=1.0)`` (see :class:`merkit.losses.RRRNObjective`).
  ``region_logits: (B, R, num_classes)`` covers all R regions including the original face.

Weights: random initialisation (Kaiming for convolutions, as the ResNet18 module does)
unless ``create_model("rrrn", ..., weights=path)`` names a local file: an RRRN state_dict,
or an ImageNet ResNet18 checkpoint (torchvision / timm) that
:func:`merkit.models.pretrained.load_pretrained` maps onto every Z_1 / Z_2 trunk (the paper's
backbone was ImageNet-pretrained); nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merkit.models.layers import GraphConv
from merkit.models.output import ModelOutput
from merkit.models.regions import RRRN_REGIONS, RegionSpec, crop_regions
from merkit.models.registry import register_model, require_input_size
from merkit.models.resnet import ResNet18, ResNet18Config

MIN_INPUT_SIZE = 32


@dataclass(frozen=True)
class RRRNConfig:
    """RRRN architecture settings; the module docstring explains every choice the paper
    leaves open. The loss weights of Eq. 9 live in :class:`merkit.losses.RRRNObjective`, the
    input size is :class:`RRRN`'s ``input_size`` argument."""

    num_classes: int = 5
    regions: tuple[RegionSpec, ...] = RRRN_REGIONS
    share_backbone: bool = True
    backbone_blocks: tuple[int, int, int, int] = (2, 2, 2, 2)
    backbone_widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    squeeze_channels: int = 256
    f1_kernel: int = 1
    squeeze_kernel: int = 7
    attention: Literal["softmax", "sigmoid"] = "softmax"
    gcn_dims: tuple[int, ...] = (1024, 1024)
    gcn_bias: bool = False
    aggregate: Literal["sum", "mean", "flatten"] = "sum"
    region_classifier: Literal["separate", "shared"] = "shared"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if len(self.regions) < 2 or self.regions[0].anchor != "full":
            raise ValueError("regions must start with the original face ('full') plus >= 1 crop")
        if self.attention not in ("softmax", "sigmoid"):
            raise ValueError(f"attention must be 'softmax' or 'sigmoid', got {self.attention!r}")
        if self.aggregate not in ("sum", "mean", "flatten"):
            raise ValueError(f"aggregate must be sum/mean/flatten, got {self.aggregate!r}")
        if self.region_classifier not in ("separate", "shared"):
            raise ValueError(f"unknown region_classifier {self.region_classifier!r}")
        if self.region_classifier == "shared" and self.aggregate == "flatten":
            raise ValueError("region_classifier='shared' needs aggregate 'sum' or 'mean'")
        if not self.gcn_dims:
            raise ValueError("gcn_dims must list at least one GCN layer width")
        for name in ("f1_kernel", "squeeze_kernel"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"{name} must be a positive odd number, got {k}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def num_regions(self) -> int:
        return len(self.regions)


def cosine_graph(features: Tensor, eps: float = 1e-12) -> Tensor:
    """Eq. 2: ``Gamma_ik = <f_i, f_k>`` of L2-normalised region features.

    **Shapes**: ``features: (B, R, C) -> (B, R, R)``.
    """
    unit = F.normalize(features, p=2, dim=-1, eps=eps)
    return unit @ unit.transpose(-1, -2)


def degree_normalize(graph: Tensor, min_degree: float = 1e-6) -> Tensor:
    """``D^-1 Gamma`` with the degree of Eq. 3, ``D_kk = sum_i Gamma_ki`` (row sums).

    **Shapes**: ``graph: (B, R, R) -> (B, R, R)``; row k is divided by ``D_kk`` (clamped at
    ``min_degree``).
    """
    degree = graph.sum(dim=-1, keepdim=True).clamp_min(min_degree)
    return graph / degree


class RegionInspired(nn.Module):
    """RI module (Sec. III-E, Eq. 5): R independent region-squeeze blocks and region weights.

    **Shapes**: ``p: (B, R, C, h, w) -> (alpha: (B, R), psi: (B, R, h, w))``.
    """

    def __init__(
        self,
        num_regions: int,
        channels: int,
        squeeze_channels: int,
        f1_kernel: int,
        kernel: int,
        attention: Literal["softmax", "sigmoid"],
    ) -> None:
        super().__init__()
        self.num_regions = num_regions
        self.squeeze_channels = squeeze_channels
        self.attention = attention
        r = num_regions
        # grouped convolutions == one independent F_1 / F_2 per region
        self.f1 = nn.Conv2d(
            r * channels, r * squeeze_channels, f1_kernel, padding=f1_kernel // 2, groups=r
        )
        self.f2 = nn.Conv2d(2 * r, r, kernel, padding=kernel // 2, groups=r)
        self.act = nn.ReLU(inplace=True)

    def forward(self, p: Tensor) -> tuple[Tensor, Tensor]:
        b, r, c, h, w = p.shape
        q = self.act(self.f1(p.reshape(b, r * c, h, w)))
        q = q.reshape(b, r, self.squeeze_channels, h, w)
        pooled = torch.stack([q.mean(dim=2), q.amax(dim=2)], dim=2)  # (B, R, 2, h, w)
        psi = self.f2(pooled.reshape(b, 2 * r, h, w))  # (B, R, h, w)
        score = psi.mean(dim=(2, 3))  # (B, R)
        alpha = torch.softmax(score, dim=1) if self.attention == "softmax" else torch.sigmoid(score)
        return alpha, psi


class RelationReasoning(nn.Module):
    """RR module (Sec. III-D/F, Eq. 2–4): cosine region graph and stacked GCN layers.

    **Shapes**: ``f: (B, R, C) -> (F^(L): (B, R, gcn_dims[-1]), Gamma: (B, R, R))``.
    """

    def __init__(self, in_dim: int, dims: tuple[int, ...], bias: bool) -> None:
        super().__init__()
        layers = []
        for d in dims:
            layers.append(GraphConv(in_dim, d, bias=bias))
            in_dim = d
        self.layers = nn.ModuleList(layers)

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor]:
        graph = cosine_graph(f)
        adj = degree_normalize(graph)
        h = f
        for layer in self.layers:
            h = F.relu(layer(h, adj))
        return h, graph


class RRRN(nn.Module):
    """Region-inspired Relation Reasoning Network (see the module docstring).

    **Shapes** (R regions, C = 1024, S = ``input_size``, ``h = w = ceil(S / 32)``)
    ``forward_features(flow: (B, 2, H, W)) -> p: (B, R, C, h, w)`` (regions resized to S,
    two ResNet18 per region); ``forward_head(p) -> ModelOutput`` with
    ``logits: (B, num_classes)``, ``alpha: (B, R)``, ``region_logits: (B, R, num_classes)``,
    ``psi: (B, R, h, w)``, ``region_graph: (B, R, R)`` and ``features`` = f_a ``(B, D)``
    (``pre_logits=True`` returns f_a); ``forward(flow) -> ModelOutput``. Any ``H, W`` works:
    every region is resized to ``input_size``.
    """

    def __init__(self, config: RRRNConfig | None = None, *, input_size: int) -> None:
        super().__init__()
        cfg = config if config is not None else RRRNConfig()
        if input_size < MIN_INPUT_SIZE:
            raise ValueError(
                f"RRRN input_size must be >= {MIN_INPUT_SIZE} (ResNet18 downsamples 32x), "
                f"got {input_size}"
            )
        self.config = cfg
        self.input_size = input_size
        r = cfg.num_regions
        n_pairs = 1 if cfg.share_backbone else r
        trunk = ResNet18Config(in_chans=1, num_classes=0, blocks=cfg.backbone_blocks,
                               widths=cfg.backbone_widths)
        # Z_1 (vertical) and Z_2 (horizontal); one pair, or one pair per region
        self.backbone_v = nn.ModuleList(ResNet18(trunk) for _ in range(n_pairs))
        self.backbone_h = nn.ModuleList(ResNet18(trunk) for _ in range(n_pairs))
        c = self.backbone_v[0].num_features + self.backbone_h[0].num_features
        if cfg.gcn_dims[-1] != c:
            raise ValueError(
                f"the last GCN width must equal the region feature width {c} (r_k = F^(2)_k + "
                f"f_k is element-wise), got gcn_dims={cfg.gcn_dims}"
            )
        self.feature_dim = c
        self.ri = RegionInspired(
            r, c, cfg.squeeze_channels, cfg.f1_kernel, cfg.squeeze_kernel, cfg.attention
        )
        self.rr = RelationReasoning(c, cfg.gcn_dims, cfg.gcn_bias)
        region_dim = 2 * c
        self.num_features = region_dim * (r if cfg.aggregate == "flatten" else 1)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.num_features, cfg.num_classes)
        self.region_head: nn.Module | None = (
            nn.Linear(region_dim, cfg.num_classes) if cfg.region_classifier == "separate" else None
        )
        for m in (self.ri.f1, self.ri.f2):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)

    def forward_features(self, flow: Tensor) -> Tensor:
        """Regions (Eq. 1) and backbone: ``flow: (B, 2, H, W) -> p: (B, R, 1024, h, w)``."""
        if flow.ndim != 4 or flow.shape[1] != 2:
            raise ValueError(
                f"RRRN expects flow of shape (B, 2, H, W) (horizontal, vertical); "
                f"got {tuple(flow.shape)}"
            )
        cfg = self.config
        s = self.input_size
        regions = crop_regions(flow, s, cfg.regions)  # (B, R, 2, S, S)
        b, r = regions.shape[:2]
        if cfg.share_backbone:
            flat = regions.reshape(b * r, 2, s, s)
            zv = self.backbone_v[0].forward_feature_maps(flat[:, 1:2])
            zh = self.backbone_h[0].forward_feature_maps(flat[:, 0:1])
            p = torch.cat([zv, zh], dim=1)
            return p.reshape(b, r, *p.shape[1:])
        maps = []
        for k in range(r):
            zv = self.backbone_v[k].forward_feature_maps(regions[:, k, 1:2])
            zh = self.backbone_h[k].forward_feature_maps(regions[:, k, 0:1])
            maps.append(torch.cat([zv, zh], dim=1))
        return torch.stack(maps, dim=1)

    @overload
    def forward_head(self, p: Tensor, pre_logits: Literal[False] = ...) -> ModelOutput: ...
    @overload
    def forward_head(self, p: Tensor, pre_logits: Literal[True]) -> Tensor: ...
    def forward_head(self, p: Tensor, pre_logits: bool = False) -> ModelOutput | Tensor:
        """RI (Eq. 5), RR (Eq. 2–4), aggregation and the two classifiers on
        ``p: (B, R, C, h, w)`` -> ``ModelOutput`` (``pre_logits=True``: f_a ``(B, D)``)."""
        cfg = self.config
        alpha, psi = self.ri(p)  # (B, R), (B, R, h, w)
        f = alpha.unsqueeze(-1) * p.mean(dim=(3, 4))  # (B, R, C) weighted region features
        rel, graph = self.rr(f)  # (B, R, C), (B, R, R)
        z = torch.cat([f, rel + f], dim=-1)  # (B, R, 2C): [weighted; relational]
        if cfg.aggregate == "sum":
            f_a = z.sum(dim=1)
        elif cfg.aggregate == "mean":
            f_a = z.mean(dim=1)
        else:
            f_a = z.flatten(1)
        if pre_logits:
            return f_a
        logits = self.head(self.drop(f_a))
        region_head = self.region_head if self.region_head is not None else self.head
        region_logits = region_head(self.drop(z))
        return ModelOutput(
            logits=logits,
            features=f_a,
            alpha=alpha,
            region_logits=region_logits,
            psi=psi,
            region_graph=graph,
        )

    def forward(self, flow: Tensor) -> ModelOutput:
        return self.forward_head(self.forward_features(flow))


@register_model("rrrn", RRRNConfig)
def rrrn(config: RRRNConfig, *, input_size: int | None = None) -> RRRN:
    """RRRN (occlusion Tables III–IV); needs ``input_size >= 32`` (paper: 224)."""
    return RRRN(config, input_size=require_input_size("rrrn", input_size))
