"""Markdown cells and tables of the study report, one formatter for every section.

A missing value reads `MISSING`; a section whose step has not run says so
with `not_run`.
"""

from mtask_tf.evaluation import metrics as metrics_lib
from mtask_tf.evaluation import report as eval_report

NOT_RUN = "not run yet"
MISSING = eval_report.MISSING


def cell(value, baseline=None, kind="perplexity", bounds=None):
    """A table cell; perplexity (and BLEU, see report.BLEU_CAVEAT) with its change vs `baseline`.

    kind: "perplexity", "bleu", "percent" (a fraction shown in percent) or
        "plain" (no change shown).
    bounds: the measure's (low, high) interval, shown after the value.
    """
    if value is None:
        return MISSING
    if kind == "percent":
        return f"{100 * value:.2f} %" + eval_report.interval_text(bounds, True)
    text = f"{value:.2f}" + eval_report.interval_text(bounds, False)
    if baseline and (
        kind == "perplexity" or (kind == "bleu" and baseline >= eval_report.MIN_BLEU_FOR_CHANGE)
    ):
        text += f" ({100 * metrics_lib.relative_change(value, baseline):+.1f} %)"
    return text


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def duration(seconds):
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def not_run(what):
    return f"*{what}: {NOT_RUN}.*"


def quote(text):
    """A transcript or response line as a table cell."""
    return text.replace("|", "\\|").strip() or "(empty)"
