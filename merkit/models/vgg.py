"""VGG16 baseline for the occlusion tables (RRRN Tables III–IV, column "VGG16").

Standard VGG16 (configuration "D" of Simonyan & Zisserman): 13 3x3 convolutions in five
blocks (64, 64 | 128, 128 | 256 x 3 | 512 x 3 | 512 x 3), each block closed by a 2x2 max pool,
then adaptive average pooling to ``pool_size x pool_size`` and three fully connected layers
(``fc_dims`` hidden widths, then the class layer).

Decisions (the paper only says "VGG16 downloaded from" the VGG-Face page):

* **Input**: the same 2-channel optical flow the other deep methods get (horizontal,
  vertical), as one 2-channel image (``in_chans=2``), not a two-stream network.
  **Shapes**: ``flow: (B, 2, S, S) -> logits: (B, num_classes)`` for any ``S >= 32``
  (five 2x2 pools need at least 32 pixels).
* **Any input size**: the adaptive pooling makes the first FC layer's width
  ``512 * pool_size**2`` independent of ``S``. ``pool_size=7`` with ``fc_dims=(4096, 4096)``
  is torchvision's layout (identical to the original at 224x224); a smaller head
  (``pool_size=1, fc_dims=(512, 512)``) is much cheaper for the CPU profiles.
* **Batch norm**: ``batch_norm=True`` by default (VGG16-BN). We have no pretrained weights
  (no downloads here), and a plain VGG16 trained from scratch with Adam at 5e-4 often fails
  to leave the majority-class solution; ``batch_norm=False`` gives the paper's plain VGG16
  (needed to load VGG-Face-style weights).
* **Weights**: random initialisation (Kaiming, as torchvision) unless
  ``create_model("vgg16", ..., weights=path)`` names a local ``state_dict`` file
  (``torch.save(model.state_dict(), path)``, or a checkpoint dict holding it under
  ``"state_dict"`` / ``"model"``). Nothing is ever downloaded.
* **Input size**: not a config field. ``input_size`` (optional, >= 32) makes the model check
  that every input is exactly ``input_size x input_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import torch
from torch import Tensor, nn

from merkit.models.output import ModelOutput
from merkit.models.registry import register_model

VGG16_LAYOUT: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)
"""Conv widths of VGG16 ("M" = 2x2 max pool): 13 conv layers, 5 pools."""

VGG16_WIDTHS: tuple[int, int, int, int, int] = (64, 128, 256, 512, 512)
"""VGG16's width per block (``VGGConfig.widths`` scales the layout's convs to its own)."""

MIN_INPUT_SIZE = 32


@dataclass(frozen=True)
class VGGConfig:
    """VGG16 baseline settings (see the module docstring for the choices)."""

    in_chans: int = 2
    num_classes: int = 5
    batch_norm: bool = True
    pool_size: int = 7
    fc_dims: tuple[int, ...] = (4096, 4096)
    dropout: float = 0.5
    #: conv widths of the five blocks (VGG16's by default; narrower for the CPU profiles)
    widths: tuple[int, int, int, int, int] = VGG16_WIDTHS

    def __post_init__(self) -> None:
        if self.in_chans < 1 or self.num_classes < 2 or self.pool_size < 1 or len(self.widths) != 5 \
                or min(self.widths) < 1:
            raise ValueError(f"invalid VGGConfig {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class VGG(nn.Module):
    """VGG with a configurable conv layout and head.

    **Shapes**
    ``forward_features(x: (B, in_chans, S, S)) -> (B, D)`` the penultimate embedding
    (``D = fc_dims[-1]``, or ``512 * pool_size**2`` without hidden FCs);
    ``forward_head(f) -> ModelOutput(logits: (B, num_classes), features: f)``
    (``pre_logits=True``: ``f``); ``forward(x) -> ModelOutput``.
    """

    def __init__(
        self,
        config: VGGConfig | None = None,
        layout: tuple[int | str, ...] = VGG16_LAYOUT,
        *,
        input_size: int | None = None,
    ) -> None:
        super().__init__()
        cfg = config if config is not None else VGGConfig()
        self.config = cfg
        self.num_pools = sum(1 for item in layout if item == "M")
        if input_size is not None and input_size < 2**self.num_pools:
            raise ValueError(
                f"VGG with {self.num_pools} pools needs input_size >= {2**self.num_pools}, "
                f"got {input_size}"
            )
        self.input_size = input_size
        layers: list[nn.Module] = []
        chans = cfg.in_chans
        block = 0
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                block += 1
                continue
            # the layout's width, scaled to the config's block width (VGG16: unchanged)
            width = int(item) * cfg.widths[min(block, 4)] // VGG16_WIDTHS[min(block, 4)]
            layers.append(nn.Conv2d(chans, width, kernel_size=3, padding=1))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            chans = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(cfg.pool_size)
        hidden: list[nn.Module] = []
        width = chans * cfg.pool_size**2
        for dim in cfg.fc_dims:
            hidden += [nn.Linear(width, dim), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout)]
            width = dim
        self.classifier = nn.Sequential(*hidden)
        self.num_features = width
        self.head = nn.Linear(width, cfg.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``x: (B, in_chans, S, S) -> (B, D)``: convs, adaptive pool, hidden FC layers."""
        min_size = 2**self.num_pools
        bad = x.ndim != 4 or x.shape[1] != self.config.in_chans or min(x.shape[-2:]) < min_size
        if not bad and self.input_size is not None:
            bad = tuple(x.shape[-2:]) != (self.input_size, self.input_size)
        if bad:
            size = "" if self.input_size is None else f" (input_size={self.input_size})"
            raise ValueError(
                f"VGG expects (B, {self.config.in_chans}, H, W) with H, W >= {min_size}{size}, "
                f"got {tuple(x.shape)}"
            )
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))

    @overload
    def forward_head(self, features: Tensor, pre_logits: Literal[False] = ...) -> ModelOutput: ...
    @overload
    def forward_head(self, features: Tensor, pre_logits: Literal[True]) -> Tensor: ...
    def forward_head(self, features: Tensor, pre_logits: bool = False) -> ModelOutput | Tensor:
        """``features: (B, D) -> ModelOutput`` (``pre_logits=True``: ``features``)."""
        if pre_logits:
            return features
        return ModelOutput(logits=self.head(features), features=features)

    def forward(self, x: Tensor) -> ModelOutput:
        return self.forward_head(self.forward_features(x))


@register_model("vgg16", VGGConfig)
def vgg16(config: VGGConfig, *, input_size: int | None = None) -> VGG:
    """VGG16 baseline (RRRN Tables III–IV); ``input_size`` optional (checked when given)."""
    return VGG(config, VGG16_LAYOUT, input_size=input_size)
