"""The study report: a Markdown page and its figures from a study's work directory.

`write_report` reads what the study's steps left in the work directory (the
layout is in mtask_tf/study/steps.py) and writes, in this order: what was run;
the data and training; the ablation (when the protocol has one: each
configuration's and decoding's measures, mtask_tf/study/ablation.py); Table 1
(perplexity) and Table 2 (BLEU, diversity,
degeneration, speaker accuracy, style score) beside the paper's numbers;
Fig. 4 (per-target perplexity); the control (the baseline trained as long as
MTASK-M); scarcity (MTASK-M on a share of the monologue); a few Fig. 7-style
examples; the MMI weights; findings at a glance and a Discussion for people to
write; versions and commands.

Each section renders from whatever is there, so a partly finished study has a
report too: a missing artifact reads "not run yet".
"""

import pathlib
import shlex
import shutil

from mtask_tf.data import detokenizer
from mtask_tf.evaluation import paper
from mtask_tf.evaluation import report as eval_report
from mtask_tf.study import ablation
from mtask_tf.study import artifacts as artifacts_lib
from mtask_tf.study import enrolment
from mtask_tf.study import markdown

NOT_RUN = markdown.NOT_RUN
MISSING = markdown.MISSING
SYSTEMS = artifacts_lib.SYSTEMS
# Longer lines make the example table unreadable, and the transcripts are for
# research only: the report quotes a handful of short lines, no more.
MAX_EXAMPLE_WORDS = 15
DISCUSSION_PLACEHOLDER = "<!-- discussion: written by hand after the run -->"

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


# Sections -----------------------------------------------------------------------


def _run_commits(run_info):
    """Which commits the steps ran at (Versions lists them per step), and the report's."""
    report = run_info.get("commit") or "unknown"
    ran = list(
        dict.fromkeys(c for s in run_info.get("steps") or [] for c in s.get("commits") or [])
    )
    if not ran or ran == [report]:
        return f"run at commit `{report}`"
    commits = ", ".join(f"`{c}`" for c in ran)
    return f"run at commit{'s' if len(ran) > 1 else ''} {commits} (report written at `{report}`)"


def _title(protocol, run_info):
    info = lambda key: run_info.get(key) or "unknown"
    total = run_info.get("total_seconds")
    return "\n".join(
        [
            f"# Study `{protocol.name}`: Luan et al. (2017) on our data",
            "",
            (f"{protocol.description} " if protocol.description else "")
            + f"Protocol `{protocol.path}`, {_run_commits(run_info)} "
            f"on {info('date')}, on {info('machine')}; its steps took "
            f"{markdown.duration(total) if total is not None else 'unknown'} together "
            f"({_concurrency(run_info)}). Regenerate this report "
            f"and everything in it with `{_readable(info('command'))}`.",
        ]
    )


def _training_rows(protocol, artifacts, run_info):
    """Per model: steps run, best checkpoint, wall time of its step and time per update."""
    seconds = {step.get("name"): step.get("seconds") for step in run_info.get("steps") or ()}
    targets = [f"mtask_s/{t}" for t in protocol.data.targets]
    names = artifacts_lib.model_names(protocol)
    names[names.index("reverse") : names.index("reverse")] = ["mtask_s", *targets]
    # MTASK-S is one step training one model per target: its time goes with the sum.
    known = [artifacts.models[t].steps_run for t in targets if artifacts.models[t].steps_run]
    mtask_s = artifacts_lib.Model(
        None,
        {k: sum(s.get(k, 0) for s in known) for k in ("stage1", "stage2")} if known else None,
        None,
    )
    rows = []
    for name in names:
        model = mtask_s if name == "mtask_s" else artifacts.models[name]
        best = (
            f"{markdown.cell(model.best_dev)} at step {model.best['step']} ({model.best['stage']})"
            if model.best
            else NOT_RUN
        )
        wall = seconds.get(f"train_{name}")
        run = model.steps_run or {}
        rows.append(
            [
                f"`{name}`",
                run.get("stage1", MISSING),
                run.get("stage2", MISSING),
                "per target, below" if name == "mtask_s" else best,
                markdown.duration(wall),
                f"{wall / model.steps:.2f} s" if wall is not None and model.steps else MISSING,
            ]
        )
    return rows


def _counts(protocol, summary):
    if summary is None:
        return [markdown.not_run("Data preparation (data/summary.json)")]
    counts = summary["counts"]
    by = lambda split, target: counts.get(split, {}).get("by_speaker", {}).get(target, 0)
    return [
        f"General conversation: {counts['train']['total']} triples whose responder is "
        f"not a target, from {len(counts['train']['by_speaker'])} speakers. Targets' "
        f"triples held out: {counts['dev']['total']} dev, {counts['test']['total']} test.",
        "",
        markdown.table(
            ["Target", "Monologue lines", "Dev triples", "Test triples"],
            [[t, by("monologue", t), by("dev", t), by("test", t)] for t in protocol.data.targets],
        ),
    ]


def _sizes(artifacts):
    sizes, persona = artifacts.models["baseline"].sizes, artifacts.models["mtask_m"].sizes
    if sizes is None:
        return markdown.not_run("Model sizes (models/baseline/model.json)")
    text = (
        f"Vocabulary {sizes['vocabulary_size']} words; embeddings of "
        f"{sizes['embedding_dim']}, {sizes['num_layers']} LSTM layers of {sizes['units']} "
        "units"
    )
    if persona:
        text += (
            f"; MTASK-M's speaker embeddings of {persona['speaker_dim']} for "
            f"{persona['num_speakers']} speakers"
        )
    return text + " (paper: 50k words, 2 layers of 500 units)."


def _concurrency(run_info):
    jobs = max([step.get("jobs", 1) for step in run_info.get("steps") or ()] or [1])
    if jobs == 1:
        return "one step at a time"
    return (
        f"up to {jobs} steps at a time (`--jobs={jobs}`), each with its share of the "
        "cores, so a step's wall time is that of a shared machine"
    )


def _data(protocol, artifacts, run_info):
    return "\n".join(
        [
            "## Data and training",
            "",
            *_counts(protocol, artifacts.summary),
            "",
            _sizes(artifacts),
            "",
            "Training steps run (steps_run.json), the best checkpoint by dev perplexity "
            f"(best.json), and wall time; the study ran {_concurrency(run_info)}:",
            "",
            markdown.table(
                [
                    "Model",
                    "Stage-1 steps",
                    "Stage-2 steps",
                    "Best dev perplexity",
                    "Wall time",
                    "Time per step",
                ],
                _training_rows(protocol, artifacts, run_info),
            ),
        ]
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


def _table1(artifacts):
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


def _input_dependence(artifacts):
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


def _table2(protocol, artifacts):
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


def _fig4(protocol, artifacts, figures_dir):
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
    rows = []
    for target in protocol.data.targets:
        values = [
            artifacts_lib.get(main.get(s), "perplexity_by_speaker", "test", target)
            for s, _ in SYSTEMS
        ]
        rows.append(
            [target, markdown.cell(values[0])] + [markdown.cell(v, values[0]) for v in values[1:]]
        )
    parts += [
        "Test perplexity per target:",
        "",
        markdown.table(["Target"] + [label for _, label in SYSTEMS], rows),
    ]
    return "\n".join(parts)


def _attention(protocol, work_dir, figures_dir):
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


def _control(artifacts):
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


def _scarcity(protocol, artifacts, figures_dir):
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


def _examples(protocol, artifacts):
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


def _mmi(artifacts):
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


def _kept_discussion(output_path):
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


def _findings(artifacts, discussion=DISCUSSION_PLACEHOLDER):
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


def _versions(run_info):
    versions = run_info.get("versions") or {}
    steps = run_info.get("steps") or []
    parts = [
        "## Versions and commands",
        "",
        ", ".join(f"{k} {v}" for k, v in versions.items()) or "Versions: unknown.",
        "",
    ]
    if not steps:
        return "\n".join(parts + [markdown.not_run("The study's steps")])
    parts += [
        markdown.table(
            ["Step", "Wall time", "Commit"],
            [
                [
                    f"`{s.get('name')}`",
                    markdown.duration(s.get("seconds")),
                    " → ".join(f"`{c}`" for c in s.get("commits") or []) or MISSING,
                ]
                for s in steps
            ],
        ),
        "",
        "```",
    ]
    for step in steps:
        parts += [
            f"# {step.get('name')} ({markdown.duration(step.get('seconds'))})",
            shlex.join(readable_command(step.get("command") or [])),
        ]
    return "\n".join(parts + ["```"])


def _readable(command):
    return shlex.join(readable_command(shlex.split(command)))


def readable_command(argv, root=None):
    """A step's command as a reader runs it from the repository: `python -m ...`.

    The runner starts each step with its own interpreter's absolute path and
    the work directory's paths as given; the report names the interpreter
    `python` and writes paths under `root` (default: the directory the study
    runs from, the repository root) relative to it.
    """
    prefix = str(pathlib.Path(root or pathlib.Path.cwd()).resolve()) + "/"
    argv = [str(a) for a in argv]
    if argv and pathlib.Path(argv[0]).name.startswith("python"):
        argv[0] = "python"
    return [a.replace(prefix, "") for a in argv]


def write_report(protocol, work_dir, output_path, run_info):
    """Writes the study's Markdown report and its figures; returns the Markdown.

    Figures go to `<stem>_figures/` beside the report (docs/results.md ->
    docs/results_figures/) and are linked relatively. Artifacts not there yet
    show as "not run yet".

    Args:
        protocol: the `mtask_tf.study.protocol.Protocol` that was run.
        work_dir: the study's work directory (pathlib.Path).
        output_path: the Markdown file to write; missing directories are made.
        run_info: what the runner knows about the run: commit, date, machine,
            versions {python, tensorflow, keras}, command, steps [{name,
            command, seconds}], total_seconds; missing keys read "unknown".

    Raises:
        artifacts_lib.ReportError: an artifact exists but cannot be read.
    """
    work_dir, output_path = pathlib.Path(work_dir), pathlib.Path(output_path)
    run_info = run_info or {}
    figures_dir = output_path.parent / f"{output_path.stem}_figures"
    artifacts = artifacts_lib.load(protocol, work_dir)
    sections = [
        _title(protocol, run_info),
        _data(protocol, artifacts, run_info),
        ablation.section(protocol, artifacts_lib.configurations(protocol, work_dir)),
        _table1(artifacts),
        _input_dependence(artifacts),
        _table2(protocol, artifacts),
        _fig4(protocol, artifacts, figures_dir),
        _attention(protocol, work_dir, figures_dir),
        _control(artifacts),
        _scarcity(protocol, artifacts, figures_dir),
        enrolment.section(protocol, work_dir, artifacts.summary),
        _examples(protocol, artifacts),
        _mmi(artifacts),
        _findings(artifacts, _kept_discussion(output_path)),
        _versions(run_info),
    ]
    text = "\n\n".join(section for section in sections if section) + "\n"
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(text, encoding="utf-8")
    return text
