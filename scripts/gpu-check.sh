#!/usr/bin/env bash
# The prepared check for the day a GPU machine is lent: one short run, from the repo root.
#
#   scripts/gpu-check.sh [OUT_DIR]        (default OUT_DIR: reports/bench)
#
# 1. `python -m merkit.bench levers --device cuda`: every table row's training throughput on
#    the GPU (fp32, bf16, channels_last, the profile's levers, batched ensembles of K members
#    against one by one, and the cost of TrainConfig.deterministic).
# 2. One paper-profile fold of MER-auGCN (SAMM -> CASME II) and of RRRN (HDE, un-occluded) on
#    the embedded set, end to end (flows, training, evaluation), seed 0. The smoke-scale set by
#    default, so the flows take seconds; GPU_CHECK_SCALE=full runs the full set.
# All figures end in OUT_DIR/train-cuda.json ("throughput" for make plan, "folds" for the
# record), the file `make plan THROUGHPUT=OUT_DIR/train-cuda.json` reads.
#
# Needs: Python with this repo's requirements and a CUDA build of torch (.venv/bin/python if
# it exists, else python3, or PY=...). No network. A dry run on a CPU (what the tests do):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_PROFILE=smoke GPU_CHECK_QUICK=1 scripts/gpu-check.sh /tmp/out
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-reports/bench}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
PROFILE=${GPU_CHECK_PROFILE:-paper}
SCALE=${GPU_CHECK_SCALE:-smoke}
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT_DIR"
start=$(date +%s)

"$PY" - "$DEVICE" <<'PYEOF'
import sys, torch
device = sys.argv[1]
if device == "cuda" and not torch.cuda.is_available():
    sys.exit(f"gpu-check: torch {torch.__version__} sees no GPU (CUDA build? driver?); "
             "for a dry run on a CPU set GPU_CHECK_DEVICE=cpu")
print(f"gpu-check: torch {torch.__version__}, device {device}"
      + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))
PYEOF

quick=()
if [ -n "${GPU_CHECK_QUICK:-}" ]; then quick=(--quick --save); fi
"$PY" -m merkit.bench levers --device "$DEVICE" --out "$OUT_DIR" "${quick[@]}"

for run in mer_augcn:ablation rrrn:hde; do
  method=${run%%:*}; protocol=${run##*:}
  "$PY" -m merkit.reproduce --profile "$PROFILE" --scale "$SCALE" --seeds 0 --method "$method" \
    --protocol "$protocol" --json "$OUT_DIR/fold-$method.json"
done

"$PY" - "$OUT_DIR" "$DEVICE" "$(( $(date +%s) - start ))" <<'PYEOF'
import json, sys
from pathlib import Path
from merkit.io import read_json, write_json
out, device, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
bench = out / ("train.json" if device == "cpu" else f"train-{device}.json")
record = read_json(bench)
record["folds"] = [read_json(out / f"fold-{m}.json") for m in ("mer_augcn", "rrrn")]
record["gpu_check_seconds"] = seconds
write_json(bench, record)
for f in record["folds"]:
    rates = ", ".join(f"{r['fold']} {r['seconds']:.0f} s ({r['samples_per_second']:.0f} samples/s)" for r in f["runs"])
    print(f"{f['method']} ({f['profile']}, {f['protocol']}, {f['input_size']} px, {f['device']}): "
          f"flows {f['flows_seconds']:.0f} s; {rates}")
print(f"gpu-check: {seconds} s; figures in {bench} (make plan THROUGHPUT={bench})")
PYEOF
