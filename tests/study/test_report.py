"""The study report from tiny hand-written artifacts in the study's work-directory layout."""

import json
import re

import pytest

from mtask_tf.evaluation import report as eval_report
from mtask_tf.study import artifacts
from mtask_tf.study import examples
from mtask_tf.study import protocol as protocol_lib
from mtask_tf.study import report

TARGETS = ("Ross Geller", "Joey Tribbiani")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = (
    "# Study `tiny`",
    "## Data and training",
    "## Table 1: perplexity",
    "## Do the responses depend on their input?",
    "## Table 2: BLEU, diversity and speaker accuracy",
    "## Fig. 4: perplexity per target",
    "## The control",
    "## Scarcity: less monologue",
    "## Examples (cf. Fig. 7)",
    "## MMI weights",
    "## Findings at a glance",
    "## Discussion",
    "## Versions and commands",
)
RUN_INFO = {
    "commit": "abc1234",
    "date": "2031-01-02",
    "machine": "Test CPU, 2 cores",
    "versions": {"python": "3.12.1", "tensorflow": "2.21.0", "keras": "3.12.0"},
    "command": "python -m mtask_tf.study --protocol=tiny.toml --work_dir=w --report=r.md",
    "steps": [
        {
            "name": "prepare",
            "command": ["python", "-m", "mtask_tf.prepare", "--x=a b"],
            "seconds": 12.5,
            "commits": ["abc1234"],
        },
        {
            "name": "train_baseline",
            "command": ["python", "-m", "mtask_tf.train"],
            "seconds": 100.0,
            "commits": ["abc1233", "abc1234"],  # stopped and continued after a change
            "jobs": 2,
        },
    ],
    "total_seconds": 112.5,
}


@pytest.fixture()
def protocol(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(f"""
name = "tiny"
description = "Two targets, for tests."
[data]
turns = ["turns.tsv"]
targets = {json.dumps(list(TARGETS))}
split_column = "season"
dev_values = ["9"]
test_values = ["10"]
[train]
size_flags = "configs/demo.flags"
[scarcity]
monologue_fractions = [0.1, 0.01]
[report]
example_targets = ["Ross Geller"]
examples = 2
""")
    return protocol_lib.load(path)


def _write_json(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _summary():
    by = lambda ross, joey: {
        "total": ross + joey,
        "by_speaker": {"Ross Geller": ross, "Joey Tribbiani": joey},
    }
    return {
        "targets": sorted(TARGETS),
        "counts": {
            "train": {"total": 900, "by_speaker": {"ALICE": 500, "BOB": 400}},
            "monologue": by(1000, 5),
            "dev": by(30, 20),
            "test": by(40, 10),
        },
    }


def _best(perplexity, step=200, stage="seq2seq"):
    return {
        "step": step,
        "stage": stage,
        "dev": {"perplexity": perplexity, "perplexity_by_speaker": {}},
    }


def _metrics(dev, test, bleu=None, distinct=None, accuracy=None):
    record = {
        "perplexity": {"dev": dev, "test": test},
        "perplexity_by_speaker": {
            "dev": {t: dev for t in TARGETS},
            "test": {"Ross Geller": test - 1, "Joey Tribbiani": test + 1},
        },
        "perplexity_shuffled_inputs": {"dev": dev * 1.25, "test": test * 1.1},
    }
    if bleu is not None:
        record.update(
            bleu={"dev": bleu, "test": bleu},
            distinct_1=distinct,
            distinct_2=2 * distinct,
            ent_4=5.5,
            distinct_responses=0.5,
            speaker_accuracy={"dev": accuracy, "test": accuracy},
            speaker_accuracy_ceiling={"dev": 0.8, "test": 0.7},
            speaker_accuracy_chance=0.5,
        )
    return record


# (speaker, context, message, response per system). The second row's context is
# too long for an example; MTASK-S lists its rows in another order.
LONG = " ".join(["word"] * 16)
ROWS = [
    ("Ross Geller", "we were on a break", "no we were not", ("base one , i say", "s one", "m one")),
    ("Ross Geller", LONG, "hi", ("base long", "s long", "m long")),
    ("Joey Tribbiani", "how you doin", "fine", ("base joey", "s joey", "m joey")),
    ("Ross Geller", "pivot", "pivot the couch", ("base two", "s two", "m two")),
    ("Ross Geller", "unagi", "what is that", ("base three", "s three", "m three")),
]


def _write_responses(main_dir):
    for index, system in enumerate(("baseline", "mtask_s", "mtask_m")):
        rows = ROWS[::-1] if system == "mtask_s" else ROWS
        lines = ["speaker\tcontext\tmessage\treference\tresponse"]
        lines += [f"{s}\t{c}\t{m}\treference\t{r[index]}" for s, c, m, r in rows]
        (main_dir / f"{system}.test.responses.tsv").write_text("\n".join(lines) + "\n")


def make_work_dir(root, mtask_m_test=48.0, bleu=(2.0, 2.5, 3.0)):
    """Every artifact of a finished study; MTASK-M's test perplexity and BLEU as given."""
    models, main_dir = root / "models", root / "eval" / "main"
    _write_json(root / "data" / "summary.json", _summary())
    sizes = {
        "vocabulary_size": 1234,
        "embedding_dim": 16,
        "units": 32,
        "num_layers": 2,
        "num_speakers": 0,
        "speaker_dim": 8,
    }
    for name, perplexity in (
        ("baseline", 50.0),
        ("persona", 51.0),
        ("mtask_m", 45.0),
        ("control", 49.0),
        ("reverse", 70.0),
        ("mtask_m_monologue_0.1", 46.0),
        ("mtask_m_monologue_0.01", 48.5),
    ):
        _write_json(models / name / "best.json", _best(perplexity))
        _write_json(models / name / "model.json", dict(sizes, num_speakers=7 * ("mtask" in name)))
    _write_json(models / "baseline" / "steps_run.json", {"stage1": 200, "stage2": 0})
    _write_json(models / "mtask_m" / "steps_run.json", {"stage1": 0, "stage2": 300})
    _write_json(models / "control" / "steps_run.json", {"stage1": 300, "stage2": 0})
    for directory in ("Ross_Geller", "Joey_Tribbiani"):
        _write_json(models / "mtask_s" / directory / "best.json", _best(41.0, 50, "multitask"))
        _write_json(models / "mtask_s" / directory / "steps_run.json", {"stage1": 0, "stage2": 60})
    for system, before, after in (
        ("baseline", 1.2, 1.5),
        ("mtask_s", 1.0, 1.1),
        ("mtask_m", 0.9, 1.3),
    ):
        _write_json(
            models / system / "mmi.json",
            {
                "lambda": 0.25,
                "gamma": -0.5,
                "bleu_before": before,
                "bleu_after": after,
                "sentences": 40,
            },
        )
    main = {
        "baseline": _metrics(50.0, 60.0, bleu[0], 0.02, 0.55),
        "mtask_s": _metrics(40.0, 45.0, bleu[1], 0.03, 0.60),
        "mtask_m": _metrics(45.0, mtask_m_test, bleu[2], 0.01, 0.50),
    }
    _write_json(main_dir / "metrics.json", main)
    eval_report.plot_perplexity_by_speaker(main, main_dir / "perplexity_by_speaker.png")
    _write_responses(main_dir)
    extra = {
        "baseline": _metrics(50.0, 60.0),
        "control": _metrics(49.0, 58.0),
        "mtask_m": _metrics(45.0, mtask_m_test),
        "mtask_m_monologue_0.1": _metrics(46.0, 50.0),
        "mtask_m_monologue_0.01": _metrics(48.5, 55.0),
    }
    _write_json(root / "eval" / "extra" / "metrics.json", extra)
    return root


def _section(text, heading):
    """The text from `heading` to the next heading of level 2."""
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _row(text, heading, label):
    """The table row of a section whose first cell is `label`."""
    rows = [
        line for line in _section(text, heading).splitlines() if line.startswith(f"| {label} |")
    ]
    assert len(rows) == 1, f"{label!r} rows in {heading!r}: {rows}"
    return rows[0]


def _write(protocol, tmp_path, **kwargs):
    work_dir = make_work_dir(tmp_path / "work", **kwargs)
    output = tmp_path / "docs" / "results.md"
    text = report.write_report(protocol, work_dir, output, RUN_INFO)
    assert output.read_text(encoding="utf-8") == text
    return text


def test_full_report_has_every_section_in_order_and_the_run(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    assert report.NOT_RUN not in text
    title = _section(text, "# Study `tiny`")
    for fact in (
        "Two targets, for tests.",
        "run at commits `abc1234`, `abc1233` (report written at `abc1234`)",
        "2031-01-02",
        "Test CPU, 2 cores",
        "1 min 52 s",
        RUN_INFO["command"],
    ):
        assert fact in title
    assert report.DISCUSSION_PLACEHOLDER in _section(text, "## Discussion")


def test_data_section_has_counts_sizes_and_time_per_step(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    assert "900 triples" in text
    target_table = _section(text, "## Data and training").split("Training steps")[0]
    assert "| Ross Geller | 1000 | 30 | 40 |" in target_table.splitlines()
    assert "Vocabulary 1234 words" in text
    assert "the study ran up to 2 steps at a time (`--jobs=2`)" in text
    # train_baseline took 100 s for 200 steps.
    assert _row(text, "## Data and training", "`baseline`") == (
        "| `baseline` | 200 | 0 | 50.00 at step 200 (seq2seq) | 1 min 40 s | 0.50 s |"
    )
    # MTASK-S: the steps of both targets' models add up.
    assert _row(text, "## Data and training", "`mtask_s`").startswith(
        "| `mtask_s` | 0 | 120 | per target, below |"
    )
    assert _row(text, "## Data and training", "`mtask_s/Joey Tribbiani`").startswith(
        "| `mtask_s/Joey Tribbiani` | 0 | 60 | 41.00 at step 50 (multitask) |"
    )


def test_table1_has_relative_changes_and_the_papers_numbers(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    # (45 - 60) / 60 = -25.0 %, (48 - 60) / 60 = -20.0 %; then the paper's Table 1.
    assert _row(text, "## Table 1", "Perplexity test") == (
        "| Perplexity test | 60.00 | 45.00 (-25.0 %) | 48.00 (-20.0 %) "
        "| 61.17 | 39.83 (-34.9 %) | 43.21 (-29.4 %) |"
    )


def test_input_dependence_compares_each_system_with_itself(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    heading = "## Do the responses depend on their input?"
    # Each shuffled perplexity against the same system's real one, not the baseline's.
    assert _row(text, heading, "Baseline") == (
        "| Baseline | 50.00 | 62.50 (+25.0 %) | 60.00 | 66.00 (+10.0 %) |"
    )
    assert _row(text, heading, "MTASK-M") == (
        "| MTASK-M | 45.00 | 56.25 (+25.0 %) | 48.00 | 52.80 (+10.0 %) |"
    )


def test_table2_compares_bleu_only_from_a_baseline_of_one(protocol, tmp_path):
    text = _write(protocol, tmp_path, bleu=(2.0, 2.5, 3.0))
    # The paper's changes recomputed from its values: (2.25 - 1.31) / 1.31 = +71.8 %
    # (the paper prints +71.7 %).
    assert _row(text, "## Table 2", "BLEU test") == (
        "| BLEU test | 2.00 | 2.50 (+25.0 %) | 3.00 (+50.0 %) "
        "| 1.31 | 1.69 (+29.0 %) | 2.25 (+71.8 %) |"
    )
    assert report.BLEU_CAVEAT in text
    assert _row(text, "## Table 2", "speaker accuracy test, real responses") == (
        "| speaker accuracy test, real responses | 70.00 % | 70.00 % | 70.00 % | – | – | – |"
    )
    text = _write(protocol, tmp_path, bleu=(0.5, 0.6, 0.8))
    assert _row(text, "## Table 2", "BLEU test").startswith("| BLEU test | 0.50 | 0.60 | 0.80 |")
    assert "not a finding" in _section(text, "## Findings at a glance")


def test_table2_shows_degeneration_style_and_intervals_only_when_evaluated(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    # These metrics.json files predate the measures: no rows of dashes for them.
    for label in ("mean length (words)", "style score test", "a word three times in a row"):
        assert f"| {label} |" not in text
    assert "| speaker accuracy test | 55.00 % | 60.00 % | 50.00 % |" in text
    path = tmp_path / "work" / "eval" / "main" / "metrics.json"
    main = json.loads(path.read_text())
    for system, score in (("baseline", 0.25), ("mtask_s", 0.5), ("mtask_m", 0.375)):
        main[system].update(
            mean_length=6.5,
            length_cap_share=0.125,
            repetition_share=0.0,
            style_score={"test": score},
            style_score_interval={"test": [score - 0.125, score + 0.0625]},
            style_score_ceiling={"test": 0.75},
            speaker_accuracy_interval={"test": [0.5, 0.625]},
        )
    path.write_text(json.dumps(main))
    text = report.write_report(protocol, tmp_path / "work", tmp_path / "r.md", RUN_INFO)
    table = "## Table 2"
    assert _row(text, table, "mean length (words)") == (
        "| mean length (words) | 6.50 | 6.50 | 6.50 | – | – | – |"
    )
    assert _row(text, table, "at the length cap").startswith("| at the length cap | 12.50 % |")
    assert _row(text, table, "style score test") == (
        "| style score test | 25.00 % [12.50, 31.25] | 50.00 % [37.50, 56.25] "
        "| 37.50 % [25.00, 43.75] | – | – | – |"
    )
    assert _row(text, table, "style score test, real responses").startswith(
        "| style score test, real responses | 75.00 % | 75.00 % |"
    )
    assert "| style score dev |" not in text  # no system has it
    assert _row(text, table, "speaker accuracy test").startswith(
        "| speaker accuracy test | 55.00 % [50.00, 62.50] |"
    )
    assert (
        "- MTASK-S has a higher test style score than the baseline: **holds** "
        "(MTASK-S 50.00 % vs baseline 25.00 %)"
    ) in _section(text, "## Findings at a glance")


@pytest.mark.parametrize("mtask_m_test, verdict", [(48.0, "holds"), (65.0, "does not hold")])
def test_findings_follow_the_numbers(protocol, tmp_path, mtask_m_test, verdict):
    findings = _section(
        _write(protocol, tmp_path, mtask_m_test=mtask_m_test), "## Findings at a glance"
    )
    lines = {line.split(":")[0]: line for line in findings.splitlines() if line.startswith("- ")}
    assert lines["- MTASK-M has lower test perplexity than the baseline"].endswith(
        f"**{verdict}** (MTASK-M {mtask_m_test:.2f} vs baseline 60.00)."
    )
    # The control's test perplexity is 58.
    assert (
        f"- MTASK-M has lower test perplexity than the control (its gain is not explained "
        f"by extra training): **{verdict}** (MTASK-M {mtask_m_test:.2f} vs control "
        "58.00)."
    ) in findings
    assert "- MTASK-S has lower test perplexity than the baseline: **holds**" in findings
    # MTASK-M's distinct-1 (1 %) is below the baseline's (2 %).
    assert (
        "- MTASK-M has higher distinct-1 than the baseline: **does not hold** "
        "(MTASK-M 1.00 % vs baseline 2.00 %)."
    ) in findings


def test_control_and_scarcity_sections(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    control = _section(text, "## The control")
    assert "N = 300 (MTASK-M's stage-2 steps: 300," in control
    assert _row(text, "## The control", "Control") == (
        "| Control | 49.00 | 49.00 (-2.0 %) | 58.00 (-3.3 %) |"
    )
    # Ross has 1000 monologue lines, Joey 5: 10 % is 100 + round(0.5) -> at least 1,
    # 1 % is 10 + 1.
    assert _row(text, "## Scarcity", "100 %").startswith("| 100 % | 1005 | 45.00 |")
    assert _row(text, "## Scarcity", "10 %").startswith("| 10 % | 101 | 46.00 |")
    assert _row(text, "## Scarcity", "1 %").startswith("| 1 % | 11 | 48.50 |")


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000


def test_figures_are_pngs_linked_relatively(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    figures = tmp_path / "docs" / "results_figures"
    for name in ("perplexity_by_speaker.png", "scarcity.png"):
        _assert_png(figures / name)
        assert f"](results_figures/{name})" in text
    assert (figures / "perplexity_by_speaker.png").read_bytes() == (
        tmp_path / "work" / "eval" / "main" / "perplexity_by_speaker.png"
    ).read_bytes()
    # Fig. 4's table: Ross's 1,000 monologue lines (the summary's), and his test
    # perplexity, the system's test perplexity - 1.
    assert _row(text, "## Fig. 4", "Ross Geller") == (
        "| Ross Geller | 1,000 | 59.00 | 44.00 (-25.4 %) | 47.00 (-20.3 %) |"
    )
    assert _row(text, "## Fig. 4", "Joey Tribbiani").startswith("| Joey Tribbiani | 5 | ")


def test_examples_are_short_and_matched_by_speaker_context_and_message(protocol, tmp_path):
    examples = _section(_write(protocol, tmp_path), "## Examples")
    rows = [line for line in examples.splitlines() if line.startswith("| ")][1:]
    # Ross's first two short inputs, in the baseline's order; MTASK-S's file is
    # reversed, so matching by position would pair the wrong responses.
    assert rows == [
        "| we were on a break | no we were not | Base one, I say | S one | M one |",
        "| pivot | pivot the couch | Base two | S two | M two |",
    ]
    assert "Joey" not in examples  # not an example target


def test_example_rows_need_every_run_system_to_have_the_input():
    row = lambda speaker, response, message="m": {
        "speaker": speaker,
        "context": "c",
        "message": message,
        "response": response,
    }
    responses = {
        "baseline": [row("A", "b1"), row("A", "b2", "other")],
        "mtask_s": [row("A", "s1")],
        "mtask_m": None,
    }
    chosen = examples.example_rows(responses, "A", 5)
    assert [(r["response"], answers) for r, answers in chosen] == [
        ("b1", {"baseline": "b1", "mtask_s": "s1"})
    ]


def test_mmi_weights(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    assert _row(text, "## MMI weights", "MTASK-M") == (
        "| MTASK-M | 0.2500 | -0.5000 | 0.90 → 1.30 | 40 |"
    )


def test_versions_and_commands(protocol, tmp_path):
    versions = _section(_write(protocol, tmp_path), "## Versions and commands")
    assert "python 3.12.1, tensorflow 2.21.0, keras 3.12.0" in versions
    assert "| `prepare` | 12.5 s | `abc1234` |" in versions
    assert "| `train_baseline` | 1 min 40 s | `abc1233` → `abc1234` |" in versions
    assert "python -m mtask_tf.prepare '--x=a b'" in versions


def test_commands_read_as_a_reader_runs_them_from_the_repository(tmp_path):
    command = [
        "/opt/venv/bin/python3.11",
        "-m",
        "mtask_tf.train",
        f"--data_dir={tmp_path}/runs/study/data",
        "--model_dir=/elsewhere/models",
    ]
    assert report.readable_command(command, root=tmp_path) == [
        "python",
        "-m",
        "mtask_tf.train",
        "--data_dir=runs/study/data",
        "--model_dir=/elsewhere/models",
    ]


def test_partial_work_dir_says_not_run_yet(protocol, tmp_path):
    work_dir = tmp_path / "work"
    _write_json(work_dir / "data" / "summary.json", _summary())
    _write_json(work_dir / "models" / "baseline" / "best.json", _best(50.0))
    output = tmp_path / "results.md"
    text = report.write_report(protocol, work_dir, output, {})
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    for heading in (
        "## Table 1",
        "## Table 2",
        "## Fig. 4",
        "## The control",
        "## Scarcity",
        "## Examples",
        "## Versions and commands",
    ):
        assert report.NOT_RUN in _section(text, heading), heading
    assert _row(text, "## Data and training", "`baseline`").startswith(
        "| `baseline` | – | – | 50.00 at step 200 (seq2seq) |"
    )
    assert _row(text, "## MMI weights", "Baseline").startswith(f"| Baseline | {report.NOT_RUN} |")
    findings = _section(text, "## Findings at a glance")
    assert findings.count("**not measured**") == len(re.findall(r"^- ", findings, re.M)) == 13
    assert not (tmp_path / "results_figures" / "scarcity.png").exists()


def test_unreadable_artifact_names_the_file(protocol, tmp_path):
    path = tmp_path / "work" / "models" / "baseline" / "best.json"
    path.parent.mkdir(parents=True)
    path.write_text("{")
    with pytest.raises(artifacts.ReportError, match=r"best.json:1: not valid JSON"):
        report.write_report(protocol, tmp_path / "work", tmp_path / "results.md", {})


def test_a_hand_written_discussion_survives_regeneration(tmp_path):
    protocol = protocol_lib.load("configs/study/smoke.toml")
    output = tmp_path / "results.md"
    text = report.write_report(protocol, tmp_path / "work", output, {})
    assert report.DISCUSSION_PLACEHOLDER in text
    output.write_text(
        text.replace(report.DISCUSSION_PLACEHOLDER, "MTASK-M helps Joey most.\n\nSecond paragraph.")
    )
    again = report.write_report(protocol, tmp_path / "work", output, {})
    assert "MTASK-M helps Joey most.\n\nSecond paragraph." in again
    assert report.DISCUSSION_PLACEHOLDER not in again
    assert again.index("## Discussion") < again.index("## Versions and commands")


def test_the_per_split_evaluations_merge(tmp_path):
    from mtask_tf.study import artifacts as artifacts_lib

    for split, distinct in (("dev", 0.5), ("test", 0.25)):
        directory = tmp_path / "eval" / f"main_{split}"
        directory.mkdir(parents=True)
        (directory / "metrics.json").write_text(
            json.dumps(
                {
                    "baseline": {
                        "perplexity": {split: 40.0},
                        "bleu": {split: 1.5},
                        "distinct_1": distinct,
                    }
                }
            )
        )
    metrics, test_dir = artifacts_lib._main_evaluation(tmp_path)
    assert metrics == {
        "baseline": {
            "perplexity": {"dev": 40.0, "test": 40.0},
            "bleu": {"dev": 1.5, "test": 1.5},
            "distinct_1": 0.25,
        }
    }
    assert test_dir == tmp_path / "eval" / "main_test"
