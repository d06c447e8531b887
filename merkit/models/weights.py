"""Loading user-supplied weights: the one way any merkit model gets pretrained parameters.

Nothing is ever downloaded: a pretrained backbone (e.g. ImageNet ResNet18, VGG-Face VGG16) is
an optional local ``state_dict`` file the user passes; the default is random initialisation,
and the reports say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


class WeightsFileError(ValueError):
    """A weights file that cannot be loaded into the model (wrong keys or shapes)."""


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> nn.Module:
    """Load a local ``state_dict`` file into ``model`` (in place) and return the model.

    Accepts a bare ``state_dict`` or a checkpoint dict holding it under ``"state_dict"``
    or ``"model"``; a ``"module."`` prefix (DataParallel) is stripped. Raises
    :class:`FileNotFoundError` for a missing file and :class:`WeightsFileError` naming the
    missing / unexpected / mis-shaped keys otherwise. Never downloads anything.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file {path} does not exist; pass weights=None for random initialisation "
            "or the path of a state_dict saved with torch.save(model.state_dict(), path)"
        )
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise WeightsFileError(f"{path} does not hold a state_dict (got {type(obj).__name__})")
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}
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
    model.load_state_dict(state, strict=strict)
    return model
