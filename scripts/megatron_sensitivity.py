"""Write reports/validation/megatron_sensitivity.md: how the Megatron SC21 rows (never fitted)
and the calibration corpus's A100-80GB training runs move with the A100's sustained compute.

A diagnostic of the tension between the two, not a fit: the shipped value is the corpus fit's.
Each value is written into a copy of reports/calibration/corpus.yaml (the shipped overlay) and
both sets of runs are predicted with it.

    python scripts/megatron_sensitivity.py [VALUE ...]      (default 0.8192 0.84 0.86 0.88 0.90)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import yaml

from archsim.insitu.predict import load_runs, predict
from archsim.insitu.runs import read_runs
from archsim.io import write_text_atomic
from archsim.published.megatron import run_cases

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "a100-sxm4-80gb"


def overlay_with(value: float, folder: Path) -> Path:
    data = yaml.safe_load((ROOT / "reports/calibration/corpus.yaml").read_text())
    data["devices"][DEVICE]["insitu"]["sustained_compute"] = value
    path = folder / f"sustained-{value}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def row(value: float, folder: Path) -> str:
    overlay = str(overlay_with(value, folder))
    runs = [r for r in read_runs(ROOT / "reference/calibration/runs.csv")
            if r.kind == "training" and r.values.get("device") == DEVICE]
    corpus = [predict(ld).error for ld in load_runs(runs, calibration=overlay)]
    megatron = [c.error for c in run_cases(overlay)]
    def pct(e: float) -> str:
        return f"{100 * e:+.1f}%"
    return (f"| {value} | {100 * statistics.mean(abs(e) for e in corpus):.1f}% | "
            f"{pct(statistics.mean(corpus))} | "
            f"{100 * statistics.mean(abs(e) for e in megatron):.1f}% | "
            f"{pct(max(megatron, key=abs))} | {' '.join(pct(e) for e in megatron)} |")


def main(values: list[float]) -> None:
    lines = [
        "# Sensitivity: the A100's sustained compute, the corpus and Megatron SC21",
        "",
        "Regenerate with `python scripts/megatron_sensitivity.py`. The shipped value (0.8192) is "
        "the fit to the calibration corpus; the others are what-ifs, never shipped (fitting "
        "them to the Megatron rows would make those rows a training set). Error = "
        "(predicted − measured) / measured time; corpus: the "
        f"{DEVICE} training runs of reference/calibration/runs.csv, predicted in sample.",
        "",
        "| sustained_compute | corpus MAPE | corpus bias | Megatron MAPE | Megatron worst | "
        "Megatron rows (1.7B … 1T) |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        lines += [row(v, Path(tmp)) for v in values]
    text = "\n".join(lines) + "\n"
    write_text_atomic(ROOT / "reports/validation/megatron_sensitivity.md", text)
    print(text)


if __name__ == "__main__":
    main([float(v) for v in sys.argv[1:]] or [0.8192, 0.84, 0.86, 0.88, 0.90])
