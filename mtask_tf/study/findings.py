"""The report's findings at a glance (does each claim of the paper hold?) and its
hand-written Discussion, kept when the report is regenerated."""

from mtask_tf.study import artifacts as artifacts_lib

SYSTEMS = artifacts_lib.SYSTEMS
DISCUSSION_PLACEHOLDER = "<!-- discussion: written by hand after the run -->"


def _claim(text, value, reference, names, lower_is_better=False, percent=False, note=""):
    """One bullet: whether `value` beats `reference`, with both numbers."""
    if value is None or reference is None:
        return f"- {text}: **not measured**."
    holds = value < reference if lower_is_better else value > reference
    show = (lambda v: f"{100 * v:.2f} %") if percent else (lambda v: f"{v:.2f}")
    return (
        f"- {text}: **{'holds' if holds else 'does not hold'}** ({names[0]} "
        f"{show(value)} vs {names[1]} {show(reference)}){note}."
    )


def findings(artifacts, discussion=DISCUSSION_PLACEHOLDER):
    main, extra = artifacts.main or {}, artifacts.extra or {}
    base = main.get("baseline")
    lines = [
        "## Findings at a glance",
        "",
        "Does each of the paper's claims hold on this run? Computed from the test "
        'numbers above (the control\'s from eval/extra); "holds" says which way the '
        "numbers moved, not that the difference is significant.",
        "",
    ]
    for system, label in SYSTEMS[1:]:
        lines.append(
            _claim(
                f"{label} has lower test perplexity than the baseline",
                artifacts_lib.get(main.get(system), "perplexity", "test"),
                artifacts_lib.get(base, "perplexity", "test"),
                (label, "baseline"),
                True,
            )
        )
    lines.append(
        _claim(
            "MTASK-M has lower test perplexity than the control (its gain is "
            "not explained by extra training)",
            artifacts_lib.get(extra.get("mtask_m"), "perplexity", "test"),
            artifacts_lib.get(extra.get("control"), "perplexity", "test"),
            ("MTASK-M", "control"),
            True,
        )
    )
    base_bleu = artifacts_lib.get(base, "bleu", "test")
    note = (
        " — the baseline's BLEU is below 1, within run-to-run variation: not a finding"
        if base_bleu is not None and base_bleu < 1
        else ""
    )
    for keys, what, percent, extra_note in (
        (("bleu", "test"), "higher test BLEU", False, note),
        (("distinct_1",), "higher distinct-1", True, ""),
        (("distinct_2",), "higher distinct-2", True, ""),
        (
            ("speaker_accuracy_balanced", "test"),
            "higher test speaker accuracy (balanced over targets)",
            True,
            " — not a claim of the paper, which does not measure it",
        ),
        (
            ("style_score", "test"),
            "a higher test style score",
            True,
            " — not a claim of the paper, which does not measure it",
        ),
    ):
        for system, label in SYSTEMS[1:]:
            lines.append(
                _claim(
                    f"{label} has {what} than the baseline",
                    artifacts_lib.get(main.get(system), *keys),
                    artifacts_lib.get(base, *keys),
                    (label, "baseline"),
                    percent=percent,
                    note=extra_note,
                )
            )
    return "\n".join(lines + ["", "## Discussion", "", discussion])


def kept_discussion(output_path):
    """The hand-written Discussion of an earlier report at `output_path`, if any.

    Regenerating the numbers must not lose what people wrote about them.
    """
    if not output_path.is_file():
        return DISCUSSION_PLACEHOLDER
    text = output_path.read_text(encoding="utf-8")
    start = text.find("\n## Discussion\n")
    if start < 0:
        return DISCUSSION_PLACEHOLDER
    body = text[start + len("\n## Discussion\n") :]
    end = body.find("\n## ")
    return (body if end < 0 else body[:end]).strip() or DISCUSSION_PLACEHOLDER
