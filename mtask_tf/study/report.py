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
report too: a missing artifact reads "not run yet". This module writes the
page, what was run and the versions; the sections are in ablation.py,
tables.py (Tables 1-2, input dependence, Fig. 4, control, scarcity),
enrolment.py, examples.py (examples, attention, MMI weights) and findings.py.
"""

import pathlib
import shlex

from mtask_tf.study import ablation
from mtask_tf.study import artifacts as artifacts_lib
from mtask_tf.study import enrolment
from mtask_tf.study import examples
from mtask_tf.study import findings
from mtask_tf.study import markdown
from mtask_tf.study import runner
from mtask_tf.study import tables

NOT_RUN = markdown.NOT_RUN
MISSING = markdown.MISSING
DISCUSSION_PLACEHOLDER = findings.DISCUSSION_PLACEHOLDER
BLEU_CAVEAT = tables.BLEU_CAVEAT


def _run_commits(run_info):
    """Which commits the steps ran at (Versions lists them per step), and the report's."""
    report = run_info.commit
    ran = list(dict.fromkeys(c for step in run_info.steps for c in step.commits))
    if not ran or ran == [report]:
        return f"run at commit `{report}`"
    commits = ", ".join(f"`{c}`" for c in ran)
    return f"run at commit{'s' if len(ran) > 1 else ''} {commits} (report written at `{report}`)"


def _title(protocol, run_info):
    total = run_info.total_seconds
    return "\n".join(
        [
            f"# Study `{protocol.name}`: Luan et al. (2017) on our data",
            "",
            (f"{protocol.description} " if protocol.description else "")
            + f"Protocol `{protocol.path}`, {_run_commits(run_info)} "
            f"on {run_info.date}, on {run_info.machine}; its steps took "
            f"{markdown.duration(total) if total is not None else 'unknown'} together "
            f"({_concurrency(run_info)}). Regenerate this report "
            f"and everything in it with `{_readable(run_info.command)}`.",
        ]
    )


def _training_rows(protocol, artifacts, run_info):
    """Per model: steps run, best checkpoint, wall time of its step and time per update."""
    seconds = {step.name: step.seconds for step in run_info.steps}
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
            f"{markdown.cell(model.best_dev)} at step {model.best.step} ({model.best.stage})"
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
    jobs = max([step.jobs for step in run_info.steps] or [1])
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


def _versions(run_info):
    versions, steps = run_info.versions, run_info.steps
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
                    f"`{s.name}`",
                    markdown.duration(s.seconds),
                    " → ".join(f"`{c}`" for c in s.commits) or MISSING,
                ]
                for s in steps
            ],
        ),
        "",
        "```",
    ]
    for step in steps:
        parts += [
            f"# {step.name} ({markdown.duration(step.seconds)})",
            shlex.join(readable_command(step.command)),
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
        run_info: a `runner.RunInfo` (commit, date, machine, versions, command,
            the steps' records); None: all of it "unknown".

    Raises:
        artifacts_lib.ReportError: an artifact exists but cannot be read.
    """
    work_dir, output_path = pathlib.Path(work_dir), pathlib.Path(output_path)
    run_info = run_info or runner.RunInfo()
    figures_dir = output_path.parent / f"{output_path.stem}_figures"
    artifacts = artifacts_lib.load(protocol, work_dir)
    sections = [
        _title(protocol, run_info),
        _data(protocol, artifacts, run_info),
        ablation.section(protocol, artifacts_lib.configurations(protocol, work_dir)),
        tables.table1(artifacts),
        tables.input_dependence(artifacts),
        tables.table2(protocol, artifacts),
        tables.fig4(protocol, artifacts, figures_dir),
        examples.attention(protocol, work_dir, figures_dir),
        tables.control(artifacts),
        tables.scarcity(protocol, artifacts, figures_dir),
        enrolment.section(protocol, work_dir, artifacts.summary),
        examples.examples(protocol, artifacts),
        examples.mmi(artifacts),
        findings.findings(artifacts, findings.kept_discussion(output_path)),
        _versions(run_info),
    ]
    text = "\n\n".join(section for section in sections if section) + "\n"
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(text, encoding="utf-8")
    return text
