"""``levers`` benchmark: the training levers of every deep table row, each against its alternative.

For each row's real recipe (the quick profile's rows, and MER-auGCN and RRRN at the paper's
sizes) it times full training steps (forward, the row's objective, backward, Adam) on random
flows of the row's input size and batch size, in one process, back to back:

* **bf16** autocast vs **fp32** (``TrainConfig.amp``; this CPU has AVX512-BF16 units);
* **channels_last** vs contiguous (``TrainConfig.channels_last``);
* the **profile's setting** (both, in quick) vs plain fp32;
* on CUDA, the profile's setting with ``TrainConfig.deterministic`` off (cuDNN autotuning)
  vs on: the cost of determinism;
* the **batched ensemble** of K members (:func:`merkit.ensemble.fit_ensemble`'s vmapped step)
  vs the same K trained **one by one**: samples per second *per member*.

It writes the measured throughputs to ``reports/bench/train.json`` (``train-cuda.json`` on a
GPU), which :mod:`merkit.reproduce.plan` reads for ``make plan``: one entry per row with the
row's ``method``, registered ``model``, ``input_size``, ``batch_size``, ``amp``, ``profile``
and ``samples_per_second`` under the profile's own levers (``ensemble_samples_per_second``:
per member, K members batched).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from merkit.bench.common import (
    device_name,
    machine_line,
    print_table,
    ratio_line,
    save_results,
    torch_threads,
)

QUICK: Mapping[str, Any] = {"rows": ["quick:rrrn"], "steps": 1, "rounds": 1, "members": 2, "paper": False,
                            "save": False, "extra_rows": ["quick:au_task"]}
"""``--quick`` sizes."""

#: the rows timed by default: ``profile:method`` (augcn rows are MER-auGCN's tables)
ROWS = ("quick:mer_augcn", "quick:dual_inception", "quick:augcn-resnet18", "quick:rrrn", "quick:vgg16",
        "quick:resnet18")
PAPER_ROWS = ("paper:mer_augcn", "paper:rrrn")
#: every other row of the tables: only its own setting is timed (its throughput for make plan)
_VARIANTS = ("aufeat", "relfeat", "confeat", "softmax_att", "focal_loss", "bal_loss_inverse", "dense_graph",
             "original_graph", "au_task")
EXTRA_ROWS = tuple(f"quick:{v}" for v in _VARIANTS)
PAPER_EXTRA_ROWS = (*(f"paper:{v}" for v in _VARIANTS), "paper:dual_inception", "paper:augcn-resnet18",
                    "paper:vgg16", "paper:resnet18")


def arguments(parser: argparse.ArgumentParser) -> None:
    """The ``levers`` benchmark's options."""
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="profile:method rows to time")
    parser.add_argument("--extra-rows", nargs="*", default=list(EXTRA_ROWS),
                        help="rows whose own setting alone is timed (throughputs for make plan)")
    parser.add_argument("--paper", action=argparse.BooleanOptionalAction, default=True,
                        help="also time MER-auGCN and RRRN at the paper's sizes (small batch on a CPU)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (median reported)")
    parser.add_argument("--members", type=int, default=3, help="K, members of the batched ensemble")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: what each of the quick profile's 2 workers gets)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--save", action=argparse.BooleanOptionalAction, default=True,
                        help="write the throughputs to reports/bench/ for make plan (--quick: no)")
    parser.add_argument("--out", default=None, help="with --save: this folder instead of reports/bench/")


def recipe(row: str) -> Any:
    """The :class:`~merkit.reproduce.tables.DeepRecipe` of ``profile:method``."""
    from merkit.config import get_profile
    from merkit.reproduce import augcn, rrrn

    profile_name, method = row.split(":", 1)
    profile = get_profile(profile_name)
    if method in rrrn.DEEP:
        return rrrn.recipe(profile, method)
    if method == "au_task":  # Table VII's AU-detection model
        return dataclasses.replace(augcn.recipe(profile, "mer_augcn", au_task=True), method="au_task")
    return augcn.recipe(profile, method.removeprefix("augcn-"))


def _batch(rec: Any, batch: int, device: Any, members: int = 0) -> tuple[Any, Any, Any]:
    import torch

    side = rec.input_size
    aus = len(getattr(rec.config, "resolved_aus", ())) if rec.model == "mer_augcn" and rec.config.au_detection else 0
    g = torch.Generator().manual_seed(0)
    lead = (members, batch) if members else (batch,)
    x = torch.randn(*lead, 2, side, side, generator=g).to(device)
    y = torch.randint(0, 5, lead, generator=g).to(device)
    au = torch.randint(0, 2, (*lead, aus), generator=g).float().to(device) if aus else None
    return x, y, au


def _build(rec: Any, seed: int) -> Any:
    import torch

    from merkit.models import create_model

    torch.manual_seed(seed)
    return create_model(rec.model, rec.config, input_size=rec.input_size)


def plain_step(rec: Any, train: Any, batch: int, *, seed: int = 0, compiled: bool = False) -> tuple[Any, Any, Any]:
    """``(step, optimiser, levers)``: one training step of ``rec``'s model (seed ``seed``) on a
    fixed random batch of ``batch`` flows under ``train``'s levers, as ``fit`` trains
    (``compiled``: the forward through ``torch.compile``)."""
    import torch

    from merkit.train import Levers, adam

    levers = Levers.resolve(train)
    model = levers.model(_build(rec, seed)).train()
    opt = adam(model.parameters(), train)
    x, y, au = _batch(rec, batch, levers.device)
    x = levers.inputs(x)
    forward = torch.compile(model) if compiled else model

    def step() -> None:
        with levers.autocast():
            loss, _ = rec.objective(forward(x), y, au)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, opt, levers


def time_plain(rec: Any, train: Any, batch: int, steps: int, rounds: int) -> float:
    """Samples/s of one model's training steps under ``train``'s levers."""
    from merkit.train import set_deterministic

    set_deterministic(train.deterministic)
    step, _, levers = plain_step(rec, train, batch)
    return _rate(step, batch, steps, rounds, levers.device)


def time_ensemble(rec: Any, train: Any, batch: int, steps: int, rounds: int, members: int) -> tuple[float, float]:
    """Samples/s per member: K members as one vmapped step vs the same K one by one."""
    import torch
    from torch.func import functional_call, stack_module_state, vmap

    from merkit.ensemble import masked_adam_step
    from merkit.models.output import ModelOutput
    from merkit.train import Levers, adam, set_deterministic

    set_deterministic(train.deterministic)
    levers = Levers.resolve(dataclasses.replace(train, channels_last="off"))
    models = [_build(rec, k).to(levers.device).train() for k in range(members)]
    xs, ys, aus = _batch(rec, batch, levers.device, members)
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    batched = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)).tensors(), randomness="different")
    state: dict[str, Any] = {}
    active = torch.ones(members, dtype=torch.bool, device=levers.device)

    def ensemble_step() -> None:
        with levers.autocast():
            outs = batched(params, buffers, xs)
            total = sum(rec.objective(ModelOutput(**{n: v[k] for n, v in outs.items()}), ys[k],
                                      None if aus is None else aus[k])[0] for k in range(members))
        for v in params.values():
            v.grad = None
        total.backward()  # type: ignore[union-attr]
        masked_adam_step(params, state, active, train)

    opts = [adam(m.parameters(), train) for m in models]

    def one_by_one() -> None:
        for k, (m, opt) in enumerate(zip(models, opts, strict=True)):
            with levers.autocast():
                loss, _ = rec.objective(m(xs[k]), ys[k], None if aus is None else aus[k])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return (_rate(ensemble_step, batch, steps, rounds, levers.device),
            _rate(one_by_one, batch, steps, rounds, levers.device))


def _rate(step: Any, batch: int, steps: int, rounds: int, device: Any) -> float:
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up (allocations, kernels)
    sync()
    rates = []
    for _ in range(max(1, rounds)):
        start = time.perf_counter()
        for _ in range(max(1, steps)):
            step()
        sync()
        rates.append(batch * max(1, steps) / (time.perf_counter() - start))
    return float(statistics.median(rates))


def _x(a: float, b: float) -> str:
    return "–" if a != a else f"{a / b:.2f}x"  # nan: not measured


def run(args: argparse.Namespace) -> dict:
    """Training levers per table row: bf16 vs fp32, channels_last, batched ensemble vs one by one."""

    from merkit.train import resolve_device

    device = resolve_device(args.device)
    rows = list(args.rows) + (list(PAPER_ROWS) if args.paper else [])
    results: dict[str, Any] = {"device": device.type, "throughput": [], "rows": {}}
    with torch_threads(args.threads if device.type == "cpu" else None) as threads:
        print(f"== levers benchmark: training steps per table row ({threads} torch threads) ==")
        print(machine_line(device.type, device_name(device)))
        table = []
        for row in rows:
            rec = recipe(row)
            # a paper-size RRRN step on a CPU takes tens of seconds: batch 2, one step, K <= 2,
            # and only fp32 (= the paper profile's "auto" on a CPU) beside the ensemble
            heavy = row.startswith("paper:") and device.type == "cpu" and rec.input_size >= 112
            light = heavy
            batch = 2 if heavy else rec.train.batch_size
            steps, rounds = (1, 1) if light else (args.steps, args.rounds)
            members = min(args.members, 2) if heavy else args.members
            fp32 = dataclasses.replace(rec.train, device=device.type, amp="off", channels_last="off")
            own = dataclasses.replace(rec.train, device=device.type)
            settings = [("fp32", fp32), ("bf16", dataclasses.replace(fp32, amp="bf16")),
                        ("channels_last", dataclasses.replace(fp32, channels_last="on")), ("profile", own)]
            r = {name: time_plain(rec, cfg, batch, steps, rounds) for name, cfg in settings[:1 if heavy else 4]}
            if heavy:
                r |= {"bf16": float("nan"), "channels_last": float("nan"), "profile": r["fp32"]}
            if device.type == "cuda":  # the cost of TrainConfig.deterministic (CUDA kernels only)
                r["autotuned"] = time_plain(rec, dataclasses.replace(own, deterministic=False), batch, steps, rounds)
            r["ensemble"], r["one_by_one"] = time_ensemble(rec, own, batch, steps, rounds, members)
            results["rows"][row] = r
            results["throughput"].append({
                "method": rec.method, "model": rec.model, "profile": row.split(":")[0],
                "input_size": rec.input_size, "batch_size": batch, "amp": own.amp,
                "channels_last": own.channels_last, "samples_per_second": r["profile"],
                "ensemble_members": members, "ensemble_samples_per_second": r["ensemble"],
            })
            table.append([row, f"{rec.input_size}", f"{batch}", f"{r['fp32']:.1f}", _x(r["bf16"], r["fp32"]),
                          _x(r["channels_last"], r["fp32"]), _x(r["profile"], r["fp32"]),
                          f"{r['ensemble'] / r['one_by_one']:.2f}x (K={members})"]
                         + ([_x(r["autotuned"], r["profile"])] if "autotuned" in r else []))
        print_table(["row", "side", "batch", "fp32 samples/s", "bf16", "channels_last", "profile's levers",
                     "ensemble / one by one"] + (["deterministic off"] if device.type == "cuda" else []), table)
        extra = list(args.extra_rows) + (list(PAPER_EXTRA_ROWS) if args.paper else [])
        listed = []
        for row in extra:  # the other rows: their own setting only
            rec = recipe(row)
            light = row.startswith("paper:") and device.type == "cpu" and rec.input_size >= 112
            batch = 2 if light else rec.train.batch_size
            own = dataclasses.replace(rec.train, device=device.type)
            rate = time_plain(rec, own, batch, 1 if light else args.steps, 1 if light else args.rounds)
            results["throughput"].append({
                "method": rec.method, "model": rec.model, "profile": row.split(":")[0],
                "input_size": rec.input_size, "batch_size": batch, "amp": own.amp,
                "channels_last": own.channels_last, "samples_per_second": rate})
            listed.append([row, f"{rec.input_size}", f"{batch}", f"{rate:.1f}"])
        if listed:
            print("\nthe other rows, under their own settings (for make plan):")
            print_table(["row", "side", "batch", "samples/s"], listed)
    quick_rows = [r for name, r in results["rows"].items() if name.startswith("quick:")] or list(results["rows"].values())
    results["bf16_ratio"] = statistics.median(r["bf16"] / r["fp32"] for r in quick_rows)
    results["channels_last_ratio"] = statistics.median(r["channels_last"] / r["fp32"] for r in quick_rows)
    results["ensemble_ratio"] = statistics.median(r["ensemble"] / r["one_by_one"] for r in results["rows"].values())
    results["ratio"] = float(statistics.median(r["profile"] / r["fp32"] for r in quick_rows))
    results["alternative"] = "plain fp32 contiguous training steps (the profile's levers, median over rows)"
    print(f"median over rows: bf16 {results['bf16_ratio']:.2f}x, channels_last {results['channels_last_ratio']:.2f}x, "
          f"batched ensemble {results['ensemble_ratio']:.2f}x per member vs one by one")
    if args.save:
        path = save_results("train" if device.type == "cpu" else f"train-{device.type}", results,
                            Path(args.out) if args.out else None)
        print(f"throughputs written to {path} (read by make plan)")
    print(ratio_line(results["ratio"], results["alternative"]))
    return results
