"""Run one row of a table headlessly, e.g. to check the paper profile on one fold.

``python -m merkit.reproduce --profile paper --method mer_augcn --protocol ablation``
trains MER-auGCN on SAMM -> CASME II with the profile's exact settings (cached like every
run), then prints the fold's metrics beside the published ones and the time each stage took.
Protocols: ``ablation`` (SAMM -> CASME II), ``hde`` (both folds), ``cde``, ``au`` (Table VII).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    import numpy as np

    from merkit import report
    from merkit.reproduce import augcn

    parser = argparse.ArgumentParser(prog="python -m merkit.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--data", default="auto", choices=("auto", "synthetic", "real"))
    parser.add_argument("--method", default="mer_augcn", choices=sorted(augcn.METHODS))
    parser.add_argument("--protocol", default="ablation", choices=("ablation", "hde", "cde", "au"))
    parser.add_argument("--seeds", type=int, nargs="*", default=None,
                        help="replace the profile's seeds (e.g. --seeds 0 for a one-run check)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rep = report.start(f"cli-{args.method}-{args.protocol}", args.profile, args.data, show=False)
    if args.seeds:
        import dataclasses

        rep.profile = dataclasses.replace(rep.profile, seeds=tuple(args.seeds))
    print(rep.source.label)
    print(f"profile {rep.profile.name}: seeds {list(rep.profile.seeds)}, {rep.profile.experiment.train}")
    ws = augcn.workspace(rep, au_task=args.protocol == "au")
    v = augcn.variant_for(rep, args.method, au_task=args.protocol == "au")
    size = v.model.resolved_input_size
    t0 = time.perf_counter()
    train_rows = np.unique(np.concatenate([f.train for f in augcn.folds_for(ws, args.protocol)]))
    fs = ws.flowset(size, train_rows if augcn.METHODS[args.method][1] else np.array([], np.int64))
    t_flows = time.perf_counter() - t0
    print(f"flows: {len(fs)} samples of {len(ws.df)} clips at {size}x{size} in {t_flows:.0f} s "
          f"({int(fs.stats.get('computed', 0))} clips computed, {int(fs.stats.get('cached', 0))} cached)")
    t0 = time.perf_counter()
    if args.protocol == "au":
        table, _ = augcn.au_table(ws)
    else:
        results = augcn.run_method(ws, args.method, args.protocol)
        pooled = args.protocol == "cde"
        metrics = ("f1", "wf1") if pooled else ("war", "uar")
        if args.protocol in ("hde", "cde"):
            table_id = "augcn.table6"
        else:  # the ablation table that has this row (Table III, IV or V)
            table_id = next((tid for tid, rows in augcn.ABLATIONS.values() if args.method in rows), "augcn.table3")
        table = augcn.score_table(results, table_id, metrics=metrics, pooled_over_folds=pooled, fold_label="loso")
        for r in results:
            print(f"run {r.info['fold']} seed {r.info['seed']}: {r.info.get('train_samples')} training samples, "
                  f"{r.seconds:.0f} s, {r.info.get('samples_per_second', float('nan')):.0f} samples/s")
    t_train = time.perf_counter() - t0
    print(table.to_string(index=False))
    print(f"training/evaluation {t_train:.0f} s; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
