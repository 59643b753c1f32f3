"""The report's tables of the main configuration: Tables 1-2 beside the paper, input
dependence, Fig. 4, the control, scarcity.

Each section renders from whatever the work directory holds (`artifacts.load`);
a missing artifact reads "not run yet".
"""

import shutil

from mtask_tf.evaluation import paper
from mtask_tf.evaluation import report as eval_report
from mtask_tf.study import artifacts as artifacts_lib
from mtask_tf.study import markdown

MISSING = markdown.MISSING
SYSTEMS = artifacts_lib.SYSTEMS

# (label, keys into a system's metrics, kind). Kind "percent" is a fraction
# shown in percent, "plain" has no relative change, "bleu" has one only when
# the baseline's BLEU is at least 1 (see BLEU_CAVEAT).
_TABLE2 = (
    ("BLEU dev", ("bleu", "dev"), "bleu"),
    ("BLEU test", ("bleu", "test"), "bleu"),
    ("distinct-1", ("distinct_1",), "percent"),
    ("distinct-2", ("distinct_2",), "percent"),
    ("Ent-4 (nats)", ("ent_4",), "plain"),
    ("distinct responses", ("distinct_responses",), "percent"),
    ("speaker accuracy dev", ("speaker_accuracy", "dev"), "percent"),
    ("speaker accuracy test", ("speaker_accuracy", "test"), "percent"),
    (
        "speaker accuracy dev, balanced over targets",
        ("speaker_accuracy_balanced", "dev"),
        "percent",
    ),
    (
        "speaker accuracy test, balanced over targets",
        ("speaker_accuracy_balanced", "test"),
        "percent",
    ),
    ("speaker accuracy dev, real responses", ("speaker_accuracy_ceiling", "dev"), "percent"),
    ("speaker accuracy test, real responses", ("speaker_accuracy_ceiling", "test"), "percent"),
    ("speaker accuracy, chance", ("speaker_accuracy_chance",), "percent"),
)
# Measures that evaluate added later: a row only when some system has a value,
# so that reports of older evaluations look as they did.
_TABLE2_WHEN_PRESENT = (
    ("mean length (words)", ("mean_length",), "plain"),
    ("at the length cap", ("length_cap_share",), "percent"),
    ("a word three times in a row", ("repetition_share",), "percent"),
    ("style score dev", ("style_score", "dev"), "percent"),
    ("style score test", ("style_score", "test"), "percent"),
    ("style score dev, real responses", ("style_score_ceiling", "dev"), "percent"),
    ("style score test, real responses", ("style_score_ceiling", "test"), "percent"),
)
BLEU_CAVEAT = (
    "BLEU below 1 moves by tens of percent between runs of the same system, so "
    "relative changes of such numbers are not findings; they are shown only when "
    "the baseline's BLEU is at least 1."
)


def _system_table(artifacts, rows, when_present=()):
    """Rows of metrics over the three systems (changes vs the baseline), paper beside.

    Rows of `when_present` are left out when no system has a value.
    """
    main = artifacts.main or {}
    header = [""] + [label for _, label in SYSTEMS] + [f"Paper: {label}" for _, label in SYSTEMS]
    lines = []
    for label, keys, kind in rows:
        values = [artifacts_lib.get(main.get(system), *keys) for system, _ in SYSTEMS]
        if keys in when_present and all(v is None for v in values):
            continue
        bounds = [eval_report.interval(main.get(system) or {}, keys) for system, _ in SYSTEMS]
        cells = [markdown.cell(values[0], None, kind, bounds[0])]
        cells += [markdown.cell(v, values[0], kind, b) for v, b in zip(values[1:], bounds[1:])]
        lines.append([label, *cells, *_paper_cells(keys, kind)])
    return markdown.table(header, lines)


def _paper_cells(keys, kind):
    """The paper's Baseline, MTASK-S and MTASK-M of a row (evaluation/paper.py), or MISSING."""
    values = [artifacts_lib.get(paper.TABLES[system], *keys) for system, _ in SYSTEMS]
    if values[0] is None:
        return [MISSING] * len(values)
    return [markdown.cell(values[0], None, kind)] + [
        markdown.cell(v, values[0], kind) for v in values[1:]
    ]


def _main_missing(artifacts):
    return [] if artifacts.main else [markdown.not_run("Evaluation (eval/main/metrics.json)"), ""]


def table1(artifacts):
    rows = [
        ("Perplexity dev", ("perplexity", "dev"), "perplexity"),
        ("Perplexity test", ("perplexity", "test"), "perplexity"),
    ]
    return "\n".join(
        [
            "## Table 1: perplexity",
            "",
            *_main_missing(artifacts),
            "Perplexity of the reference responses of the targets' dev and test "
            "triples; in brackets the change against the baseline. The paper's "
            "numbers (its Table 1, on Twitter) are for reference only: other data, "
            "other model sizes.",
            "",
            _system_table(artifacts, rows),
        ]
    )


def input_dependence(artifacts):
    """Each system's perplexity with the real inputs and with inputs shuffled among the rows."""
    main = artifacts.main or {}
    lines = []
    for system, label in SYSTEMS:
        cells = []
        for split in ("dev", "test"):
            real = artifacts_lib.get(main.get(system), "perplexity", split)
            shuffled = artifacts_lib.get(main.get(system), "perplexity_shuffled_inputs", split)
            cells += [markdown.cell(real), markdown.cell(shuffled, real)]
        lines.append([label, *cells])
    header = ["System", "Dev", "Dev, inputs shuffled", "Test", "Test, inputs shuffled"]
    return "\n".join(
        [
            "## Do the responses depend on their input?",
            "",
            *_main_missing(artifacts),
            "The same reference responses scored after another row's context and message "
            "(one seeded shuffle of the inputs among the rows; speakers stay). A model whose "
            "responses follow from their input loses much by it; one whose perplexity barely "
            "moves answers with what is likely in general, whatever it is told.",
            "",
            markdown.table(header, lines),
        ]
    )


def table2(protocol, artifacts):
    d = protocol.decode
    rows = (
        f"a seeded sample of {d.eval_examples} rows per split" if d.eval_examples else "every row"
    )
    return "\n".join(
        [
            "## Table 2: BLEU, diversity and speaker accuracy",
            "",
            *_main_missing(artifacts),
            f"Every system decodes the same way (beam {d.beam_size}, at most {d.max_length} "
            f"tokens, MMI reranking with its own tuned weights) on {rows}; the 1-best is "
            "scored. Distinct-n, Ent-4, "
            "distinct responses, the mean length, the share at the length cap "
            f"({d.max_length - 1} words, EOS being the last of the {d.max_length} tokens) and "
            "the share saying a word three times in a row (only punctuation between) are on "
            "test. Speaker accuracy is the share of responses a "
            "classifier trained on the targets' monologue attributes to the target they were "
            "made for; 'real responses' is the same classifier on the reference responses. The "
            "style score is the share of responses that a classifier of their target's "
            "monologue against the training split's general responses reads as the target's, "
            "averaged over the targets; the baseline, which knows no speaker, is its floor. "
            "In brackets: 95 % bootstrap intervals over the inputs.",
            "",
            BLEU_CAVEAT,
            "",
            _system_table(
                artifacts,
                _TABLE2 + _TABLE2_WHEN_PRESENT,
                {keys for _, keys, _ in _TABLE2_WHEN_PRESENT},
            ),
        ]
    )


def fig4(protocol, artifacts, figures_dir):
    parts = ["## Fig. 4: perplexity per target", ""]
    if artifacts.fig4 is None:
        parts += [markdown.not_run("The per-target plot (eval/main/perplexity_by_speaker.png)"), ""]
    else:
        figures_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifacts.fig4, figures_dir / "perplexity_by_speaker.png")
        parts += [
            f"![Per-target test perplexity]({figures_dir.name}/perplexity_by_speaker.png)",
            "",
        ]
    main = artifacts.main or {}
    monologue = artifacts_lib.get(artifacts.summary, "counts", "monologue", "by_speaker") or {}
    rows = []
    for target in protocol.data.targets:
        values = [
            artifacts_lib.get(main.get(s), "perplexity_by_speaker", "test", target)
            for s, _ in SYSTEMS
        ]
        lines = monologue.get(target)
        rows.append(
            [target, MISSING if lines is None else f"{lines:,}", markdown.cell(values[0])]
            + [markdown.cell(v, values[0]) for v in values[1:]]
        )
    parts += [
        "Test perplexity per target, beside the amount of text the multi-task systems had "
        "of each (monologue lines):",
        "",
        markdown.table(["Target", "Monologue lines"] + [label for _, label in SYSTEMS], rows),
    ]
    return "\n".join(parts)


def control(artifacts):
    control = artifacts.models["control"].steps_run
    mtask_m = artifacts.models["mtask_m"].steps_run
    extra = artifacts.extra or {}
    recorded = lambda record, stage: record[stage] if record else "not recorded yet"
    text = (
        "Does MTASK-M gain from the monologue or merely from training longer? The control "
        "is the baseline continued for N more SEQ2SEQ updates, as many as MTASK-M's "
        f"stage 2 ran steps: N = {recorded(control, 'stage1')} (MTASK-M's stage-2 steps: "
        f"{recorded(mtask_m, 'stage2')}, each one SEQ2SEQ and one AUTOENCODER "
        "update). Dev and test perplexity from eval/extra, changes against the baseline."
    )
    rows = []
    for name, label in (("baseline", "Baseline"), ("control", "Control"), ("mtask_m", "MTASK-M")):
        base = [
            artifacts_lib.get(extra.get("baseline"), "perplexity", split)
            for split in ("dev", "test")
        ]
        values = [
            artifacts_lib.get(extra.get(name), "perplexity", split) for split in ("dev", "test")
        ]
        cells = [markdown.cell(v, b if name != "baseline" else None) for v, b in zip(values, base)]
        rows.append([label, markdown.cell(artifacts.models[name].best_dev), *cells])
    missing = (
        [] if artifacts.extra else [markdown.not_run("Evaluation (eval/extra/metrics.json)"), ""]
    )
    return "\n".join(
        [
            "## The control: as many updates without the monologue",
            "",
            *missing,
            text,
            "",
            markdown.table(
                ["System", "Best dev perplexity (training)", "Perplexity dev", "Perplexity test"],
                rows,
            ),
        ]
    )


def scarcity(protocol, artifacts, figures_dir):
    extra = artifacts.extra or {}
    shares = [(1.0, "mtask_m")] + [
        (f, artifacts_lib.fraction_model(f))
        for f in sorted(protocol.monologue_fractions, reverse=True)
    ]
    rows, points = [], []
    for share, name in shares:
        best = artifacts.models[name].best_dev
        if best is not None:
            points.append((share, best))
        lines = (
            artifacts_lib.monologue_lines(artifacts.summary, protocol.data.targets, share)
            if artifacts.summary
            else MISSING
        )
        rows.append(
            [
                f"{100 * share:g} %",
                lines,
                markdown.cell(best),
                *(
                    markdown.cell(artifacts_lib.get(extra.get(name), "perplexity", s))
                    for s in ("dev", "test")
                ),
            ]
        )
    baseline = artifacts.models["baseline"].best_dev
    rows.append(
        [
            "Baseline (none)",
            0,
            markdown.cell(baseline),
            *(
                markdown.cell(artifacts_lib.get(extra.get("baseline"), "perplexity", s))
                for s in ("dev", "test")
            ),
        ]
    )
    parts = [
        "## Scarcity: less monologue",
        "",
        "MTASK-M trained (stage 2) on a seeded share of each target's monologue lines "
        "(at least one each). The plot shows the best dev perplexity reached in "
        "training; dev and test perplexity from eval/extra beside it.",
        "",
    ]
    if points:
        figures_dir.mkdir(parents=True, exist_ok=True)
        eval_report.plot_scarcity(points, baseline, figures_dir / "scarcity.png")
        parts += [
            f"![Dev perplexity against the share of monologue]({figures_dir.name}/scarcity.png)",
            "",
        ]
    else:
        parts += [markdown.not_run("MTASK-M and its scarcity variants"), ""]
    return "\n".join(
        parts
        + [
            markdown.table(
                [
                    "Share of monologue",
                    "Monologue lines",
                    "Best dev perplexity (training)",
                    "Perplexity dev",
                    "Perplexity test",
                ],
                rows,
            )
        ]
    )
