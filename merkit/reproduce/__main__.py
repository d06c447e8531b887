"""Run one row of a table headlessly, e.g. to check the paper profile on one fold.

``python -m merkit.reproduce --profile paper --method mer_augcn --protocol ablation``
trains MER-auGCN on SAMM -> CASME II with the profile's exact settings (cached like every
run), then prints the fold's metrics beside the published ones and the time each stage took.
Protocols: ``ablation`` (SAMM -> CASME II), ``hde`` (both folds), ``cde``, ``au`` (Table VII).
``--method rrrn`` trains RRRN's column of the occlusion tables, un-occluded (``hde`` or
``cde``). ``--scale smoke`` uses the small embedded set (seconds of flows), ``--json FILE``
writes the figures (per run: seconds, samples/s; the flows' seconds; the table) for
``scripts/gpu-check.sh``.

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
    from merkit.io import write_json
    from merkit.reproduce import augcn, rrrn, tables
    from merkit.train import resolve_device

    parser = argparse.ArgumentParser(prog="python -m merkit.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--data", default="auto", choices=("auto", "synthetic", "real"))
    parser.add_argument("--method", default="mer_augcn", choices=sorted(augcn.METHODS) + ["rrrn"],
                        help="a row of MER-auGCN's tables, or rrrn (the occlusion tables' column, un-occluded)")
    parser.add_argument("--scale", default=None, choices=("full", "smoke"),
                        help="the embedded set's scale (default: the profile's)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the figures to FILE")
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
    if args.scale:
        data = dataclasses.replace(data, synthetic_scale=args.scale)
    source = resolve(data)
    if args.plan:
        from merkit.reproduce import plan

        return plan.cli(profile, source, bench_dir=args.bench_dir, throughput=args.throughput, only=args.only)
    print(source.label)
    au_task = args.protocol == "au"
    occluded = args.method == "rrrn"
    if occluded and args.protocol not in ("hde", "cde"):
        parser.error("--method rrrn takes --protocol hde or cde")
    recipe = rrrn.recipe(profile, "rrrn") if occluded else augcn.recipe(profile, args.method, au_task=au_task)
    print(f"profile {profile.name}: seeds {list(recipe.seeds)}, {recipe.train}, input {recipe.input_size}px")
    ws = rrrn.workspace(source) if occluded else augcn.workspace(source, au_task=au_task)
    t0 = time.perf_counter()
    folds = tables.folds(ws, args.protocol, recipe.protocol)
    train_rows = np.unique(np.concatenate([f.train for f in folds]))
    fs = ws.flowset(recipe.flows, train_rows if recipe.augment else np.array([], np.int64))
    t_flows = time.perf_counter() - t0
    print(f"flows: {len(fs)} samples of {len(ws.df)} clips at {recipe.input_size}x{recipe.input_size} in "
          f"{t_flows:.0f} s ({int(fs.stats.get('computed', 0))} clips computed, "
          f"{int(fs.stats.get('cached', 0))} cached)")
    t0 = time.perf_counter()
    results = []
    if au_task:
        table, _ = augcn.au_table(ws, profile)
    else:
        results = (tables.run_recipe(ws, recipe, args.protocol) if occluded
                   else augcn.run_method(ws, profile, args.method, args.protocol))
        pooled = args.protocol == "cde"
        metrics = ("f1", "wf1") if pooled else ("war", "uar")
        if occluded:
            table_id = "rrrn.table4" if pooled else "rrrn.table3"
        elif args.protocol in ("hde", "cde"):
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
    total = time.perf_counter() - start
    print(f"training/evaluation {t_train:.0f} s; total {total:.0f} s")
    if args.json:
        import torch

        write_json(args.json, {
            "profile": profile.name, "method": args.method, "protocol": args.protocol, "data": source.label,
            "device": resolve_device(recipe.train.device).type, "cuda": torch.cuda.get_device_name()
            if torch.cuda.is_available() else None, "input_size": recipe.input_size, "train": recipe.train,
            "flows_seconds": t_flows, "flow_samples": len(fs), "train_seconds": t_train, "total_seconds": total,
            "runs": [{k: r.info.get(k) for k in ("fold", "seed", "train_samples", "samples_per_second")}
                     | {"seconds": r.seconds} for r in results],
            "table": table.to_dict(orient="records")})
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
