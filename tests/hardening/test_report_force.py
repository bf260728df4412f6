"""Issue item 7: ``archsim report --force`` replaces only a folder that archsim wrote."""

from __future__ import annotations

import json

import pytest
from hostile_cases import SCENARIO, write_yaml

from archsim.cli import main
from archsim.report.output import MARKER


@pytest.fixture
def result_json(tmp_path):
    scenario = write_yaml(tmp_path / "s.yaml", SCENARIO)
    out = tmp_path / "r.json"
    assert main(["simulate", str(scenario), "--out", str(out), "--json"]) == 0
    return out


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_website_with_an_index_html_is_not_replaced(tmp_path, result_json, capsys):
    site = tmp_path / "website"
    (site / "src").mkdir(parents=True)
    (site / "index.html").write_text("<h1>my site</h1>")
    (site / "thesis.tex").write_text("\\documentclass{article}")
    (site / "src" / "main.c").write_text("int main;")
    before = _tree(site)
    capsys.readouterr()
    assert main(["report", str(result_json), "--out", str(site), "--force"]) == 2
    assert capsys.readouterr().err == (
        f"archsim report: {site}: it was not written by archsim report (no readable {MARKER} "
        "file in it); not replacing it even with --force (choose another --out)\n")
    assert _tree(site) == before and (site / "thesis.tex").read_text().startswith("\\doc")


def test_a_report_folder_with_a_users_file_added_is_not_replaced(tmp_path, result_json, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(result_json), "--out", str(out)]) == 0
    written = json.loads((out / MARKER).read_text())["files"]
    assert "index.html" in written and "report.md" in written
    (out / "notes.txt").write_text("mine")
    (out / "extra").mkdir()
    capsys.readouterr()
    assert main(["report", str(result_json), "--out", str(out), "--force"]) == 2
    assert capsys.readouterr().err == (
        f"archsim report: {out}: it holds files archsim did not write (extra/, notes.txt); not "
        "replacing it even with --force (choose another --out)\n")
    assert (out / "notes.txt").read_text() == "mine"


def test_a_folder_archsim_wrote_is_replaced(tmp_path, result_json):
    out = tmp_path / "rep"
    assert main(["report", str(result_json), "--out", str(out)]) == 0
    (out / "index.html").write_text("edited")  # a file archsim wrote may be edited
    assert main(["report", str(result_json), "--out", str(out), "--force"]) == 0
    assert (out / "index.html").read_text().lower().startswith("<!doctype html>")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
