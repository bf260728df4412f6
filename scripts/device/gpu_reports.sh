#!/usr/bin/env bash
# Re-derive the GPU validation reports from the measurements kept in reports/validation/<gpu>/
# (no GPU needed): the shipped profile's predictions of the measured cases, the same-host
# calibration (refitted from its raw records) and its predictions of its own run, and the
# micro-benchmarks against the profile.
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
# the same-host profile is refitted from the raw micro-benchmark records it keeps, so that it
# reflects the current fit (archsim/validate/fit.py), as a fresh `archsim calibrate` would
python scripts/refit_calibration.py "$d/same-host/calibrated.yaml" "$d/same-host/calibrated.yaml"
"$ARCHSIM" validate --measured "$d/same-host/measured.json" --profile "$d/same-host/calibrated.yaml" \
  --out "$d/same-host"
"$ARCHSIM" validate --measured "$d/same-host/measured.json" --profile "$profile" \
  --out "$d/same-host/shipped"
python scripts/device/compare_probe.py "$d" "$profile" > /dev/null
echo "wrote $d/shipped, $d/same-host, $d/same-host/shipped, $d/probe.md"
