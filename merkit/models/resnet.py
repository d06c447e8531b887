"""ResNet18 (He et al., 2016) written here (no torchvision), single- and two-path.

* :class:`ResNet18` / :func:`resnet18`: the standard ImageNet layout (7x7/2 stem, 3x3/2
  max-pool, four stages of two basic blocks with widths 64, 128, 256, 512, global average
  pooling, linear head) with a configurable number of input channels. Used by RRRN's
  backbone and its ResNet18 baseline.
* :class:`ResNet18TwoPath`: the "Resnet18" backbone of MER-auGCN Table III. Sec. IV-C:
  "we expanded the basic Resnet18 to a two-path network, and each path contained four basic
  blocks of Resnet18 ... concatenated for prediction", with 112x112 flow inputs. We read
  "four basic blocks" as the four residual stages of ResNet18 (the whole trunk, two basic
  blocks per stage); ``blocks=(1, 1, 1, 1)`` gives the literal four-basic-block reading. The
  two pooled 512-d features are concatenated and mapped by one FC layer + ReLU to d = 1024,
  exactly like Dual-Inception, so the MER-auGCN head is shared between the two backbones.

* ``resnet18_flow``: the ResNet18 column of RRRN's occlusion Tables III–IV, the same two-path
  network on the whole face (RRRN's backbone without crops, RI and RR), input side >= 32.

No pretrained weights are available offline; everything starts from Kaiming initialisation
unless ``create_model(..., weights=path)`` names a local ``state_dict`` file.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from merkit.models.output import LinearHead
from merkit.models.registry import register_model, require_input_size

#: Smallest flow side of ``resnet18_flow`` (RRRN's baseline; ResNet18 downsamples 32x).
MIN_FLOW_INPUT_SIZE = 32


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with BatchNorm, identity or 1x1 projection shortcut.

    **Shapes** ``x: (B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


@dataclass(frozen=True)
class ResNet18Config:
    """Single-path ResNet18 settings. ``num_classes=0`` builds no head; ``blocks`` is the
    number of basic blocks per stage ((2, 2, 2, 2) = ResNet18); ``widths`` the stage widths.
    Defaults: one input channel, 5 classes (a flow component -> the five objective classes)."""

    in_chans: int = 1
    num_classes: int = 5
    blocks: tuple[int, int, int, int] = (2, 2, 2, 2)
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    drop_rate: float = 0.0
    zero_init_residual: bool = False

    def __post_init__(self) -> None:
        if self.in_chans <= 0:
            raise ValueError(f"in_chans must be positive, got {self.in_chans}")
        if self.num_classes < 0 or min(self.blocks) <= 0 or min(self.widths) <= 0:
            raise ValueError(f"invalid ResNet18Config {self}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate}")


@dataclass(frozen=True)
class ResNet18TwoPathConfig:
    """Two-path ResNet18 settings: one one-channel ResNet18 trunk per flow component
    (``blocks`` basic blocks per stage), an FC + ReLU to ``feature_dim`` and a linear head
    (``num_classes=0``: none)."""

    num_classes: int = 5
    feature_dim: int = 1024
    blocks: tuple[int, int, int, int] = (2, 2, 2, 2)
    drop_rate: float = 0.0
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)

    def __post_init__(self) -> None:
        if self.num_classes < 0 or self.feature_dim <= 0 or min(self.blocks) <= 0 or min(self.widths) <= 0:
            raise ValueError(f"invalid ResNet18TwoPathConfig {self}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate}")


def _check_size(model: str, flow: torch.Tensor, channels: int, input_size: int | None) -> None:
    ok = flow.dim() == 4 and flow.shape[1] == channels
    if ok and input_size is not None:
        ok = tuple(flow.shape[2:]) == (input_size, input_size)
    if not ok:
        side = "H, W" if input_size is None else f"{input_size}, {input_size}"
        raise ValueError(
            f"{model} expects input of shape (B, {channels}, {side}); got {tuple(flow.shape)}"
            + ("" if input_size is None else
               f". Resize the flow to input_size={input_size} or build the model with the "
               "matching input_size.")
        )


class ResNet18(LinearHead, nn.Module):
    """Single-path ResNet18.

    **Shapes**
    ``forward_feature_maps(x: (B, in_chans, H, W)) -> (B, 512, ~H/32, ~W/32)``
    (e.g. 7x7 for 224x224, 4x4 for 112x112);
    ``forward_features(x) -> (B, 512)`` (global average pool);
    ``forward_head(f) -> ModelOutput(logits: (B, num_classes), features: f)``
    (``pre_logits=True``: ``f``); ``forward(x) -> ModelOutput``.

    ``num_classes=0`` builds no head (the logits are then the pooled features); RRRN and
    :class:`ResNet18TwoPath` use the trunk this way, through ``forward_feature_maps`` /
    ``forward_features``. ``input_size``: optional; when given, inputs must be exactly
    ``input_size x input_size`` (the trunk itself pools adaptively).
    """

    head_attr = "fc"  # torchvision's key for the classifier

    def __init__(
        self, config: ResNet18Config | None = None, *, input_size: int | None = None
    ) -> None:
        super().__init__()
        cfg = config if config is not None else ResNet18Config()
        self.config = cfg
        self.input_size = input_size
        self.in_chans = cfg.in_chans
        self.num_classes = cfg.num_classes
        widths = cfg.widths
        self.num_features = widths[-1]
        self.conv1 = nn.Conv2d(cfg.in_chans, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        in_ch = widths[0]
        for i, (n, width) in enumerate(zip(cfg.blocks, widths, strict=True)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(in_ch, width, stride)]
            layers += [BasicBlock(width, width) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(cfg.drop_rate)
        self.fc: nn.Module = (
            nn.Linear(in_ch, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        )
        self._init_weights(cfg.zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward_feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, in_chans, H, W) -> (B, 512, ~H/32, ~W/32)`` (before the pooling)."""
        _check_size("ResNet18", x, self.in_chans, self.input_size)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x -> (B, 512)``: globally average-pooled feature maps."""
        return self.pool(self.forward_feature_maps(x)).flatten(1)


class ResNet18TwoPath(LinearHead, nn.Module):
    """Two-path ResNet18 for MER-auGCN Table III (one ResNet18 trunk per flow component).

    **Shapes** (S = ``input_size``: 112 in MER-auGCN, 224 in RRRN; d = ``feature_dim``)
    ``forward_features(flow: (B, 2, S, S)) -> z: (B, d)``;
    ``forward_head(z) -> ModelOutput(logits: (B, num_classes), features: z)``
    (``pre_logits=True``: ``z``); ``forward(flow) -> ModelOutput``.

    ``z = ReLU(FC([pool(path_u(u)); pool(path_v(v))]))``: 2 x 512 -> d = 1024.
    ``input_size`` is only checked (the trunks pool adaptively); other sizes raise, so a
    mismatch between cached flows and the configured size is never silent.
    """

    def __init__(self, config: ResNet18TwoPathConfig | None = None, *, input_size: int) -> None:
        super().__init__()
        cfg = config if config is not None else ResNet18TwoPathConfig()
        if input_size < 1:
            raise ValueError(f"input_size must be positive, got {input_size}")
        self.config = cfg
        self.input_size = input_size
        self.num_features = cfg.feature_dim
        self.num_classes = cfg.num_classes
        trunk = ResNet18Config(in_chans=1, num_classes=0, blocks=cfg.blocks, widths=cfg.widths)
        self.path_u = ResNet18(trunk)
        self.path_v = ResNet18(trunk)
        self.fc = nn.Linear(self.path_u.num_features + self.path_v.num_features, cfg.feature_dim)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(cfg.drop_rate)
        self.head: nn.Module = (
            nn.Linear(cfg.feature_dim, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        )

    def forward_features(self, flow: torch.Tensor) -> torch.Tensor:
        """``flow: (B, 2, S, S) -> z: (B, d)``."""
        _check_size("ResNet18TwoPath", flow, 2, self.input_size)
        u = self.path_u.forward_features(flow[:, 0:1])
        v = self.path_v.forward_features(flow[:, 1:2])
        return self.act(self.fc(torch.cat([u, v], dim=1)))


@register_model("resnet18", ResNet18Config)
def resnet18(config: ResNet18Config, *, input_size: int | None = None) -> ResNet18:
    """Single-path ResNet18 (``in_chans=1`` by default); ``input_size`` optional (checked)."""
    return ResNet18(config, input_size=input_size)


@register_model("resnet18_two_path", ResNet18TwoPathConfig)
def resnet18_two_path(
    config: ResNet18TwoPathConfig, *, input_size: int | None = None
) -> ResNet18TwoPath:
    """MER-auGCN Table III's two-path "Resnet18" classifier; needs ``input_size`` (paper: 112)."""
    size = require_input_size("resnet18_two_path", input_size)
    return ResNet18TwoPath(config, input_size=size)


@register_model("resnet18_flow", ResNet18TwoPathConfig)
def resnet18_flow(
    config: ResNet18TwoPathConfig, *, input_size: int | None = None
) -> ResNet18TwoPath:
    """ResNet18 column of RRRN's occlusion Tables III–IV: the two-path ResNet18 on the whole
    face, ``flow: (B, 2, S, S) -> ModelOutput``; needs ``input_size >= 32`` (paper: 224)."""
    size = require_input_size("resnet18_flow", input_size)
    if size < MIN_FLOW_INPUT_SIZE:
        raise ValueError(f"input_size must be >= {MIN_FLOW_INPUT_SIZE}, got {size}")
    return ResNet18TwoPath(config, input_size=size)
