"""Reading traces back: the report (``actiontrace report``) and trace rendering (``show``).

Each name loads its module on first use (PEP 562), so importing one analysis module (a command of
the command line, say) does not load the others.
"""

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


def __getattr__(name: str) -> object:
    """Load a name's module on first use, then keep the name here (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module  # noqa: PLC0415 - only when a name is first used

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
