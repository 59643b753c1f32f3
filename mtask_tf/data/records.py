"""Tab-separated record files: triples, monologue and conversation turns.

Three layouts, all UTF-8 with one header line and one record per line:

* triples (`train.tsv`, `dev.tsv`, `test.tsv`): `speaker context message
  response`. `speaker` is the responder. `context` may be empty (a
  conversation's second turn has no turn before its message); the other fields
  may not.
* monologue (`monologue.tsv`): `speaker text`, a target speaker's
  non-conversational sentences for the autoencoder.
* turns (`*_turns.tsv[.gz]`): at least `speaker` and `text`, plus the columns
  that identify a conversation (by default every column except `speaker`,
  `text` and `turn`). Rows are turns in the order spoken.

Fields can hold neither tabs nor newlines, so the writers fold every run of
whitespace into one space. Every problem in a file raises `DataError` naming
the file, the line and the problem; with `skip_bad_lines=True` bad records are
skipped instead and their messages listed in `ReadReport.skipped`. A missing
or empty file and a wrong header are errors either way. A UTF-8 byte order
mark before the header is ignored.
"""

import contextlib
import dataclasses
import gzip
import json
import os
import pathlib
import zlib
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence

from mtask_tf import errors

TRIPLE_COLUMNS = ("speaker", "context", "message", "response")
MONOLOGUE_COLUMNS = ("speaker", "text")
# Generated responses: `evaluate`'s NAME.SPLIT.responses.tsv (one 1-best per
# input), and the first columns of `decode`'s N-best TSV (then its scores).
# `response` holds the tokens metrics read; `display` the same response as
# readable text (`detokenizer`); N-best files written before it lack `display`.
RESPONSE_COLUMNS = ("speaker", "context", "message", "reference", "response")
NBEST_COLUMNS = ("input", "rank", "speaker", "context", "message", "response", "display")
TURN_REQUIRED_COLUMNS = ("speaker", "text")
# Columns of a turn file that never identify a conversation.
TURN_NON_CONVERSATION_COLUMNS = ("speaker", "text", "turn")
DEFAULT_MAX_LINE_CHARS = 10_000


class DataError(errors.UserError):
    """A problem with input data, located as precisely as possible.

    `str(error)` is `"path:line: problem"`, or `"path: problem"` when no line
    applies, or just the problem when no path is given.
    """

    def __init__(self, problem: str, path=None, line: int | None = None):
        location = "" if path is None else str(path)
        if path is not None and line is not None:
            location += f":{line}"
        super().__init__(f"{location}: {problem}" if location else problem)
        self.path = None if path is None else str(path)
        self.line = line
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class Triple:
    """One training sample: `speaker` says `response` after `context`, `message`."""

    speaker: str
    context: str
    message: str
    response: str


@dataclasses.dataclass(frozen=True)
class Monologue:
    """One non-conversational sentence (or turn) of a speaker."""

    speaker: str
    text: str


@dataclasses.dataclass(frozen=True)
class Response:
    """A system's response to one input (`reference`: the real one, if known)."""

    speaker: str
    context: str
    message: str
    reference: str
    response: str


@dataclasses.dataclass(frozen=True)
class Turn:
    """One spoken turn; `conversation` holds the values of the id columns."""

    conversation: tuple[str, ...]
    speaker: str
    text: str


@dataclasses.dataclass
class ReadReport:
    """What a reader did: records read and the messages of skipped lines."""

    path: str
    rows: int
    skipped: list[str]


class _BadLine(Exception):
    """Raised by row parsers; the reader adds file and line number."""


def fold_whitespace(text: str) -> str:
    """Returns `text` with each run of whitespace (tabs, newlines) as one space."""
    return " ".join(text.split())


def _open_binary(path: str):
    """Opens `path` for reading bytes, through gzip when it ends in `.gz`."""
    if not os.path.exists(path):
        raise DataError("file not found", path)
    if os.path.isdir(path):
        raise DataError("is a directory, expected a file", path)
    try:
        return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
    except OSError as e:
        raise DataError(f"cannot open: {e.strerror or e}", path) from e


def _numbered_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """Yields (line number, line without its end of line) for each line."""
    with _open_binary(path) as f:
        try:
            for number, raw in enumerate(f, start=1):
                yield number, raw.rstrip(b"\n").rstrip(b"\r")
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise DataError(f"not a valid gzip file ({e})", path) from e


def _decode(raw: bytes, max_line_chars: int) -> str:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _BadLine(
            f"invalid UTF-8 at byte {e.start} "
            f"({raw[e.start : e.start + 4]!r}); "
            "re-encode the file as UTF-8"
        ) from e
    if len(line) > max_line_chars:
        raise _BadLine(
            f"line has {len(line)} characters, more than the "
            f"maximum of {max_line_chars} (raise max_line_chars if "
            "such long lines are intended)"
        )
    return line


def read_text_lines(path, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> list[tuple[int, str]]:
    """(line number, text) of every line of a UTF-8 text file (gzip if `.gz`).

    Raises:
        DataError: the file is missing or unreadable, or a line is not UTF-8
            or too long (naming the line).
    """
    path = os.fspath(path)
    result = []
    with contextlib.closing(_numbered_lines(path)) as lines:
        for number, raw in lines:
            try:
                text = _decode(raw, max_line_chars)
            except _BadLine as e:
                raise DataError(str(e), path, number) from None
            result.append((number, text.lstrip("\ufeff") if number == 1 else text))
    return result


def _describe_header(columns: Sequence[str]) -> str:
    if len(columns) == 1 and " " in columns[0]:
        return f"one column {columns[0]!r} (is the file tab-separated?)"
    return ", ".join(repr(c) for c in columns)


def _parse_header(path, lines, parse, max_line_chars):
    """Reads the first line of `lines` and returns `parse(header columns)`.

    `parse` raises `_BadLine` for a header it does not accept.
    """
    first = next(lines, None)
    if first is None:
        raise DataError("file is empty, expected a header line", path)
    number, raw = first
    try:
        return parse(_decode(raw, max_line_chars).lstrip("\ufeff").split("\t"))
    except _BadLine as e:
        raise DataError(str(e), path, number) from None


def _read_table(
    path,
    make_row_parser: Callable[[list[str]], Callable],
    skip_bad_lines: bool,
    max_line_chars: int,
):
    """Reads a TSV file: header, then one record per line.

    `make_row_parser(header_columns)` checks the header (raising `_BadLine`)
    and returns a function from a line's fields to a record.
    """
    path = os.fspath(path)
    with contextlib.closing(_numbered_lines(path)) as lines:
        parse_row = _parse_header(path, lines, make_row_parser, max_line_chars)
        rows, skipped = [], []
        for number, raw in lines:
            try:
                rows.append(parse_row(_decode(raw, max_line_chars).split("\t")))
            except _BadLine as e:
                error = DataError(str(e), path, number)
                if not skip_bad_lines:
                    raise error from None
                skipped.append(str(error))
    return rows, ReadReport(path=path, rows=len(rows), skipped=skipped)


def _check_fields(fields: list[str], columns: Sequence[str], required: Iterable[str]) -> None:
    if len(fields) != len(columns):
        blank = " (blank line)" if fields == [""] else ""
        raise _BadLine(
            f"expected {len(columns)} tab-separated fields "
            f"({', '.join(columns)}), found {len(fields)}{blank}"
        )
    for name in required:
        if not fields[columns.index(name)].strip():
            raise _BadLine(f"empty {name} field")


def _fixed_layout(columns: Sequence[str], required: Sequence[str], record):
    """A row-parser factory for a file whose header must equal `columns`."""

    def make_row_parser(header: list[str]):
        if tuple(header) != tuple(columns):
            raise _BadLine(
                f"expected header {_describe_header(columns)} "
                f"(tab-separated), found {_describe_header(header)}"
            )

        width, needed = len(columns), [columns.index(name) for name in required]

        def parse_row(fields):
            # The common case checked inline (a million rows a file); a bad
            # row goes through _check_fields for its message.
            if len(fields) != width or not all([fields[i].strip() for i in needed]):
                _check_fields(fields, columns, required)
            return record(*fields)

        return parse_row

    return make_row_parser


def read_triples(
    path, skip_bad_lines: bool = False, max_line_chars: int = DEFAULT_MAX_LINE_CHARS
) -> tuple[list[Triple], ReadReport]:
    """Reads a triples file (`speaker context message response`).

    `context` may be empty; `speaker`, `message` and `response` may not.
    """
    make_parser = _fixed_layout(TRIPLE_COLUMNS, ("speaker", "message", "response"), Triple)
    return _read_table(path, make_parser, skip_bad_lines, max_line_chars)


QUERY_COLUMNS = ("speaker", "context", "message")


def _query_layout():
    """Accepts `speaker context message` or a triples header (the response is kept)."""

    def make_row_parser(header: list[str]):
        if tuple(header) == TRIPLE_COLUMNS:
            return _fixed_layout(TRIPLE_COLUMNS, ("speaker", "message"), Triple)(header)
        query = _fixed_layout(
            QUERY_COLUMNS, ("speaker", "message"), lambda s, c, m: Triple(s, c, m, "")
        )
        try:
            return query(header)
        except _BadLine:
            raise _BadLine(
                f"expected header {_describe_header(QUERY_COLUMNS)} or "
                f"{_describe_header(TRIPLE_COLUMNS)} (tab-separated), found "
                f"{_describe_header(header)}"
            ) from None

    return make_row_parser


def read_queries(
    path, skip_bad_lines: bool = False, max_line_chars: int = DEFAULT_MAX_LINE_CHARS
) -> tuple[list[Triple], ReadReport]:
    """Reads decoding inputs: `speaker context message`, or triples (response = reference).

    Rows come back as `Triple`s whose `response` is "" when the file has none.
    """
    return _read_table(path, _query_layout(), skip_bad_lines, max_line_chars)


def read_monologue(
    path, skip_bad_lines: bool = False, max_line_chars: int = DEFAULT_MAX_LINE_CHARS
) -> tuple[list[Monologue], ReadReport]:
    """Reads a monologue file (`speaker text`); neither field may be empty."""
    make_parser = _fixed_layout(MONOLOGUE_COLUMNS, MONOLOGUE_COLUMNS, Monologue)
    return _read_table(path, make_parser, skip_bad_lines, max_line_chars)


def _speaker_text_layout():
    """A row-parser factory for any header with `speaker` and `text` columns (others ignored)."""

    def make_row_parser(header: list[str]):
        missing = [c for c in MONOLOGUE_COLUMNS if c not in header]
        if missing:
            raise _BadLine(
                f"expected a header with the columns 'speaker' and 'text' (tab-separated, "
                f"others are ignored), found {_describe_header(header)}; for plain text, "
                "one text per line, name its speaker with --monologue_speaker"
            )
        speaker, text = header.index("speaker"), header.index("text")

        def parse_row(fields):
            _check_fields(fields, header, MONOLOGUE_COLUMNS)
            return Monologue(fields[speaker], fields[text])

        return parse_row

    return make_row_parser


def read_speaker_texts(
    path, skip_bad_lines: bool = False, max_line_chars: int = DEFAULT_MAX_LINE_CHARS
) -> tuple[list[Monologue], ReadReport]:
    """Reads texts from a TSV whose header has `speaker` and `text` (other columns ignored).

    A monologue file, or e.g. a log file with `show episode speaker kind text`.
    Neither field may be empty.
    """
    return _read_table(path, _speaker_text_layout(), skip_bad_lines, max_line_chars)


def read_plain_texts(
    path, speaker: str, max_line_chars: int = DEFAULT_MAX_LINE_CHARS
) -> tuple[list[Monologue], ReadReport]:
    """Reads a plain-text file (gzip if `.gz`), one text of `speaker` per non-blank line.

    Blank lines separate texts and are not texts themselves; each is listed
    in the report's `skipped` (file:line), so nothing goes unaccounted.
    """
    path = os.fspath(path)
    rows, blank = [], []
    for number, text in read_text_lines(path, max_line_chars):
        if text.strip():
            rows.append(Monologue(speaker, text))
        else:
            blank.append(str(DataError("blank line", path, number)))
    if not rows:
        raise DataError(f"no text in the file (one text of {speaker!r} per line expected)", path)
    return rows, ReadReport(path=path, rows=len(rows), skipped=blank)


def _conversation_columns(header: Sequence[str], conversation_columns=None) -> tuple[str, ...]:
    """Checks a turn file's header; returns its conversation id columns."""
    found = _describe_header(header)
    for name in TURN_REQUIRED_COLUMNS:
        if name not in header:
            raise _BadLine(f"turn file header needs a {name!r} column, found {found}")
    if len(set(header)) != len(header):
        raise _BadLine(f"turn file header repeats a column name: {found}")
    if conversation_columns is None:
        columns = tuple(c for c in header if c not in TURN_NON_CONVERSATION_COLUMNS)
    else:
        columns = tuple(conversation_columns)
        missing = [c for c in columns if c not in header]
        if missing:
            raise _BadLine(f"conversation column(s) {', '.join(missing)} not in header {found}")
    if not columns:
        raise _BadLine(
            "turn file has no column that identifies a conversation "
            f"(header {found}); add one, e.g. 'scene'"
        )
    if set(columns) & set(TURN_REQUIRED_COLUMNS):
        raise _BadLine("'speaker' and 'text' cannot identify a conversation")
    return columns


def read_turn_header(
    path,
    conversation_columns: Sequence[str] | None = None,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
) -> tuple[str, ...]:
    """Checks a turn file's header; returns the conversation column names."""
    path = os.fspath(path)
    with contextlib.closing(_numbered_lines(path)) as lines:
        return _parse_header(
            path,
            lines,
            lambda header: _conversation_columns(header, conversation_columns),
            max_line_chars,
        )


def read_turns(
    path,
    conversation_columns: Sequence[str] | None = None,
    skip_bad_lines: bool = False,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
) -> tuple[list[Turn], ReadReport]:
    """Reads a turn file (plain or `.gz`), keeping the file's order.

    Args:
      path: the file; its header names `speaker`, `text` and the conversation
        columns, in any order.
      conversation_columns: the columns whose values identify a conversation;
        by default all columns except `speaker`, `text` and `turn`. Their values
        may not be empty, nor may `speaker` and `text`.
      skip_bad_lines: skip bad lines (listed in the report) instead of raising.
      max_line_chars: longer lines are errors.
    """

    def make_row_parser(header: list[str]):
        columns = _conversation_columns(header, conversation_columns)
        positions = [header.index(c) for c in columns]
        speaker, text = header.index("speaker"), header.index("text")
        required = columns + TURN_REQUIRED_COLUMNS

        def parse_row(fields):
            _check_fields(fields, header, required)
            return Turn(tuple(fields[i] for i in positions), fields[speaker], fields[text])

        return parse_row

    return _read_table(path, make_row_parser, skip_bad_lines, max_line_chars)


def _write_table(
    path, columns: Sequence[str], required: Sequence[str], rows: Iterable[Sequence[str]]
) -> int:
    """Writes a header and rows with folded whitespace; returns the row count."""
    path = os.fspath(path)
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(columns) + "\n")
        for count, row in enumerate(rows, start=1):
            fields = [fold_whitespace(value) for value in row]
            for name in required:
                if not fields[columns.index(name)]:
                    raise DataError(
                        f"record {count} has an empty {name} (after folding whitespace): {row!r}",
                        path,
                    )
            f.write("\t".join(fields) + "\n")
    return count


def write_triples(path, triples: Iterable[Triple]) -> int:
    """Writes a triples file; whitespace inside fields becomes single spaces.

    Raises `DataError` for a triple whose speaker, message or response is empty.
    Returns the number of triples written.
    """
    rows = ((t.speaker, t.context, t.message, t.response) for t in triples)
    return _write_table(path, TRIPLE_COLUMNS, ("speaker", "message", "response"), rows)


def write_monologue(path, rows: Iterable[Monologue]) -> int:
    """Writes a monologue file; whitespace inside fields becomes single spaces.

    Returns the number of rows written.
    """
    return _write_table(
        path, MONOLOGUE_COLUMNS, MONOLOGUE_COLUMNS, ((r.speaker, r.text) for r in rows)
    )


def write_responses(path, responses: Iterable[Response]) -> int:
    """Writes `evaluate`'s responses file (RESPONSE_COLUMNS); returns the row count.

    A response may be empty (an input the system found no hypothesis for).
    """
    rows = ((r.speaker, r.context, r.message, r.reference, r.response) for r in responses)
    return _write_table(path, RESPONSE_COLUMNS, ("speaker", "message"), rows)


# The scores of each hypothesis after NBEST_COLUMNS in decode's N-best TSV.
NBEST_SCORE_COLUMNS = ("score", "forward_log_prob", "reverse_log_prob", "length")


def write_nbest(path, rows: Sequence[Triple], nbest_lists) -> None:
    """Writes `decode`'s output: each input's reranked hypotheses, best first.

    A `.jsonl` path gets one JSON object per input (speaker, context, message,
    reference, nbest: the hypotheses' fields); any other path a TSV of
    NBEST_COLUMNS and NBEST_SCORE_COLUMNS with a row per hypothesis, inputs
    numbered from 1 (`read_responses` reads its rank-1 rows back).

    Args:
        rows: the inputs, as `Triple`s (`response` is the reference, may be "").
        nbest_lists: per input, its hypotheses (`decoding.runner` results: objects
            with response, display and the NBEST_SCORE_COLUMNS attributes).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        if path.suffix == ".jsonl":
            for row, hypotheses in zip(rows, nbest_lists):
                record = {
                    "speaker": row.speaker,
                    "context": row.context,
                    "message": row.message,
                    "reference": row.response or None,
                    "nbest": [h.__dict__ for h in hypotheses],
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        out.write("\t".join([*NBEST_COLUMNS, *NBEST_SCORE_COLUMNS]) + "\n")
        for index, (row, hypotheses) in enumerate(zip(rows, nbest_lists), start=1):
            for rank, h in enumerate(hypotheses, start=1):
                inputs = [str(index), str(rank), row.speaker, row.context, row.message]
                scores = [f"{getattr(h, name):.4f}" for name in NBEST_SCORE_COLUMNS[:-1]]
                fields = [*inputs, h.response, h.display, *scores, str(h.length)]
                out.write("\t".join(fields) + "\n")


def _response_layout(header: list[str]):
    """Row parser of a responses file or of decode's N-best TSV (its rank-1 rows)."""
    for name in ("speaker", "context", "message", "response"):
        if name not in header:
            raise _BadLine(
                f"no {name!r} column in the header {header}; expected a file written "
                "by mtask_tf.evaluate (NAME.SPLIT.responses.tsv) or mtask_tf.decode"
            )
    at = {name: header.index(name) for name in header}
    nbest = tuple(header[:2]) == NBEST_COLUMNS[:2]

    def parse_row(fields):
        _check_fields(fields, header, ("speaker", "message", "response"))
        if nbest and fields[at["rank"]] != "1":
            return None
        value = lambda name: fields[at[name]] if name in at else ""
        return Response(*(value(name) for name in RESPONSE_COLUMNS))

    return parse_row


def read_responses(
    path, max_line_chars: int = DEFAULT_MAX_LINE_CHARS
) -> tuple[list[Response], ReadReport]:
    """Reads generated responses: `evaluate`'s responses file or `decode`'s N-best TSV.

    Of an N-best file only the rank-1 response of each input is kept. Every
    row needs a speaker, a message and a response; a bad row is a `DataError`
    naming its line.
    """
    rows, report = _read_table(path, _response_layout, False, max_line_chars)
    return [row for row in rows if row is not None], report
