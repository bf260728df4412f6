"""The README's commands work as pasted: no shell pipelines by accident, examples that run from
any folder, capacity examples whose devices have a price."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def shell_lines() -> list[str]:
    """Indented (4-space) lines that start with a command, with their backslash
    continuations joined and comments stripped."""
    out: list[str] = []
    going = False
    for line in README.splitlines():
        text = line.split("   #")[0].rstrip()
        if going:
            out[-1] = out[-1].removesuffix("\\").rstrip() + " " + text.strip()
        elif line.startswith("    ") and re.match(r"\s+(archsim|python|pip|pytest) ", line):
            out.append(text.strip())
        else:
            continue
        going = out[-1].endswith("\\")
    return out


def test_no_command_is_a_pipeline_by_accident():
    """`archsim list devices | models` runs `models` as a command (exit 127)."""
    lines = [ln for ln in shell_lines() if ln.startswith("archsim list")]
    assert lines, "the README lists registry entries somewhere"
    for line in lines:
        assert "|" not in line, line


def test_list_takes_the_kinds_the_readme_gives(capsys):
    from archsim.cli import main

    for line in (ln for ln in shell_lines() if ln.startswith("archsim list")):
        assert main(line.split()[1:]) == 0, line
    assert "h100-sxm5-80gb" in capsys.readouterr().out


def test_capacity_examples_name_only_priced_devices():
    from archsim.spec.loader import load_spec_file

    commands = [ln for ln in shell_lines() if ln.startswith("archsim capacity")]
    names = {n for ln in commands for group in re.findall(r"--devices ([\w.,-]+)", ln)
             for n in group.split(",")}
    assert names
    for name in names:
        assert load_spec_file("devices", name).price_per_hour is not None, name


def test_python_example_runs_from_another_folder(tmp_path, monkeypatch):
    block = README.split("```python\n", 1)[1].split("```", 1)[0]
    assert "workloads/" not in block  # a registry name, not a path into the checkout
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # the README's own code
    assert namespace["result"]["step_time_s"] > 0


def test_setup_says_to_use_a_virtual_environment():
    setup = README.split("## Set-up", 1)[1].split("## ", 1)[0]
    assert "externally-managed-environment" in setup
    assert "python3 -m venv .venv && . .venv/bin/activate" in setup


@pytest.mark.parametrize("flag", ["--quick"])
def test_calibrate_quick_time_is_the_same_in_the_help_and_the_readme(flag, capsys):
    from archsim.cli import main

    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    stated = re.search(r"--quick\s+smaller grid \(CI; ([0-9]+-[0-9]+ s)", help_text)
    assert stated, help_text
    assert f"({flag}: {stated.group(1)})" in README
