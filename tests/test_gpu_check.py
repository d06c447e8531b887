"""``scripts/gpu-check.sh``, the prepared GPU check, in its dry run on this CPU: it runs the
levers benchmark and one fold of MER-auGCN and of RRRN end to end, and leaves one file that
``make plan`` reads (its throughputs) with the folds' figures beside them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from merkit.io import read_json
from merkit.paths import REPO_ROOT
from merkit.reproduce import plan


def test_gpu_check_dry_run_writes_one_file_make_plan_reads(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = os.environ | {"GPU_CHECK_DEVICE": "cpu", "GPU_CHECK_PROFILE": "smoke", "GPU_CHECK_QUICK": "1",
                        "PY": sys.executable, "MERKIT_DATA": str(tmp_path / "data")}
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "gpu-check.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = read_json(out / "train.json")  # a CPU dry run names the file as the CPU bench does
    assert [f["method"] for f in record["folds"]] == ["mer_augcn", "rrrn"]
    for fold in record["folds"]:
        assert fold["profile"] == "smoke" and fold["device"] == "cpu" and fold["runs"]
        assert all(r["seconds"] >= 0 and r["samples_per_second"] > 0 for r in fold["runs"])
        assert {row["metric"] for row in fold["table"]} == {"war", "uar"}
    tp = plan.read_bench_files([out / "train.json"], label="gpu-check")
    assert tp.train  # make plan finds the throughputs in the same file
    assert "make plan THROUGHPUT=" in done.stdout


def test_gpu_check_refuses_without_a_gpu(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        return  # nothing to refuse on a GPU machine
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "gpu-check.sh"), str(tmp_path)],
                          env=os.environ | {"PY": sys.executable}, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "sees no GPU" in done.stderr and "GPU_CHECK_DEVICE=cpu" in done.stderr
