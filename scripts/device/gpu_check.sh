#!/usr/bin/env bash
# The whole GPU check in one call, on a machine whose python3 has a CUDA build of torch but
# perhaps not archsim's other dependencies (their wheels in .whl/, if present, are installed
# into /tmp/site). Writes into $OUT (default /tmp/gpu-check):
#   nvidia-smi.txt      the GPU, driver, clocks and power limit
#   probe.json          scripts/device/insitu_probe.py: GEMM bf16/fp8, HBM, attention, kernels
#   validation.json     `archsim validate` on this GPU (the standard cases and the GPU-sized
#                       ones), predicted with the shipped registry profile PROFILE
#   calibrated.yaml     `archsim calibrate` of this GPU (micro-benchmarks -> isolated profile,
#                       with the host's cost per op from the framework benchmark)
#   same-host/          validation.json's cases predicted with calibrated.yaml (no GPU needed):
#                       the user's calibrate-then-validate flow on one machine
#   log.txt             everything printed
# Measurements are what matter: predictions with any other profile are made later, on any
# machine, with `archsim validate --measured validation.json --profile P` (no GPU needed) and
# scripts/device/compare_probe.py. Each stage has its own time limit; a failed stage does not
# stop the next (its error is in log.txt). Takes 4-9 minutes on one H200.
#
# Usage: scripts/device/gpu_check.sh [PROFILE]   PROFILE defaults to h200-sxm-141gb
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
profile=${1:-h200-sxm-141gb}
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
mkdir -p /tmp/bin
printf '#!/bin/sh\nexec python3 -m archsim "$@"\n' > /tmp/bin/archsim
chmod +x /tmp/bin/archsim
export PATH=/tmp/bin:$PATH

start=$(date +%s)
stage() { echo "== $(( $(date +%s) - start )) s: $*"; }
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,power.limit --format=csv
python3 -c "import torch, archsim; print('torch', torch.__version__, torch.version.cuda)"

stage "probe"
timeout 90 python3 scripts/device/insitu_probe.py "$OUT/probe.json" || echo "probe failed: $?"

stage "validate (measured cases; predicted with $profile)"
timeout 270 archsim validate --device cuda --profile "hardware_profiles/devices/$profile.yaml" \
  --out /tmp/validation --no-plot || echo "validate failed: $?"
cp /tmp/validation/validation.json "$OUT/validation.json" 2>/dev/null

stage "calibrate"
timeout 180 archsim calibrate --device cuda --out "$OUT/calibrated.yaml" \
  --name "${profile%%-*}-calibrated" --base "$profile" || echo "calibrate failed: $?"

stage "same-host prediction (calibrated.yaml on validation.json)"
timeout 120 archsim validate --measured "$OUT/validation.json" --profile "$OUT/calibrated.yaml" \
  --out "$OUT/same-host" --no-plot || echo "same-host prediction failed: $?"
stage "done"
