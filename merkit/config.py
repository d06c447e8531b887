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

from merkit.io import stable_hash, to_json
from merkit.preprocess.pipeline import PreprocessConfig, profile_config

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
class Profile:
    """Everything a run depends on, per stage. Later stages add their own sections."""

    name: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
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
        seeds=(0,),
        departures=(
            "smoke profile: a few synthetic subjects, one or two epochs; for testing the "
            "pipeline only, the numbers mean nothing",
        ),
    ),
    "quick": Profile(
        name="quick",
        description="whole embedded data set, reduced budgets; the CPU default (< 1 h on 2 cores)",
        data=DataConfig(source="auto", synthetic_scale="full"),
        preprocess=profile_config("quick"),
        seeds=(0,),
        departures=(
            "one seed instead of several",
            "augmentation: 3 apex positions (0.8 of the rise, the apex, 0.2 of the fall) x 3 "
            "angles (-10, 0, 10 degrees) = 9 flow pairs per training clip instead of 10 x 7 = 70",
            "TV-L1 on 64 px face crops with 5 pyramid levels, 1 warp, 1 outer iteration "
            "(the paper: native-size crops, OpenCV defaults)",
        ),
    ),
    "paper": Profile(
        name="paper",
        description="the papers' settings; meant for a GPU and the licensed data",
        data=DataConfig(source="auto", synthetic_scale="full"),
        preprocess=profile_config("paper"),
        seeds=(0, 1, 2),
        departures=(),
    ),
}
