"""The study's ablation: [[ablation]] configurations and [[decoding]]s, their steps and table."""

import json

import pytest

from mtask_tf.study import artifacts
from mtask_tf.study import protocol as protocol_lib
from mtask_tf.study import report
from mtask_tf.study import runner as runner_lib
from mtask_tf.study import steps as steps_lib
from tests.study import test_report

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
    section = test_report._section(text, "## The ablation")
    assert text.index("## The ablation") < text.index("## Table 1")
    # Main: baseline 60 on test, MTASK-M 48 (-20 %), the control 58 from eval/extra;
    # every test perplexity rises 10 % with the inputs shuffled (test_report._metrics).
    rows = lambda label: [line for line in section.splitlines() if line.startswith(f"| {label} |")]
    main = rows("+ dropout + attention")[0]  # the perplexity table comes first
    assert "| 60.00 | 45.00 (-25.0 %) | 48.00 (-20.0 %) | 58.00 (-3.3 %) |" in main
    assert main.endswith("| +10.0 % | +10.0 % | +10.0 % |")
    assert "| 80.00 | 80.00 (+0.0 %) |" in rows("the paper's model")[0]
    assert rows("dropout")[0].count("–") == 7  # trained, not evaluated yet
    decoded = rows("the paper's model")
    assert len(decoded) == 1 + 3 * 2  # perplexity row, then 3 systems x 2 decodings
    guards = [line for line in decoded if "no repeated bigram | MTASK-M |" in line]
    assert guards and "| 60.00 % |" in guards[0] and "20.00 % [15.00, 25.00]" in guards[0]
    assert any("beam 50, MMI ([decode]) | Baseline | 0.50 | 0.80 % |" in line for line in decoded)
    configurations = artifacts.configurations(protocol, work)
    assert [c.name for c in configurations] == ["main", "paper", "dropout"]
    assert configurations[2].decoded == {}


def test_the_targets_are_checked_on_the_main_configuration(tmp_path):
    protocol = _protocol(tmp_path)
    work = test_report.make_work_dir(tmp_path / "work")
    paper = work / "ablation" / "paper" / "eval" / "extra" / "metrics.json"
    _write_json(paper, {s: test_report._metrics(70.0, 80.0) for s in ("baseline", "mtask_m")})
    text = report.write_report(protocol, work, tmp_path / "r.md", test_report.RUN_INFO)
    rows = {
        line.split(" | ")[0][2:]: line
        for line in test_report._section(text, "## The ablation").splitlines()
        if line.startswith("| ") and line.endswith(" |")
    }
    beam = "beam 50, MMI ([decode])"
    # make_work_dir: MTASK-M's and the paper's rises are both +10 %; distinct
    # responses 50 % for every system, distinct-1 2 %, 3 % and 1 %.
    assert rows[
        "MTASK-M's rise with shuffled inputs at least 2.5x the reference configuration's"
    ].endswith("| +10.0 % vs +10.0 % (paper) | **not met** |")
    assert rows[
        "MTASK-M and MTASK-S below the baseline and the control (test perplexity)"
    ].endswith("| 48.00 / 45.00 / 60.00 / 58.00 | met |")
    assert rows[f"distinct responses at least 50 %: {beam}"].endswith(
        "| 50.00 %, 50.00 %, 50.00 % | met |"
    )
    assert rows[f"distinct-1 at least 1.7 %: {beam}"].endswith(
        "| 2.00 %, 3.00 %, 1.00 % | **not met** |"
    )
    assert rows[f"at most 5 % at the length cap: {beam}"].endswith("| –, –, – | – |")
    guards = "beam, length penalty, no repeated bigram"
    assert rows[f"distinct-1 at least 1.7 %: {guards}"].endswith("| –, –, – | – |")
