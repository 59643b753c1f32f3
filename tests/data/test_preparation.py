"""Triples, held-out splits and the data directory."""

import json

import pytest

from mtask_tf.data import preparation
from mtask_tf.data import records
from mtask_tf.data.corpora import TurnCorpus
from mtask_tf.data.preparation import SplitConfig
from mtask_tf.data.records import DataError
from mtask_tf.data.records import ReadReport
from mtask_tf.data.records import Triple
from mtask_tf.data.records import Turn

TARGETS = ("T1", "T2")


def _turns(conversation, speakers):
    """Turns whose text says where they come from: 'season/scene #i'."""
    tag = "/".join(conversation)
    return [Turn(conversation, s, f"{tag} #{i}") for i, s in enumerate(speakers)]


def _corpus(n=40, skipped=()):
    """`n` conversations over 4 seasons in which both targets speak."""
    turns = []
    for k in range(n):
        speakers = ["X", "T1", "Y", "T2", "X", "T1", "Z"][: 4 + k % 4]
        turns += _turns((str(1 + k % 4), str(k)), speakers)
    turns += _turns(("1", "general"), ["X", "Y", "Z", "X"])
    report = ReadReport("turns.tsv", len(turns), list(skipped))
    return TurnCorpus(turns, ("season", "scene"), [report])


def _origin(text):
    return tuple(text.split(" #")[0].split("/"))


def _read_dir(path):
    read = {
        name: records.read_triples(path / f"{name}.tsv")[0] for name in ("train", "dev", "test")
    }
    read["monologue"] = records.read_monologue(path / "monologue.tsv")[0]
    return read


def test_triples_are_consecutive_turns_of_one_conversation():
    turns = (
        _turns(("a",), ["P", "Q", "R", "S"])
        + _turns(("b",), ["P", "Q"])
        + _turns(("a",), ["S", "R", "Q"])
    )
    runs = preparation.conversation_runs(turns)
    assert [len(r) for r in runs] == [4, 2, 3]
    triples = [t for run in runs for t in preparation.make_triples(run)]
    assert triples == [
        Triple("R", "a #0", "a #1", "a #2"),
        Triple("S", "a #1", "a #2", "a #3"),
        Triple("Q", "a #0", "a #1", "a #2"),
    ]


def test_held_out_conversations_never_reach_train_or_monologue(tmp_path):
    corpus = _corpus()
    summary = preparation.prepare(corpus, TARGETS, tmp_path)
    data = _read_dir(tmp_path)
    dev_ids = {_origin(t.response) for t in data["dev"]}
    test_ids = {_origin(t.response) for t in data["test"]}
    heldout = dev_ids | test_ids
    assert dev_ids and test_ids and not dev_ids & test_ids
    for t in data["train"]:
        assert {_origin(t.context or t.message), _origin(t.response)}.isdisjoint(heldout)
        assert t.speaker not in TARGETS
    for m in data["monologue"]:
        assert _origin(m.text) not in heldout and m.speaker in TARGETS
    for t in data["dev"] + data["test"]:
        assert t.speaker in TARGETS
        assert _origin(t.context) == _origin(t.message) == _origin(t.response)
    # 20 % of the 40 conversations of each target, half of them for test.
    for target in TARGETS:
        assert summary["target_conversations"][target] == {
            "total": 40,
            "heldout": 8,
            "dev": 4,
            "test": 4,
        }


def test_targets_keep_their_share_when_speaking_apart():
    turns = []
    for k in range(10):
        turns += _turns(("a", str(k)), ["X", "Y", "T1"])
        turns += _turns(("b", str(k)), ["X", "Y", "T2", "X", "T2"])
    corpus = TurnCorpus(turns, ("show", "scene"), [])
    config = SplitConfig(heldout_fraction=0.3, test_fraction=0.5)
    heldout, test = preparation.heldout_conversations(
        corpus, TARGETS, config, preparation._target_conversations(turns, TARGETS)
    )
    assert sorted(c[0] for c in heldout) == ["a"] * 3 + ["b"] * 3
    assert sorted(c[0] for c in test) == ["a", "b"]  # floor(0.5 * 3) each
    assert test <= heldout


def test_output_is_byte_identical_for_a_seed(tmp_path):
    corpus = _corpus()
    for name in ("one", "two"):
        preparation.prepare(corpus, TARGETS, tmp_path / name, arguments={"seed": 0})
    preparation.prepare(corpus, TARGETS, tmp_path / "seed7", SplitConfig(seed=7))
    for name in preparation.DATA_FILES:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), (
            name
        )
    assert (tmp_path / "one" / "dev.tsv").read_bytes() != (
        tmp_path / "seed7" / "dev.tsv"
    ).read_bytes()


def test_column_rule_holds_out_the_chosen_values(tmp_path):
    config = SplitConfig(rule="column", column="season", heldout_values=("3", "4"))
    preparation.prepare(_corpus(), TARGETS, tmp_path, config)
    data = _read_dir(tmp_path)
    assert {_origin(t.response)[0] for t in data["dev"] + data["test"]} == {"3", "4"}
    kept = [_origin(t.response)[0] for t in data["train"]]
    kept += [_origin(m.text)[0] for m in data["monologue"]]
    assert set(kept) == {"1", "2"}


def test_dev_and_test_values_choose_the_split_by_value_over_several_columns(tmp_path):
    # Values of (season, scene) joined by "/": three scenes of season 3 go to dev,
    # two of season 4 to test.
    corpus = _corpus()
    dev = tuple(f"3/{k}" for k in (2, 10, 18))
    test = tuple(f"4/{k}" for k in (3, 11))
    config = SplitConfig(rule="column", column="season,scene", dev_values=dev, test_values=test)
    summary = preparation.prepare(corpus, TARGETS, tmp_path, config)
    data = _read_dir(tmp_path)
    assert {"/".join(_origin(t.response)) for t in data["dev"]} == set(dev)
    assert {"/".join(_origin(t.response)) for t in data["test"]} == set(test)
    held = set(dev) | set(test)
    assert not {"/".join(_origin(t.response)) for t in data["train"]} & held
    assert not {"/".join(_origin(m.text)) for m in data["monologue"]} & held
    assert summary["split"]["dev_values"] == list(dev)
    with pytest.raises(
        DataError,
        match=r"--test_values 4/99 never occur in column "
        r"'season,scene'",
    ):
        preparation.split_corpus(
            corpus,
            TARGETS,
            SplitConfig(
                rule="column", column="season,scene", dev_values=dev, test_values=("4/99",)
            ),
        )


def test_column_rule_errors_name_the_flag():
    with pytest.raises(DataError, match="choose --split_column from: season, scene"):
        preparation.split_corpus(
            _corpus(), TARGETS, SplitConfig(rule="column", column="act", heldout_values=("1",))
        )
    with pytest.raises(
        DataError,
        match=r"--heldout_values 9 never occur in "
        r"column 'season' \(values: '1', '2', '3', '4'\)",
    ):
        preparation.split_corpus(
            _corpus(), TARGETS, SplitConfig(rule="column", column="season", heldout_values=("9",))
        )


def test_unknown_target_lists_close_matches():
    with pytest.raises(DataError) as error:
        preparation.split_corpus(_corpus(), ["t1", "T2"], SplitConfig())
    assert str(error.value).startswith(
        "target speaker 't1' has no turns in the corpus (5 speakers); close matches: 'T1'"
    )
    with pytest.raises(DataError, match="no speaker has a similar name"):
        preparation.split_corpus(_corpus(), ["Quixote"], SplitConfig())


def test_target_without_dev_triples_says_which_flag(tmp_path):
    # T3 only ever speaks second, so never answers two earlier turns.
    corpus = _corpus()
    for k in range(5):
        corpus.turns.extend(_turns(("1", f"t3-{k}"), ["X", "T3", "Y"]))
    with pytest.raises(
        DataError,
        match=r"target 'T3' has no dev triples "
        r"\(they speak in 5 conversations: 1 held out, 1 of "
        r"them for dev; .*--heldout_fraction",
    ):
        preparation.prepare(corpus, ["T1", "T3"], tmp_path)
    assert not (tmp_path / "train.tsv").exists()


def test_target_without_monologue_says_which_flag(tmp_path):
    corpus = _corpus()
    corpus.turns.extend(_turns(("4", "t3"), ["X", "Y", "T3"]))
    config = SplitConfig(rule="column", column="season", heldout_values=("4",))
    with pytest.raises(DataError, match="target 'T3' has no monologue rows.*--heldout_values"):
        preparation.prepare(corpus, ["T1", "T3"], tmp_path, config)


def test_summary_and_readme(tmp_path):
    skipped = ["turns.tsv:9: expected 7 tab-separated fields"]
    summary = preparation.prepare(
        _corpus(skipped=skipped), TARGETS, tmp_path, arguments={"corpus": "turns"}
    )
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    data = _read_dir(tmp_path)
    for name, rows in data.items():
        assert summary["counts"][name]["total"] == len(rows)
    assert summary["counts"]["monologue"]["by_speaker"]["T1"] == sum(
        m.speaker == "T1" for m in data["monologue"]
    )
    assert summary["arguments"] == {"corpus": "turns"}
    assert summary["skipped"] == {"turns.tsv": skipped}
    assert summary["sources"] == [{"path": "turns.tsv", "turns": 224, "skipped_lines": 1}]
    readme = (tmp_path / "README").read_text()
    dev_t1 = summary["counts"]["dev"]["by_speaker"]["T1"]
    assert "monologue.tsv" in readme and f" {dev_t1} " in readme


def test_over_long_records_are_dropped_and_counted(tmp_path):
    corpus = _corpus()
    corpus.turns.extend(_turns(("1", "long"), ["X", "Y", "Z"]))
    corpus.turns[-1] = Turn(("1", "long"), "Z", "1/long #2 " + "word " * 30)
    summary = preparation.prepare(corpus, TARGETS, tmp_path, max_line_chars=120)
    assert summary["dropped_long_records"] == {"train": 1, "monologue": 0, "dev": 0, "test": 0}
    records.read_triples(tmp_path / "train.tsv", max_line_chars=120)


def test_split_config_rejects_bad_values():
    with pytest.raises(ValueError, match="heldout_fraction"):
        SplitConfig(heldout_fraction=0)
    with pytest.raises(ValueError, match="--split_column"):
        SplitConfig(rule="column")


def test_hash_rule_with_a_column_holds_out_whole_groups(tmp_path):
    # 12 "episodes" of 5 scenes each; both targets speak in every scene.
    turns = []
    for episode in range(12):
        for scene in range(5):
            turns += _turns((str(episode), str(scene)), ["X", "Y", "T1", "T2", "Z"])
    corpus = TurnCorpus(turns, ("episode", "scene"), [])
    config = SplitConfig(rule="hash", column="episode", heldout_fraction=0.25)
    preparation.prepare(corpus, TARGETS, tmp_path, config)
    data = _read_dir(tmp_path)
    episodes = lambda rows: {
        _origin(r.response if hasattr(r, "response") else r.text)[0] for r in rows
    }
    dev, test = episodes(data["dev"]), episodes(data["test"])
    trained = episodes(data["train"]) | episodes(data["monologue"])
    # A quarter of the 12 episodes, half of them (rounded down) for test; no scene
    # of a held-out episode is trained on.
    assert (len(dev), len(test)) == (2, 1) and not dev & test
    assert not (dev | test) & trained and len(trained) == 9
    with pytest.raises(ValueError, match="held-out values apply to the column rule"):
        SplitConfig(rule="hash", column="episode", heldout_values=("1",))
