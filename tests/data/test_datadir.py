"""Loading a data directory: splits, target narrowing, and the errors that name the file."""

import pytest

from mtask_tf.data import datadir
from mtask_tf.data import records
from tests.conftest import make_data_dir


@pytest.fixture()
def data(tmp_path):
    make_data_dir(tmp_path / "data", train=30, dev=10, monologue=12)
    return tmp_path / "data"


def test_every_monologue_speaker_is_a_target_unless_targets_are_given(data):
    loaded = datadir.load(data)
    assert loaded.targets == sorted({m.speaker for m in loaded.monologue}) == ["HAMLET", "IAGO"]
    assert [r.rows for r in loaded.reports] == [30, 12, 10, 10]
    one = datadir.load(data, targets=["IAGO"])
    assert {m.speaker for m in one.monologue} == {t.speaker for t in one.dev} == {"IAGO"}
    # The vocabulary's text keeps every target's monologue; the speakers include train's.
    assert len(one.all_monologue) == 12 and "IAGO" in one.speakers()
    assert one.speakers() == sorted({t.speaker for t in one.train} | {"IAGO"})


def test_for_target_narrows_monologue_dev_and_test(data):
    hamlet = datadir.load(data).for_target("HAMLET")
    assert hamlet.targets == ["HAMLET"]
    assert {t.speaker for t in hamlet.dev + hamlet.test} == {"HAMLET"}
    assert {m.speaker for m in hamlet.monologue} == {"HAMLET"}


def test_only_the_asked_splits_are_read(data):
    (data / "test.tsv").unlink()
    loaded = datadir.load(data, splits=("train", "monologue", "dev"))
    assert loaded.test == [] and len(loaded.reports) == 3


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.rename(d.parent / "elsewhere"), r"data:? data directory not found"),
        (lambda d: (d / "dev.tsv").unlink(), r"dev.tsv"),
        (
            lambda d: (d / "monologue.tsv").write_text("speaker\ttext\n"),
            r"monologue.tsv: no target speakers",
        ),
        (
            lambda d: (d / "dev.tsv").write_text("speaker\tcontext\tmessage\tresponse\n"),
            r"dev.tsv: target speaker\(s\) 'HAMLET', 'IAGO' have no dev triples",
        ),
    ],
)
def test_unusable_directories_name_the_file_and_problem(data, change, message):
    change(data)
    with pytest.raises(records.DataError, match=message):
        datadir.load(data)


def test_an_unknown_target_lists_the_known_ones(data):
    with pytest.raises(records.DataError, match=r"'OTHELLO' have no monologue rows.*HAMLET, IAGO"):
        datadir.load(data, targets=["OTHELLO"])
