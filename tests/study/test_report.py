"""The study report from tiny hand-written artifacts in the study's work-directory layout."""

import json
import re

import pytest

from mtask_tf.evaluation import report as eval_report
from mtask_tf.study import artifacts
from mtask_tf.study import examples
from mtask_tf.study import protocol as protocol_lib
from mtask_tf.study import report
from mtask_tf.study import runner
from tests.study import report_tables
from tests.study.report_tables import number
from tests.study.report_tables import percent

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
RUN_INFO = runner.RunInfo(
    commit="abc1234",
    date="2031-01-02",
    machine="Test CPU, 2 cores",
    versions={"python": "3.12.1", "tensorflow": "2.21.0", "keras": "3.12.0"},
    command="python -m mtask_tf.study --protocol=tiny.toml --work_dir=w --report=r.md",
    steps=(
        runner.StepRecord(
            name="prepare",
            command=["python", "-m", "mtask_tf.prepare", "--x=a b"],
            seconds=12.5,
            commits=["abc1234"],
        ),
        runner.StepRecord(
            name="train_baseline",
            command=["python", "-m", "mtask_tf.train"],
            seconds=100.0,
            commits=["abc1233", "abc1234"],  # stopped and continued after a change
            jobs=2,
        ),
    ),
)


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
    # The control ran 320 steps, MTASK-M's stage 2 300: the report shows both.
    _write_json(models / "control" / "steps_run.json", {"stage1": 320, "stage2": 0})
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


OURS = ("Baseline", "MTASK-S", "MTASK-M")
PAPER = tuple(f"Paper: {label}" for label in OURS)


def _changes(baseline, *others):
    """A row's cells: the baseline's value, then each other value with its change against it."""
    return [number(baseline)] + [number(v, change=(v - baseline) / baseline) for v in others]


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
    title = report_tables.section(text, "# Study `tiny`")
    assert report_tables.says(title, "Two targets, for tests.", "2031-01-02", "Test CPU, 2 cores")
    # The steps ran at two commits, both named; the report's own is told apart.
    assert set(re.findall(r"`(abc\d+)`", title)) == {"abc1233", "abc1234"}
    assert "written at `abc1234`" in title
    # total_seconds: 112.5.
    assert report_tables.parse_cell(re.search(r"\d+ min \d+ s", title)[0]) == 112.5
    assert RUN_INFO.command in title
    assert report.DISCUSSION_PLACEHOLDER in report_tables.section(text, "## Discussion")


def test_data_section_has_counts_sizes_and_time_per_step(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    paragraphs = report_tables.section(text, "## Data and training").split("\n\n")
    # General triples (ALICE 500 + BOB 400) from 2 speakers; the targets' dev and test
    # triples, Ross's and Joey's together.
    counts = next(p for p in paragraphs if "triples" in p and not p.startswith("|"))
    assert report_tables.numbers(counts) == [500 + 400, 2, 30 + 20, 40 + 10]
    targets = report_tables.table(text, "## Data and training", "Monologue lines")
    assert targets.labels == list(TARGETS)
    assert targets.row("Ross Geller").after("Target") == [1000, 30, 40]
    assert targets.row("Joey Tribbiani").after("Target") == [5, 20, 10]
    # Vocabulary, embedding, layers, units (model.json); MTASK-M's speaker vectors and speakers.
    sizes = next(p for p in paragraphs if "Vocabulary" in p)
    assert report_tables.numbers(sizes)[:6] == [1234, 16, 2, 32, 8, 7]
    assert "--jobs=2" in text

    training = report_tables.table(text, "## Data and training", "Stage-1 steps")
    baseline = training.row("`baseline`")
    assert baseline.cells("Stage-1 steps", "Stage-2 steps") == [200, 0]
    # The best checkpoint: dev perplexity 50 at step 200, of stage seq2seq.
    assert report_tables.numbers(baseline["Best dev perplexity"]) == [50.0, 200]
    assert "seq2seq" in baseline["Best dev perplexity"]
    # train_baseline took 100 s for 200 steps.
    assert baseline["Wall time"] == 100.0
    assert baseline["Time per step"] == 100.0 / 200
    # MTASK-S: the steps of both targets' models add up.
    mtask_s = training.row("`mtask_s`")
    assert mtask_s.cells("Stage-1 steps", "Stage-2 steps") == [0, 60 + 60]
    assert "per target" in mtask_s["Best dev perplexity"]
    joey = training.row("`mtask_s/Joey Tribbiani`")
    assert joey.cells("Stage-1 steps", "Stage-2 steps") == [0, 60]
    assert report_tables.numbers(joey["Best dev perplexity"]) == [41.0, 50]
    assert "multitask" in joey["Best dev perplexity"]


def test_table1_has_relative_changes_and_the_papers_numbers(protocol, tmp_path):
    table = report_tables.table(_write(protocol, tmp_path), "## Table 1", *OURS, *PAPER)
    assert table.labels == ["Perplexity dev", "Perplexity test"]
    # Ours (make_work_dir), changes against the baseline: (45 - 60) / 60 = -25.0 %.
    assert table.row("Perplexity dev").cells(*OURS) == _changes(50.0, 40.0, 45.0)
    assert table.row("Perplexity test").cells(*OURS) == _changes(60.0, 45.0, 48.0)
    # The paper's Table 1, changes recomputed from its values.
    assert table.row("Perplexity dev").cells(*PAPER) == _changes(56.33, 32.27, 44.96)
    assert table.row("Perplexity test").cells(*PAPER) == _changes(61.17, 39.83, 43.21)


def test_input_dependence_compares_each_system_with_itself(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    heading = "## Do the responses depend on their input?"
    assert report_tables.table(text, heading).labels == list(OURS)
    # _metrics: shuffling the inputs raises dev perplexity by a quarter, test by a
    # tenth; each against the same system's real perplexity, not the baseline's.
    for label, dev, test in (
        ("Baseline", 50.0, 60.0),
        ("MTASK-S", 40.0, 45.0),
        ("MTASK-M", 45.0, 48.0),
    ):
        row = report_tables.row(text, heading, label)
        assert row["Dev"] == number(dev)
        assert row["Dev, inputs shuffled"] == number(1.25 * dev, change=(1.25 * dev - dev) / dev)
        assert row["Test"] == number(test)
        assert row["Test, inputs shuffled"] == number(1.1 * test, change=(1.1 * test - test) / test)


def test_table2_compares_bleu_only_from_a_baseline_of_one(protocol, tmp_path):
    text = _write(protocol, tmp_path, bleu=(2.0, 2.5, 3.0))
    bleu = report_tables.row(text, "## Table 2", "BLEU test")
    assert bleu.cells(*OURS) == _changes(2.0, 2.5, 3.0)
    # The paper's changes recomputed from its values: (2.25 - 1.31) / 1.31 = +71.8 %
    # (the paper prints +71.7 %).
    assert bleu.cells(*PAPER) == _changes(1.31, 1.69, 2.25)
    assert report_tables.says(report_tables.section(text, "## Table 2"), "below 1", "not findings")
    real = report_tables.row(text, "## Table 2", "speaker accuracy test, real responses")
    assert real.cells(*OURS) == [percent(0.7)] * 3  # speaker_accuracy_ceiling["test"]
    assert real.cells(*PAPER) == [None] * 3  # the paper does not measure it
    assert "not a finding" not in report_tables.finding(text, "MTASK-M", "BLEU").line

    text = _write(protocol, tmp_path, bleu=(0.5, 0.6, 0.8))
    bleu = report_tables.row(text, "## Table 2", "BLEU test")
    assert bleu.cells(*OURS) == [number(0.5), number(0.6), number(0.8)]  # no changes
    for system in ("MTASK-S", "MTASK-M"):
        assert "not a finding" in report_tables.finding(text, system, "BLEU").line


def test_table2_shows_degeneration_style_and_intervals_only_when_evaluated(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    # These metrics.json files predate the measures: no rows of dashes for them.
    labels = report_tables.table(text, "## Table 2", *OURS).labels
    for label in ("mean length (words)", "style score test", "a word three times in a row"):
        assert label not in labels
    accuracy = report_tables.row(text, "## Table 2", "speaker accuracy test")
    assert accuracy.cells(*OURS) == [percent(0.55), percent(0.60), percent(0.50)]
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
    table = report_tables.table(text, "## Table 2", *OURS)
    assert table.row("mean length (words)").cells(*OURS, *PAPER) == [6.5] * 3 + [None] * 3
    assert table.row("at the length cap").cells(*OURS) == [percent(0.125)] * 3
    assert table.row("a word three times in a row").cells(*OURS) == [percent(0.0)] * 3
    assert (
        table.row("style score test").cells(*OURS, *PAPER)
        == [
            percent(0.25, interval=(0.125, 0.3125)),
            percent(0.5, interval=(0.375, 0.5625)),
            percent(0.375, interval=(0.25, 0.4375)),
        ]
        + [None] * 3
    )
    assert table.row("style score test, real responses").cells(*OURS) == [percent(0.75)] * 3
    assert "style score dev" not in table.labels  # no system has it
    assert table.row("speaker accuracy test")["Baseline"] == percent(0.55, interval=(0.5, 0.625))
    style = report_tables.finding(text, "MTASK-S", "style score")
    assert style.verdict == "holds"
    assert style.numbers == [percent(0.5), percent(0.25)]


@pytest.mark.parametrize("mtask_m_test, verdict", [(48.0, "holds"), (65.0, "does not hold")])
def test_findings_follow_the_numbers(protocol, tmp_path, mtask_m_test, verdict):
    text = _write(protocol, tmp_path, mtask_m_test=mtask_m_test)
    baseline = report_tables.finding(text, "MTASK-M", "perplexity", "baseline")
    assert (baseline.verdict, baseline.numbers) == (verdict, [mtask_m_test, 60.0])
    # The control's test perplexity is 58.
    control = report_tables.finding(text, "MTASK-M", "perplexity", "control")
    assert (control.verdict, control.numbers) == (verdict, [mtask_m_test, 58.0])
    mtask_s = report_tables.finding(text, "MTASK-S", "perplexity", "baseline")
    assert (mtask_s.verdict, mtask_s.numbers) == ("holds", [45.0, 60.0])
    # MTASK-M's distinct-1 (1 %) is below the baseline's (2 %).
    distinct = report_tables.finding(text, "MTASK-M", "distinct-1")
    assert (distinct.verdict, distinct.numbers) == ("does not hold", [percent(0.01), percent(0.02)])


def test_control_and_scarcity_sections(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    control = report_tables.section(text, "## The control")
    # N: the control's steps (320), beside MTASK-M's stage-2 steps (300).
    assert report_tables.parse_cell(re.search(r"N = (\S+)", control)[1]) == 320
    assert report_tables.parse_cell(re.search(r"stage-2 steps: (\d+)", control)[1]) == 300
    table = report_tables.table(text, "## The control", "Perplexity test")
    # Best dev perplexity in training (best.json), then dev and test from eval/extra.
    assert table.row("Baseline").after("System") == [50.0, 50.0, 60.0]
    assert table.row("Control").after("System") == [
        49.0,
        number(49.0, change=(49 - 50) / 50),
        number(58.0, change=(58 - 60) / 60),
    ]
    assert table.row("MTASK-M").after("System") == [
        45.0,
        number(45.0, change=(45 - 50) / 50),
        number(48.0, change=(48 - 60) / 60),
    ]
    # Ross has 1000 monologue lines, Joey 5: 10 % is 100 + round(0.5) -> at least 1,
    # 1 % is 10 + 1. Best dev perplexity, then dev and test from eval/extra.
    scarcity = report_tables.table(text, "## Scarcity", "Monologue lines")
    assert {
        label: scarcity.row(label).after("Share of monologue") for label in scarcity.labels
    } == {
        "100 %": [1000 + 5, 45.0, 45.0, 48.0],
        "10 %": [100 + 1, 46.0, 46.0, 50.0],
        "1 %": [10 + 1, 48.5, 48.5, 55.0],
        "Baseline (none)": [0, 50.0, 50.0, 60.0],
    }


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
    # Fig. 4's table: each target's monologue lines (the summary's), and its test
    # perplexity: the system's test perplexity - 1 for Ross, + 1 for Joey.
    fig4 = report_tables.table(text, "## Fig. 4", "Monologue lines", *OURS)
    assert fig4.column("Monologue lines") == {"Ross Geller": 1000, "Joey Tribbiani": 5}
    assert fig4.row("Ross Geller").cells(*OURS) == _changes(60.0 - 1, 45.0 - 1, 48.0 - 1)
    assert fig4.row("Joey Tribbiani").cells(*OURS) == _changes(60.0 + 1, 45.0 + 1, 48.0 + 1)


def test_examples_are_short_and_matched_by_speaker_context_and_message(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    rows = report_tables.table(text, "## Examples", "Context", "Message", *OURS).all_rows()
    # Ross's first two short inputs, in the baseline's order; MTASK-S's file is
    # reversed, so matching by position would pair the wrong responses. The
    # responses read as text: "base one , i say" -> "Base one, I say".
    assert [[row.raw[c] for c in ("Context", "Message", *OURS)] for row in rows] == [
        ["we were on a break", "no we were not", "Base one, I say", "S one", "M one"],
        ["pivot", "pivot the couch", "Base two", "S two", "M two"],
    ]
    assert "Joey" not in report_tables.section(text, "## Examples")  # not an example target


def test_the_table_reader_holds_cells_to_their_printed_digits():
    cell = report_tables.parse_cell
    assert cell("45.00 (-25.0 %)") == number(45.0, change=-0.25)
    assert cell("58.00 (-3.3 %)") == number(58.0, change=(58 - 60) / 60)  # -3.33 % shown as -3.3
    assert cell("45.00 (-25.0 %)") != number(45.01, change=-0.25)
    assert cell("45.00 (-25.0 %)") != number(45.0, change=-0.251)
    assert cell("45.00 (-25.0 %)") != number(45.0)  # a change shown where none is expected
    assert cell("45.00") != number(45.0, change=-0.25)
    assert cell("43.11 % [40.02, 46.20]") == percent(0.4311, interval=(0.4002, 0.462))
    assert cell("43.11 % [40.02, 46.20]") != percent(0.4311, interval=(0.4002, 0.4621))
    assert cell("43.11 % [40.02, 46.20]") != percent(0.4311)
    assert cell("43.11 %") != number(0.4311)  # a fraction shown as a percentage
    assert cell("1,000") == 1000 and cell("1 min 40 s") == 100 and cell("0.50 s") == 0.5
    assert cell("–") is None and cell(report.NOT_RUN) is None
    assert cell("per target, below") == "per target, below"
    assert report_tables.parse_list("2.00 %, –, 1.00 % [0.50, 1.50]") == [
        percent(0.02),
        None,
        percent(0.01, interval=(0.005, 0.015)),
    ]
    assert report_tables.numbers("MTASK-M 1.00 % vs baseline 48.50, stage-2") == [
        percent(0.01),
        48.5,
    ]


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
    # mmi.json: λ 0.25 and γ -0.5 for all; dev BLEU before and after per system.
    for label, before, after in (
        ("Baseline", 1.2, 1.5),
        ("MTASK-S", 1.0, 1.1),
        ("MTASK-M", 0.9, 1.3),
    ):
        row = report_tables.row(text, "## MMI weights", label)
        assert row.cells("λ", "γ") == [0.25, -0.5]
        assert report_tables.numbers(row["Dev BLEU before → after"]) == [before, after]
        assert row["Dev inputs"] == 40


def test_versions_and_commands(protocol, tmp_path):
    text = _write(protocol, tmp_path)
    versions = report_tables.section(text, "## Versions and commands")
    assert report_tables.says(versions, "python 3.12.1", "tensorflow 2.21.0", "keras 3.12.0")
    steps = report_tables.table(text, "## Versions and commands", "Step")
    assert steps.labels == ["`prepare`", "`train_baseline`"]
    commits = lambda row: re.findall(r"`(\w+)`", row["Commit"])
    assert steps.row("`prepare`")["Wall time"] == 12.5
    assert commits(steps.row("`prepare`")) == ["abc1234"]
    assert steps.row("`train_baseline`")["Wall time"] == 100.0
    assert commits(steps.row("`train_baseline`")) == ["abc1233", "abc1234"]  # in order
    # The command as a shell runs it: the argument with a space quoted.
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
        assert report.NOT_RUN in report_tables.section(text, heading), heading
    # best.json without steps_run.json: its checkpoint, no steps.
    baseline = report_tables.row(text, "## Data and training", "`baseline`")
    assert baseline.cells("Stage-1 steps", "Stage-2 steps") == [None, None]
    assert report_tables.numbers(baseline["Best dev perplexity"]) == [50.0, 200]
    assert report_tables.row(text, "## MMI weights", "Baseline").raw["λ"] == report.NOT_RUN
    verdicts = [f.verdict for f in report_tables.findings(text)]
    assert verdicts == ["not measured"] * 13
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
