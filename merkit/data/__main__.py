"""``python -m merkit.data``: resolve (and if needed generate) the data, print a summary.

``--source auto|synthetic|real`` (default ``auto``: the licensed data when the root variables
are set), ``--scale full|smoke`` (the synthetic set's size), ``--seed`` (its seed),
``--variant standard|shuffled-aus`` (the synthetic set's variant).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from merkit.data.source import DataConfig, resolve, summary
from merkit.data.synthetic import VARIANTS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m merkit.data",
                                     description="Resolve the data set and print a summary.")
    parser.add_argument("--source", choices=("auto", "synthetic", "real"), default="auto")
    parser.add_argument("--scale", choices=("full", "smoke"), default="full")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
    parser.add_argument("--variant", choices=VARIANTS, default="standard",
                        help="variant of the synthetic set (shuffled-aus: AU codes permuted)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    source = resolve(DataConfig(source=args.source, synthetic_scale=args.scale,
                                synthetic_seed=args.seed, synthetic_variant=args.variant))
    print(summary(source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
