"""The targets' own texts as their monologue (`prepare --monologue`)."""

import gzip
import json

import pytest

from mtask_tf.data import corpora
from mtask_tf.data import preparation
from mtask_tf.data import records
from mtask_tf.data.records import DataError
from tests.data.test_preparation import TARGETS
from tests.data.test_preparation import _corpus
from tests.data.test_preparation import _origin
from tests.data.test_preparation import _read_dir
from tests.data.test_prepare_cli import _prepare
from tests.data.test_prepare_cli import _turn_file

LOGS = "show\tepisode\tspeaker\tkind\ttext\n"


def _logs(path, rows):
    text = LOGS + "".join(f"s\t1\t{speaker}\tlog\t{text}\n" for speaker, text in rows)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)
    return path


def test_a_tsv_with_speaker_and_text_columns_reads_as_is_other_columns_ignored(tmp_path):
    path = _logs(tmp_path / "logs.tsv.gz", [("T1", "log one"), ("T2", "log two")])
    rows, report = records.read_speaker_texts(path)
    assert [(r.speaker, r.text) for r in rows] == [("T1", "log one"), ("T2", "log two")]
    assert report.rows == 2 and not report.skipped
    (tmp_path / "bad.tsv").write_text("who\ttext\nT1\thi\n")
    with pytest.raises(DataError, match=r"bad.tsv:1: expected a header with the columns 'speaker'"):
        records.read_speaker_texts(tmp_path / "bad.tsv")
    (tmp_path / "bad.tsv").write_text("speaker\ttext\nT1\t\n")
    with pytest.raises(DataError, match=r"bad.tsv:2: empty text field"):
        records.read_speaker_texts(tmp_path / "bad.tsv")


def test_plain_text_is_one_text_per_line_and_blank_lines_are_listed(tmp_path):
    (tmp_path / "diary.txt").write_text("first entry\n\nsecond entry\n")
    rows, report = records.read_plain_texts(tmp_path / "diary.txt", "T1")
    assert [(r.speaker, r.text) for r in rows] == [("T1", "first entry"), ("T1", "second entry")]
    assert report.skipped == [f"{tmp_path / 'diary.txt'}:2: blank line"]
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="empty.txt: no text in the file"):
        records.read_plain_texts(tmp_path / "empty.txt", "T1")


def _source(tmp_path, rows):
    return corpora.read_monologue_files([_logs(tmp_path / "logs.tsv.gz", rows)])


def test_the_targets_turns_are_dropped_and_counted_and_the_files_texts_are_the_monologue(
    tmp_path,
):
    rows = [("T1", "captain's log"), ("OTHER", "not a target"), ("T2", "station log")] * 2
    summary = preparation.prepare(
        _corpus(), TARGETS, tmp_path / "out", source=_source(tmp_path, rows)
    )
    data = _read_dir(tmp_path / "out")
    assert sorted((m.speaker, m.text) for m in data["monologue"]) == sorted(
        [("T1", "captain's log"), ("T2", "station log")] * 2
    )
    assert not any(t.speaker in TARGETS for t in data["train"])
    assert data["dev"] and all(_origin(t.response) for t in data["dev"])  # dev/test as before
    without = preparation.prepare(_corpus(), TARGETS, tmp_path / "plain")
    source = summary["monologue_source"]
    assert source["other_speakers"] == {"OTHER": 2}
    # Each target's turns outside dev and test: the monologue they had without the files.
    assert source["target_turns_dropped"] == without["counts"]["monologue"]["by_speaker"]
    assert summary["counts"]["train"] == without["counts"]["train"]
    assert without["monologue_source"] is None


def test_a_target_without_text_is_an_error_naming_them_and_the_files_speakers(tmp_path):
    source = _source(tmp_path, [("T1", "log"), ("OTHER", "x")])
    with pytest.raises(
        DataError,
        match=r"target 'T2' has no text in the --monologue files \(speakers there besides "
        r"the targets: 'OTHER'\)",
    ):
        preparation.prepare(_corpus(), TARGETS, tmp_path / "out", source=source)


def test_the_cli_takes_log_files_and_plain_text(tmp_path):
    turns = _turn_file(tmp_path / "turns.tsv")
    logs = _logs(tmp_path / "logs.tsv.gz", [("Cy", "log of cy"), ("Zed", "log of zed")])
    common = ("--corpus=turns", f"--turns={turns}", "--targets=Cy", "--heldout_fraction=0.3")
    result = _prepare(*common, "--output_dir=a", f"--monologue={logs}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Texts of speakers who are not targets, dropped: Zed (1)." in result.stdout
    assert "Monologue from 1 file(s), 2 texts" in result.stdout
    assert (tmp_path / "a" / "monologue.tsv").read_text() == "speaker\ttext\nCy\tlog of cy\n"
    (tmp_path / "diary.txt").write_text("dear diary\n")
    result = _prepare(
        *common, "--output_dir=b", "--monologue=diary.txt", "--monologue_speaker=Cy", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["counts"]["monologue"]["by_speaker"] == {"Cy": 1}
    assert summary["arguments"]["monologue"] == ["diary.txt"]
    result = _prepare(
        *common, "--output_dir=c", "--monologue=diary.txt", "--monologue_speaker=Bob", cwd=tmp_path
    )
    assert (
        result.returncode == 1
        and "--monologue_speaker 'Bob' is not one of --targets" in result.stderr
    )
    result = _prepare(*common, "--output_dir=c", "--monologue=diary.txt", cwd=tmp_path)
    assert result.returncode == 1
    assert "diary.txt:1: expected a header with the columns 'speaker' and 'text'" in result.stderr
    assert "--monologue_speaker" in result.stderr and not (tmp_path / "c").exists()
