#!/usr/bin/env bash
# Re-derive the GPU validation reports from the measurements kept in reports/validation/<gpu>/
# (no GPU needed): the shipped profile's predictions of the measured cases, the same-host
# calibration's predictions of its own run, and the micro-benchmarks against the profile.
# Run after any change to the cost model or the shipped profiles.
#
# Usage: scripts/device/gpu_reports.sh [GPU] [PROFILE]   defaults: h200 h200-sxm-141gb
set -euo pipefail
cd "$(dirname "$0")/../.."
gpu=${1:-h200}
profile=${2:-h200-sxm-141gb}
d=reports/validation/$gpu
ARCHSIM=${ARCHSIM:-archsim}
"$ARCHSIM" validate --measured "$d/measured.json" --profile "$profile" --out "$d/shipped"
"$ARCHSIM" validate --measured "$d/same-host/measured.json" --profile "$d/same-host/calibrated.yaml" \
  --out "$d/same-host"
"$ARCHSIM" validate --measured "$d/same-host/measured.json" --profile "$profile" \
  --out "$d/same-host/shipped"
python scripts/device/compare_probe.py "$d" "$profile" > /dev/null
echo "wrote $d/shipped, $d/same-host, $d/same-host/shipped, $d/probe.md"
