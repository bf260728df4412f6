"""Capacity-planning reports: ``archsim report INPUT --out DIR`` (HTML + Markdown with plots).

``build_report(source)`` → Report (sections of text, tables and PNG plots);
``write_report(report, out)`` → DIR/index.html (self-contained), DIR/report.md and the PNGs.
"""

from archsim.report.build import build_report, report_files, write_report
from archsim.report.options import ReportOptions

__all__ = ["ReportOptions", "build_report", "report_files", "write_report"]
