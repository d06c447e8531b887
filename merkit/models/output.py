"""What every registered merkit model's ``forward`` returns: one :class:`ModelOutput`.

One contract for all models (timm / torchvision style): ``forward(x) = forward_head(
forward_features(x))`` returns a :class:`ModelOutput` whose ``logits`` are always set and whose
other fields are ``None`` unless the model has them. Training objectives
(:mod:`merkit.losses`), :func:`merkit.train.fit` and :func:`merkit.train.predict` read the
fields by name, so any model plugs into any loop.

=====================  ===================  ===========================================
field                  shape                models
=====================  ===================  ===========================================
``logits``             ``(B, C)``           all
``features``           ``(B, D)``           all: the embedding fed to the last linear layer
``au_logits``          ``(B, K)``           MER-auGCN with AU detectors
``au_probs``           ``(B, K)``           MER-auGCN with AU detectors (sigmoid of ``au_logits``)
``alpha``              ``(B, R)``           RRRN (region attention, Eq. 5; region 0 = face)
``region_logits``      ``(B, R, C)``        RRRN (per-region classifier ``P(f_k)``, Eq. 8)
``psi``                ``(B, R, h, w)``     RRRN (squeezed region maps, Eq. 5)
``region_graph``       ``(B, R, R)``        RRRN (cosine region graph Gamma, Eq. 2)
=====================  ===================  ===========================================

B: batch, C: classes, D: embedding width, K: detector AUs, R: regions (6 for RRRN).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, overload

from torch import Tensor


@dataclass(frozen=True)
class ModelOutput:
    """A model's outputs for one batch; every field but ``logits`` is optional.

    **Shapes**
    ``logits: (B, C)`` class scores before the softmax (every model);
    ``features: (B, D)`` the embedding the final classifier reads (before its dropout);
    ``au_logits, au_probs: (B, K)`` AU detector logits and sigmoid probabilities
    (MER-auGCN, Sec. III-B2; ``None`` for its plain-backbone variants);
    ``alpha: (B, R)`` RRRN's region attention weights (Eq. 5; region 0 is the whole face);
    ``region_logits: (B, R, C)`` RRRN's per-region classifier logits, ``P(f_k)`` of Eq. 8;
    ``psi: (B, R, h, w)`` RRRN's concatenated squeezed region maps (Eq. 5);
    ``region_graph: (B, R, R)`` RRRN's cosine region graph Gamma (Eq. 2).
    """

    logits: Tensor
    features: Tensor | None = None
    au_logits: Tensor | None = None
    au_probs: Tensor | None = None
    alpha: Tensor | None = None
    region_logits: Tensor | None = None
    psi: Tensor | None = None
    region_graph: Tensor | None = None

    def tensors(self) -> dict[str, Tensor]:
        """The fields that are set, by name, in field order (``logits`` first)."""
        out: dict[str, Tensor] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out


class LinearHead:
    """``forward_head`` / ``forward`` for a model whose head is dropout + one linear layer on a
    ``(B, D)`` feature (Dual-Inception, ResNet18, two-path ResNet18).

    A subclass (an ``nn.Module``) defines ``forward_features``, ``self.drop`` and its linear
    layer under :attr:`head_attr` (``"head"``, or ``"fc"`` where torchvision's key must be kept).
    """

    head_attr: str = "head"

    @overload
    def forward_head(self, features: Tensor, pre_logits: Literal[False] = ...) -> ModelOutput: ...
    @overload
    def forward_head(self, features: Tensor, pre_logits: Literal[True]) -> Tensor: ...
    def forward_head(self, features: Tensor, pre_logits: bool = False) -> ModelOutput | Tensor:
        """``features: (B, D) -> ModelOutput`` (``pre_logits=True``: ``features`` itself)."""
        if pre_logits:
            return features
        linear = getattr(self, self.head_attr)
        return ModelOutput(logits=linear(self.drop(features)), features=features)  # type: ignore[attr-defined]

    def forward(self, x: Tensor) -> ModelOutput:
        return self.forward_head(self.forward_features(x))  # type: ignore[attr-defined]
