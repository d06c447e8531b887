"""Where the clips come from: the licensed data sets, or the embedded synthetic default.

The licensed folders are used when every configured data set's root variable is set
(``CASME2_ROOT`` and ``SAMM_ROOT`` by default, see :mod:`merkit.data.registry`); otherwise
merkit generates (once) and uses its synthetic data set. The two are never mixed: setting only
some of the variables is an error naming the missing ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from merkit.data.registry import DatasetEntry, get_dataset
from merkit.facs import MEGC_CLASSES, OBJECTIVE_CLASSES

#: The data sets a :class:`DataConfig` uses unless told otherwise (the MEGC 2018 composite).
DEFAULT_DATASETS: tuple[str, ...] = ("casme2", "samm")

_SOURCES = ("auto", "synthetic", "real")
_SCALES = ("full", "smoke")


@dataclass(frozen=True)
class DataConfig:
    """Which clips to use.

    ``source``: ``"auto"`` uses the licensed data when the root variables of ``datasets`` are
    set (``CASME2_ROOT``, ``SAMM_ROOT``) and the embedded synthetic set otherwise;
    ``"synthetic"`` / ``"real"`` force one. ``synthetic_scale``: ``"full"`` (Table II counts) or
    ``"smoke"`` (a few subjects); ``synthetic_seed`` its seed; ``synthetic_variant``:
    ``"standard"`` or ``"shuffled-aus"`` (the same frames, the sheets' AU codes permuted across
    clips: a control, :data:`merkit.data.synthetic.VARIANTS`), generated in its own folder
    (:func:`merkit.data.synthetic.default_dir`). ``classes``: the objective classes kept (the
    MEGC 2018 classes I–V). ``datasets``: the registered data sets of the composite.
    """

    source: Literal["auto", "synthetic", "real"] = "auto"
    synthetic_scale: Literal["full", "smoke"] = "full"
    synthetic_seed: int = 0
    synthetic_variant: str = "standard"
    classes: tuple[int, ...] = MEGC_CLASSES
    datasets: tuple[str, ...] = DEFAULT_DATASETS

    def __post_init__(self) -> None:
        if self.source not in _SOURCES:
            raise ValueError(f"source must be one of {_SOURCES}, not {self.source!r}")
        if self.synthetic_scale not in _SCALES:
            raise ValueError(
                f"synthetic_scale must be one of {_SCALES}, not {self.synthetic_scale!r}"
            )
        from merkit.data.synthetic import VARIANTS

        if self.synthetic_variant not in VARIANTS:
            raise ValueError(
                f"synthetic_variant must be one of {VARIANTS}, not {self.synthetic_variant!r}"
            )
        if not self.classes or not set(self.classes) <= set(OBJECTIVE_CLASSES):
            raise ValueError(f"classes must be a non-empty subset of 1..7, not {self.classes!r}")
        if not self.datasets or len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"datasets must be non-empty, without repeats: {self.datasets!r}")


def _join(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


@dataclass(frozen=True)
class DataSource:
    """Resolved data set roots (name -> folder, in composite order) and what they are
    (``scale`` and ``variant`` of a synthetic set)."""

    kind: Literal["synthetic", "real"]
    roots: Mapping[str, Path] = field(hash=False)
    scale: str = "real"
    variant: str = "standard"

    def __post_init__(self) -> None:
        if self.kind not in ("synthetic", "real"):
            raise ValueError(f"kind must be 'synthetic' or 'real', not {self.kind!r}")
        if not self.roots:
            raise ValueError("a data source needs at least one data set root")
        # a private copy (a plain dict, so the source pickles into worker processes)
        object.__setattr__(self, "roots", {str(k): Path(v) for k, v in self.roots.items()})

    @property
    def datasets(self) -> tuple[str, ...]:
        """The data set names, in composite order."""
        return tuple(self.roots)

    def root(self, name: str) -> Path:
        """The root of data set ``name``."""
        try:
            return self.roots[name]
        except KeyError:
            have = ", ".join(self.roots)
            raise KeyError(f"this data source has no {name!r}; it has {have}") from None

    @property
    def is_synthetic(self) -> bool:
        return self.kind == "synthetic"

    @property
    def label(self) -> str:
        """One line for banners and reports: synthetic (with its scale) or the licensed roots."""
        entries = [get_dataset(name) for name in self.roots]
        if self.is_synthetic:
            names = " / ".join(e.label for e in entries)
            which = f"scale={self.scale}" + ("" if self.variant == "standard" else f", variant={self.variant}")
            return f"embedded synthetic data set ({which}), not {names}"
        return "licensed " + _join([f"{e.label} ({self.roots[e.name]})" for e in entries])

    def load(self, classes: tuple[int, ...] | None = MEGC_CLASSES) -> pd.DataFrame:
        """The composite of every data set (``classes=None`` keeps every class, for the AU task).

        ``df.attrs`` as :func:`merkit.data.composite.load`, plus ``"source"`` (:attr:`label`)
        and ``"synthetic"`` (:attr:`is_synthetic`).
        """
        from merkit.data import composite

        kept = classes if classes is not None else OBJECTIVE_CLASSES
        df = composite.load(self.roots, classes=kept)
        df.attrs["source"] = self.label
        df.attrs["synthetic"] = self.is_synthetic
        return df

    def ground_truth(self) -> pd.DataFrame:
        """The synthetic set's ground truth (:func:`merkit.data.synthetic.load_ground_truth`:
        true ``aus`` beside the sheets' ``coded_aus``, one row per clip of every class).

        Raises ``ValueError`` for licensed data, which has no ground truth beyond its sheets.
        """
        if not self.is_synthetic:
            raise ValueError("only the embedded synthetic data set has a ground truth beyond its sheets")
        from merkit.data import synthetic

        tops = {Path(root).parent for root in self.roots.values()}
        if len(tops) != 1:
            raise ValueError(f"the synthetic roots do not share one folder: {sorted(map(str, tops))}")
        return synthetic.load_ground_truth(tops.pop())


def _real(entries: Sequence[DatasetEntry], roots: Mapping[str, Path | None]) -> DataSource:
    missing = [e.env_var for e in entries if roots[e.name] is None]
    if missing:
        every = [e.env_var for e in entries]
        which = f"both {every[0]} and {every[1]}" if len(every) == 2 else _join(every)
        raise RuntimeError(
            f"{_join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Set {which} to use "
            "the licensed data, or none of them to use the embedded synthetic data set (they "
            "are never mixed)."
        )
    found: dict[str, Path] = {}
    for e in entries:
        root = roots[e.name]
        assert root is not None
        if not root.is_dir():
            raise FileNotFoundError(f"{e.env_var}={root} is not a folder")
        found[e.name] = root
    return DataSource("real", found)


def resolve(config: DataConfig, *, generate: bool = True) -> DataSource:
    """Resolve ``config`` to data set roots, generating the synthetic set if needed.

    ``generate=False`` only computes the synthetic roots (nothing is written).
    """
    # a config without ``datasets`` (an older DataConfig) means the MEGC 2018 pair
    entries = [get_dataset(n) for n in getattr(config, "datasets", DEFAULT_DATASETS)]
    roots = {e.name: e.root() for e in entries}
    wants_real = config.source == "real" or (
        config.source == "auto" and any(r is not None for r in roots.values())
    )
    if wants_real:
        return _real(entries, roots)
    lacking = [e.label for e in entries if not e.has_synthetic]
    if lacking:
        raise RuntimeError(
            f"the embedded synthetic data set has no stand-in for {_join(lacking)}; set "
            f"{_join([e.env_var for e in entries])} to use the licensed data"
        )
    from merkit.data import synthetic

    # a config without ``synthetic_variant`` (an older DataConfig) means the standard set
    variant = getattr(config, "synthetic_variant", "standard")
    out = synthetic.default_dir(config.synthetic_scale, variant)
    if generate:
        synthetic.generate(out, seed=config.synthetic_seed, scale=config.synthetic_scale,
                           config=synthetic.SyntheticConfig(variant=variant))
    return DataSource(
        "synthetic",
        {e.name: out / str(e.synthetic_dir) for e in entries},
        scale=config.synthetic_scale,
        variant=variant,
    )


def summary(source: DataSource, df: pd.DataFrame | None = None) -> str:
    """What ``make data`` prints: the label, clips per data set and class, subjects per data set."""
    df = source.load() if df is None else df
    return "\n".join([
        source.label,
        str(df.groupby(["dataset", "objective_class"]).size().unstack(fill_value=0)),
        str(df.groupby("dataset")["subject"].nunique().rename("subjects")),
    ])
