"""Readers and writers of triples, monologue and turn files."""

import gzip

import pytest

from mtask_tf.data import records
from mtask_tf.data.records import DataError
from mtask_tf.data.records import Monologue
from mtask_tf.data.records import Triple
from mtask_tf.data.records import Turn

TRIPLES_HEADER = "speaker\tcontext\tmessage\tresponse\n"
FIELDS_4 = "expected 4 tab-separated fields (speaker, context, message, response)"


def _write(path, text: str | bytes):
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def test_triples_round_trip_folds_whitespace(tmp_path):
    path = tmp_path / "t.tsv"
    written = records.write_triples(
        path, [Triple("A", "", "hi\tthere", "ho\nho"), Triple("B", "  a  b ", "c", "d")]
    )
    assert written == 2
    triples, report = records.read_triples(path)
    assert triples == [Triple("A", "", "hi there", "ho ho"), Triple("B", "a b", "c", "d")]
    assert report.rows == 2 and report.skipped == []
    assert path.read_text().startswith(TRIPLES_HEADER)


def test_monologue_round_trip(tmp_path):
    path = tmp_path / "m.tsv"
    records.write_monologue(path, [Monologue("HAMLET", "To be,\tor not")])
    rows, _ = records.read_monologue(path)
    assert rows == [Monologue("HAMLET", "To be, or not")]


@pytest.mark.parametrize(
    "bad", [Triple("", "c", "m", "r"), Triple("A", "c", " \t", "r"), Triple("A", "c", "m", "\n")]
)
def test_writer_rejects_empty_required_field(tmp_path, bad):
    with pytest.raises(DataError, match="record 1 has an empty"):
        records.write_triples(tmp_path / "t.tsv", [bad])


@pytest.mark.parametrize(
    "line, problem",
    [
        (b"A\tc\tm\n", FIELDS_4 + ", found 3"),
        (b"A\tc\tm\tr\tx\n", FIELDS_4 + ", found 5"),
        (b"\n", FIELDS_4 + ", found 1 (blank line)"),
        (b"\tc\tm\tr\n", "empty speaker field"),
        (b"A\tc\t \tr\n", "empty message field"),
        (b"A\tc\tm\t\n", "empty response field"),
        (b"A\tc\tm\t\xff\xfeoops\n", "invalid UTF-8 at byte 6"),
        (b"A\tc\tm\t" + b"x" * 50 + b"\n", "line has 56 characters, more than the maximum of 40"),
    ],
)
def test_bad_triple_line_names_file_line_and_problem(tmp_path, line, problem):
    path = _write(tmp_path / "train.tsv", TRIPLES_HEADER.encode() + b"A\t\tm\tr\n" + line)
    with pytest.raises(DataError) as error:
        records.read_triples(path, max_line_chars=40)
    assert str(error.value).startswith(f"{path}:3: {problem}")
    assert error.value.line == 3


def test_empty_context_is_allowed(tmp_path):
    path = _write(tmp_path / "t.tsv", TRIPLES_HEADER + "A\t\tm\tr\n")
    assert records.read_triples(path)[0] == [Triple("A", "", "m", "r")]


def test_skip_bad_lines_records_every_skipped_line(tmp_path):
    path = _write(
        tmp_path / "t.tsv",
        TRIPLES_HEADER.encode() + b"A\tc\tm\tr\nB\tc\tm\n\nC\tc\tm\t\xff\nD\tc\tm\tr\n",
    )
    triples, report = records.read_triples(path, skip_bad_lines=True)
    assert [t.speaker for t in triples] == ["A", "D"]
    assert report.rows == 2
    assert [m.split(": ")[0] for m in report.skipped] == [f"{path}:3", f"{path}:4", f"{path}:5"]
    assert "invalid UTF-8" in report.skipped[2]


@pytest.mark.parametrize(
    "header, found",
    [
        ("speaker\tcontext\tmessage\n", "found 'speaker', 'context', 'message'"),
        (
            "speaker context message response\n",
            "found one column 'speaker context message response' (is the file tab-separated?)",
        ),
        (
            "response\tmessage\tcontext\tspeaker\n",
            "found 'response', 'message', 'context', 'speaker'",
        ),
    ],
)
def test_wrong_header_says_expected_and_found(tmp_path, header, found):
    path = _write(tmp_path / "t.tsv", header + "A\tc\tm\tr\n")
    with pytest.raises(DataError) as error:
        records.read_triples(path, skip_bad_lines=True)
    message = str(error.value)
    assert message.startswith(
        f"{path}:1: expected header 'speaker', 'context', 'message', 'response'"
    )
    assert message.endswith(found)


def test_monologue_header_is_checked(tmp_path):
    path = _write(tmp_path / "m.tsv", TRIPLES_HEADER)
    with pytest.raises(
        DataError,
        match=r"m.tsv:1: expected header "
        r"'speaker', 'text'",
    ):
        records.read_monologue(path)


def test_empty_and_missing_files_are_errors_even_when_skipping(tmp_path):
    empty = _write(tmp_path / "empty.tsv", "")
    with pytest.raises(DataError, match=r"empty.tsv: file is empty"):
        records.read_triples(empty, skip_bad_lines=True)
    with pytest.raises(DataError, match=r"nope.tsv: file not found"):
        records.read_monologue(tmp_path / "nope.tsv", skip_bad_lines=True)
    with pytest.raises(DataError, match="is a directory"):
        records.read_triples(tmp_path)


def test_header_only_file_has_no_rows(tmp_path):
    path = _write(tmp_path / "t.tsv", TRIPLES_HEADER)
    assert records.read_triples(path) == ([], records.ReadReport(str(path), 0, []))


def test_byte_order_mark_and_crlf_are_tolerated(tmp_path):
    path = _write(tmp_path / "t.tsv", "\ufeffspeaker\ttext\r\nA\thi\r\n")
    assert records.read_monologue(path)[0] == [Monologue("A", "hi")]


SITCOM = (
    "show\tseason\tepisode\tscene\tturn\tspeaker\ttext\n"
    "friends\t1\t1\t1\t1\tMonica\tThere's nothing to tell!\n"
    "friends\t1\t1\t1\t2\tJoey\tC'mon!\n"
    "friends\t1\t1\t2\t1\tRoss\tHi.\n"
)


def test_turns_default_conversation_columns_and_gzip(tmp_path):
    path = tmp_path / "turns.tsv.gz"
    path.write_bytes(gzip.compress(SITCOM.encode()))
    turns, report = records.read_turns(path)
    assert turns == [
        Turn(("friends", "1", "1", "1"), "Monica", "There's nothing to tell!"),
        Turn(("friends", "1", "1", "1"), "Joey", "C'mon!"),
        Turn(("friends", "1", "1", "2"), "Ross", "Hi."),
    ]
    assert report.rows == 3
    assert records.read_turn_header(path) == ("show", "season", "episode", "scene")


def test_turns_explicit_conversation_columns(tmp_path):
    path = _write(tmp_path / "t.tsv", SITCOM)
    turns, _ = records.read_turns(path, conversation_columns=["episode"])
    assert [t.conversation for t in turns] == [("1",), ("1",), ("1",)]
    with pytest.raises(
        DataError,
        match=r"t.tsv:1: conversation column\(s\) "
        "dialog not in header",
    ):
        records.read_turns(path, conversation_columns=["dialog"])


@pytest.mark.parametrize(
    "header, problem",
    [
        ("show\tscene\ttext\n", "turn file header needs a 'speaker' column"),
        ("show\tscene\tspeaker\n", "turn file header needs a 'text' column"),
        ("speaker\ttext\tturn\n", "no column that identifies a conversation"),
        ("scene\tscene\tspeaker\ttext\n", "repeats a column name"),
    ],
)
def test_turn_header_problems(tmp_path, header, problem):
    path = _write(tmp_path / "t.tsv", header)
    with pytest.raises(DataError, match=f"t.tsv:1: .*{problem}"):
        records.read_turns(path)


def test_turn_with_empty_conversation_value_is_an_error(tmp_path):
    path = _write(tmp_path / "t.tsv", "scene\tspeaker\ttext\n1\tA\thi\n\tB\tho\n")
    with pytest.raises(DataError, match=r"t.tsv:3: empty scene field"):
        records.read_turns(path)
    turns, report = records.read_turns(path, skip_bad_lines=True)
    assert len(turns) == 1 and len(report.skipped) == 1


def test_bad_gzip_is_an_error(tmp_path):
    path = _write(tmp_path / "t.tsv.gz", "not gzip at all")
    with pytest.raises(DataError, match="t.tsv.gz: not a valid gzip file"):
        records.read_turns(path)


def test_responses_round_trip_and_decode_nbest_files_give_their_rank_1_rows(tmp_path):
    written = [
        records.Response("HAMLET", "", "good  sir", "my lord", "i do"),
        records.Response("IAGO", "the night", "who", "me", ""),  # no hypothesis
    ]
    path = tmp_path / "baseline.test.responses.tsv"
    assert records.write_responses(path, written) == 2
    assert path.read_text().splitlines()[0] == "\t".join(records.RESPONSE_COLUMNS)
    with pytest.raises(DataError, match=r"responses.tsv:3: empty response field"):
        records.read_responses(path)
    records.write_responses(path, written[:1])
    rows, report = records.read_responses(path)
    assert rows == [records.Response("HAMLET", "", "good sir", "my lord", "i do")]
    assert report.rows == 1
    nbest = tmp_path / "out.tsv"
    header = "\t".join([*records.NBEST_COLUMNS, "score"])
    nbest.write_text(
        f"{header}\n1\t1\tHAMLET\t\thi\tbest\tBest\t-1.0\n"
        "1\t2\tHAMLET\t\thi\tsecond\tSecond\t-2.0\n2\t1\tIAGO\tc\tyo\tother\tOther\t-1.5\n"
    )
    expected = [("HAMLET", "best", ""), ("IAGO", "other", "")]
    rows, _ = records.read_responses(nbest)
    assert [(r.speaker, r.response, r.reference) for r in rows] == expected
    # Files written before the display column read the same.
    nbest.write_text(
        "input\trank\tspeaker\tcontext\tmessage\tresponse\tscore\n"
        "1\t1\tHAMLET\t\thi\tbest\t-1.0\n1\t2\tHAMLET\t\thi\tsecond\t-2.0\n"
        "2\t1\tIAGO\tc\tyo\tother\t-1.5\n"
    )
    rows, _ = records.read_responses(nbest)
    assert [(r.speaker, r.response, r.reference) for r in rows] == expected
