"""The best utilisation published runs reached, per device and GEMM dtype.

Read from the calibration corpus: reference/calibration/training_runs.csv, rows whose notes
state MFU — MosaicML llm-foundry's benchmark tables with MFU and HFU against 312 TFLOPS on the
A100, 989 bf16 / 1979 fp8 on the H100; Llama 3's 405B runs on H100; MaxText on TPU v5p and
v5e, MFU only — and reference/calibration/measured_utilization.csv, every training run of
the corpus with its measured step time in archsim's FLOP accounting
(scripts/measured_utilization.py): NeMo's and Megatron-Bridge's FP8 runs reach 44.9% of the
H100's fp8 peak, which no source states. A prediction above these is a claim no published
team has measured: a credibility check, not a bound the simulator enforces. A device shares
its in-situ sibling's best; one with no such run of its own or of a sibling is held to the
best of any device of its kind (a GPU to the GPUs') for that dtype, of any accelerator where
its kind has none.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archsim.spec.device import DeviceSpec

DEVICES = {"A100-SXM4-80GB": "a100-sxm4-80gb", "A100-SXM4-40GB": "a100-sxm4-40gb",
           "H100-80GB": "h100-sxm5-80gb", "H100-SXM5-80GB": "h100-sxm5-80gb",
           "TPU v5p": "tpu-v5p", "TPU v5e": "tpu-v5e"}
ACCELERATORS = ("gpu", "tpu", "asic")
"""Device kinds held to the best of any accelerator when they have no published run."""


@dataclass(frozen=True)
class Best:
    mfu: float
    mfu_run: str
    hfu: float | None = None
    """None where no run of the device states its HFU (MaxText's tables give MFU only)."""
    hfu_run: str | None = None


@lru_cache(maxsize=1)
def best_published() -> dict[tuple[str, str], Best]:
    """(device registry name, GEMM dtype) → the best MFU and HFU of a published run."""
    from archsim.published.megatron import data_file

    out: dict[tuple[str, str], Best] = {}

    def take(device: str, dtype: str, m: float, h: float | None, run: str) -> None:
        got = out.get((device, dtype))
        if got is None:
            got = Best(m, run, h, run if h is not None else None)
        if m > got.mfu:
            got = Best(m, run, got.hfu, got.hfu_run)
        if h is not None and (got.hfu is None or h > got.hfu):
            got = Best(got.mfu, got.mfu_run, h, run)
        out[(device, dtype)] = got

    with open(data_file("calibration/training_runs.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            device = next((v for k, v in DEVICES.items() if row["device"].startswith(k)), None)
            mfu = re.search(r"MFU[= ]([0-9.]+)%", row["notes"])
            hfu = re.search(r"HFU[= ]([0-9.]+)%", row["notes"])
            if device is None or mfu is None:
                continue
            take(device, "fp8" if "fp8" in row["dtype"].lower() else "bf16",
                 float(mfu.group(1)) / 100,
                 float(hfu.group(1)) / 100 if hfu is not None else None, row["case"])
    # the runs whose sources state throughput only, in archsim's FLOP accounting
    with open(data_file("calibration/measured_utilization.csv"), newline="") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            take(row["device"], "fp8" if row["gemm_dtype"] == "fp8" else "bf16",
                 float(row["mfu"]), float(row["hfu"]), row["run"])
    return out


def best_for(device: str, dtype: str) -> Best | None:
    """The best published utilisation of ``device`` with GEMMs in ``dtype`` (fp16 and bf16
    share one entry), or None where the corpus has none. See :func:`best_source`."""
    found = best_source(device, dtype)
    return found[1] if found is not None else None


def best_source(device: str, dtype: str, spec: DeviceSpec | None = None
                ) -> tuple[str, Best] | None:
    """(the device whose runs set it, the best) for ``device`` and ``dtype``: the higher of
    its own runs' and those of its in-situ sibling (``insitu.prior_from``: the same compute
    die and peak, e.g. the H200's H100), else None. ``spec``: the device's profile where the
    scenario has it (a profile from a file is not in the registry the name is looked up in)."""
    key = "fp8" if dtype == "fp8" else "bf16"
    sibling = _sibling(device) if spec is None else \
        (spec.insitu.prior_from if spec.insitu is not None else None)
    found = [(d, best_published()[(d, key)]) for d in (device, sibling)
             if d is not None and (d, key) in best_published()]
    if not found:
        return None
    source, top = max(found, key=lambda f: f[1].mfu)
    hfus = [b for _, b in found if b.hfu is not None]
    if hfus:  # the higher HFU of the two, whichever set the MFU
        best_h = max(hfus, key=lambda b: b.hfu or 0.0)
        top = Best(top.mfu, top.mfu_run, best_h.hfu, best_h.hfu_run)
    return source, top


def best_any(dtype: str, kind: str | None = None) -> tuple[str, Best] | None:
    """(device, best) of the highest published MFU with GEMMs in ``dtype`` on any device of
    ``kind`` (a GPU is held to the GPUs' best: MaxText's TPU tables are XLA on a TPU, not a
    GPU's software), on any device where no device of that kind has one."""
    key = "fp8" if dtype == "fp8" else "bf16"
    found = [(d, b) for (d, k), b in best_published().items() if k == key]
    same = [f for f in found if kind is not None and _kind(f[0]) == kind]
    found = same or found
    return max(found, key=lambda f: f[1].mfu) if found else None


def caution(device: str, dtype: str, mfu: float, hfu: float | None = None,
            spec: DeviceSpec | None = None) -> str | None:
    """Why a predicted MFU (HFU) of ``device`` is above any published run, or None: against
    its own runs or its sibling's (:func:`best_source`), else — for an accelerator — the best
    of any device in that dtype. ``spec``: the device's profile where the caller has it (a
    device defined in the user's own file has no registry entry to read its kind from)."""
    found = best_source(device, dtype, spec)
    if found is not None:
        source, top = found
        same = "" if source == device else f"; the compute die of {device}"
        if mfu > top.mfu:
            return (f"MFU {100 * mfu:.1f}% is above the best published {source} run "
                    f"({100 * top.mfu:.1f}%, {top.mfu_run}{same})")
        if hfu is not None and top.hfu is not None and hfu > top.hfu:
            return (f"HFU {100 * hfu:.1f}% is above the best published {source} run "
                    f"({100 * top.hfu:.1f}%, {top.hfu_run}{same})")
        return None
    kind = spec.kind if spec is not None else _kind(device)
    if kind not in ACCELERATORS:
        return None
    anywhere = best_any(dtype, kind)
    if anywhere is None or mfu <= anywhere[1].mfu:
        return None
    source, top = anywhere
    where = {"gpu": "GPU", "tpu": "TPU"}.get(kind, "device") \
        if _kind(source) == kind else "device"
    return (f"MFU {100 * mfu:.1f}% is above the best published run on any {where} "
            f"({100 * top.mfu:.1f}%, {top.mfu_run} on {source}); no published {device} run "
            "states its MFU")


@lru_cache(maxsize=64)
def _kind(device: str) -> str | None:
    from archsim.spec.errors import SpecError
    from archsim.spec.loader import load_spec_file

    try:
        return load_spec_file("devices", device).kind
    except SpecError:
        return None


@lru_cache(maxsize=64)
def _sibling(device: str) -> str | None:
    from archsim.spec.errors import SpecError
    from archsim.spec.loader import load_spec_file

    try:
        spec = load_spec_file("devices", device)
    except SpecError:
        return None
    return spec.insitu.prior_from if spec.insitu is not None else None
