"""The report's enrolment section: newcomers kept out of training, enrolled from their texts.

For each [data] newcomer (prepare --newcomers): how much text they had, what
each enrolment mode did to the perplexity it watched (enroll.json), the time
it took, and the perplexity on the newcomer's test triples of the baseline
(which never saw them either) and of MTASK-M with the newcomer enrolled.
"""

import pathlib

from mtask_tf.study import artifacts as artifacts_lib
from mtask_tf.study import markdown

get = artifacts_lib.get
_MODES = {
    "speaker": "their speaker vector only (--adapt=speaker)",
    "decoder": "their speaker vector and the decoder (--adapt=decoder)",
}


def _row(enrolment, test, baseline_test):
    record = enrolment.record
    test_cell = markdown.cell(get(test, enrolment.system, "perplexity", "test"), baseline_test)
    if record is None:
        missing = [markdown.MISSING] * 5
        return [enrolment.newcomer, _MODES[enrolment.adapt], *missing, test_cell]
    text = record.text
    return [
        enrolment.newcomer,
        _MODES[enrolment.adapt],
        f"{text['lines']} ({text['training_lines']} trained on)",
        markdown.cell(record.perplexity_before),
        markdown.cell(record.perplexity_after, record.perplexity_before),
        f"{record.best_step} of {record.steps}",
        markdown.duration(record.seconds),
        test_cell,
    ]


def section(protocol, work_dir, summary):
    """The enrolment section's Markdown; '' for a protocol without newcomers."""
    if not protocol.data.newcomers:
        return ""
    enrolled, test = artifacts_lib.enrolments(protocol, pathlib.Path(work_dir))
    baseline_test = get(test, "baseline", "perplexity", "test")
    counts = (summary or {}).get("newcomers") or {}
    held = [
        f"{name}: {c['conversations']} more conversation(s) held out, {c['monologue']} texts, "
        f"{c['dev']} dev and {c['test']} test triples"
        for name, c in sorted(counts.items())
    ]
    judged = next((e.record.judged_by for e in enrolled if e.record), "dev perplexity")
    header = [
        "Newcomer",
        "Enrolled",
        "Text lines",
        "Before (enrolment's measure)",
        "After",
        "Best step",
        "Time",
        "Test perplexity",
    ]
    rows = [_row(e, test, baseline_test) for e in enrolled]
    rows.append(["", "Baseline (never saw them)", "", "", "", "", "", markdown.cell(baseline_test)])
    return "\n".join(
        [
            "## Enrolment: a speaker never seen in training, from their texts alone",
            "",
            "Each newcomer was kept out of training entirely (prepare --newcomers): none of "
            "their conversations reach train.tsv and their texts are not in the monologue. "
            "After training, each is enrolled into MTASK-M from their texts alone, both "
            "ways (python -m mtask_tf.enroll). 'Before' and 'After' are what enrolment "
            f"watched ({judged}; before: the model as it was, the newcomer as the average "
            "speaker), after: its best step. Test perplexity on the newcomer's test "
            "triples, the change against the baseline.",
            "",
            *(f"- {line}" for line in held),
            *([""] if held else []),
            markdown.table(header, rows),
        ]
    )
