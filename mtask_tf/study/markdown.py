"""Markdown cells and tables of the study report, one formatter for every section.

A missing value reads `MISSING`; a section whose step has not run says so
with `not_run`.
"""

from mtask_tf import progress
from mtask_tf.evaluation import report as eval_report

NOT_RUN = "not run yet"
MISSING = eval_report.MISSING


# The one formatter of measures (evaluation/report.py).
cell = eval_report.value_cell


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


duration = progress.duration


def not_run(what):
    return f"*{what}: {NOT_RUN}.*"


def quote(text):
    """A transcript or response line as a table cell."""
    return text.replace("|", "\\|").strip() or "(empty)"
