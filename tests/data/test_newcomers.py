"""Newcomers: speakers kept out of training, to enrol later (`prepare --newcomers`)."""

import json

import pytest

from mtask_tf.data import corpora
from mtask_tf.data import preparation
from mtask_tf.data import records
from mtask_tf.data.records import DataError
from tests.data.test_monologue_source import _logs
from tests.data.test_preparation import TARGETS
from tests.data.test_preparation import _corpus
from tests.data.test_preparation import _origin
from tests.data.test_preparation import _read_dir
from tests.data.test_prepare_cli import _prepare
from tests.data.test_prepare_cli import _turn_file

# In _corpus(), Z speaks in every fourth conversation (season 4) and in the
# general one of season 1; never as a target.
LOGS = [("T1", "log of t1"), ("T2", "log of t2"), ("Z", "log of z"), ("Z", "more of z")]


def _source(tmp_path):
    return corpora.read_monologue_files([_logs(tmp_path / "logs.tsv.gz", LOGS)])


def _newcomers(path):
    read = lambda name: records.read_triples(path / "newcomers" / f"{name}.tsv")[0]
    monologue = records.read_monologue(path / "newcomers" / "monologue.tsv")[0]
    return read("dev"), read("test"), monologue


def _z_conversations(corpus):
    return {t.conversation for t in corpus.turns if t.speaker == "Z"}


def test_every_conversation_of_a_newcomer_is_held_out_and_theirs_go_to_newcomers(tmp_path):
    corpus, out = _corpus(), tmp_path / "out"
    summary = preparation.prepare(corpus, TARGETS, out, source=_source(tmp_path), newcomers=["Z"])
    data, (dev, test, monologue) = _read_dir(out), _newcomers(out)
    # Nothing of theirs reaches the files training reads.
    assert data["train"]
    assert not {_origin(t.response) for t in data["train"]} & _z_conversations(corpus)
    assert not any("Z" in (t.speaker, m.speaker) for t in data["train"] for m in data["monologue"])
    # All their triples are in newcomers/, split into dev and test; their texts too.
    theirs = [t for run in preparation.conversation_runs(corpus.turns) for t in run[2:]]
    assert len(dev) + len(test) == sum(t.speaker == "Z" for t in theirs) and dev and test
    assert {t.speaker for t in dev + test} == {"Z"}
    assert not {_origin(t.response) for t in dev} & {_origin(t.response) for t in test}
    assert [(m.speaker, m.text) for m in monologue] == [("Z", "log of z"), ("Z", "more of z")]
    assert summary["newcomers"]["Z"]["dev"] == len(dev)
    assert summary["newcomers"]["Z"]["monologue"] == 2
    # The targets' dev and test hold the targets' triples only.
    assert {t.speaker for t in data["dev"] + data["test"]} == set(TARGETS)


def test_with_a_split_column_a_newcomers_whole_groups_are_held_out(tmp_path):
    corpus = _corpus()
    config = preparation.SplitConfig(column="season")
    data = preparation.split_corpus(corpus, TARGETS, config, _source(tmp_path), ["Z"])
    z_seasons = {c[0] for c in _z_conversations(corpus)}
    assert z_seasons == {"1", "4"}
    assert data.train and not {_origin(t.response)[0] for t in data.train} & z_seasons


def test_newcomers_need_texts_of_their_own_and_must_be_in_the_corpus(tmp_path):
    corpus = _corpus()
    logs = _source(tmp_path)
    prepare = lambda newcomers, source=logs: preparation.prepare(
        corpus, TARGETS, tmp_path / "out", source=source, newcomers=newcomers
    )
    with pytest.raises(DataError, match="give --monologue files with their texts"):
        prepare(["Z"], None)
    with pytest.raises(DataError, match=r"\['T1'\] given as targets and as newcomers"):
        prepare(["T1"])
    with pytest.raises(DataError, match=r"newcomer 'z' has no turns .*close matches: 'Z'"):
        prepare(["z"])
    targets_only = corpora.read_monologue_files([_logs(tmp_path / "t.tsv.gz", LOGS[:2])])
    with pytest.raises(DataError, match=r"newcomer 'Z' has no text in the --monologue files"):
        prepare(["Z"], targets_only)
    assert not (tmp_path / "out").exists()


def test_the_cli_writes_the_newcomers_files_and_says_so(tmp_path):
    turns = _turn_file(tmp_path / "turns.tsv")
    with turns.open("a") as f:  # Dee speaks in four more scenes only
        for scene in range(10, 14):
            for turn, speaker in enumerate(["Ann", "Bob", "Dee", "Ann", "Dee"]):
                f.write(f"show\t1\t1\t{scene}\t{turn}\t{speaker}\tscene {scene} line {turn}\n")
    logs = _logs(tmp_path / "logs.tsv.gz", [("Cy", "log of cy"), ("Dee", "a log")])
    result = _prepare(
        "--corpus=turns",
        f"--turns={turns}",
        "--targets=Cy",
        f"--monologue={logs}",
        "--newcomers=Dee",
        "--output_dir=out",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["newcomers"]["Dee"] == {"conversations": 4, "dev": 4, "test": 4, "monologue": 1}
    assert "Newcomer Dee: kept out of training (4 more conversations held out); 1 texts, " in (
        result.stdout
    )
    assert summary["arguments"]["newcomers"] == ["Dee"]
    assert (tmp_path / "out" / "newcomers" / "monologue.tsv").read_text().endswith("a log\n")
    train = (tmp_path / "out" / "train.tsv").read_text()
    assert "Dee" not in train and all(f"scene {s} " not in train for s in range(10, 14))
