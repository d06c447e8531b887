"""The six fixed-position regions of an optical-flow tensor (RRRN Sec. III-B, Eq. 1).

RRRN (following RAN's "fixed position cropping") feeds the backbone the whole face plus five
crops of it: top-left, top-right and centre-down crops at 0.75 of the face's size, and two
centred crops at 0.9 and 0.85. Every region is resized to the network's input size.

The paper gives the scales and names only; the exact placement is our reading (documented
here and tested in ``tests/test_rrrn.py``). For a face of ``H x W`` pixels and a crop of
``h = round(s * H)`` rows and ``w = round(s * W)`` columns (round half up, at least 1):

============  =====  =======================  =====================
name          scale  rows                     columns
============  =====  =======================  =====================
original      1.0    ``[0, H)``               ``[0, W)``
top_left      0.75   ``[0, h)``               ``[0, w)``
top_right     0.75   ``[0, h)``               ``[W - w, W)``
center_down   0.75   ``[H - h, H)``           ``[(W - w) // 2, +w)``
center_90     0.9    ``[(H - h) // 2, +h)``   ``[(W - w) // 2, +w)``
center_85     0.85   ``[(H - h) // 2, +h)``   ``[(W - w) // 2, +w)``
============  =====  =======================  =====================

So the corner crops touch their corners, centre-down touches the bottom edge and is centred
horizontally, and the centre crops are centred (odd margins put the extra pixel at the
bottom / right). Region 0 is always the original face: the RB loss (Eq. 7) compares the
crops' attention weights with region 0's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Anchor = Literal["full", "top_left", "top_right", "bottom_center", "center"]


@dataclass(frozen=True)
class RegionSpec:
    """One fixed-position crop: ``scale`` of the face's height and width, placed at ``anchor``."""

    name: str
    scale: float
    anchor: Anchor

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= 1.0:
            raise ValueError(f"region {self.name!r}: scale must be in (0, 1], got {self.scale}")
        if self.anchor not in ("full", "top_left", "top_right", "bottom_center", "center"):
            raise ValueError(f"region {self.name!r}: unknown anchor {self.anchor!r}")


RRRN_REGIONS: tuple[RegionSpec, ...] = (
    RegionSpec("original", 1.0, "full"),
    RegionSpec("top_left", 0.75, "top_left"),
    RegionSpec("top_right", 0.75, "top_right"),
    RegionSpec("center_down", 0.75, "bottom_center"),
    RegionSpec("center_90", 0.9, "center"),
    RegionSpec("center_85", 0.85, "center"),
)
"""The K + 1 = 6 regions of RRRN (Eq. 1, K = 5 crops plus the original face), in order."""

REGION_NAMES: tuple[str, ...] = tuple(r.name for r in RRRN_REGIONS)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def region_box(height: int, width: int, spec: RegionSpec) -> tuple[int, int, int, int]:
    """Pixel box ``(top, left, h, w)`` of one region in an ``height x width`` face.

    Rows ``top : top + h`` and columns ``left : left + w`` (see the module table).
    """
    if height < 1 or width < 1:
        raise ValueError(f"face size must be positive, got {height}x{width}")
    if spec.anchor == "full":
        return 0, 0, height, width
    h = min(height, max(1, _round_half_up(spec.scale * height)))
    w = min(width, max(1, _round_half_up(spec.scale * width)))
    if spec.anchor == "top_left":
        return 0, 0, h, w
    if spec.anchor == "top_right":
        return 0, width - w, h, w
    if spec.anchor == "bottom_center":
        return height - h, (width - w) // 2, h, w
    return (height - h) // 2, (width - w) // 2, h, w  # "center"


def region_boxes(
    height: int, width: int, specs: Sequence[RegionSpec] = RRRN_REGIONS
) -> list[tuple[int, int, int, int]]:
    """Boxes ``(top, left, h, w)`` of all regions, in the order of ``specs``."""
    return [region_box(height, width, s) for s in specs]


def crop_regions(
    flow: Tensor,
    size: int | tuple[int, int],
    specs: Sequence[RegionSpec] = RRRN_REGIONS,
    antialias: bool = True,
) -> Tensor:
    """Crop every region of ``flow`` and resize it to ``size`` (bilinear).

    **Shapes**: ``flow: (B, C, H, W) -> (B, R, C, size, size)`` with ``R = len(specs)``
    (6 for RRRN). A region already of the target size is copied unchanged. ``antialias``
    low-pass filters when a region is shrunk (no effect when enlarging).
    """
    if flow.ndim != 4:
        raise ValueError(f"flow must be (B, C, H, W), got shape {tuple(flow.shape)}")
    out_h, out_w = (size, size) if isinstance(size, int) else size
    if out_h < 1 or out_w < 1:
        raise ValueError(f"size must be positive, got {size}")
    height, width = flow.shape[-2:]
    crops = []
    for top, left, h, w in region_boxes(height, width, specs):
        crop = flow[:, :, top : top + h, left : left + w]
        if (h, w) != (out_h, out_w):
            crop = F.interpolate(
                crop,
                size=(out_h, out_w),
                mode="bilinear",
                align_corners=False,
                antialias=antialias and (h > out_h or w > out_w),
            )
        crops.append(crop)
    return torch.stack(crops, dim=1)
