"""The best utilisation published runs reached, per device and GEMM dtype.

Read from the calibration corpus (reference/calibration/training_runs.csv: rows whose notes
state MFU and HFU, MosaicML llm-foundry's benchmark tables, MFU/HFU against 312 TFLOPS on the
A100, 989 bf16 / 1979 fp8 on the H100). A prediction above these is a claim no published team
has measured: a credibility check, not a bound the simulator enforces.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache

DEVICES = {"A100-SXM4-80GB": "a100-sxm4-80gb", "A100-SXM4-40GB": "a100-sxm4-40gb",
           "H100-80GB": "h100-sxm5-80gb", "H100-SXM5-80GB": "h100-sxm5-80gb"}


@dataclass(frozen=True)
class Best:
    mfu: float
    mfu_run: str
    hfu: float
    hfu_run: str


@lru_cache(maxsize=1)
def best_published() -> dict[tuple[str, str], Best]:
    """(device registry name, GEMM dtype) → the best MFU and HFU of a published run."""
    from archsim.published.megatron import data_file

    out: dict[tuple[str, str], Best] = {}
    with open(data_file("calibration/training_runs.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            device = next((v for k, v in DEVICES.items() if row["device"].startswith(k)), None)
            mfu = re.search(r"MFU=([0-9.]+)%", row["notes"])
            hfu = re.search(r"HFU=([0-9.]+)%", row["notes"])
            if device is None or mfu is None or hfu is None:
                continue
            dtype = "fp8" if "fp8" in row["dtype"].lower() else "bf16"
            m, h = float(mfu.group(1)) / 100, float(hfu.group(1)) / 100
            got = out.get((device, dtype))
            if got is None:
                got = Best(m, row["case"], h, row["case"])
            if m > got.mfu:
                got = Best(m, row["case"], got.hfu, got.hfu_run)
            if h > got.hfu:
                got = Best(got.mfu, got.mfu_run, h, row["case"])
            out[(device, dtype)] = got
    return out


def best_for(device: str, dtype: str) -> Best | None:
    """The best published utilisation of ``device`` with GEMMs in ``dtype`` (fp16 and bf16
    share one entry), or None where the corpus has none. See :func:`best_source`."""
    found = best_source(device, dtype)
    return found[1] if found is not None else None


def best_source(device: str, dtype: str) -> tuple[str, Best] | None:
    """(the device whose runs set it, the best) for ``device`` and ``dtype``: its own runs,
    else those of its in-situ sibling (``insitu.prior_from``: the same compute die and peak,
    e.g. the H200's H100), else None."""
    key = "fp8" if dtype == "fp8" else "bf16"
    got = best_published().get((device, key))
    if got is not None:
        return device, got
    sibling = _sibling(device)
    if sibling is not None and (sibling, key) in best_published():
        return sibling, best_published()[(sibling, key)]
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
