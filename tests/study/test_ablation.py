"""The study's ablation: [[ablation]] configurations and [[decoding]]s, their steps and table."""

import json

import pytest

from mtask_tf.study import artifacts
from mtask_tf.study import protocol as protocol_lib
from mtask_tf.study import report
from mtask_tf.study import runner as runner_lib
from mtask_tf.study import steps as steps_lib
from tests.study import report_tables
from tests.study import test_report
from tests.study.report_tables import number
from tests.study.report_tables import percent

ABLATION = """
[train]
size_flags = "configs/demo.flags"
flags = ["--mixed_precision=auto", "--flagfile=configs/attention.flags"]
label = "+ dropout + attention"
[[ablation]]
name = "paper"
label = "the paper's model"
flags = ["--mixed_precision=auto"]
decoded = true
[[ablation]]
name = "dropout"
flags = ["--mixed_precision=auto", "--dropout=0.2"]
[[decoding]]
name = "guards"
label = "beam, length penalty, no repeated bigram"
flags = ["--length_penalty=1.0", "--no_repeat_ngram_size=2"]
"""


def _protocol(tmp_path, train=ABLATION):
    path = tmp_path / "tiny.toml"
    path.write_text(
        '[data]\nturns = ["t.tsv"]\ntargets = ["Ross Geller", "Joey Tribbiani"]\n'
        'split_column = "season"\ndev_values = ["9"]\ntest_values = ["10"]\n' + train
    )
    return protocol_lib.load(path)


def test_configurations_and_decodings_load_and_name_their_errors(tmp_path):
    protocol = _protocol(tmp_path)
    assert [c.name for c in protocol.ablation] == ["paper", "dropout"]
    assert protocol.ablation[0].decoded and not protocol.ablation[1].decoded
    assert protocol.decodings[0].flags == ("--length_penalty=1.0", "--no_repeat_ngram_size=2")
    for text, error in (
        ('[train]\nsize_flags = "f"\n[[ablation]]\nname = "Paper"\nflags = []\n', "lower-case"),
        ('[train]\nsize_flags = "f"\n[[ablation]]\nname = "main"\nflags = []\n', "not 'main'"),
        (
            '[train]\nsize_flags = "f"\n[[decoding]]\nname = "a"\nflags = []\n'
            '[[decoding]]\nname = "a"\nflags = []\n',
            "'a' is used twice",
        ),
        (
            '[train]\nsize_flags = "f"\n[[ablation]]\nname = "a"\n',
            r"\[ablation 1\] needs the field 'flags'",
        ),
        (
            '[train]\nsize_flags = "f"\n[[ablation]]\nname = "a"\nflags = []\ndecoded = "yes"\n',
            r"\[ablation 1\] decoded: expected bool",
        ),
        ('[train]\nsize_flags = "f"\nablation = "x"\n', "unknown field"),
        ('[train]\nsize_flags = "f"\n[ablation]\nname = "a"\n', "array of tables"),
    ):
        with pytest.raises(protocol_lib.ProtocolError, match=error):
            _protocol(tmp_path, text)


def _by_name(tmp_path):
    steps = steps_lib.build(_protocol(tmp_path), tmp_path / "w", python="python")
    runner_lib.Runner(steps, tmp_path / "w", print)  # every `after` names a step
    return {step.name: step for step in steps}


def test_each_configuration_trains_every_system_with_its_own_flags(tmp_path):
    steps, work = _by_name(tmp_path), tmp_path / "w"
    for configuration in ("paper", "dropout"):
        for system in ("baseline", "persona", "mtask_m", "control", "mtask_s"):
            command = steps[f"{configuration}.train_{system}"].command()
            assert f"--model_dir={work}/ablation/{configuration}/models/{system}" in command
            assert "--flagfile=configs/attention.flags" not in command
        assert f"{configuration}.train_reverse" not in steps  # one reverse model for all
    assert "--dropout=0.2" in steps["dropout.train_persona"].command()
    assert "--dropout=0.2" not in steps["paper.train_persona"].command()
    assert "--flagfile=configs/attention.flags" in steps["train_persona"].command()
    mtask_m = steps["paper.train_mtask_m"]
    assert f"--init_from={work}/ablation/paper/models/persona" in mtask_m.command()
    assert mtask_m.after == ("paper.train_persona",)
    assert set(steps["paper.train_control"].after) == {
        "paper.train_baseline",
        "paper.train_mtask_m",
    }
    extra = " ".join(steps["dropout.evaluate_extra"].command())
    assert "--nodecode" in extra and f"mtask_s={work}/ablation/dropout/models/mtask_s" in extra


def test_decoded_configurations_tune_and_evaluate_test_with_every_decoding(tmp_path):
    steps, work = _by_name(tmp_path), tmp_path / "w"
    assert not [name for name in steps if name.startswith("dropout.tune")]  # not `decoded`
    assert "paper.evaluate_main_dev" not in steps  # test only
    tune = steps["paper.tune_mtask_m_guards"].command()
    assert "--length_penalty=1.0" in tune and "--no_repeat_ngram_size=2" in tune
    assert f"--reverse_model_dir={work}/models/reverse" in tune
    assert f"--output={work}/ablation/paper/models/mtask_m/mmi.guards.json" in tune
    evaluate = steps["paper.evaluate_guards_test"].command()
    assert f"--output_dir={work}/ablation/paper/eval/guards_test" in evaluate
    assert (
        f"mtask_m={work}/ablation/paper/models/mtask_m:{work}/ablation/paper/models/mtask_m/mmi.guards.json"
        in ",".join(evaluate)
    )
    assert "--length_penalty=1.0" in evaluate
    assert "--length_penalty=1.0" not in steps["paper.evaluate_main_test"].command()
    main = steps["evaluate_guards_test"].command()  # the main configuration's
    assert f"--output_dir={work}/eval/guards_test" in main
    assert set(steps["evaluate_guards_test"].after) == {
        f"tune_{s}_guards" for s in steps_lib.MAIN_SYSTEMS
    }


def test_a_protocol_without_ablation_has_no_ablation_section(tmp_path):
    text = test_report._write(test_report.protocol.__wrapped__(tmp_path), tmp_path)
    assert "## The ablation" not in text


def _write_json(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


SYSTEMS = ("Baseline", "MTASK-S", "MTASK-M")


def _decoded(distinct):
    system = {"distinct_responses": distinct, "bleu": {"test": 0.5}, "length_cap_share": 0.5}
    system["speaker_accuracy_balanced"] = {"test": 0.2}
    system["speaker_accuracy_balanced_interval"] = {"test": [0.15, 0.25]}
    return {name: system for name in ("baseline", "mtask_s", "mtask_m")}


def test_the_ablation_tables_read_each_configurations_own_numbers(tmp_path):
    protocol = _protocol(tmp_path)
    work = test_report.make_work_dir(tmp_path / "work")
    paper = work / "ablation" / "paper"
    _write_json(
        paper / "eval" / "extra" / "metrics.json",
        {
            s: test_report._metrics(70.0, 80.0)
            for s in ("baseline", "mtask_s", "mtask_m", "control")
        },
    )
    _write_json(paper / "eval" / "main_test" / "metrics.json", _decoded(0.008))
    _write_json(paper / "eval" / "guards_test" / "metrics.json", _decoded(0.6))
    text = report.write_report(protocol, work, tmp_path / "r.md", test_report.RUN_INFO)
    assert text.index("## The ablation") < text.index("## Table 1")
    perplexity = report_tables.table(text, "## The ablation", "Control")
    assert perplexity.labels == ["+ dropout + attention", "the paper's model", "dropout"]
    rises = [f"{label}: inputs shuffled" for label in SYSTEMS]
    # Main: baseline 60 on test, MTASK-S 45, MTASK-M 48, the control 58 from
    # eval/extra; every test perplexity rises a tenth with the inputs shuffled
    # (test_report._metrics), as a fraction of the same system's.
    main = perplexity.row("+ dropout + attention")
    assert main.cells(*SYSTEMS, "Control") == [
        number(60.0),
        number(45.0, change=(45 - 60) / 60),
        number(48.0, change=(48 - 60) / 60),
        number(58.0, change=(58 - 60) / 60),
    ]
    assert main.cells(*rises) == [percent(0.1)] * 3
    # The paper's configuration: 80 on test for every system, its own baseline's.
    paper_row = perplexity.row("the paper's model")
    assert paper_row.cells(*SYSTEMS, "Control") == [number(80.0)] + [number(80.0, change=0.0)] * 3
    assert paper_row.cells(*rises) == [percent(0.1)] * 3
    assert perplexity.row("dropout").after("Configuration") == [None] * 7  # not evaluated yet

    decoded = report_tables.table(text, "## The ablation", "Decoding")
    beam, guards = "beam 50, MMI ([decode])", "beam, length penalty, no repeated bigram"
    # 3 systems x 2 decodings of the decoded configuration, each from its own file.
    assert len(decoded.all_rows("the paper's model")) == 3 * 2
    assert not decoded.all_rows("dropout")  # not `decoded`
    for system in SYSTEMS:
        for decoding, distinct in ((beam, 0.008), (guards, 0.6)):
            row = decoded.row("the paper's model", decoding, system)
            assert row["BLEU"] == 0.5
            assert row["distinct responses"] == percent(distinct)
            assert row["at the length cap"] == percent(0.5)
            assert row["speaker accuracy, balanced"] == percent(0.2, interval=(0.15, 0.25))
            assert row["style score"] is None
    configurations = artifacts.configurations(protocol, work)
    assert [c.name for c in configurations] == ["main", "paper", "dropout"]
    assert configurations[2].decoded == {}


def test_the_targets_are_checked_on_the_main_configuration(tmp_path):
    protocol = _protocol(tmp_path)
    work = test_report.make_work_dir(tmp_path / "work")
    paper = work / "ablation" / "paper" / "eval" / "extra" / "metrics.json"
    metrics = {s: test_report._metrics(70.0, 80.0) for s in ("baseline", "mtask_m")}
    metrics["mtask_m"]["perplexity_shuffled_inputs"]["test"] = 84.0
    _write_json(paper, metrics)
    text = report.write_report(protocol, work, tmp_path / "r.md", test_report.RUN_INFO)
    targets = report_tables.table(text, "## The ablation", "Target", "Measured", "Verdict")
    beam, guards = "beam 50, MMI ([decode])", "beam, length penalty, no repeated bigram"
    # MTASK-M's rise with the inputs shuffled: a tenth here (test_report._metrics),
    # (84 - 80) / 80 in the paper's configuration; not 2.5 times as much.
    rise = targets.find("shuffled")
    assert report_tables.numbers(rise["Measured"]) == [percent(0.1), percent((84 - 80) / 80)]
    assert "paper" in rise["Measured"]
    assert rise["Verdict"] == "**not met**"
    # Test perplexities MTASK-M / MTASK-S / baseline / control (make_work_dir).
    effect = targets.find("perplexity")
    assert report_tables.parse_list(effect["Measured"]) == [48.0, 45.0, 60.0, 58.0]
    assert effect["Verdict"] == "met"
    # make_work_dir: distinct responses 50 % for every system (at least 50 %: met),
    # distinct-1 2 %, 3 % and 1 % (at least 1.7 %: MTASK-M's is not).
    distinct = targets.find("distinct responses", beam)
    assert report_tables.parse_list(distinct["Measured"]) == [percent(0.5)] * 3
    assert distinct["Verdict"] == "met"
    distinct_1 = targets.find("distinct-1", beam)
    assert report_tables.parse_list(distinct_1["Measured"]) == [
        percent(0.02),
        percent(0.03),
        percent(0.01),
    ]
    assert distinct_1["Verdict"] == "**not met**"
    # No measure, no verdict.
    for row in (targets.find("length cap", beam), targets.find("distinct-1", guards)):
        assert report_tables.parse_list(row["Measured"]) == [None] * 3
        assert row["Verdict"] is None
