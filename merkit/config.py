"""Run profiles as frozen dataclasses: ``smoke``, ``quick`` and ``paper``.

* ``smoke``: a tiny slice of the embedded synthetic data, one or two epochs; every notebook
  well under a minute on 2 CPU cores. The test suite executes every notebook this way.
* ``quick``: the default of ``make reproduce`` on a CPU: the whole embedded data set, every
  table cell filled, with reduced epochs / augmentation / input sizes / folds so the whole
  run stays under an hour on 2 cores. :attr:`Profile.departures` lists each departure from
  the papers and every report prints it.
* ``paper``: the papers' settings, for a GPU and the licensed data.

A profile is data: stages read their own section, ablations use
:func:`dataclasses.replace`, and :meth:`Profile.to_json` is stored beside every result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from merkit.features import (
    HOG3DConfig,
    HOOFConfig,
    LBPSIPConfig,
    LBPTOPConfig,
    SVMConfig,
    VolumeConfig,
)
from merkit.io import stable_hash, to_json
from merkit.preprocess.occlusion import CONDITIONS
from merkit.preprocess.pipeline import PreprocessConfig, profile_config
from merkit.train import TrainConfig

ProfileName = Literal["smoke", "quick", "paper"]
PROFILES: tuple[str, ...] = ("smoke", "quick", "paper")


@dataclass(frozen=True)
class DataConfig:
    """Which clips to use.

    ``source``: ``"auto"`` uses the licensed data when ``CASME2_ROOT`` and ``SAMM_ROOT`` are
    set and the embedded synthetic set otherwise; ``"synthetic"`` / ``"real"`` force one.
    ``synthetic_scale``: ``"full"`` (Table II counts) or ``"smoke"`` (a few subjects).
    ``classes``: the MEGC 2018 objective classes kept (I–V).
    """

    source: Literal["auto", "synthetic", "real"] = "auto"
    synthetic_scale: Literal["full", "smoke"] = "full"
    synthetic_seed: int = 0
    classes: tuple[int, ...] = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class ExperimentConfig:
    """How the deep runs are budgeted.

    ``train``: optimiser and epochs (:class:`merkit.train.TrainConfig`). ``feature_dim``: d of
    MER-auGCN's global feature (1024 in the paper). ``resnet_input``: flow size for the ResNet18
    ablation row (112 in the paper). ``cde``: ``"loso"`` (the MEGC protocol) or ``"group"``
    (``cde_folds`` subject-grouped folds, to bound CPU time; reports say so). ``n_jobs``
    worker processes, each with ``threads_per_job`` torch threads.
    """

    train: TrainConfig = field(default_factory=TrainConfig)
    feature_dim: int = 1024
    resnet_input: int = 112
    cde: Literal["loso", "group"] = "loso"
    cde_folds: int = 5
    n_jobs: int = 2
    threads_per_job: int = 1


@dataclass(frozen=True)
class HandcraftedConfig:
    """Descriptor, volume and SVM settings (profile section ``handcrafted``)."""

    volume: VolumeConfig = field(default_factory=VolumeConfig)
    svm: SVMConfig = field(default_factory=SVMConfig)
    lbp_top: LBPTOPConfig = field(default_factory=LBPTOPConfig)
    lbp_sip: LBPSIPConfig = field(default_factory=LBPSIPConfig)
    hog3d: HOG3DConfig = field(default_factory=HOG3DConfig)
    hoof: HOOFConfig = field(default_factory=HOOFConfig)

    def descriptor(self, name: str):  # -> merkit.features.DescriptorConfig
        if name not in ("lbp_top", "lbp_sip", "hog3d", "hoof"):
            raise ValueError(f"unknown descriptor {name!r}; choose lbp_top, lbp_sip, hog3d or hoof")
        return getattr(self, name)


@dataclass(frozen=True)
class OcclusionTablesConfig:
    """RRRN Tables III–IV: conditions, input size, budgets, model overrides.

    Every condition is its own data set (train and test both occluded, as the paper's
    Mask-/Glass-/RMask- databases). ``input_size``: flow side fed to RRRN's regions and the
    baselines (224 in the paper). ``augment``: the 70x augmentation of training clips.
    ``cde``/``cde_folds`` as in :class:`ExperimentConfig`. ``rrrn``/``vgg``/``resnet``:
    ``(field, value)`` overrides of the models' configs (smaller heads in quick/smoke).
    ``weights``: optional ``(method, path)`` pairs of local state_dict files (e.g. ImageNet
    weights you supply); random initialisation otherwise, and the reports say so.
    ``occlusion_seed``: seed of the occluder designs and block positions.
    """

    conditions: tuple[str, ...] = CONDITIONS
    input_size: int = 224
    augment: bool = True
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=32))
    cde: Literal["loso", "group"] = "loso"
    cde_folds: int = 5
    rrrn: tuple[tuple[str, Any], ...] = ()
    vgg: tuple[tuple[str, Any], ...] = ()
    resnet: tuple[tuple[str, Any], ...] = ()
    weights: tuple[tuple[str, str], ...] = ()
    occlusion_seed: int = 0


@dataclass(frozen=True)
class Profile:
    """Everything a run depends on, per stage. Later stages add their own sections."""

    name: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    handcrafted: HandcraftedConfig = field(default_factory=HandcraftedConfig)
    occlusion: OcclusionTablesConfig = field(default_factory=OcclusionTablesConfig)
    seeds: tuple[int, ...] = (0,)
    departures: tuple[str, ...] = ()

    def to_json(self) -> str:
        return to_json(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Short hash of the whole profile (changes whenever any setting changes)."""
        return stable_hash(self)


def get_profile(name: str, **overrides: Any) -> Profile:
    """The named profile, optionally with top-level fields replaced."""
    try:
        base = _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {PROFILES}") from None
    return dataclasses.replace(base, **overrides) if overrides else base


_PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="tiny synthetic slice for tests; numbers are meaningless",
        data=DataConfig(source="synthetic", synthetic_scale="smoke"),
        preprocess=profile_config("smoke"),
        experiment=ExperimentConfig(
            train=TrainConfig(epochs=1, batch_size=16), feature_dim=64, resnet_input=32,
            cde="group", cde_folds=2, n_jobs=1, threads_per_job=2,
        ),
        handcrafted=HandcraftedConfig(
            volume=VolumeConfig(length=8, size=32), svm=SVMConfig(Cs=(0.1, 1.0, 10.0), n_splits=2),
            lbp_top=LBPTOPConfig(grid=(3, 3)), lbp_sip=LBPSIPConfig(grid=(3, 3)), hoof=HOOFConfig(grid=(3, 3)),
        ),
        occlusion=OcclusionTablesConfig(
            conditions=("unocc", "mask", "glass", "block-0.25"), input_size=32, augment=False,
            train=TrainConfig(epochs=1, batch_size=16), cde="group", cde_folds=2,
            rrrn=(("backbone_blocks", (1, 1, 1, 1)), ("squeeze_channels", 16), ("gcn_dims", (256, 1024))),
            vgg=(("pool_size", 1), ("fc_dims", (64, 64))),
            resnet=(("blocks", (1, 1, 1, 1)),),
        ),
        seeds=(0,),
        departures=(
            "smoke profile: a few synthetic subjects, one epoch, tiny models, 4 of the 13 "
            "occlusion conditions; for testing the pipeline only, the numbers mean nothing",
        ),
    ),
    "quick": Profile(
        name="quick",
        description="whole embedded data set, reduced budgets; the CPU default (< 1 h on 2 cores)",
        data=DataConfig(source="auto", synthetic_scale="full"),
        preprocess=profile_config("quick"),
        experiment=ExperimentConfig(
            train=TrainConfig(epochs=12), resnet_input=56, cde="group", cde_folds=5,
        ),
        handcrafted=HandcraftedConfig(svm=SVMConfig(Cs=(0.01, 0.1, 1.0, 10.0), n_splits=3)),
        occlusion=OcclusionTablesConfig(
            input_size=32, augment=False, train=TrainConfig(epochs=6, batch_size=16),
            cde="group", cde_folds=3,
            vgg=(("pool_size", 1), ("fc_dims", (512, 512))),
        ),
        seeds=(0,),
        departures=(
            "one seed instead of several",
            "augmentation: 3 apex positions (0.8 of the rise, the apex, 0.2 of the fall) x 3 "
            "angles (-10, 0, 10 degrees) = 9 flow pairs per training clip instead of 10 x 7 = 70",
            "TV-L1 on 64 px face crops with 5 pyramid levels, 1 warp, 1 outer iteration "
            "(the paper: native-size crops, OpenCV defaults)",
            "12 training epochs instead of 50",
            "ResNet18 ablation row on 56x56 flows instead of 112x112",
            "CDE: 5 subject-grouped folds instead of leave-one-subject-out (47 folds); "
            "metrics pooled over folds as in MEGC 2018",
            "occlusion tables: 32x32 flows for RRRN and the baselines (the paper: 224x224), "
            "no augmentation, 6 epochs of batch 16 (the paper: 70x augmentation, 50 epochs of "
            "batch 32), CDE on 3 subject-grouped folds; VGG16 with a 512-512 head after global "
            "pooling (the paper: 4096-4096 on 7x7)",
            "all deep models randomly initialised (the RRRN paper used ImageNet / VGG-Face "
            "weights; pass your own through the profile's weights field)",
        ),
    ),
    "paper": Profile(
        name="paper",
        description="the papers' settings; meant for a GPU and the licensed data",
        data=DataConfig(source="auto", synthetic_scale="full"),
        preprocess=profile_config("paper"),
        handcrafted=HandcraftedConfig(volume=VolumeConfig(length=10, size=128, interpolation="tim")),
        seeds=(0, 1, 2),
        departures=(
            "deep models randomly initialised unless weights files are given (the RRRN paper "
            "used ImageNet / VGG-Face weights, which cannot be downloaded here)",
        ),
    ),
}
