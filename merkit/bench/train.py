"""``train`` benchmark: MER-auGCN training throughput, Eq. 1 batched vs the paper's K modules.

``python -m merkit.bench train`` times full training steps (forward, Eq. 6 joint loss,
backward, Adam step with the paper's hyper-parameters) on random flow tensors, so it measures
the model and the optimiser only (no data loading).

:func:`compare_au_heads` answers "what does batching Eq. 1 buy?": it trains, interleaved on the
same data, (a) merkit's model, whose K attention layers (Eq. 1) are one ``Linear(d, K d)`` and
whose K AU-detector MLPs are one batched ``einsum``; (b) its *loop twin*, the same model with
the same weights but the naive transcription of the paper, K separate ``nn.Linear(d, d)`` and
K separate ``nn.Sequential`` MLPs run in a Python loop (:class:`LoopAUAttention`,
:class:`LoopAUDetectors`); (c) the plain backbone + FC classifier for context. The twin's
outputs are checked against the batched model's before timing.
:func:`bench_train_throughput` times one variant alone.

The flow side is an explicit argument (``input_size``); left out, the benchmark picks the
paper's size for the variant's backbone (:data:`merkit.models.PAPER_INPUT_SIZE`: 28 for
Dual-Inception, 112 for ResNet18) and reports it.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from merkit.bench.common import device_name, machine_line, print_table, ratio_line, torch_threads
from merkit.losses import joint_loss
from merkit.models.mer_augcn import (
    PAPER_INPUT_SIZE,
    AUAttention,
    AUDetectors,
    MERAuGCN,
    Variant,
    variant,
)
from merkit.models.output import ModelOutput
from merkit.train import resolve_device

AUHeads = Literal["batched", "loop"]

QUICK: Mapping[str, Any] = {
    "batch_size": 4, "steps": 1, "rounds": 1, "warmup": 0, "feature_dim": 32,
}  # fmt: skip
"""``--quick`` sizes."""


# --- the naive transcription of Eq. 1 and the AU detectors (the benchmark's baseline) ----------


class LoopAUAttention(nn.Module):
    """Eq. 1 written as the paper reads: K separate FC layers ``nn.Linear(d, d)``, one per AU.

    **Shapes** ``z: (B, d) -> X: (B, K, d)`` with ``X[:, k] = sigmoid(W_k z + b_k) * z``
    (``"sigmoid"``) or ``softmax_d(W_k z + b_k) * z`` (``"softmax"``), one layer call per AU in
    a Python loop. Same function and parameter count as :class:`AUAttention`.
    """

    def __init__(self, dim: int, num_aus: int, mode: str = "sigmoid") -> None:
        super().__init__()
        if mode not in ("sigmoid", "softmax"):
            raise ValueError(f"LoopAUAttention needs mode 'sigmoid' or 'softmax', got {mode!r}")
        self.mode = mode
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_aus))

    @classmethod
    def from_batched(cls, attention: AUAttention) -> LoopAUAttention:
        """The loop twin of ``attention``, holding a copy of its weights (block k of rows ->
        layer k)."""
        if attention.fc is None:
            raise ValueError("attention='none' has no FC layers to unroll")
        twin = cls(attention.dim, attention.num_aus, attention.mode)
        k, d = attention.num_aus, attention.dim
        with torch.no_grad():
            w = attention.fc.weight.view(k, d, d)
            b = attention.fc.bias.view(k, d)
            for i, layer in enumerate(twin.layers):
                layer.weight.copy_(w[i])
                layer.bias.copy_(b[i])
        return twin.to(attention.fc.weight.device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        outs = []
        for layer in self.layers:
            scores = layer(z)
            w = torch.sigmoid(scores) if self.mode == "sigmoid" else torch.softmax(scores, dim=-1)
            outs.append(w * z)
        return torch.stack(outs, dim=1)


class LoopAUDetectors(nn.Module):
    """K separate AU detector MLPs ``Linear(d, h) -> ReLU -> Linear(h, 1)`` in a Python loop.

    **Shapes** ``X: (B, K, d) -> logits: (B, K)``; detector k sees ``X[:, k]`` only
    (``hidden=0``: ``Linear(d, 1)``). Same function and parameters as :class:`AUDetectors`.
    """

    def __init__(self, dim: int, num_aus: int, hidden: int = 64) -> None:
        super().__init__()

        def mlp() -> nn.Module:
            if hidden == 0:
                return nn.Linear(dim, 1)
            return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        self.hidden = hidden
        self.mlps = nn.ModuleList(mlp() for _ in range(num_aus))

    @classmethod
    def from_batched(cls, detectors: AUDetectors) -> LoopAUDetectors:
        """The loop twin of ``detectors`` with a copy of its weights."""
        twin = cls(detectors.dim, detectors.num_aus, detectors.hidden)
        with torch.no_grad():
            for k, mlp in enumerate(twin.mlps):
                first = mlp if detectors.hidden == 0 else mlp[0]
                first.weight.copy_(detectors.w1[k].T)  # (d, h) -> Linear weight (h, d)
                first.bias.copy_(detectors.b1[k])
                if detectors.hidden > 0:
                    mlp[2].weight.copy_(detectors.w2[k][None, :])
                    mlp[2].bias.copy_(detectors.b2[k : k + 1])
        return twin.to(detectors.w1.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([mlp(x[:, k]) for k, mlp in enumerate(self.mlps)], dim=1)


def loop_twin(model: MERAuGCN) -> MERAuGCN:
    """A deep copy of ``model`` whose attention (Eq. 1) and AU detectors are the per-AU loop
    modules above, with the same weights: same outputs, different execution."""
    if model.attention is None or model.detectors is None:
        raise ValueError("loop_twin needs a model with the AU module (au_detection=True)")
    twin = copy.deepcopy(model)
    if model.attention.fc is not None:  # attention="none" has nothing to unroll
        twin.attention = LoopAUAttention.from_batched(model.attention)  # type: ignore[assignment]
    twin.detectors = LoopAUDetectors.from_batched(model.detectors)  # type: ignore[assignment]
    return twin


# --- timing helpers ----------------------------------------------------------------------------


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _size(v: Variant, input_size: int | None) -> int:
    """``input_size``, or the paper's flow side for the variant's backbone (28 / 112)."""
    return input_size if input_size is not None else PAPER_INPUT_SIZE[v.model.backbone]


def _joint_loss(
    out: ModelOutput, labels: torch.Tensor, targets: torch.Tensor, v: Variant
) -> torch.Tensor:
    probs = out.au_probs if out.au_probs is not None else out.logits.new_zeros(len(labels), 0)
    return joint_loss(out.logits, labels, probs, targets, v.loss).total


def _train_step(
    model: MERAuGCN, v: Variant, batch_size: int, dev: torch.device, seed: int
) -> Callable[[], None]:
    """One Adam training step on a fixed random batch: flow ``(B, 2, S, S)`` (S =
    ``model.input_size``), class labels ``(B,)`` and AU targets ``(B, K)`` (30 % positives);
    paper hyper-parameters (lr 5e-4)."""
    size = model.input_size
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, betas=(0.9, 0.999), eps=1e-8)
    flow = torch.randn(batch_size, 2, size, size, generator=gen).to(dev)
    labels = torch.randint(0, v.model.num_classes, (batch_size,), generator=gen).to(dev)
    targets = (torch.rand(batch_size, len(model.aus), generator=gen) < 0.3).float().to(dev)
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        _joint_loss(model(flow), labels, targets, v).backward()
        opt.step()

    return step


def _heads_step(
    model: MERAuGCN, batch_size: int, dev: torch.device, seed: int
) -> Callable[[], None]:
    """Forward + backward of the AU module alone (Eq. 1 attention and the K detectors) on a
    fixed global feature ``z: (B, d)``: the part that batching changes."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(batch_size, model.config.feature_dim, generator=gen).to(dev)
    z.requires_grad_(True)
    attention, detectors = model.attention, model.detectors
    assert attention is not None and detectors is not None

    def step() -> None:
        x = attention(z)
        (x.sum() + torch.sigmoid(detectors(x)).sum()).backward()

    return step


def bench_train_throughput(
    variant_name: str = "mer_augcn",
    *,
    batch_size: int = 64,
    steps: int = 5,
    warmup: int = 1,
    threads: int | None = 2,
    device: str = "cpu",
    input_size: int | None = None,
    seed: int = 0,
    au_heads: AUHeads = "batched",
    **model_overrides: Any,
) -> dict[str, Any]:
    """Samples per second of training steps for a :func:`~merkit.models.table_variants` entry.

    ``threads`` sets ``torch.set_num_threads`` for the measurement (restored afterwards;
    None keeps the current setting). ``warmup`` steps are run first and not timed.
    ``model_overrides`` replace ``MERAuGCNConfig`` fields (e.g. ``feature_dim=256``);
    ``input_size`` is the flow side (default: the paper's for the backbone).
    ``au_heads="loop"`` times the :func:`loop_twin` (per-AU modules in a Python loop) instead.
    ``device`` may be ``"auto"``. Returns ``{"variant", "device", "threads", "batch_size",
    "input_size", "steps", "seconds", "samples_per_s", "params", "overrides", "au_heads"}``.
    """
    if steps <= 0 or batch_size <= 0:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}")
    if au_heads not in ("batched", "loop"):
        raise ValueError(f"au_heads must be 'batched' or 'loop', got {au_heads!r}")
    v = variant(variant_name, **model_overrides)
    size = _size(v, input_size)
    with torch_threads(threads) as used:
        dev = resolve_device(device)
        torch.manual_seed(seed)
        model = MERAuGCN(v.model, input_size=size).to(dev)
        if au_heads == "loop":
            model = loop_twin(model)
        step = _train_step(model, v, batch_size, dev, seed)
        for _ in range(warmup):
            step()
        _sync(dev)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(dev)
        seconds = time.perf_counter() - start
    return {
        "variant": variant_name,
        "device": str(dev),
        "threads": used,
        "batch_size": batch_size,
        "input_size": size,
        "steps": steps,
        "seconds": seconds,
        "samples_per_s": steps * batch_size / seconds,
        "params": sum(p.numel() for p in model.parameters()),
        "overrides": dict(model_overrides),
        "au_heads": au_heads,
    }


def compare_au_heads(
    variant_name: str = "mer_augcn",
    *,
    batch_size: int = 64,
    steps: int = 3,
    warmup: int = 1,
    rounds: int = 3,
    threads: int | None = None,
    device: str = "auto",
    input_size: int | None = None,
    seed: int = 0,
    backbone: bool = True,
    **model_overrides: Any,
) -> dict[str, Any]:
    """Training samples/s of merkit's batched AU heads vs their per-AU loop twin (and the plain
    backbone), timed interleaved on the same batch.

    Each of ``rounds`` rounds times ``steps`` steps of every model in turn (the order rotates
    per round, so a burst of load on a shared machine hits all of them); the reported rate is
    the median over rounds. The loop twin starts from the batched model's weights; before
    timing, both give the same logits and AU probabilities on the batch (checked, max abs
    difference returned as ``max_abs_diff``). ``backbone=True`` also times the plain backbone
    + FC classifier (Table III's "Dual-Inception" for the default variant) with the same
    ``feature_dim`` and ``input_size``. The AU module alone (attention + detectors, forward +
    backward on a fixed ``z``, no optimiser) is timed the same way for both, as
    ``heads_samples_per_s``. ``threads`` None keeps torch's setting; ``input_size`` None
    means the paper's flow side for the backbone.

    Returns ``{"variant", "device", "device_name", "threads", "batch_size", "input_size",
    "feature_dim", "num_aus", "rounds", "steps", "samples_per_s": {name: rate}, "params":
    {name: count}, "max_abs_diff", "heads_samples_per_s": {"batched", "loop"}, "heads_ratio",
    "ratio"}`` with names ``"batched"``, ``"loop"`` (and
    ``"backbone"``) and ``ratio = samples_per_s["batched"] / samples_per_s["loop"]``.
    """
    if min(steps, batch_size, rounds) <= 0 or warmup < 0:
        raise ValueError(
            f"steps, batch_size and rounds must be positive and warmup >= 0, got {steps}, "
            f"{batch_size}, {rounds}, {warmup}"
        )
    v = variant(variant_name, **model_overrides)
    if not v.model.au_detection:
        raise ValueError(f"variant {variant_name!r} has no AU module; pick e.g. 'mer_augcn'")
    size = _size(v, input_size)
    with torch_threads(threads) as threads_used:
        dev = resolve_device(device)
        torch.manual_seed(seed)
        batched = MERAuGCN(v.model, input_size=size).to(dev)
        loop = loop_twin(batched)
        gen = torch.Generator().manual_seed(seed + 1)
        probe = torch.randn(min(batch_size, 8), 2, size, size, generator=gen).to(dev)
        with torch.no_grad():
            a, b = batched(probe), loop(probe)
        pairs = [(a.logits, b.logits), (a.au_probs, b.au_probs)]
        diff = max(float((x - y).abs().max()) for x, y in pairs)
        if not all(torch.allclose(x, y, rtol=1e-4, atol=1e-5) for x, y in pairs):
            raise AssertionError(f"loop twin differs from the batched model (max |diff| {diff})")
        models: dict[str, tuple[MERAuGCN, Variant]] = {"batched": (batched, v), "loop": (loop, v)}
        if backbone:
            plain_name = "dual_inception" if v.model.backbone == "dual_inception" else "resnet18"
            keep = {k: x for k, x in model_overrides.items() if k == "feature_dim"}
            pv = variant(plain_name, **keep)
            torch.manual_seed(seed)
            models["backbone"] = (MERAuGCN(pv.model, input_size=size).to(dev), pv)
        steppers = {
            name: _train_step(m, mv, batch_size, dev, seed) for name, (m, mv) in models.items()
        }
        steppers["heads:batched"] = _heads_step(batched, batch_size, dev, seed)
        steppers["heads:loop"] = _heads_step(loop, batch_size, dev, seed)
        for step in steppers.values():
            for _ in range(warmup):
                step()
        _sync(dev)
        rates: dict[str, list[float]] = {name: [] for name in steppers}
        names = list(steppers)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                for _ in range(steps):
                    steppers[name]()
                _sync(dev)
                rates[name].append(steps * batch_size / (time.perf_counter() - start))
    median = {name: statistics.median(r) for name, r in rates.items()}
    heads = {name.split(":")[1]: median.pop(name) for name in ("heads:batched", "heads:loop")}
    return {
        "variant": variant_name,
        "device": str(dev),
        "device_name": device_name(dev),
        "threads": threads_used,
        "batch_size": batch_size,
        "input_size": size,
        "feature_dim": v.model.feature_dim,
        "num_aus": len(batched.aus),
        "rounds": rounds,
        "steps": steps,
        "samples_per_s": median,
        "params": {name: sum(p.numel() for p in m.parameters()) for name, (m, _) in models.items()},
        "max_abs_diff": diff,
        "heads_samples_per_s": heads,
        "heads_ratio": heads["batched"] / heads["loop"],
        "ratio": median["batched"] / median["loop"],
    }


# --- the benchmark module contract (merkit.bench.common) ---------------------------------------


def arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` benchmark's options."""
    parser.add_argument(
        "--variant", default="mer_augcn", help="table_variants() name with the AU module"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="samples per step (paper: 64)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model and round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (median reported)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument(
        "--device",
        nargs="+",
        default=["auto"],
        help="cpu, cuda, or auto (= cpu, and cuda too when available)",
    )
    parser.add_argument("--feature-dim", type=int, default=None, help="override d (paper: 1024)")
    parser.add_argument(
        "--input-size",
        type=int,
        default=None,
        help="flow side (default: the paper's for the backbone, 28 for Dual-Inception)",
    )


def devices(requested: Sequence[str]) -> list[str]:
    """``--device`` values -> distinct device names (``auto``: cpu, plus cuda when available)."""
    out: list[str] = []
    for dev in requested:
        names = ["cpu", "cuda"] if dev == "auto" and torch.cuda.is_available() else [dev]
        out += [("cpu" if n == "auto" else n) for n in names if n not in out]
    return out


def run(args: argparse.Namespace) -> dict:
    """MER-auGCN training samples/s: Eq. 1 batched as one Linear(d, K*d) vs K modules in a loop.

    One training step = forward, Eq. 6 joint loss, backward, Adam step (lr 5e-4) on a fixed
    random batch of flows, so data loading is excluded. The loop twin holds the same weights
    (outputs checked equal first); the plain backbone + FC classifier is timed for context.
    """
    overrides = {"feature_dim": args.feature_dim} if args.feature_dim else {}
    print("== train benchmark: training throughput (forward + Eq. 6 loss + backward + Adam) ==")
    results: dict[str, Any] = {}
    for dev in devices(args.device):
        r = compare_au_heads(
            args.variant,
            batch_size=args.batch_size,
            steps=args.steps,
            warmup=args.warmup,
            rounds=args.rounds,
            threads=args.threads,
            device=dev,
            input_size=args.input_size,
            **overrides,
        )
        print(machine_line(r["device"], r["device_name"]))
        print(
            f"{args.variant}: {r['input_size']}x{r['input_size']} flows, d={r['feature_dim']}, "
            f"K={r['num_aus']} AUs, batch {r['batch_size']}, {r['threads']} torch threads; "
            f"median of {r['rounds']} interleaved rounds x {r['steps']} steps"
        )
        sps, params, loop = r["samples_per_s"], r["params"], r["samples_per_s"]["loop"]
        rows = [
            ["MER-auGCN, batched: one Linear(d, K*d) + batched MLPs", params["batched"],
             sps["batched"], sps["batched"] / loop],
            ["MER-auGCN, K Linear(d, d) + K MLPs in a Python loop", params["loop"],
             loop, 1.0],
        ]  # fmt: skip
        if "backbone" in sps:
            rows.append(["plain backbone + FC (no AU module)", params["backbone"],
                         sps["backbone"], sps["backbone"] / loop])  # fmt: skip
        heads = r["heads_samples_per_s"]
        rows += [
            ["  AU module alone (fwd + bwd), batched", "", heads["batched"], r["heads_ratio"]],
            ["  AU module alone (fwd + bwd), loop", "", heads["loop"], 1.0],
        ]
        print_table(
            ["model", "params", "samples/s", "vs loop"],
            [
                [name, f"{n:,}" if n != "" else "", f"{s:.1f}", f"{q:.2f}x"]
                for name, n, s, q in rows
            ],
        )
        print(f"  (loop twin vs batched model outputs: max |diff| {r['max_abs_diff']:.1e})")
        results[r["device"]] = r
    primary = "cuda" if "cuda" in results else next(iter(results))
    others = ", ".join(f"{d}: {results[d]['ratio']:.2f}x" for d in results if d != primary)
    results["ratio"] = float(results[primary]["ratio"])
    results["alternative"] = "K per-AU Linear/MLP modules in a Python loop"
    print(
        ratio_line(
            results["ratio"],
            f"{results['alternative']} (training step on {primary}"
            + (f"; {others}" if others else "")
            + ")",
        )
    )
    return results
