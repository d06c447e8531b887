"""Run profiles: ``smoke``, ``quick`` and ``paper``, composed from each layer's own config.

Every layer defines its frozen config dataclass (``DataConfig`` in :mod:`merkit.data`,
``PreprocessConfig`` in :mod:`merkit.preprocess`, the descriptor and SVM configs in
:mod:`merkit.features`, each model's config in :mod:`merkit.models`, ``LossConfig`` in
:mod:`merkit.losses`, ``ProtocolConfig`` in :mod:`merkit.protocols`, ``TrainConfig`` in
:mod:`merkit.train`, ``ExecutionConfig`` in :mod:`merkit.experiments`). This module only
composes them into the three profiles; nothing below :mod:`merkit.reproduce` imports it, and no
function below ``reproduce/`` ever sees a profile: :mod:`merkit.reproduce` turns a profile into
one frozen *recipe* per table row and passes that down.

* ``smoke``: a tiny slice of the embedded synthetic data, one epoch; every notebook well under
  a minute on 2 CPU cores. The test suite executes every notebook this way.
* ``quick``: the default of ``make reproduce`` on a CPU: the whole embedded data set, every
  table cell filled, with reduced epochs / augmentation / input sizes / folds so the whole run
  stays under an hour on 2 cores.
* ``paper``: the papers' settings, for a GPU and the licensed data.

A report's departures from the papers are not written by hand: :func:`departures` compares a
profile with ``paper`` field by field, limited to the sections the notebook uses.

Ablations use :func:`dataclasses.replace`; :meth:`Profile.to_json` is stored with every table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from merkit.data import DataConfig
from merkit.data.megc2019 import DATASETS as MEGC2019_DATASETS
from merkit.experiments import ExecutionConfig, execution_from_env
from merkit.features import (
    HOG3DConfig,
    HOOFConfig,
    LBPSIPConfig,
    LBPTOPConfig,
    SVMConfig,
    VolumeConfig,
)
from merkit.io import stable_hash, to_json
from merkit.losses import RRRNObjective
from merkit.metrics import BootstrapConfig
from merkit.models import ResNet18TwoPathConfig, RRRNConfig, VGGConfig
from merkit.paper import CONDITIONS
from merkit.preprocess.augment import AugmentConfig
from merkit.preprocess.flow import FlowConfig
from merkit.preprocess.occlusion import CoverageConfig
from merkit.preprocess.pipeline import QUICK_TVL1, PreprocessConfig
from merkit.protocols import ProtocolConfig
from merkit.train import TrainConfig

PROFILES: tuple[str, ...] = ("smoke", "quick", "paper")

@dataclass(frozen=True)
class AugcnTablesConfig:
    """MER-auGCN Tables III–VII (profile section ``augcn``).

    ``input_size``: the flow side of the Dual-Inception rows (28 in the paper);
    ``resnet18_input_size``: the Table III "Resnet18" row's (112 in the paper).
    ``resnet18_blocks`` / ``resnet18_resize``: that row's ResNet18 reading
    (``MERAuGCNConfig.resnet_blocks``: (2, 2, 2, 2) standard, (1, 1, 1, 1) "four basic
    blocks"; ``resnet18_widths``: its stage widths, narrower in the CPU profiles;
    ``MERAuGCNConfig.resize``: "resize" or "center_crop" for "cropped to 112x112").
    ``feature_dim``: d of the global feature (1024). ``protocol``: how CDE folds are drawn.
    ``weights``: optional ``(method, path)`` pairs of local checkpoint files read by
    :func:`merkit.models.load_pretrained` (e.g. ``(("resnet18", "resnet18-f37072fd.pth"),)``
    starts both paths of the Table III "Resnet18" row from ImageNet); random otherwise.
    """

    input_size: int = 28
    resnet18_input_size: int = 112
    resnet18_blocks: tuple[int, int, int, int] = (2, 2, 2, 2)
    resnet18_widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    resnet18_resize: Literal["resize", "center_crop"] = "resize"
    feature_dim: int = 1024
    train: TrainConfig = field(default_factory=TrainConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    weights: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HandcraftedConfig:
    """Descriptor, volume and SVM settings (profile section ``handcrafted``)."""

    volume: VolumeConfig = field(default_factory=VolumeConfig)
    svm: SVMConfig = field(default_factory=SVMConfig)
    lbp_top: LBPTOPConfig = field(default_factory=LBPTOPConfig)
    lbp_sip: LBPSIPConfig = field(default_factory=LBPSIPConfig)
    hog3d: HOG3DConfig = field(default_factory=HOG3DConfig)
    hoof: HOOFConfig = field(default_factory=HOOFConfig)

    def descriptor(self, name: str) -> Any:  # -> merkit.features.DescriptorConfig
        if name not in ("lbp_top", "lbp_sip", "hog3d", "hoof"):
            raise ValueError(f"unknown descriptor {name!r}; choose lbp_top, lbp_sip, hog3d or hoof")
        return getattr(self, name)


@dataclass(frozen=True)
class OcclusionTablesConfig:
    """RRRN Tables III–IV: conditions, input size, budgets, the three deep models' configs.

    Every condition is its own data set (train and test both occluded, as the paper's
    Mask-/Glass-/RMask- databases). ``input_size``: the flow side of RRRN's regions and the
    baselines (224 in the paper). ``augment``: the 70x augmentation of training clips.
    ``rrrn`` / ``vgg`` / ``resnet``: the models' typed configs (smaller heads in quick/smoke).
    ``rrrn_loss``: RRRN's training objective, Eq. 9's lambda1, lambda2 and beta (and where
    P(f_k) of Eq. 8 is trained, see :class:`merkit.losses.RRRNObjective`).
    ``weights``: optional ``(method, path)`` pairs of local files (e.g. ``("resnet18",
    "resnet18-f37072fd.pth")``, ``("vgg16", "vgg_face_dag.pth")``, ``("rrrn", ...)``), loaded by
    :func:`merkit.models.pretrained.load_pretrained` (torchvision / timm ResNet18, VGG16(-BN),
    VGG-Face, or merkit's own state_dicts); random initialisation otherwise, and the reports
    say so (:func:`merkit.models.pretrained.describe_weights`). ``column_train``: optional
    ``(method, TrainConfig)`` pairs that replace ``train`` for one column (the quick profile's
    from-scratch baselines need other budgets than RRRN). ``occlusion_seed``: the occluder
    designs' and block positions' seed.
    """

    conditions: tuple[str, ...] = CONDITIONS
    input_size: int = 224
    augment: bool = True
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=32))
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    rrrn: RRRNConfig = field(default_factory=RRRNConfig)
    vgg: VGGConfig = field(default_factory=VGGConfig)
    resnet: ResNet18TwoPathConfig = field(default_factory=ResNet18TwoPathConfig)
    rrrn_loss: RRRNObjective = field(default_factory=RRRNObjective)
    weights: tuple[tuple[str, str], ...] = ()
    column_train: tuple[tuple[str, TrainConfig], ...] = ()
    occlusion_seed: int = 0

    def train_of(self, method: str) -> TrainConfig:
        """The training budget of one column: its ``column_train`` entry, else ``train``."""
        return dict(self.column_train).get(method, self.train)


@dataclass(frozen=True)
class Megc2019Config:
    """The MEGC 2019 composite, notebook 12 (profile section ``megc2019``).

    ``datasets``: the composite's registered data sets (SMIC-HS, CASME II, SAMM); ``methods``:
    its rows (:data:`merkit.reproduce.megc2019.METHODS`), each trained with its own table's
    settings (``augcn`` / ``occlusion`` / ``handcrafted``) and a 3-class head; ``protocol``:
    LOSO (68 folds on the real sets), or ``cde="group"`` folds to bound CPU time (the report
    says so); ``seeds``: ``None`` uses the profile's seeds; ``augment``: ``None`` keeps each
    row's own setting (the 70x augmentation of MER-auGCN's rows), ``False`` trains every row on
    the original onset->apex pairs only (the quick profile, to fit the CPU hour).
    """

    datasets: tuple[str, ...] = MEGC2019_DATASETS
    methods: tuple[str, ...] = ("mer_augcn", "dual_inception", "rrrn", "resnet18", "lbp_top")
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    seeds: tuple[int, ...] | None = None
    augment: bool | None = None


@dataclass(frozen=True)
class Profile:
    """Everything a run depends on, per layer and per table family."""

    name: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augcn: AugcnTablesConfig = field(default_factory=AugcnTablesConfig)
    handcrafted: HandcraftedConfig = field(default_factory=HandcraftedConfig)
    occlusion: OcclusionTablesConfig = field(default_factory=OcclusionTablesConfig)
    coverage: CoverageConfig = field(default_factory=CoverageConfig)
    megc2019: Megc2019Config = field(default_factory=Megc2019Config)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    seeds: tuple[int, ...] = (0,)
    #: the subject-clustered bootstrap of every interval (resamples, confidence, seed)
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)

    def to_json(self) -> str:
        return to_json(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Short hash of the whole profile (changes whenever any setting changes)."""
        return stable_hash(self)


def get_profile(name: str, **overrides: Any) -> Profile:
    """The named profile, optionally with top-level fields replaced.

    Its ``execution`` takes the environment's overrides (:func:`merkit.experiments.
    execution_from_env`: ``MERKIT_EXECUTOR``, ``MERKIT_SLURM_*``, which ``make reproduce
    EXECUTOR=slurm SLURM_PARTITION=gpu ...`` sets), so notebooks run by papermill inherit
    them; an ``execution`` passed in ``overrides`` replaces the whole section. How a grid runs
    is never part of a run key nor a departure.
    """
    try:
        base = _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {PROFILES}") from None
    execution = execution_from_env(base.execution)
    if execution != base.execution:
        base = dataclasses.replace(base, execution=execution)
    return dataclasses.replace(base, **overrides) if overrides else base


# --- departures: computed, never written by hand ---------------------------------------------

#: Fields that say *where the data come from* or *how* a run is executed: never a departure
#: from the papers (the banner states the data source on its own line).
_NOT_DEPARTURES: frozenset[str] = frozenset({
    "name", "description", "execution", "bootstrap", "data.source", "data.synthetic_scale", "data.synthetic_seed",
    "data.synthetic_variant", "data.datasets",
})


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(getattr(value, f.name), f"{prefix}.{f.name}" if prefix else f.name)
    else:
        yield prefix, value


def departures(profile: Profile, sections: Sequence[str] | None = None) -> list[tuple[str, Any, Any]]:
    """``(field, this profile's value, the paper profile's value)`` for every field that differs.

    ``sections`` limits the comparison to the profile sections a notebook uses (e.g.
    ``("preprocess", "augcn", "seeds")``); ``None`` compares everything. Execution settings
    (workers, threads) are never departures.
    """
    paper = _PROFILES["paper"]
    wanted = [f.name for f in dataclasses.fields(Profile)
              if f.name not in _NOT_DEPARTURES and (sections is None or f.name in sections)]
    out = []
    for section in wanted:
        ours = dict(_leaves(getattr(profile, section), section))
        theirs = dict(_leaves(getattr(paper, section), section))
        out.extend((k, v, theirs.get(k)) for k, v in ours.items()
                   if theirs.get(k) != v and k not in _NOT_DEPARTURES)
    return out


_SMOKE_TRAIN = TrainConfig(epochs=1, batch_size=16)
#: the quick profile's networks: ResNet18's stage widths / 4 (FLOPs / ~16), so three seeds of
#: every deep row fit the CPU hour; the paper profile keeps the full widths
_QUICK_WIDTHS = (16, 32, 64, 128)
#: the CPU levers ``make bench train`` measured worth having on this machine's AVX512-BF16 cores
_QUICK_LEVERS = {"amp": "bf16", "channels_last": "on"}
#: the quick occlusion tables' budget (OcclusionTablesConfig.train); columns vary it
_QUICK_OCC_TRAIN = TrainConfig(epochs=6, batch_size=16, lr=2e-3, **_QUICK_LEVERS)  # type: ignore[arg-type]

_PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="tiny synthetic slice for tests; numbers are meaningless",
        data=DataConfig(source="synthetic", synthetic_scale="smoke"),
        preprocess=PreprocessConfig(
            flow=FlowConfig(crop_size=48, **QUICK_TVL1),  # type: ignore[arg-type]
            augment=AugmentConfig(enabled=False),
        ),
        augcn=AugcnTablesConfig(
            input_size=28, resnet18_input_size=32, feature_dim=64, train=_SMOKE_TRAIN,
            protocol=ProtocolConfig(cde="group", cde_folds=2),
        ),
        handcrafted=HandcraftedConfig(
            volume=VolumeConfig(length=8, size=32), svm=SVMConfig(Cs=(0.1, 1.0, 10.0), n_splits=2),
            lbp_top=LBPTOPConfig(grid=(3, 3)), lbp_sip=LBPSIPConfig(grid=(3, 3)), hoof=HOOFConfig(grid=(3, 3)),
        ),
        occlusion=OcclusionTablesConfig(
            conditions=("unocc", "mask", "glass", "block-0.25"), input_size=32, augment=False,
            train=_SMOKE_TRAIN, protocol=ProtocolConfig(cde="group", cde_folds=2),
            rrrn=RRRNConfig(backbone_blocks=(1, 1, 1, 1), squeeze_channels=16, gcn_dims=(256, 1024)),
            vgg=VGGConfig(pool_size=1, fc_dims=(64, 64)),
            resnet=ResNet18TwoPathConfig(blocks=(1, 1, 1, 1)),
        ),
        coverage=CoverageConfig(n_clips=None, seeds=(0, 1)),
        megc2019=Megc2019Config(protocol=ProtocolConfig(cde="group", cde_folds=3)),
        execution=ExecutionConfig(n_jobs=1, threads_per_job=2),
        seeds=(0,),
        bootstrap=BootstrapConfig(n_resamples=200),
    ),
    "quick": Profile(
        name="quick",
        description=("whole embedded data set, reduced budgets (narrow networks, bf16 on the CPU); "
                     "the CPU default: 3 seeds in < 1 h on 2 cores"),
        data=DataConfig(source="auto", synthetic_scale="full"),
        preprocess=PreprocessConfig(
            flow=FlowConfig(crop_size=64, **QUICK_TVL1),  # type: ignore[arg-type]
            augment=AugmentConfig(before_fractions=(0.8,), after_fractions=(0.2,), angles=(-10.0, 0.0, 10.0)),
        ),
        augcn=AugcnTablesConfig(
            input_size=28, resnet18_input_size=56, resnet18_widths=_QUICK_WIDTHS, feature_dim=256,
            train=TrainConfig(epochs=12, **_QUICK_LEVERS),  # type: ignore[arg-type]
            protocol=ProtocolConfig(cde="group", cde_folds=5),
        ),
        handcrafted=HandcraftedConfig(svm=SVMConfig(Cs=(0.01, 0.1, 1.0, 10.0), n_splits=3)),
        occlusion=OcclusionTablesConfig(
            input_size=32, augment=False,
            train=_QUICK_OCC_TRAIN,
            # budgets fixed on a development set generated with seed 1 (never on the evaluation
            # set): RRRN lr 2e-3 and 12 epochs (dev UAR 0.43 at 6, 0.52 at 12), ResNet18 lr 5e-3;
            # VGG16 from scratch needs 12 epochs without dropout to leave the constant
            # prediction it stays at in 6
            column_train=(
                ("rrrn", dataclasses.replace(_QUICK_OCC_TRAIN, epochs=12)),
                ("resnet18", dataclasses.replace(_QUICK_OCC_TRAIN, lr=5e-3)),
                ("vgg16", dataclasses.replace(_QUICK_OCC_TRAIN, epochs=12, lr=1e-3)),
            ),
            protocol=ProtocolConfig(cde="group", cde_folds=3),
            rrrn=RRRNConfig(backbone_widths=_QUICK_WIDTHS, squeeze_channels=64, gcn_dims=(256, 256)),
            vgg=VGGConfig(pool_size=1, fc_dims=(256, 256), widths=(16, 32, 64, 128, 128), dropout=0.0),
            resnet=ResNet18TwoPathConfig(widths=_QUICK_WIDTHS, feature_dim=256),
        ),
        coverage=CoverageConfig(n_clips=40, seeds=(0, 1, 2)),
        # the composite in the hour's remainder: 4 subject-grouped folds (not 68-fold LOSO), one
        # seed, no augmentation (a cold run with the 7x quick augmentation took 9.8 min alone)
        megc2019=Megc2019Config(protocol=ProtocolConfig(cde="group", cde_folds=4), seeds=(0,), augment=False),
        seeds=(0, 1, 2),
    ),
    "paper": Profile(
        name="paper",
        description="the papers' settings; meant for a GPU and the licensed data",
        data=DataConfig(source="auto", synthetic_scale="full"),
        preprocess=PreprocessConfig(flow=FlowConfig(crop_size=224)),
        handcrafted=HandcraftedConfig(volume=VolumeConfig(length=10, size=128, interpolation="tim")),
        seeds=(0, 1, 2),
    ),
}
