"""Loading user-supplied weights: the one way any merkit model gets pretrained parameters.

Nothing is ever downloaded: a pretrained backbone (e.g. ImageNet ResNet18, VGG-Face VGG16) is
an optional local file the user passes; the default is random initialisation, and the reports
say so. This module reads files (:func:`read_state_dict`: ``.pth`` / ``.pt`` or
``.safetensors``) and loads merkit's own state_dicts strictly (:func:`load_weights`);
:mod:`merkit.models.pretrained` maps other architectures' checkpoints (torchvision / timm
ResNet18, VGG16, VGG-Face) onto merkit's models and is what ``create_model(weights=...)`` uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


class WeightsFileError(ValueError):
    """A weights file that cannot be loaded into the model (wrong keys or shapes)."""


def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file {path} does not exist; pass weights=None for random initialisation "
            "or the path of a state_dict saved with torch.save(model.state_dict(), path)"
        )
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a local checkpoint file, keyed by name (nothing is downloaded).

    ``.safetensors`` files are read with :mod:`safetensors`; anything else with
    ``torch.load(..., weights_only=True)``. A checkpoint dict holding the state_dict under
    ``"state_dict"`` or ``"model"`` is unwrapped, and a ``"module."`` prefix (DataParallel)
    is stripped. Raises :class:`FileNotFoundError` or :class:`WeightsFileError`.
    """
    path = _existing(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as err:  # pragma: no cover - pinned in requirements.txt
            raise WeightsFileError(
                f"{path}: reading .safetensors needs the safetensors package "
                "(pip install safetensors==0.8.0)"
            ) from err
        obj: object = load_file(str(path), device="cpu")
    else:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise WeightsFileError(f"{path} does not hold a state_dict (got {type(obj).__name__})")
    return {
        (k[len("module.") :] if k.startswith("module.") else k): v
        for k, v in obj.items()
        if isinstance(v, torch.Tensor)
    }


def load_state(
    model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path, strict: bool = True
) -> nn.Module:
    """Load ``state`` (merkit's own key names) into ``model``; errors name ``path``."""
    own = model.state_dict()
    bad_shapes = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if bad_shapes or (strict and (missing or unexpected)):
        raise WeightsFileError(
            f"weights file {path} does not fit {type(model).__name__}: "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys "
            f"{unexpected[:5]}, shape mismatches {bad_shapes[:5]}; check in_chans / "
            "num_classes / the architecture flags, or load with strict=False"
        )
    model.load_state_dict(dict(state), strict=strict)
    return model


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> nn.Module:
    """Load a local ``state_dict`` file of this very model into ``model`` (in place).

    Accepts a bare ``state_dict`` or a checkpoint dict holding it under ``"state_dict"``
    or ``"model"``; a ``"module."`` prefix (DataParallel) is stripped. Raises
    :class:`FileNotFoundError` for a missing file and :class:`WeightsFileError` naming the
    missing / unexpected / mis-shaped keys otherwise. Never downloads anything. For other
    architectures' checkpoints use :func:`merkit.models.pretrained.load_pretrained`.
    """
    return load_state(model, read_state_dict(path), path, strict)
