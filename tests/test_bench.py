"""``make bench``: every benchmark runs in its --quick sizes and reports a ratio; the baselines
the benchmarks time (loop twin of the AU heads, per-slice LBP-TOP) compute the same thing.

No assertion on timings (the machine is shared): only structure, finiteness and equivalence.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re

import numpy as np
import pytest
import torch

from merkit.bench import __main__ as cli
from merkit.bench import common
from merkit.bench.features import lbp_top_per_slice, synthetic_clip
from merkit.bench.train import LoopAUAttention, LoopAUDetectors, loop_twin
from merkit.features.lbptop import LBPTOPConfig, lbp_top
from merkit.models.mer_augcn import AUAttention, AUDetectors, MERAuGCN, MERAuGCNConfig

EXPECTED = ("flow", "train", "levers", "cpu", "features", "occlusion")


@pytest.fixture(scope="module")
def quick_run() -> tuple[dict[str, dict], str]:
    """``run_all(quick=True)`` once for the module: (results, printed text)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        results = cli.run_all(quick=True)
    return results, out.getvalue()


def test_cli_has_every_benchmark_module() -> None:
    assert tuple(cli.BENCHMARKS) == EXPECTED
    for name, b in cli.BENCHMARKS.items():
        assert b.name == name and callable(b.run) and callable(b.arguments) and b.quick
        assert b.summary and not b.summary.startswith(" ")


@pytest.mark.parametrize("name", EXPECTED)
def test_quick_benchmark_reports_finite_positive_ratio(quick_run, name: str) -> None:
    results, text = quick_run
    r = results[name]
    assert isinstance(r, dict) and isinstance(r["ratio"], float)
    assert math.isfinite(r["ratio"]) and r["ratio"] > 0
    # the benchmark's own section ends with its ratio line, with the same number
    section = text.split(f"== {name} benchmark")[1].split("\n== ")[0]
    last = [line for line in section.splitlines() if line.strip()][-1]
    assert last.startswith("ratio: ") and f"{r['ratio']:.2f}x" in last
    # the verdict is the line's first clause (later clauses may compare other things)
    assert ("faster than" in last.split(";")[0]) == (r["ratio"] >= 1)


def test_quick_run_prints_machine_and_summary(quick_run) -> None:
    results, text = quick_run
    assert list(results) == list(cli.BENCHMARKS)
    assert "machine: " in text and "device cpu" in text
    assert re.search(r"torch \S+ with \d+ threads", text)
    summary = text.split("== summary")[1]
    for name, r in results.items():
        assert re.search(rf"^\s+{name}\s+{r['ratio']:.2f}x\s", summary, re.M), name


def test_train_result_structure(quick_run) -> None:
    r = quick_run[0]["train"]["cpu"]
    assert set(r["samples_per_s"]) == {"batched", "loop", "backbone"}
    assert r["params"]["batched"] == r["params"]["loop"] > r["params"]["backbone"]
    assert r["max_abs_diff"] < 1e-5 and r["num_aus"] == 12 and r["input_size"] == 28
    assert math.isclose(r["ratio"], r["samples_per_s"]["batched"] / r["samples_per_s"]["loop"])


def test_cpu_levers_structure(quick_run) -> None:
    r = quick_run[0]["cpu"]
    kernels = r["adam"]["quick:mer_augcn"]
    for kind in ("loop", "foreach", "fused"):
        assert kernels[f"{kind}_samples_per_second"] > 0 and kernels[f"{kind}_optimizer_ms"] > 0
    assert "compile" not in r  # --quick skips the minute of compilation
    assert r["threads"]["two_by_one"] > 0 and r["threads"]["one_by_two"] > 0
    reuse = r["frame_reuse"]
    assert reuse["face_cpu_s"] >= 0 and reuse["flow_cpu_s"] > 0 and 0 < reuse["frames_share"] < 1
    assert r["ratio"] == pytest.approx(kernels["fused_samples_per_second"] / kernels["loop_samples_per_second"])


def test_occlusion_and_features_structure(quick_run) -> None:
    occ = quick_run[0]["occlusion"]
    for kind in ("mask", "glass"):
        assert occ[f"{kind}_cached_ms_per_frame"] > 0 and occ[f"{kind}_redraw_ms_per_frame"] > 0
    feats = quick_run[0]["features"]
    for name in ("lbp_top", "lbp_sip", "hog3d", "hoof", "resample"):
        assert feats[f"T=6 16x16/{name}_s"] > 0


@pytest.mark.parametrize("name", EXPECTED)
def test_benchmark_help_lists_its_options(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert f"python -m merkit.bench {name}" in text and "--quick" in text
    for dest in cli.BENCHMARKS[name].quick:
        assert "--" + dest.replace("_", "-") in text


def test_top_level_help_and_unknown_name(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert all(f"  {name} " in text for name in EXPECTED)
    with pytest.raises(SystemExit) as exc:
        cli.main(["nope"])
    assert exc.value.code == 2
    with pytest.raises(ValueError, match="unknown benchmark"):
        cli.run_benchmark("nope")


def test_quick_defaults_yield_to_explicit_options() -> None:
    args = cli.benchmark("occlusion").parse_args(["--quick", "--frames", "7"])
    assert args.frames == 7 and args.designs == cli.BENCHMARKS["occlusion"].quick["designs"]
    full = cli.benchmark("occlusion").parse_args([])
    assert full.frames == 30 and full.designs is None and not full.quick


def test_ratio_line_and_table(capsys) -> None:
    assert common.ratio_line(3.2, "X") == "ratio: 3.20x faster than X"
    assert common.ratio_line(0.5, "X") == "ratio: 0.50x, i.e. 2.00x slower than X"
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            common.ratio_line(bad, "X")
    common.print_table(["name", "value"], [["a", "1.0"], ["longer name", "123.45"]])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and len({len(line) for line in lines}) == 1  # right-aligned column
    assert all(line.startswith("  ") for line in lines)
    common.print_table(["a", "b"], [["x", "long text"]], align="ll")
    assert capsys.readouterr().out.splitlines()[1] == "  x  long text"
    with pytest.raises(ValueError, match="align"):
        common.print_table(["a", "b"], [], align="lx")


def test_benchmark_record_checks_the_ratio_and_times() -> None:
    def run(args):
        """Doc line."""
        return {"ratio": args.value}

    def arguments(parser):
        parser.add_argument("--value", type=float, default=2.0)

    b = common.Benchmark("toy", run, arguments, {"value": 0.5})
    assert b.summary == "Doc line." and b([]) == {"ratio": 2.0} and b(["--quick"])["ratio"] == 0.5
    for bad in ("nan", "-1", "0"):
        with pytest.raises(RuntimeError, match="finite positive 'ratio'"):
            b(["--value", bad])
    calls = []
    assert 0 <= common.best_of(lambda: calls.append(1), 3) < 1 and len(calls) == 4
    wall, cpu = common.median_of(lambda: None, 2)
    assert wall >= 0 and cpu >= 0
    assert common.ms(0.01234) == "12.34"


# --- the baselines compute what merkit computes --------------------------------------------------


@pytest.mark.parametrize("mode,hidden", [("sigmoid", 8), ("softmax", 0)])
def test_loop_heads_equal_batched_heads_with_gradients(mode: str, hidden: int) -> None:
    torch.manual_seed(0)
    att, det = AUAttention(12, 5, mode), AUDetectors(12, 5, hidden)
    latt, ldet = LoopAUAttention.from_batched(att), LoopAUDetectors.from_batched(det)
    assert sum(p.numel() for p in (*att.parameters(), *det.parameters())) == sum(
        p.numel() for p in (*latt.parameters(), *ldet.parameters())
    )
    z = torch.randn(3, 12)
    xa, xb = att(z), latt(z)
    ya, yb = det(xa), ldet(xb)
    torch.testing.assert_close(xb, xa)
    torch.testing.assert_close(yb, ya)
    (ya.square().sum() + xa.sum()).backward()
    (yb.square().sum() + xb.sum()).backward()
    # the gradient of attention layer k is block k of the batched layer's gradient
    k, d = 5, 12
    for i, layer in enumerate(latt.layers):
        torch.testing.assert_close(layer.weight.grad, att.fc.weight.grad.view(k, d, d)[i])
    first = [m if hidden == 0 else m[0] for m in ldet.mlps]
    for i, layer in enumerate(first):
        torch.testing.assert_close(layer.weight.grad, det.w1.grad[i].T)


def test_loop_twin_of_full_model_matches_and_rejects_plain_backbone() -> None:
    torch.manual_seed(1)
    model = MERAuGCN(MERAuGCNConfig(feature_dim=16, gcn_hidden=8, gcn_out=4), input_size=28)
    twin = loop_twin(model)
    assert isinstance(twin.attention, LoopAUAttention) and isinstance(model.attention, AUAttention)
    flow = torch.randn(2, 2, 28, 28)
    a, b = model(flow), twin(flow)
    torch.testing.assert_close(b.logits, a.logits)
    torch.testing.assert_close(b.au_probs, a.au_probs)
    plain = MERAuGCN(
        MERAuGCNConfig(au_detection=False, attention="none", graph="none", fusion="z_o"), input_size=28
    )
    with pytest.raises(ValueError, match="AU module"):
        loop_twin(plain)


def test_per_slice_lbp_top_equals_vectorised_lbp_top() -> None:
    rng = np.random.default_rng(3)
    volume = rng.uniform(0, 255, (9, 23, 19)).round()  # integer ties included
    for cfg in (
        LBPTOPConfig(),
        LBPTOPConfig(grid=(3, 4), P=(4, 8, 6), R=(2.0, 2.0, 2.0), t_blocks=2),
        LBPTOPConfig(method="uniform"),
    ):
        expected = lbp_top(volume, cfg.grid, cfg.P, cfg.R, cfg.method, cfg.t_blocks)
        np.testing.assert_array_equal(lbp_top_per_slice(volume, cfg), expected)
    np.testing.assert_array_equal(
        lbp_top_per_slice(synthetic_clip(6, 16)), lbp_top(synthetic_clip(6, 16))
    )
    with pytest.raises(ValueError, match="equal radii"):
        lbp_top_per_slice(volume, LBPTOPConfig(R=(1.0, 1.0, 2.0)))


def test_levers_benchmark_measures_every_lever_per_row(quick_run) -> None:
    """bf16, channels_last, the profile's levers and the batched ensemble, each with its
    alternative, and a throughput entry per row for make plan (not written under --quick)."""
    r = quick_run[0]["levers"]
    row = r["rows"]["quick:rrrn"]
    assert all(row[k] > 0 for k in ("fp32", "bf16", "channels_last", "profile", "ensemble", "one_by_one"))
    entry, extra = r["throughput"]  # the timed row, then --quick's one extra row (Table VII's model)
    assert extra["method"] == "au_task" and extra["samples_per_second"] > 0
    assert entry["method"] == "rrrn" and entry["input_size"] == 32 and entry["samples_per_second"] == row["profile"]
    assert r["ensemble_ratio"] == pytest.approx(row["ensemble"] / row["one_by_one"])


def test_flow_benchmark_reports_each_crop_size_and_writes_its_results(tmp_path, monkeypatch) -> None:
    """``flow --quick``: per crop size the plain loops, merkit cold (sequential, parallel) and a
    cache hit, all positive; ``--save`` writes reports/bench/flow.json in make plan's schema."""
    monkeypatch.setenv("MERKIT_REPORTS", str(tmp_path))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        r = cli.run_benchmark("flow", ["--quick", "--save"])
    (size,) = r["crop_sizes"]
    for key in ("plain_s", "plain_threads_s", "merkit_sequential_cold_s", "merkit_cold_s",
                "merkit_warm_s", "speedup_cold_vs_plain", "speedup_cold_vs_plain_threads",
                "cache_hit_speedup", "pipeline_flow_s_per_pair"):
        assert math.isfinite(r[f"{key}_{size}"]) and r[f"{key}_{size}"] > 0, key
    assert r["ratio"] == r[f"speedup_cold_vs_plain_{size}"] and r[f"sequential_equals_parallel_{size}"]
    assert math.isclose(r[f"cache_hit_speedup_{size}"], r[f"merkit_cold_s_{size}"] / r[f"merkit_warm_s_{size}"])
    saved = json.loads((tmp_path / "bench" / "flow.json").read_text())
    assert saved["device"] == "cpu" and saved["machine"].startswith("machine: ") and saved["timestamp"]
    assert saved["ratio"] == r["ratio"] and f"speedup_cold_vs_plain_{size}" in saved
    assert {(e["crop_size"], e["n_jobs"]) for e in saved["flow_throughput"]} == {(size, 1), (size, 2)}
    assert all(e["pairs_per_second"] > 0 for e in saved["flow_throughput"])
    assert "results written to" in out.getvalue()
    # --quick alone writes nothing (a smoke run must not replace the measured throughputs)
    (tmp_path / "bench" / "flow.json").unlink()
    with contextlib.redirect_stdout(io.StringIO()):
        cli.run_benchmark("flow", ["--quick", "--crop-sizes", "16", "--sizes", "16"])
    assert not (tmp_path / "bench" / "flow.json").exists()
