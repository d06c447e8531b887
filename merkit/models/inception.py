"""Dual-Inception (Zhou et al., FG 2019): MER-auGCN's backbone (Sec. III-B1).

Two identical streams, one per optical-flow component (u = horizontal, flow channel 0;
v = vertical, flow channel 1). Each stream is

    Inception(1 -> 4 x 6) -> max-pool 2x2 -> Inception(24 -> 4 x 16) -> max-pool 2x2

where an Inception block has four parallel branches of ``f`` filters each, concatenated on
the channel axis:

    1x1 conv  |  1x1 conv -> 3x3 conv  |  1x1 conv -> 5x5 conv  |  3x3 max-pool (stride 1) -> 1x1 conv

Both streams are flattened, concatenated and mapped by one fully connected layer to the
global facial feature ``z`` (d = 1024, Sec. III-B1). For a 28x28 input a stream ends at
64 x 7 x 7, so the FC layer is 2 * 3136 -> 1024.

Choices where the papers are silent (each one argument away):

* The reduction 1x1 convs in front of the 3x3 and 5x5 convs have ``f`` filters, like the
  other convs of the block.
* Every conv (and the FC to ``z``) is followed by ReLU; convs keep the spatial size
  (padding k // 2).
* ``batch_norm=False`` by default: the FG 2019 network has none, and it is shallow enough to
  train without it at lr 5e-4 (Adam). ``batch_norm=True`` inserts BatchNorm2d before each
  ReLU and drops the conv bias.
* ``drop_rate=0.0``: optional dropout on ``z`` before the classifier head.

The input size (28 in the paper) is a constructor argument, not a config field:
``DualInception(DualInceptionConfig(), input_size=28)`` or
``create_model("dual_inception", input_size=28)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from merkit.models.output import LinearHead
from merkit.models.registry import register_model, require_input_size


def _conv(in_ch: int, out_ch: int, kernel: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InceptionBlock(nn.Module):
    """Four-branch Inception block, ``filters`` per branch.

    **Shapes** ``x: (B, C_in, H, W) -> (B, 4 * filters, H, W)``.
    """

    def __init__(self, in_ch: int, filters: int, batch_norm: bool = False) -> None:
        super().__init__()
        self.out_channels = 4 * filters
        self.branch1 = _conv(in_ch, filters, 1, batch_norm)
        self.branch3 = nn.Sequential(
            _conv(in_ch, filters, 1, batch_norm), _conv(filters, filters, 3, batch_norm)
        )
        self.branch5 = nn.Sequential(
            _conv(in_ch, filters, 1, batch_norm), _conv(filters, filters, 5, batch_norm)
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), _conv(in_ch, filters, 1, batch_norm)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1
        )


class InceptionStream(nn.Module):
    """One Dual-Inception path: two Inception blocks, each followed by 2x2 max-pooling.

    **Shapes** ``x: (B, in_ch, H, W) -> (B, 4 * filters[-1], H // 4, W // 4)``.
    """

    def __init__(
        self, in_ch: int = 1, filters: tuple[int, int] = (6, 16), batch_norm: bool = False
    ) -> None:
        super().__init__()
        self.block1 = InceptionBlock(in_ch, filters[0], batch_norm)
        self.pool1 = nn.MaxPool2d(2)
        self.block2 = InceptionBlock(self.block1.out_channels, filters[1], batch_norm)
        self.pool2 = nn.MaxPool2d(2)
        self.out_channels = self.block2.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool2(self.block2(self.pool1(self.block1(x))))


@dataclass(frozen=True)
class DualInceptionConfig:
    """Dual-Inception settings (module docstring). ``num_classes=0`` builds no head."""

    num_classes: int = 5
    feature_dim: int = 1024
    filters: tuple[int, int] = (6, 16)
    batch_norm: bool = False
    drop_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.num_classes < 0 or self.feature_dim <= 0 or min(self.filters) <= 0:
            raise ValueError(f"invalid DualInceptionConfig {self}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate}")


class DualInception(LinearHead, nn.Module):
    """Dual-Inception backbone with a linear classifier head (Table III "Dual-Inception").

    **Shapes** (S = ``input_size``, 28 in the paper; d = ``feature_dim``, 1024)
    ``forward_features(flow: (B, 2, S, S)) -> z: (B, d)``;
    ``forward_head(z) -> ModelOutput(logits: (B, num_classes), features: z)``
    (``pre_logits=True``: ``z``); ``forward(flow) -> ModelOutput``.

    ``num_classes=0`` builds no head (the logits are then ``z`` itself); MER-auGCN uses the
    backbone this way, through ``forward_features``. Flow channel 0 (u) feeds ``stream_u``,
    channel 1 (v) ``stream_v``.
    """

    def __init__(self, config: DualInceptionConfig | None = None, *, input_size: int) -> None:
        super().__init__()
        cfg = config if config is not None else DualInceptionConfig()
        if input_size < 4:
            raise ValueError(
                f"DualInception needs input_size >= 4 (two 2x2 pools), got {input_size}"
            )
        self.config = cfg
        self.input_size = input_size
        self.num_features = cfg.feature_dim
        self.num_classes = cfg.num_classes
        self.stream_u = InceptionStream(1, cfg.filters, cfg.batch_norm)
        self.stream_v = InceptionStream(1, cfg.filters, cfg.batch_norm)
        side = (input_size // 2) // 2
        self.flat_dim = 2 * self.stream_u.out_channels * side * side
        self.fc = nn.Linear(self.flat_dim, cfg.feature_dim)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(cfg.drop_rate)
        self.head: nn.Module = (
            nn.Linear(cfg.feature_dim, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        )

    def _check(self, flow: torch.Tensor) -> None:
        expected = (2, self.input_size, self.input_size)
        if flow.dim() != 4 or tuple(flow.shape[1:]) != expected:
            raise ValueError(
                f"DualInception expects flow of shape (B, {expected[0]}, {expected[1]}, "
                f"{expected[2]}) (u, v components); got {tuple(flow.shape)}. Resize the flow "
                f"to input_size={self.input_size} or build the model with the matching input_size."
            )

    def forward_features(self, flow: torch.Tensor) -> torch.Tensor:
        """``flow: (B, 2, S, S) -> z: (B, d)``, the global facial feature (Sec. III-B1)."""
        self._check(flow)
        u = self.stream_u(flow[:, 0:1]).flatten(1)
        v = self.stream_v(flow[:, 1:2]).flatten(1)
        return self.act(self.fc(torch.cat([u, v], dim=1)))


@register_model("dual_inception", DualInceptionConfig)
def dual_inception(config: DualInceptionConfig, *, input_size: int | None = None) -> DualInception:
    """The bare Dual-Inception classifier (Table III); needs ``input_size`` (paper: 28)."""
    return DualInception(config, input_size=require_input_size("dual_inception", input_size))
