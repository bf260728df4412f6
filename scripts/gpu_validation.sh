#!/usr/bin/env bash
# GPU validation of archsim on the local NVIDIA GPU, in under 8 minutes on one H100/H200-class
# GPU: calibrate the GPU (micro-benchmarks -> device profile), run the validation cases on it
# (bf16 training steps and prefill/decode, measured vs simulated), and save
#   hardware_profiles/devices/<name>-calibrated.yaml   the calibrated profile (power, price, links
#                                                      and node size from the datasheet profile)
#   reports/validation/<name>/validation.{json,md,png} the report
# With two or more GPUs the two-process check uses NCCL; with one it is recorded as skipped.
#
# Usage: scripts/gpu_validation.sh [NAME]      NAME defaults to the GPU's name, e.g. h200
# Needs: pip install -e ".[dev]" (or ".[torch]") with a CUDA build of torch.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu_validation.sh: nvidia-smi not found; this script needs an NVIDIA GPU" >&2
  exit 2
fi
ARCHSIM=${ARCHSIM:-archsim}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0)
# "NVIDIA H200" -> "h200", "NVIDIA H100 80GB HBM3" -> "h100-80gb-hbm3"
default_name=$(echo "$gpu" | tr '[:upper:]' '[:lower:]' | sed -e 's/^nvidia //' \
  -e 's/[^a-z0-9]\+/-/g' -e 's/^-//' -e 's/-$//')
name=${1:-$default_name}
# the registry profile that supplies power, price, NVLink/IB links and node size
case "$name" in
  h200*) base=h200-sxm-141gb ;;
  h100*pcie*) base=h100-pcie-80gb ;;
  h100*) base=h100-sxm5-80gb ;;
  a100*40gb*) base=a100-sxm4-40gb ;;
  a100*) base=a100-sxm4-80gb ;;
  b200*) base=b200 ;;
  l40s*) base=l40s ;;
  *) base=${BASE:-} ;;
esac
base_arg=()
[ -n "$base" ] && base_arg=(--base "$base")
profile="hardware_profiles/devices/${name}-calibrated.yaml"
out="reports/validation/${name}"
mkdir -p "$out"

start=$(date +%s)
echo "== calibrating $gpu -> $profile"
timeout 200 "$ARCHSIM" calibrate --device cuda --out "$profile" --name "${name}-calibrated" \
  "${base_arg[@]}"
echo "== validating on $gpu -> $out"
timeout 260 "$ARCHSIM" validate --device cuda --profile "$profile" --out "$out" --distributed
echo "== done in $(( $(date +%s) - start )) s: $profile, $out/validation.md"
