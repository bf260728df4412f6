"""Write reports/validation/cpu-m167/rope_ablation.md: the CPU validation with and without the
op graph's rotary-embedding op (``L<i>.rope``, archsim/graph/transformer.py ``_rope``).

Nothing is measured or fitted here: each kept measurement set is predicted again
(archsim/validate/rescore.py, as ``archsim validate --measured``) with its own calibration,
once by this checkout and once by the commit before the op existed (``BEFORE``, checked out
into a temporary git worktree and run in a subprocess). Only the Llama cases can differ: GPT
and BERT use learned positions. Sets measured before the op existed timed RoPE inside the
``attn`` range, and their calibrations have no RoPE records (the op is priced by the
elementwise kind's efficiency); the rope-pair set times it in a range of its own and its
calibration has RoPE records.

Needs no torch; a minute (git worktree, two processes).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
M167 = ROOT / "reports/validation/cpu-m167"
INTEL = ROOT / "reports/validation/cpu-intel"
OUT = M167 / "rope_ablation.md"
BEFORE = "c432468"
"""The last commit whose op graph had no rope op."""
SETS = [  # (label, profile, measurements): each set with the calibration it was validated with
    ("AMD EPYC 2026-12-05 13:20 (committed)",
     ROOT / "reports/validation/cpu/cpu-local-example.yaml",
     ROOT / "reports/validation/cpu/validation.json"),
    ("Intel model 207, fifth pair", INTEL / "fifth-pair/cpu-local-intel-example.yaml",
     INTEL / "fifth-pair/validation.json"),
    ("model 167, output-rotation-final", M167 / "output-rotation-final/cpu-local-m167-example.yaml",
     M167 / "output-rotation-final/validation.json"),
    ("model 167, packed-attention-pair", M167 / "packed-attention-pair/cpu-local-m167-example.yaml",
     M167 / "packed-attention-pair/validation.json"),
    ("model 167, rope-pair (RoPE records, own range)",
     M167 / "rope-pair/cpu-local-m167-example.yaml", M167 / "rope-pair/validation.json"),
]
RESCORE = """
import json, sys
from archsim.validate.rescore import read_report, rescore
from archsim.validate.suite import load_profile
out = []
for profile, measured in json.loads(sys.argv[1]):
    report = rescore(read_report(measured), load_profile(profile), profile)
    out.append([{"name": c["name"], "errors": c["errors"]} for c in report["cases"]])
print(json.dumps(out))
"""


def predicted_errors(pythonpath: Path) -> list[list[dict]]:
    """Every set rescored by the archsim of the checkout ``pythonpath``: per case its
    errors."""
    pairs = json.dumps([[str(p), str(m)] for _, p, m in SETS])
    # run from that tree: ``python -c`` puts the working directory first on sys.path
    done = subprocess.run([sys.executable, "-c", RESCORE, pairs], capture_output=True,
                          text=True, check=True, cwd=pythonpath,
                          env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"})
    return json.loads(done.stdout)


def summary(cases: list[dict]) -> dict[str, float]:
    """MAPE (%): end to end (step time or latency, one per case), training, inference, TTFT,
    TPOT, and the Llama cases' end to end."""
    groups: dict[str, list[float]] = {}
    for case in cases:
        e = case["errors"]
        end = e.get("step_time_s", e.get("e2e_latency_s"))
        groups.setdefault("end to end", []).append(abs(end))
        groups.setdefault("training" if "step_time_s" in e else "inference", []).append(abs(end))
        for metric, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
            if metric in e:
                groups.setdefault(label, []).append(abs(e[metric]))
        if "llama" in case["name"]:
            groups.setdefault("Llama end to end", []).append(abs(end))
    return {k: 100 * statistics.fmean(v) for k, v in groups.items()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree),
                        BEFORE], check=True)
        try:
            before = predicted_errors(tree)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(tree)], check=True)
    after = predicted_errors(ROOT)
    keys = ("end to end", "training", "inference", "TTFT", "TPOT", "Llama end to end")
    lines = ["# The CPU validation with and without the rope op", "",
             __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0], "",
             "MAPE without → with the rope op (same measurements, same calibration):", "",
             "| measurement set | " + " | ".join(keys) + " |",
             "|---|" + "---|" * len(keys)]
    for (label, _, _), old, new in zip(SETS, before, after, strict=True):
        a, b = summary(old), summary(new)
        lines.append(f"| {label} | " + " | ".join(f"{a[k]:.1f} → {b[k]:.1f}" for k in keys)
                     + " |")
    lines += ["", "The Llama cases, error without → with the rope op:", "",
              "| measurement set | case | metric | without | with |", "|---|---|---|---:|---:|"]
    for (label, _, _), old, new in zip(SETS, before, after, strict=True):
        for o, n in zip(old, new, strict=True):
            if "llama" not in o["name"]:
                assert o["errors"] == n["errors"], o["name"]  # nothing else may move
                continue
            for metric, err in o["errors"].items():
                lines.append(f"| {label} | {o['name']} | {metric} | {100 * err:+.1f}% | "
                             f"{100 * n['errors'][metric]:+.1f}% |")
    text = "\n".join(lines) + "\n"
    from archsim.io import write_text_atomic

    write_text_atomic(OUT, text)
    print(text)


if __name__ == "__main__":
    main()
