"""Handcrafted spatio-temporal descriptors and their linear SVM (the papers' baselines).

MER-auGCN Table VI compares with LBP-TOP, 3DHOG and HOOF; RRRN Tables III-IV with LBP-TOP,
LBP-SIP and 3DHOG, each followed by an SVM. Appearance descriptors take the face-cropped clip
onset..offset as a volume ``(T, H, W)`` (:mod:`merkit.features.volume`); HOOF takes the TV-L1
flow the deep models use. Every descriptor has a frozen config dataclass with ``extract`` and
``n_features``; ``name`` and ``version`` enter the cache key (:func:`feature_key`).

=============  ===========================  =============================================
descriptor     input                        default length
=============  ===========================  =============================================
``lbp_top``    volume (T, H, W)             5 x 5 blocks x 3 planes x 59 bins = 4425
``lbp_sip``    volume (T, H, W)             5 x 5 blocks x (16 + 4) = 500
``hog3d``      volume (T, H, W)             4 x 4 x 2 cuboids x 3 planes x 8 bins = 768
``hoof``       flow (H, W, 2)|(T, H, W, 2)  5 x 5 blocks x 8 bins = 200
=============  ===========================  =============================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from merkit.features.hog3d import HOG3DConfig, hog3d, hog3d_length
from merkit.features.hoof import HOOFConfig, hoof, hoof_length
from merkit.features.lbpsip import LBPSIPConfig, lbp_sip, lbp_sip_length
from merkit.features.lbptop import LBPTOP_CASME2, LBPTOPConfig, lbp_top, lbp_top_length
from merkit.features.svm import SVMConfig, fit_predict_svm
from merkit.features.volume import (
    VolumeConfig,
    clip_volume,
    clip_volume_from_frames,
    resample_time,
)

DescriptorConfig = LBPTOPConfig | LBPSIPConfig | HOG3DConfig | HOOFConfig

#: descriptor name -> its config class (default instance: ``DESCRIPTORS[name]()``).
DESCRIPTORS: dict[str, type] = {
    "lbp_top": LBPTOPConfig,
    "lbp_sip": LBPSIPConfig,
    "hog3d": HOG3DConfig,
    "hoof": HOOFConfig,
}

#: descriptors that read the optical flow rather than the grey-level volume.
FLOW_DESCRIPTORS: frozenset[str] = frozenset({"hoof"})


def descriptor_config(name: str, **overrides: Any) -> DescriptorConfig:
    """``descriptor_config("lbp_top", grid=(8, 8))`` -> the config with those fields."""
    try:
        cls = DESCRIPTORS[name]
    except KeyError:
        raise ValueError(f"unknown descriptor {name!r}; known: {sorted(DESCRIPTORS)}") from None
    return cls(**overrides)


def feature_key(config: DescriptorConfig, source: Any) -> dict[str, Any]:
    """What a cached feature depends on: descriptor name, version and parameters, plus
    ``source`` (the :class:`VolumeConfig`, or the flow config, and the clip's fingerprint).
    Hash it with :func:`merkit.io.stable_hash` for the file name."""
    return {
        "descriptor": config.name,
        "version": config.version,
        "params": config,
        "source": source,
    }


def extract(config: DescriptorConfig, x: np.ndarray) -> np.ndarray:
    """``config.extract(x)`` with a length check: ``(n_features,)`` float64."""
    out = config.extract(x)
    if out.shape != (config.n_features,):
        raise AssertionError(f"{config.name} gave {out.shape}, documented ({config.n_features},)")
    return out


__all__ = [
    "DESCRIPTORS",
    "FLOW_DESCRIPTORS",
    "LBPTOP_CASME2",
    "DescriptorConfig",
    "HOG3DConfig",
    "HOOFConfig",
    "LBPSIPConfig",
    "LBPTOPConfig",
    "SVMConfig",
    "VolumeConfig",
    "clip_volume",
    "clip_volume_from_frames",
    "descriptor_config",
    "extract",
    "feature_key",
    "fit_predict_svm",
    "hog3d",
    "hog3d_length",
    "hoof",
    "hoof_length",
    "lbp_sip",
    "lbp_sip_length",
    "lbp_top",
    "lbp_top_length",
    "resample_time",
]
