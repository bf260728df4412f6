"""Build a report from an INPUT and write it: the one entry point the CLI calls.

``build_report`` loads the input (simulating a scenario), picks the builder for its kind —
a sweep table, or a result by its ``mode`` — and returns a :class:`Report`; ``write_report``
renders it to ``index.html`` (self-contained), ``report.md`` and one PNG per plot, atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from archsim.report.document import Report
from archsim.report.inputs import ReportInput, load_input
from archsim.report.options import ReportOptions
from archsim.report.output import write_folder_atomic
from archsim.report.render import png_file_name, render_html, render_markdown
from archsim.spec.errors import SpecError

Builder = Callable[[ReportInput, ReportOptions], Report]


def _builder(inp: ReportInput) -> Builder:
    if inp.kind == "sweep":
        from archsim.report.sweep import sweep_report

        return sweep_report
    assert inp.result is not None
    mode = inp.result["mode"]
    if mode == "training":
        from archsim.report.training import training_report

        return training_report
    if mode == "inference":
        from archsim.report.inference import inference_report

        return inference_report
    if mode == "serving":
        from archsim.report.serving import serving_report

        return serving_report
    from archsim.report.generic import generic_report

    return generic_report


def build_report(source: str | Path, overrides: list[str] | None = None,
                 options: ReportOptions | None = None) -> Report:
    """The report for ``source`` (scenario, result JSON or sweep table). Raises SpecError."""
    inp = load_input(source, overrides)
    options = options or ReportOptions()
    sc = inp.scenario
    if (sc is not None and options.rate and sc.workload.kind == "serving"
            and not sc.workload.arrival.is_open):  # type: ignore[union-attr]
        raise SpecError([f"--rate {options.rate:g}: {source}: workload.arrival.process "
                         f"{sc.workload.arrival.process!r} sends no stream at a rate "  # type: ignore
                         "(a burst's requests arrive at once, a closed loop's as earlier ones "
                         "finish); drop --rate, or use process poisson, uniform or trace"])
    if (sc is not None and options.rate and sc.workload.kind == "serving"
            and sc.workload.arrival.rate_per_s != options.rate):  # type: ignore[union-attr]
        # the question is asked at --rate: the deployment as given answers it at that rate
        inp = load_input(source, [*(overrides or []),
                                  f"workload.arrival.rate_per_s={options.rate}"])
    return _builder(inp)(inp, options)


def report_files(report: Report) -> dict[str, bytes]:
    """File name → content of the report folder."""
    files = {"index.html": render_html(report).encode("utf-8"),
             "report.md": render_markdown(report).encode("utf-8")}
    for plot in report.plots:
        name = png_file_name(plot)
        if name in files:
            raise ValueError(f"two plots are named {plot.name!r}")
        files[name] = plot.png
    return files


def write_report(report: Report, out: str | Path, force: bool = False) -> list[str]:
    """Write ``report`` as the folder ``out`` (atomically); the file names written."""
    files = report_files(report)
    write_folder_atomic(Path(out), files, force=force)
    return sorted(files)
