"""Where the clips come from: the licensed data sets, or the embedded synthetic default.

The licensed folders are used when both ``CASME2_ROOT`` and ``SAMM_ROOT`` are set; otherwise
merkit generates (once) and uses its synthetic data set. The two are never mixed: setting only
one of the variables is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from merkit import paths
from merkit.config import DataConfig


@dataclass(frozen=True)
class DataSource:
    """A resolved pair of dataset roots and what they are."""

    kind: Literal["synthetic", "real"]
    casme2_root: Path
    samm_root: Path
    scale: str = "real"

    @property
    def is_synthetic(self) -> bool:
        return self.kind == "synthetic"

    @property
    def label(self) -> str:
        if self.is_synthetic:
            return f"embedded synthetic data set (scale={self.scale}), not CASME II / SAMM"
        return f"licensed CASME II ({self.casme2_root}) and SAMM ({self.samm_root})"

    def load(self, classes: tuple[int, ...] | None = (1, 2, 3, 4, 5)) -> pd.DataFrame:
        """The MEGC 2018 composite (``classes=None`` keeps every class, for the AU task)."""
        from merkit.data import megc2018

        kept = classes if classes is not None else (1, 2, 3, 4, 5, 6, 7)
        df = megc2018.load(self.casme2_root, self.samm_root, classes=kept)
        df.attrs["source"] = self.label
        df.attrs["synthetic"] = self.is_synthetic
        return df


def resolve(config: DataConfig, *, generate: bool = True) -> DataSource:
    """Resolve ``config`` to dataset roots, generating the synthetic set if needed."""
    casme2, samm = paths.casme2_root(), paths.samm_root()
    wants_real = config.source == "real" or (config.source == "auto" and (casme2 or samm))
    if wants_real:
        if casme2 is None or samm is None:
            missing = "CASME2_ROOT" if casme2 is None else "SAMM_ROOT"
            raise RuntimeError(
                f"{missing} is not set. Set both CASME2_ROOT and SAMM_ROOT to use the licensed "
                "data, or neither to use the embedded synthetic data set (they are never mixed)."
            )
        for name, root in (("CASME2_ROOT", casme2), ("SAMM_ROOT", samm)):
            if not root.is_dir():
                raise FileNotFoundError(f"{name}={root} is not a folder")
        return DataSource("real", casme2, samm)
    out = paths.synthetic_dir() / config.synthetic_scale
    if generate:
        from merkit.data import synthetic

        synthetic.generate(out, seed=config.synthetic_seed, scale=config.synthetic_scale)
    return DataSource("synthetic", out / "CASME2", out / "SAMM", scale=config.synthetic_scale)


def main() -> None:
    """``make data``: resolve (and if needed generate) the data of a profile, print a summary."""
    import argparse

    from merkit.config import PROFILES, get_profile

    parser = argparse.ArgumentParser(prog="python -m merkit.data.source")
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    args = parser.parse_args()
    source = resolve(get_profile(args.profile).data)
    df = source.load()
    print(source.label)
    print(df.groupby(["dataset", "objective_class"]).size().unstack(fill_value=0))
    print(df.groupby("dataset")["subject"].nunique().rename("subjects"))


if __name__ == "__main__":
    main()
