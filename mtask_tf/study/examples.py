"""The report's examples: Fig. 7-style responses, MTASK-M's attention, the MMI weights."""

import shutil

from mtask_tf.data import detokenizer
from mtask_tf.study import artifacts as artifacts_lib
from mtask_tf.study import markdown

NOT_RUN = markdown.NOT_RUN
MISSING = markdown.MISSING
SYSTEMS = artifacts_lib.SYSTEMS
# Longer lines make the example table unreadable, and the transcripts are for
# research only: the report quotes a handful of short lines, no more.
MAX_EXAMPLE_WORDS = 15


def _short(*texts):
    return all(len(text.split()) <= MAX_EXAMPLE_WORDS for text in texts)


def example_rows(responses, target, count):
    """The first `count` test inputs of `target` whose lines are all short, matched across systems.

    Candidates come in the order of the baseline's responses.tsv; a system's
    response is matched by (speaker, context, message). An input qualifies when
    its context, message and every available system's response have at most
    MAX_EXAMPLE_WORDS words; a system without a responses file counts as absent.

    Args:
        responses: system -> rows of its test responses.tsv (None: not run yet).
        target: the speaker.
        count: how many inputs at most.

    Returns:
        [(baseline row, {system: response or None})].
    """
    key = lambda row: (row["speaker"], row["context"], row["message"])
    by_key = {system: {} for system, rows in responses.items() if rows is not None}
    for system in by_key:
        for row in responses[system]:
            by_key[system].setdefault(key(row), row["response"])
    chosen = []
    for row in responses.get("baseline") or ():
        if row["speaker"] != target or len(chosen) == count:
            continue
        answers = {system: found.get(key(row)) for system, found in by_key.items()}
        # A system that has run but lacks this input cannot be compared on it.
        if None in answers.values() or not _short(
            row["context"], row["message"], *answers.values()
        ):
            continue
        chosen.append((row, answers))
    return chosen


def examples(protocol, artifacts):
    parts = ["## Examples (cf. Fig. 7)", ""]
    if artifacts.responses.get("baseline") is None:
        return "\n".join(
            parts + [markdown.not_run("Decoding (eval/main/baseline.test.responses.tsv)")]
        )
    parts += [
        f"The first {protocol.report.examples} test inputs of each target, in file "
        f"order, whose lines have at most {MAX_EXAMPLE_WORDS} words; the 1-best after "
        "MMI reranking, written as readable text (the metrics read its tokens).",
        "",
    ]
    for target in protocol.report.example_targets:
        chosen = example_rows(artifacts.responses, target, protocol.report.examples)
        table = [
            [markdown.quote(row["context"]), markdown.quote(row["message"])]
            + [
                markdown.quote(detokenizer.detokenize(answers[s]))
                if answers.get(s) is not None
                else NOT_RUN
                for s, _ in SYSTEMS
            ]
            for row, answers in chosen
        ]
        parts += [
            f"**{target}**",
            "",
            markdown.table(["Context", "Message"] + [label for _, label in SYSTEMS], table)
            if table
            else "*No short test input of this target.*",
            "",
        ]
    return "\n".join(parts).rstrip()


def attention(protocol, work_dir, figures_dir):
    """MTASK-M's attention heatmaps (the attention_mtask_m step); '' when the protocol has none."""
    if not protocol.report.attention_plots:
        return ""
    from mtask_tf.study import steps as steps_lib

    where = steps_lib.layout(work_dir).eval / "attention"
    rows = artifacts_lib.read_responses(where / "mtask_m.tsv")
    parts = [
        "## What MTASK-M attends to",
        "",
        f"MTASK-M's 1-best response (decoded as in Table 2) to {protocol.report.attention_plots} "
        "seeded test inputs, and its attention while writing it (teacher-forced): a row per "
        "response word, a column per input word (context, </s>, message); the darker, the "
        "more weight.",
        "",
    ]
    if rows is None:
        return "\n".join([*parts, markdown.not_run("The heatmaps (eval/attention/)")])
    figures_dir.mkdir(parents=True, exist_ok=True)
    for row in (r for r in rows if r["rank"] == "1"):
        number = int(row["input"])
        name = f"attention_{number}.png"
        shutil.copyfile(where / "mtask_m" / f"{number:04d}.png", figures_dir / name)
        parts += [
            f'{row["speaker"]}, after "{markdown.quote(row["message"])}": '
            f'"{markdown.quote(row["display"])}"',
            "",
            f"![MTASK-M's attention, input {number}]({figures_dir.name}/{name})",
            "",
        ]
    return "\n".join(parts).rstrip()


def mmi(artifacts):
    rows = []
    for system, label in SYSTEMS:
        weights = artifacts.mmi[system]
        if weights is None:
            rows.append([label, NOT_RUN, MISSING, MISSING, MISSING])
            continue
        before, after = weights.extra.get("bleu_before"), weights.extra.get("bleu_after")
        bleu = f"{before:.2f} → {after:.2f}" if None not in (before, after) else MISSING
        rows.append(
            [
                label,
                f"{weights.mmi_lambda:.4f}",
                f"{weights.mmi_gamma:.4f}",
                bleu,
                weights.extra.get("sentences", MISSING),
            ]
        )
    return "\n".join(
        [
            "## MMI weights",
            "",
            "score(R) = log p(R | M, v) + λ log p(M | R) + γ |R| (paper eq. 4), λ and "
            "γ tuned by MERT on dev BLEU of each system's N-best lists.",
            "",
            markdown.table(["System", "λ", "γ", "Dev BLEU before → after", "Dev inputs"], rows),
        ]
    )
