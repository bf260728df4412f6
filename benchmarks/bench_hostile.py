"""Hostile inputs against the CLI: exit code, wall time and peak memory of each.

The corpus is the hardening issue's (13): undecodable files of every kind archsim reads, deep
nesting, stack-exhausting expressions, numbers that ask for huge work, alias bombs, values that
should not be accepted, a report folder that is not archsim's. Each input runs as ``archsim ...``
in a fresh process (no memory cap, a 120 s timeout); peak memory is the process's maximum
resident set (``wait4``). With ``--random N``, N more runs set 1-3 random numeric fields of a
shipped scenario to hostile values (0, -1, 2**53, 1e18, 1e-300, true, "x", [], ...).

    python benchmarks/bench_hostile.py [--random 100] [--seed 0]

Prints one line per input and a summary: inputs tried, exit codes, worst time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# The child reports its own peak resident set (VmHWM of its address space after exec; wait4's
# ru_maxrss would include the parent's size at fork) into the file named by HWM_FILE.
CLI = """
import atexit, os, sys
def _hwm():
    try:
        kb = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]
        open(os.environ['HWM_FILE'], 'w').write(kb)
    except (OSError, IndexError, KeyError):
        pass
atexit.register(_hwm)
from archsim.cli import main
sys.exit(main(sys.argv[1:]))
"""
BASE = ("model: gpt3-1.7b\nhardware: {device: a100-sxm4-80gb, count: 8}\n"
        "workload: {kind: training, global_batch: 16}\n")
SERVE = ("model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
         "workload: {kind: serving, arrival: {rate_per_s: 4, count: 20}}\n")
SWEEP = "name: s\nbase: {model: gpt3-1.7b, hardware: {device: a100-sxm4-80gb, count: 8}, " \
        "workload: {kind: training, global_batch: 16}}\naxes:\n  plan.tp: [1, 2]\n"


def run(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int | str, float, float]:
    """(exit code or 'timeout', wall seconds, peak resident MiB or nan) of ``archsim ARGS``."""
    hwm = cwd / ".hwm"
    hwm.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=cwd,
                            env={**os.environ, "HWM_FILE": str(hwm)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        code: int | str = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = "timeout"
    elapsed = time.perf_counter() - t0
    mib = int(hwm.read_text()) / 1024 if hwm.exists() else float("nan")
    return code, elapsed, mib


def corpus(d: Path) -> list[tuple[str, list[str]]]:
    """(label, archsim arguments) for each hostile input, files written under ``d``."""
    def w(name: str, data: str | bytes) -> str:
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(d / name)

    latin1, utf16 = w("latin1.yaml", b"name: caf\xe9\n"), w("utf16.yaml", BASE.encode("utf-16"))
    binary = w("binary.yaml", os.urandom(4096))
    w("base.yaml", BASE), w("serve.yaml", SERVE), w("sweep.yaml", SWEEP)
    bomb = "a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    site = d / "website"
    (site / "src").mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<h1>mine</h1>")
    (site / "thesis.tex").write_text("precious")
    (d / "folder").mkdir(exist_ok=True)
    expr = lambda text: w("expr.yaml", SWEEP + f"constraints: [{json.dumps(text)}]\n")  # noqa: E731
    trace_serve = SERVE.replace("arrival: {rate_per_s: 4, count: 20}",
                                f"arrival: {{process: trace, trace_file: {binary}}}")
    lens_serve = SERVE.replace("}}\n", f"}}, prompt_len: {{dist: empirical, file: {binary}}}}}\n")
    out = str(d / "out.csv")
    items = [
        ("scenario: Latin-1", ["simulate", latin1]),
        ("scenario: UTF-16", ["simulate", utf16]),
        ("scenario: random binary", ["simulate", binary]),
        ("device profile: binary", ["simulate", "base.yaml", "--set",
                                    f"hardware.device={binary}"]),
        ("sweep file: binary", ["sweep", binary, "--out", out]),
        ("serving trace: binary", ["simulate", w("trace.yaml", trace_serve)]),
        ("length file: binary", ["simulate", w("lens.yaml", lens_serve)]),
        ("report input: binary .json", ["report", w("r.json", os.urandom(2048)), "--out", "rj"]),
        ("report input: binary .csv", ["report", w("r.csv", os.urandom(2048)), "--out", "rc"]),
        ("report input: binary .parquet", ["report", w("r.parquet", os.urandom(2048)), "--out",
                                           "rp"]),
        ("report input: JSON nested 100k deep", ["report", w("deep.json", "[" * 100_000
                                                             + "]" * 100_000), "--out", "rd"]),
        ("YAML nested 500 deep (flow)", ["simulate", w("deep.yaml", "a: " + "[" * 500
                                                       + "]" * 500 + "\n")]),
        ("YAML nested 5000 deep (block)", ["simulate", w("block.yaml", "".join(
            " " * i + "a:\n" for i in range(5000)) + " " * 5000 + "1\n")]),
        ("expression: 100 nested parentheses", ["sweep", expr("(" * 100 + "1" + ")" * 100),
                                                "--out", out]),
        ("expression: 'not' x 200", ["sweep", expr("not " * 200 + "true"), "--out", out]),
        ("expression: '-' x 1000", ["sweep", expr("-" * 1000 + "1"), "--out", out]),
        ("expression: 200k-term sum", ["sweep", expr("+".join(["1"] * 200_000)), "--out", out]),
        ("--set compression.distill.student=5", ["simulate", "--set",
                                                 "compression.distill.student=5"]),
        ("--set model.layers=10000000000", ["simulate", "--set", "model.layers=10000000000"]),
        ("--set workload.global_batch=1e12", ["simulate", "--set",
                                              "workload.global_batch=1000000000000"]),
        ("model.layers: 10**9 in a file", ["simulate", w("layers.yaml", BASE.replace(
            "model: gpt3-1.7b", "model: {layers: 1000000000, hidden: 64, heads: 1, "
                                "vocab: 100}"))]),
        ("serving arrival.count: 10**9", ["simulate", "serve.yaml", "--set",
                                          "workload.arrival.count=1000000000"]),
        ("burst of 10**9 requests", ["simulate", "serve.yaml", "--set",
                                     "workload.arrival={process: burst, count: 1000000000}"]),
        ("closed loop of 10**9 clients", ["simulate", "serve.yaml", "--set",
                                          "workload.arrival={process: closed, count: 20, "
                                          "concurrency: 1000000000}"]),
        ("burst with a rate", ["simulate", "serve.yaml", "--set",
                               "workload.arrival.process=burst"]),
        ("axis {range: [1, 1e18], step: 1}", ["sweep", w("r1.yaml", SWEEP.replace(
            "plan.tp: [1, 2]", "workload.global_batch: {range: [1, 1000000000000000000], "
                               "step: 1}")), "--out", out]),
        ("axis {range: [1, 64], num: 1e12}", ["sweep", w("r2.yaml", SWEEP.replace(
            "plan.tp: [1, 2]", "plan.tp: {range: [1, 64], num: 1000000000000}")),
            "--out", out]),
        ("grid of 4,000,000 points", ["sweep", w("r3.yaml", SWEEP.replace(
            "plan.tp: [1, 2]", "workload.global_batch: {range: [1, 2000], step: 1}\n"
                               "  workload.seq_len: {range: [1, 2000], step: 1}")),
            "--out", out]),
        ("derived ((10**1024)**1024)**1024", ["sweep", w("tower.yaml", SWEEP + "derived: "
                                                         "{plan.pp: '((10**1024)**1024)**1024'}"
                                                         "\n"), "--out", str(d / "t.csv")]),
        ("derived float((10**1024)**5)", ["sweep", w("f.yaml", SWEEP + "derived: "
                                                     "{plan.pp: 'float((10**1024)**5)'}\n"),
                                          "--out", str(d / "f.csv")]),
        ("sweep axis alias bomb (9**10 values)", ["sweep", w("bomb.yaml", SWEEP.replace(
            "axes:\n  plan.tp: [1, 2]\n", bomb + "axes:\n  plan.placement: [*a9, *a8]\n")),
            "--out", out]),
        ("distill.student alias bomb", ["simulate", w("sbomb.yaml", BASE + bomb
                                                      + "compression: {distill: {student: "
                                                        "*a9}}\n")]),
        ("50 MB of YAML comments", ["simulate", w("c.yaml", BASE + ("# " + "x" * 97 + "\n")
                                                  * 500_000)]),
        ("62 MB YAML list of 7M numbers", ["simulate", w("l.yaml", BASE + "plan: "
                                                         "{layers_per_stage: [" + ", ".join(
                                                             ["1"] * 7_000_000) + "]}\n")]),
        ("70 MB YAML (over the size limit)", ["simulate", w("big.yaml", BASE + "# "
                                                            + "x" * 70_000_000 + "\n")]),
        ("count: true", ["simulate", "base.yaml", "--set", "hardware.count=true"]),
        ("duplicate key (count twice)", ["simulate", w("dup.yaml", SERVE.replace(
            "count: 20}", "count: 8, count: 3}"))]),
        ("rate_per_s: .inf", ["simulate", w("inf.yaml", SERVE.replace("rate_per_s: 4",
                                                                      "rate_per_s: .inf"))]),
        ("peak.bf16: '1e-300 FLOPS'", ["simulate", "base.yaml", "--set",
                                       "hardware.device.peak.bf16=1e-300 FLOPS"]),
        ("lognormal mean 1e300", ["simulate", "serve.yaml", "--set", "workload.prompt_len="
                                  "{dist: lognormal, mean: 1.0e+300, sigma: 1}"]),
        ("2**40 devices", ["simulate", "base.yaml", "--set", "hardware.count=1099511627776"]),
        ("model: ../../../../tmp/x", ["simulate", "base.yaml", "--set",
                                      "model=../../../../tmp/x"]),
        ("report --force on a website/", ["report", "r.json", "--out", str(site), "--force"]),
        ("a folder as the scenario", ["simulate", str(d / "folder")]),
        ("missing workload.kind", ["simulate", w("nokind.yaml", BASE.replace("kind: training, ",
                                                                             ""))]),
        ("--set model.hidden=12289", ["simulate", "--set", "model.hidden=12289"]),
        ("hetero --set plan.pp=4 (infeasible)", ["simulate", "gpt3-18b-hetero-h100-a100",
                                                 "--set", "plan.pp=4"]),
    ]
    return items


COMMON = ["plan.tp", "plan.pp", "plan.dp", "model.layers", "model.hidden", "model.heads",
          "model.vocab", "model.max_seq_len", "hardware.count"]
KEYS = {"training": [*COMMON, "workload.global_batch", "workload.micro_batch",
                     "workload.seq_len", "workload.steps", "plan.virtual_stages", "plan.cp",
                     "plan.zero"],
        "inference": [*COMMON, "workload.batch", "workload.prompt_len", "workload.gen_len"],
        "serving": [*COMMON, "workload.arrival.count", "workload.arrival.rate_per_s",
                    "workload.arrival.concurrency", "workload.arrival.process",
                    "workload.prompt_len", "workload.gen_len", "workload.max_num_seqs",
                    "workload.block_size", "workload.replicas"]}
VALUES = ["0", "-1", "1", "3", "1000", "1000000000", "9007199254740992", "1000000000000000000",
          "1.0e-300", "0.5", "true", "x", "[]", "{}", "null", "16777216", "1048576"]
SCENARIOS = {"gpt3-175b-1024xa100": "training", "gpt3-18b-hetero-h100-a100": "training",
             "bert-large-2of4-a100": "training", "distill-llama2-70b-to-7b": "training",
             "llama2-7b-inference-a100": "inference", "llama2-70b-int4-1xh100": "inference",
             "llama2-7b-serving-a100": "serving", "llama2-7b-disagg-h100-a100": "serving"}


def random_corpus(n: int, seed: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        scenario = rng.choice(sorted(SCENARIOS))
        keys = KEYS[SCENARIOS[scenario]]
        sets = [f"{rng.choice(keys)}={rng.choice(VALUES)}" for _ in range(rng.randint(1, 3))]
        items.append((f"{scenario} {' '.join(sets)}",
                      ["simulate", scenario, "--json", *[a for s in sets for a in ("--set", s)]]))
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=0, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        d = Path(folder)
        (d / "r.json").write_text("{}")
        run(["simulate", "base.yaml", "--out", "r.json"], d)  # for the report inputs
        for label, argv in corpus(d) + random_corpus(args.random, args.seed):
            code, seconds, mib = run(argv, d)
            rows.append((label, code, seconds, mib))
            print(f"{code!s:>7}  {seconds:6.2f} s  {mib:7.0f} MiB  {label}", flush=True)
    codes = Counter(str(c) for _, c, _, _ in rows)
    slowest = max(rows, key=lambda r: r[2])
    biggest = max(rows, key=lambda r: r[3])
    print(f"\n{len(rows)} inputs; exit codes {dict(sorted(codes.items()))}; worst time "
          f"{slowest[2]:.2f} s ({slowest[0]}); peak memory {biggest[3]:.0f} MiB ({biggest[0]})")
    return 0 if set(codes) <= {"0", "2"} else 1


if __name__ == "__main__":
    sys.exit(main())
