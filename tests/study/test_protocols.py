"""The protocol files under configs/study/ load, and their data steps say what they promise."""

import pathlib

import pytest

from mtask_tf.study import protocol as protocol_lib
from mtask_tf.study import steps as steps_lib


@pytest.mark.parametrize("path", sorted(pathlib.Path("configs/study").glob("*.toml")))
def test_every_protocol_file_loads(path):
    protocol = protocol_lib.load(path)
    assert protocol.data.targets and steps_lib.build(protocol, "runs/x", python="python")


def test_startrek_holds_out_whole_episodes_and_reads_the_logs_as_monologue():
    protocol = protocol_lib.load("configs/study/startrek.toml")
    prepare = steps_lib.build(protocol, "runs/x", python="python")[0].command()
    assert "--split=hash" in prepare and "--split_column=show,episode" in prepare
    assert "--monologue=../shared/data/conversations/startrek_logs.tsv.gz" in prepare
    assert "--skip_bad_lines" in prepare and len(protocol.data.turns) == 7
    assert "--newcomers=ds9:SISKO" in prepare  # enrolled later from his logs alone
    assert not [a for a in prepare if a.startswith(("--dev_values", "--test_values"))]


def test_friends_large_is_friends_with_more_general_conversation():
    friends = protocol_lib.load("configs/study/friends.toml")
    large = protocol_lib.load("configs/study/friends_large.toml")
    assert set(friends.data.turns) < set(large.data.turns) and len(large.data.turns) == 7
    for field in ("targets", "split", "split_column", "dev_values", "test_values", "monologue"):
        assert getattr(large.data, field) == getattr(friends.data, field), field
    assert large.train.flags == friends.train.flags and large.train.label == friends.train.label
    assert large.train.size_flags == friends.train.size_flags
    assert large.train.stage2_flags == friends.train.stage2_flags
    assert large.decode == friends.decode and large.decodings == friends.decodings


def test_the_split_fields_are_checked(tmp_path):
    path = tmp_path / "p.toml"
    head = '[data]\nturns = ["t"]\ntargets = ["A"]\nsplit_column = "episode"\n'
    tail = '[train]\nsize_flags = "f"\n'
    for data, error in (
        ('split = "hash"\ndev_values = ["1"]\ntest_values = ["2"]\n', "heldout_fraction instead"),
        ("", 'split "column" needs dev_values and test_values'),
        ('split = "random"\n', 'split must be "column" or "hash"'),
        ('split = "hash"\nheldout_fraction = 1.5\n', r"heldout_fraction must lie in \(0, 1\)"),
    ):
        path.write_text(head + data + tail)
        with pytest.raises(protocol_lib.ProtocolError, match=error):
            protocol_lib.load(path)


def test_each_newcomer_is_enrolled_both_ways_into_mtask_m_then_measured_on_test():
    protocol = protocol_lib.load("configs/study/startrek.toml")
    steps = {s.name: s for s in steps_lib.build(protocol, "runs/x", python="python")}
    newcomers = "runs/x/data/newcomers"
    for adapt in ("speaker", "decoder"):
        step = steps[f"enrol_ds9_SISKO_{adapt}"]
        command = step.command()
        assert step.after == ("train_mtask_m",) and f"--adapt={adapt}" in command
        assert "--model_dir=runs/x/models/mtask_m" in command and "--speaker=ds9:SISKO" in command
        assert f"--text={newcomers}/monologue.tsv" in command
        assert f"--dev={newcomers}/dev.tsv" in command
        assert ("--data_dir=runs/x/data" in command) == (adapt == "decoder")
    evaluate = steps["evaluate_newcomers"].command()
    assert f"--data={newcomers}/test.tsv" in evaluate and "--nodecode" in evaluate
    assert (
        "--systems=baseline=runs/x/models/baseline,"
        "ds9_SISKO_speaker=runs/x/models/enrolled/ds9_SISKO_speaker,"
        "ds9_SISKO_decoder=runs/x/models/enrolled/ds9_SISKO_decoder"
    ) in evaluate
    friends = steps_lib.build(protocol_lib.load("configs/study/friends.toml"), "runs/x")
    assert not [s for s in friends if "enrol" in s.name or "newcomers" in s.name]


def test_stage_one_and_stage_two_wait_as_long_as_the_protocol_says():
    protocol = protocol_lib.load("configs/study/friends.toml")
    assert (protocol.train.patience, protocol.train.stage2_wait) == (4, 2)
    steps = {s.name: s for s in steps_lib.build(protocol, "runs/x", python="python")}
    patience = lambda name: [a for a in steps[name].command() if a.startswith("--patience")]
    assert patience("train_baseline") == patience("train_persona") == ["--patience=4"]
    assert patience("train_mtask_m") == patience("paper.train_mtask_s") == ["--patience=2"]
    assert patience("train_control") == ["--patience=1000000"]
