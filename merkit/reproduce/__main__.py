"""Run one row of a table headlessly, e.g. to check the paper profile on one fold.

``python -m merkit.reproduce --profile paper --method mer_augcn --protocol ablation``
trains MER-auGCN on SAMM -> CASME II with the profile's exact settings (cached like every
run), then prints the fold's metrics beside the published ones and the time each stage took.
Protocols: ``ablation`` (SAMM -> CASME II), ``hde`` (both folds), ``cde``, ``au`` (Table VII).

``python -m merkit.reproduce --profile paper --plan [--throughput FILE ...]`` (``make plan``)
trains nothing: it prints per notebook the runs, training sample-steps and flow pairs, and the
hours at the throughputs measured by ``make bench`` (``reports/bench/train.json`` and
``flow.json``, or ``--bench-dir``); each ``--throughput`` adds a column for another machine's
files, e.g. a GPU's ``train-cuda.json`` (:mod:`merkit.reproduce.plan`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    import dataclasses

    import numpy as np

    from merkit.config import PROFILES, get_profile
    from merkit.data import DataConfig, resolve
    from merkit.reproduce import augcn, tables

    parser = argparse.ArgumentParser(prog="python -m merkit.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--data", default="auto", choices=("auto", "synthetic", "real"))
    parser.add_argument("--method", default="mer_augcn", choices=sorted(augcn.METHODS))
    parser.add_argument("--protocol", default="ablation", choices=("ablation", "hde", "cde", "au"))
    parser.add_argument("--seeds", type=int, nargs="*", default=None,
                        help="replace the profile's seeds (e.g. --seeds 0 for a one-run check)")
    parser.add_argument("--plan", action="store_true",
                        help="train nothing: print every notebook's runs, sample-steps, flow pairs and hours")
    parser.add_argument("--throughput", metavar="FILE", nargs="+", action="append", default=[],
                        help="with --plan: a column for another machine's bench files (e.g. train-cuda.json)")
    parser.add_argument("--bench-dir", default=None,
                        help="with --plan: this machine's bench results (default reports/bench)")
    parser.add_argument("--only", nargs="*", default=(),
                        help="with --plan: only these notebooks (stems or prefixes, e.g. 03 06)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    profile = get_profile(args.profile)
    if args.seeds:
        profile = dataclasses.replace(profile, seeds=tuple(args.seeds))
    data: DataConfig = profile.data if args.data == "auto" else dataclasses.replace(profile.data, source=args.data)
    source = resolve(data)
    if args.plan:
        from merkit.reproduce import plan

        return plan.cli(profile, source, bench_dir=args.bench_dir, throughput=args.throughput, only=args.only)
    print(source.label)
    au_task = args.protocol == "au"
    recipe = augcn.recipe(profile, args.method, au_task=au_task)
    print(f"profile {profile.name}: seeds {list(recipe.seeds)}, {recipe.train}, input {recipe.input_size}px")
    ws = augcn.workspace(source, au_task=au_task)
    t0 = time.perf_counter()
    folds = tables.folds(ws, args.protocol, recipe.protocol)
    train_rows = np.unique(np.concatenate([f.train for f in folds]))
    fs = ws.flowset(recipe.flows, train_rows if recipe.augment else np.array([], np.int64))
    t_flows = time.perf_counter() - t0
    print(f"flows: {len(fs)} samples of {len(ws.df)} clips at {recipe.input_size}x{recipe.input_size} in "
          f"{t_flows:.0f} s ({int(fs.stats.get('computed', 0))} clips computed, "
          f"{int(fs.stats.get('cached', 0))} cached)")
    t0 = time.perf_counter()
    if au_task:
        table, _ = augcn.au_table(ws, profile)
    else:
        results = augcn.run_method(ws, profile, args.method, args.protocol)
        pooled = args.protocol == "cde"
        metrics = ("f1", "wf1") if pooled else ("war", "uar")
        if args.protocol in ("hde", "cde"):
            table_id = "augcn.table6"
        else:  # the ablation table that has this row (Table III, IV or V)
            table_id = next((tid for tid, rows in augcn.ABLATIONS.values() if args.method in rows), "augcn.table3")
        table = tables.score(results, table_id, metrics=metrics, pooled_over_folds=pooled, fold_label="loso",
                             groups=tables.subjects(ws), bootstrap=profile.bootstrap)
        for r in results:
            print(f"run {r.info['fold']} seed {r.info['seed']}: {r.info.get('train_samples')} training samples, "
                  f"{r.seconds:.0f} s, {r.info.get('samples_per_second', float('nan')):.0f} samples/s")
    t_train = time.perf_counter() - t0
    print(table.to_string(index=False))
    print(f"training/evaluation {t_train:.0f} s; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
