"""Regenerate the example reports under reports/ (the README's one command for them).

    python scripts/make_example_reports.py [--out-root DIR] [--only NAME ...] [--workers N]

Each example is one ``archsim report`` call on an input kept in reports/inputs/ (or a
registry scenario in workloads/scenarios/); the sweep
example first runs ``archsim sweep`` to (re)write its results table into <out-root>/inputs/,
without the wall-clock columns that would change on every run (``drop_volatile``).
Every report folder is replaced atomically (``--force``). ``--workers N`` builds up to N
examples at once, each in its own process (they share no file). Exit status: 0 when every
report was written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name → (input, extra `archsim report` options, what the example shows)
EXAMPLES: dict[str, tuple[str, list[str], str]] = {
    "training-capacity": (
        "reports/inputs/training-gpt3-175b-1024xa100.yaml",
        # GPT-3 was trained on 300B tokens (Brown et al. 2020, section 2.2)
        ["--train-tokens", "300e9", "--days", "30"],
        "how many A100s train GPT-3 175B on 300B tokens in 30 days, and at what cost"),
    "serving-capacity": (
        "llama2-7b-capacity", ["--rate", "30", "--devices", "h100-sxm5-80gb,l40s"],
        "how many A100s, H100s or L40S serve Llama-2 7B chat at 30 requests/s within the SLO"),
    "compression-comparison": (
        "reports/inputs/compression-llama2-70b-int4.yaml", ["--rate", "5"],
        "Llama-2 70B on two H100s: int4 weights + fp8 KV cache against bf16"),
    "sweep-llama2-7b-hardware": (
        "{out}/inputs/llama2-7b-hardware.csv", [],
        "which 8-device machine and plan trains Llama-2 7B cheapest per token (Pareto front)"),
}
SWEEPS = {"sweep-llama2-7b-hardware": "llama2-7b-hardware"}
# What changes on every run of a sweep (wall-clock times), left out of the committed example
# table and its summary so that regenerating them changes only what the model changes.
VOLATILE_COLUMNS = ("sim.wall_s",)
VOLATILE_RUN_FIELDS = ("elapsed_s", "points_per_s", "feasible_per_s")


def drop_volatile(table: Path) -> None:
    """Rewrite a sweep's CSV table and summary without the wall-clock columns and fields
    (every other cell keeps its text)."""
    import csv
    import io
    import json

    from archsim.io import write_text_atomic

    with table.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    keep = [i for i, name in enumerate(rows[0]) if name not in VOLATILE_COLUMNS]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[row[i] for i in keep] for row in rows])
    write_text_atomic(table, buf.getvalue())
    summary = table.with_name(table.stem + ".summary.json")
    data = json.loads(summary.read_text(encoding="utf-8"))
    for name in VOLATILE_RUN_FIELDS:
        data["run"].pop(name)
    write_text_atomic(summary, json.dumps(data, indent=2, allow_nan=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-root", type=Path, default=ROOT / "reports",
                        help="folder to write the example reports into (default: reports/)")
    parser.add_argument("--only", nargs="+", choices=sorted(EXAMPLES), help="examples to build")
    parser.add_argument("--workers", type=int, default=1,
                        help="examples built at once, one process each (default: 1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers: {args.workers} must be at least 1")
    out_root = args.out_root.resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)  # inputs are named relative to the repository, as the reports show them
    names = list(args.only or EXAMPLES)
    if args.workers == 1 or len(names) == 1:
        return max((build(name, out_root) for name in names), default=0)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(min(args.workers, len(names)),
                             mp_context=get_context("spawn")) as pool:
        codes = list(pool.map(build, names, [out_root] * len(names)))
    return max(codes, default=0)


def build(name: str, out_root: Path) -> int:
    """Build the example ``name`` under ``out_root`` (its sweep first, if it has one)."""
    os.chdir(ROOT)
    from archsim.cli import main as archsim

    source, options, what = EXAMPLES[name]
    if "{out}" in source:
        table = out_root / source.removeprefix("{out}/")
        table.parent.mkdir(exist_ok=True)
        source = os.path.relpath(table, ROOT)
    if name in SWEEPS:
        if archsim(["sweep", SWEEPS[name], "--out", source, "--workers", "1",
                    "--overwrite", "--no-progress"]) != 0:
            return 1
        drop_volatile(ROOT / source)
    print(f"{name}: {what}", flush=True)
    return archsim(["report", source, "--out", str(out_root / name), "--force", *options])


if __name__ == "__main__":
    sys.exit(main())
