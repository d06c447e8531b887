"""Model registry in the style of timm: ``create_model(name, config, input_size=...)``.

The bottom of :mod:`merkit.models`: this module imports no model module. Each model module
registers its own one-line builders::

    @register_model("vgg16", VGGConfig)
    def vgg16(config: VGGConfig, *, input_size: int | None = None) -> VGG:
        return VGG(config, input_size=input_size)

and :mod:`merkit.models` imports every model module, so ``import merkit.models`` fills the
registry. A builder takes the model's frozen config dataclass and the flow side
``input_size`` (``None`` where the model is size-agnostic; a model that needs it raises
through :func:`require_input_size`). The input size is never a config field and never
defaulted from the papers' sizes: the caller (the table layer) holds it once and passes it.

* :func:`create_model` resolves the config (``config=`` or ``default_config(name)``, with
  ``**fields`` replacing fields; an unknown field raises naming the known ones), builds, and
  loads an optional local ``weights`` file (:func:`~merkit.models.pretrained.load_pretrained`:
  merkit's own state_dict, or a torchvision / timm ResNet18, VGG16(-BN) or VGG-Face checkpoint
  mapped onto the model's trunks).
* :func:`default_config` returns the typed default config, so callers can hold typed configs
  and derive new ones with :func:`dataclasses.replace`.
* Registering a name twice raises, so a name always means one builder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from merkit.models.pretrained import load_pretrained

Builder = Callable[..., nn.Module]
F = TypeVar("F", bound=Builder)


@dataclass(frozen=True)
class _Entry:
    builder: Builder
    config_cls: type | None


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, config_cls: type | None = None) -> Callable[[F], F]:
    """Decorator: register ``builder`` under ``name`` (raises if ``name`` is taken).

    With ``config_cls`` (a frozen dataclass with defaults for every field) the builder is
    called as ``builder(config, input_size=input_size)``; without, as
    ``builder(input_size=input_size, **fields)``. The builder is returned unchanged.
    """
    if config_cls is not None and not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"register_model({name!r}): config_cls must be a dataclass type")

    def wrap(builder: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = _Entry(builder, config_cls)
        return builder

    return wrap


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {list_models()}") from None


def default_config(name: str) -> Any:
    """The default (frozen) config instance of model ``name``, e.g. ``VGGConfig()``."""
    entry = _entry(name)
    if entry.config_cls is None:
        raise ValueError(f"model {name!r} was registered without a config class")
    return entry.config_cls()


def require_input_size(name: str, input_size: int | None) -> int:
    """``input_size``, or a ``ValueError`` telling the caller of model ``name`` to pass it."""
    if input_size is None:
        raise ValueError(
            f"model {name!r} needs input_size= (the flow side in pixels; the papers' sizes are "
            "in merkit.models.PAPER_INPUT_SIZE, but nothing applies them implicitly)"
        )
    return int(input_size)


def create_model(
    name: str,
    config: Any = None,
    *,
    input_size: int | None = None,
    weights: str | Path | None = None,
    **fields: Any,
) -> nn.Module:
    """Build the model registered as ``name``.

    ``config``: an instance of the model's config class (default :func:`default_config`);
    ``fields`` replace its fields (``create_model("vgg16", pool_size=1)``; an unknown field
    raises ``ValueError`` naming the known ones). ``input_size``: the flow side the model is
    built for (required by the size-dependent models). ``weights``: a local checkpoint file
    loaded after construction by :func:`~merkit.models.pretrained.load_pretrained` (the
    model's own state_dict strictly; a pretrained ResNet18 / VGG16 / VGG-Face file mapped onto
    its trunks, first convolution adapted, classifier dropped); its
    :class:`~merkit.models.pretrained.LoadReport` is kept as ``model.pretrained_report``.
    Nothing is ever downloaded.
    """
    entry = _entry(name)
    if entry.config_cls is None:
        if config is not None:
            raise ValueError(f"model {name!r} takes no config (registered without a config class)")
        model = entry.builder(input_size=input_size, **fields)
    else:
        cls = entry.config_cls
        cfg = cls() if config is None else config
        if not isinstance(cfg, cls):
            raise TypeError(
                f"create_model({name!r}): config must be a {cls.__name__}, got {type(cfg).__name__}"
            )
        if fields:
            known = sorted(f.name for f in dataclasses.fields(cls))
            unknown = sorted(set(fields) - set(known))
            if unknown:
                raise ValueError(
                    f"unknown {cls.__name__} fields {unknown} for model {name!r}; known: {known}"
                )
            cfg = dataclasses.replace(cfg, **fields)
        model = entry.builder(cfg, input_size=input_size)
    if weights is not None:
        report = load_pretrained(model, weights)
        object.__setattr__(model, "pretrained_report", report)
    return model
