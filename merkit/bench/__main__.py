"""``python -m merkit.bench [all|flow|train|levers|cpu|features|occlusion] [--quick]``: the one benchmark CLI.

``python -m merkit.bench NAME [options]`` runs one benchmark (``NAME --help`` lists its options);
``all`` (the default) runs every one in :data:`BENCHMARKS` order, then prints a summary table
of the ratios. See :mod:`merkit.bench` for what each benchmark compares and
:mod:`merkit.bench.common` for how a benchmark module looks.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from merkit.bench import cpu, features, flow, levers, occlusion, train
from merkit.bench.common import Benchmark, print_table

BENCHMARKS: Mapping[str, Benchmark] = MappingProxyType(
    {b.name: b for b in map(Benchmark.from_module, (flow, train, levers, cpu, features, occlusion))}
)
"""Every benchmark by name, in the order ``all`` runs them."""


def benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (``ValueError`` naming the choices otherwise)."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(
            f"unknown benchmark {name!r}; choose from {list(BENCHMARKS)} or 'all'"
        ) from None


def run_benchmark(name: str, argv: Sequence[str] = ()) -> dict:
    """Run benchmark ``name`` with command-line options ``argv``; returns its result dict
    (always with a finite, positive ``ratio``)."""
    return benchmark(name)(argv)


def run_all(quick: bool = False) -> dict[str, dict]:
    """Every benchmark in order (``--quick`` sizes if asked), then a summary table."""
    results: dict[str, dict] = {}
    start = time.perf_counter()
    for i, (name, bench) in enumerate(BENCHMARKS.items()):
        if i:
            print()
        results[name] = bench(["--quick"] if quick else [])
    print(f"\n== summary ({time.perf_counter() - start:.0f} s) ==")
    print_table(
        ["benchmark", "ratio", "merkit vs"],
        [[n, f"{r['ratio']:.2f}x", r.get("alternative", "")] for n, r in results.items()],
        align="lrl",
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (``SystemExit`` for ``--help`` and errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in BENCHMARKS:
        run_benchmark(argv[0], argv[1:])
        return 0
    import merkit.bench

    parser = argparse.ArgumentParser(
        prog="python -m merkit.bench",
        description=(merkit.bench.__doc__ or "").splitlines()[0],
        epilog="benchmarks:\n"
        + "\n".join(f"  {n:<10} {b.summary}" for n, b in BENCHMARKS.items())
        + "\n\n'python -m merkit.bench NAME --help' lists a benchmark's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", default="all", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    run_all(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
