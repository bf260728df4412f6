"""Inputs for the hardening tests: a cheap scenario and sweep, and ways to run the CLI."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import yaml

HERE = Path(__file__).parent

SCENARIO = {
    "name": "tiny",
    "model": "gpt3-1.7b",
    "hardware": {"device": "a100-sxm4-80gb", "count": 8},
    "workload": {"kind": "training", "seq_len": 2048, "global_batch": 16},
}

SERVING = {
    "name": "tiny-serving",
    "model": "llama2-7b",
    "hardware": {"device": "a100-sxm4-80gb", "count": 1},
    "workload": {"kind": "serving", "arrival": {"rate_per_s": 4, "count": 20}},
}


@contextlib.contextmanager
def allocates_at_most(limit_bytes: int) -> Iterator[None]:
    """Fail if the block's Python allocations peak above ``limit_bytes``: a refusal made before
    the work it refuses allocates a few MB, the work itself (a billion-value axis, a
    million-number list built, a tower of powers) gigabytes. A structural check of "refused
    before built", where a wall-clock bound would be a timed test on a shared machine."""
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < limit_bytes, f"peaked at {peak / 2**20:.0f} MiB"


def sweep_mapping(**fields) -> dict:
    data = {"name": "tiny-sweep", "base": SCENARIO, "axes": {"plan.tp": [1, 2]}}
    data.update(fields)
    return data


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str, cwd: Path | None = None, limit_bytes: int | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """``archsim ARGS`` in a fresh process, its address space capped at ``limit_bytes``."""
    prefix = ""
    if limit_bytes is not None:
        prefix = (f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, "
                  f"{limit_bytes})); ")
    code = prefix + "import sys; from archsim.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


LINUX_PROC = Path("/proc/self/task").is_dir()


def children(pid: int) -> list[int]:
    """The ids of ``pid``'s child processes (Linux /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text() if (task / "children").exists() else ""
        out += [int(c) for c in text.split()]
    return out


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie has exited; only its parent's wait is missing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
