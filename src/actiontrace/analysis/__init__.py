"""Reading traces back: the report (``actiontrace report``) and trace rendering (``show``).

Each name loads its module on first use (PEP 562), so importing one analysis module (a command of
the command line, say) does not load the others.
"""

from .. import _lazy_exports

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers know it)

_EXPORTS = {
    "build_report": ".report",
    "percentile": ".report",
    "render_report": ".report",
    "report_path": ".report",
    "printable": ".show",
    "render_record": ".show",
    "render_trace": ".show",
    "summary_line": ".show",
}

if TYPE_CHECKING:
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


__getattr__ = _lazy_exports(__name__, _EXPORTS, globals())
