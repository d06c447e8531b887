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

No pretrained weights are available offline; everything starts from Kaiming initialisation.
"""

from __future__ import annotations

import torch
from torch import nn


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


class ResNet18(nn.Module):
    """Single-path ResNet18.

    **Shapes**
    ``forward_feature_maps(x: (B, in_chans, H, W)) -> (B, 512, ~H/32, ~W/32)``
    (e.g. 7x7 for 224x224, 4x4 for 112x112);
    ``forward_features(x) -> (B, 512)`` (global average pool);
    ``forward_head(f) -> (B, num_classes)``; ``forward(x) -> (B, num_classes)``.

    ``num_classes=0`` builds no head (``forward`` returns the pooled features).
    ``blocks`` is the number of basic blocks per stage ((2, 2, 2, 2) = ResNet18).
    """

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
        drop_rate: float = 0.0,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if in_chans <= 0:
            raise ValueError(f"in_chans must be positive, got {in_chans}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = widths[-1]
        self.conv1 = nn.Conv2d(in_chans, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        in_ch = widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths, strict=True)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(in_ch, width, stride)]
            layers += [BasicBlock(width, width) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc: nn.Module = nn.Linear(in_ch, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights(zero_init_residual)

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
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"ResNet18 expects input of shape (B, {self.in_chans}, H, W); got {tuple(x.shape)}"
            )
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_feature_maps(x)).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def resnet18(in_chans: int = 1, num_classes: int = 5, **kwargs: object) -> ResNet18:
    """ResNet18 with ``in_chans`` input channels and ``num_classes`` outputs (0 = no head)."""
    return ResNet18(in_chans=in_chans, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


class ResNet18TwoPath(nn.Module):
    """Two-path ResNet18 for MER-auGCN Table III (one ResNet18 trunk per flow component).

    **Shapes**
    ``forward_features(flow: (B, 2, S, S)) -> z: (B, feature_dim)`` (S = 112 in the paper);
    ``forward_head(z) -> logits: (B, num_classes)``; ``forward(flow) -> logits``.

    ``z = ReLU(FC([pool(path_u(u)); pool(path_v(v))]))``: 2 x 512 -> d = 1024.
    ``input_size`` is only checked (the trunks pool adaptively); other sizes raise, so a
    mismatch between cached flows and the configured size is never silent.
    """

    def __init__(
        self,
        num_classes: int = 5,
        input_size: int = 112,
        feature_dim: int = 1024,
        blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.num_features = feature_dim
        self.num_classes = num_classes
        self.path_u = ResNet18(in_chans=1, num_classes=0, blocks=blocks)
        self.path_v = ResNet18(in_chans=1, num_classes=0, blocks=blocks)
        self.fc = nn.Linear(self.path_u.num_features + self.path_v.num_features, feature_dim)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(drop_rate)
        self.head: nn.Module = (
            nn.Linear(feature_dim, num_classes) if num_classes > 0 else nn.Identity()
        )

    def forward_features(self, flow: torch.Tensor) -> torch.Tensor:
        expected = (2, self.input_size, self.input_size)
        if flow.dim() != 4 or tuple(flow.shape[1:]) != expected:
            raise ValueError(
                f"ResNet18TwoPath expects flow of shape (B, {expected[0]}, {expected[1]}, "
                f"{expected[2]}) (u, v components); got {tuple(flow.shape)}. Resize the flow "
                f"to input_size={self.input_size} or build the model with the matching input_size."
            )
        u = self.path_u.forward_features(flow[:, 0:1])
        v = self.path_v.forward_features(flow[:, 1:2])
        return self.act(self.fc(torch.cat([u, v], dim=1)))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(z))

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(flow))
