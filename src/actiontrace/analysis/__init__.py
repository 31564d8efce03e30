"""Reading traces back: the report (``actiontrace report``) and trace rendering (``show``)."""

from __future__ import annotations

from .report import build_report, percentile, render_report, report_path
from .show import printable, render_record, render_trace, summary_line

__all__ = [
    "build_report",
    "percentile",
    "printable",
    "render_record",
    "render_report",
    "render_trace",
    "report_path",
    "summary_line",
]
