"""Model registry in the style of timm: ``create_model(name, **options)``, ``list_models()``.

Built-in names:

* ``"mer_augcn"``: :class:`~merkit.models.mer_augcn.MERAuGCN`. Options: ``config=`` a
  :class:`MERAuGCNConfig`, or ``variant=`` a :func:`table_variants` name (e.g.
  ``"aufeat"``), and/or any ``MERAuGCNConfig`` field to replace
  (``create_model("mer_augcn", variant="relfeat", graph_norm="sym")``).
  Returns ``(logits, au_probs)`` for every variant.
* ``"dual_inception"``: the bare :class:`DualInception` classifier (``flow -> logits``).
* ``"resnet18_two_path"``: the bare :class:`ResNet18TwoPath` classifier (``flow -> logits``).
* ``"resnet18"``: single-path :class:`ResNet18` (``in_chans=1`` by default; ``x -> logits``).

The registry is filled at import time only (``register_model`` as a decorator); registering a
name twice raises, so a name always means one builder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from merkit.models.inception import DualInception
from merkit.models.mer_augcn import MERAuGCN, MERAuGCNConfig
from merkit.models.mer_augcn import variant as _variant
from merkit.models.resnet import ResNet18TwoPath, resnet18

Builder = Callable[..., nn.Module]
F = TypeVar("F", bound=Builder)

_REGISTRY: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[F], F]:
    """Decorator: register ``builder(**options) -> nn.Module`` under ``name``."""

    def wrap(builder: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return wrap


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **options: Any) -> nn.Module:
    """Build the model registered as ``name`` with its builder's keyword ``options``."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {list_models()}") from None
    return builder(**options)


@register_model("mer_augcn")
def _mer_augcn(
    config: MERAuGCNConfig | None = None, variant: str | None = None, **fields: Any
) -> MERAuGCN:
    if config is not None and variant is not None:
        raise ValueError("create_model('mer_augcn'): pass either config= or variant=, not both")
    if variant is not None:
        cfg = _variant(variant).model
    else:
        cfg = config if config is not None else MERAuGCNConfig()
    if fields:
        known = {f.name for f in dataclasses.fields(MERAuGCNConfig)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown MERAuGCNConfig fields {unknown}; known: {sorted(known)}")
        cfg = dataclasses.replace(cfg, **fields)
    return MERAuGCN(cfg)


register_model("dual_inception")(DualInception)
register_model("resnet18_two_path")(ResNet18TwoPath)
register_model("resnet18")(resnet18)
