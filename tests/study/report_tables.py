"""Reads the study report's numbers back out of its Markdown, for the tests.

The tests check what a reader takes from a table, the numbers, not its wording:

    row = report_tables.row(text, "## Table 1", "Perplexity test")
    assert row["MTASK-M"] == number(48.0, change=(48 - 60) / 60)

A table cell parses into a `Cell`: its value (a fraction when printed in
percent: "55.00 %" -> 0.55), the relative change in brackets as a fraction
("(-25.0 %)" -> -0.25), the interval ("[40.02, 46.20]", in the value's unit),
or a duration in seconds ("1 min 40 s" -> 100). "–" and "not run yet" parse
as None, any other text stays the text. A `Cell` equals what `number` or
`percent` expect, or a plain number, within half a unit of its last printed
digit: 45.00 stands for 44.995 to 45.005, (-3.3 %) for -3.35 % to -3.25 %.
"""

import dataclasses
import re

from mtask_tf.study import markdown

MISSING = (markdown.MISSING, markdown.NOT_RUN)
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_CELL = re.compile(
    rf"(?P<value>{_NUMBER})(?P<percent> %)?"
    rf"(?: \[(?P<low>{_NUMBER}), (?P<high>{_NUMBER})\])?"
    rf"(?: \((?P<change>{_NUMBER}) %\))?"
)
_DURATION = re.compile(
    rf"(?P<s>{_NUMBER}) s|(?P<min>\d+) min (?P<min_s>\d+) s|(?P<h>\d+) h (?P<h_min>\d+) min"
)
# A number in running text: not part of a word ("stage-2", "MTASK-M") or of another number.
_IN_TEXT = re.compile(rf"(?<![\w.\-+]){_NUMBER}(?: %)?(?![\w.])")


def _float(text):
    return float(text.replace(",", ""))


def _half_unit(text):
    """Half a unit of the last printed digit of `text` ("45.00" -> 0.005), a little more."""
    decimals = len(text.partition(".")[2])
    return 0.5 * 10.0**-decimals * (1 + 1e-9)


@dataclasses.dataclass(frozen=True, eq=False)
class Cell:
    """A number as printed in the report; compare it with `number`, `percent` or a number."""

    text: str
    value: float
    percent: bool = False
    change: float | None = None
    interval: tuple[float, float] | None = None
    tolerance: float = 0.0  # of the value and the interval, in the value's unit
    change_tolerance: float = 0.0

    def __eq__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            other = number(other)
        if isinstance(other, Expected):
            return other.matches(self)
        if isinstance(other, Cell):
            return self.text == other.text
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"Cell({self.text!r})"


@dataclasses.dataclass(frozen=True, eq=False)
class Expected:
    """What a cell should read: built by `number` or `percent`."""

    value: float
    change: float | None = None
    interval: tuple[float, float] | None = None
    percent: bool = False

    def matches(self, cell):
        close = lambda a, b, tolerance: abs(a - b) <= tolerance
        if cell.percent != self.percent or not close(cell.value, self.value, cell.tolerance):
            return False
        if (cell.change is None) != (self.change is None):
            return False
        if self.change is not None and not close(cell.change, self.change, cell.change_tolerance):
            return False
        if (cell.interval is None) != (self.interval is None):
            return False
        return self.interval is None or all(
            close(a, b, cell.tolerance) for a, b in zip(cell.interval, self.interval)
        )

    def __eq__(self, other):
        if isinstance(other, Cell):
            return self.matches(other)
        if isinstance(other, Expected):
            return dataclasses.astuple(self) == dataclasses.astuple(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        shown = [repr(self.value)]
        shown += [f"change={self.change!r}"] if self.change is not None else []
        shown += [f"interval={self.interval!r}"] if self.interval is not None else []
        return f"{'percent' if self.percent else 'number'}({', '.join(shown)})"


def number(value, change=None, interval=None):
    """A plain value: no change in brackets unless `change` (a fraction: -0.25 for -25 %)."""
    return Expected(value, change, interval)


def percent(value, interval=None):
    """A fraction printed in percent (0.55 -> "55.00 %"), its interval in fractions too."""
    return Expected(value, None, interval, percent=True)


def parse_cell(text):
    """One cell or list item: a `Cell`, None for "–" / "not run yet", else the text itself."""
    text = text.strip()
    if text in MISSING:
        return None
    match = _CELL.fullmatch(text)
    if match:
        scale = 0.01 if match["percent"] else 1.0
        change = match["change"]
        return Cell(
            text,
            scale * _float(match["value"]),
            bool(match["percent"]),
            None if change is None else _float(change) / 100,
            None
            if match["low"] is None
            else (scale * _float(match["low"]), scale * _float(match["high"])),
            scale * _half_unit(match["value"]),
            0.0 if change is None else _half_unit(change) / 100,
        )
    match = _DURATION.fullmatch(text)
    if match:
        if match["s"] is not None:
            return Cell(text, _float(match["s"]), tolerance=_half_unit(match["s"]))
        if match["min"] is not None:
            return Cell(text, 60 * int(match["min"]) + int(match["min_s"]), tolerance=0.5)
        return Cell(text, 3600 * int(match["h"]) + 60 * int(match["h_min"]), tolerance=30.0)
    return text


def parse_list(text):
    """A cell holding several values, "2.00 %, 3.00 %, –" or "48.00 / 45.00" or "a vs b"."""
    return [parse_cell(item) for item in re.split(r", (?![^\[]*\])| / | vs ", text)]


def numbers(text):
    """Every number in running text, as `Cell`s, in order: "48.00 vs 60.00" -> [48, 60]."""
    return [parse_cell(match[0]) for match in _IN_TEXT.finditer(text)]


def section(text, heading):
    """The text from `heading` to the next heading of level 2."""
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def says(text, *words):
    """Whether `text` has every one of `words` (key words, not the sentence)."""
    return all(word in text for word in words)


def _cells(line):
    """A table line's cells, an escaped pipe (\\|) staying inside its cell."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


class Row(dict):
    """A table row: column header -> parsed cell; `raw` keeps each cell's text."""

    def __init__(self, header, cells):
        assert len(cells) == len(header), f"{len(cells)} cells under {header}: {cells}"
        super().__init__(zip(header, map(parse_cell, cells)))
        self.raw = dict(zip(header, cells))

    def cells(self, *columns):
        """The parsed cells under `columns`, in that order."""
        return [self[name] for name in columns]

    def after(self, column):
        """The parsed cells right of `column`, in order."""
        header = list(self)
        return [self[name] for name in header[header.index(column) + 1 :]]


@dataclasses.dataclass
class Table:
    header: list
    rows: list  # each a list of the cells' text

    def __post_init__(self):
        assert len(set(self.header)) == len(self.header), f"repeated column: {self.header}"

    @property
    def labels(self):
        """The first cell of every row."""
        return [cells[0] for cells in self.rows]

    def all_rows(self, *labels):
        """Every row whose first cells are `labels`."""
        return [Row(self.header, c) for c in self.rows if c[: len(labels)] == list(labels)]

    def row(self, *labels):
        """The one row whose first cells are `labels`."""
        found = self.all_rows(*labels)
        assert len(found) == 1, f"{len(found)} rows {labels} in {self.labels}"
        return found[0]

    def find(self, *words):
        """The one row whose first cell has all of `words`."""
        found = [Row(self.header, c) for c in self.rows if says(c[0], *words)]
        assert len(found) == 1, f"{len(found)} rows with {words} in {self.labels}"
        return found[0]

    def column(self, name):
        """First cell -> the parsed cell under `name`, for every row."""
        index = self.header.index(name)
        return {cells[0]: parse_cell(cells[index]) for cells in self.rows}


def tables(text, heading):
    """Every Markdown table of a section, in order."""
    found, lines = [], []
    for line in [*section(text, heading).splitlines(), ""]:
        if line.startswith("|"):
            lines.append(line)
            continue
        if lines:
            assert set(lines[1]) <= set("|-: "), f"no header separator: {lines[:2]}"
            found.append(Table(_cells(lines[0]), [_cells(row) for row in lines[2:]]))
        lines = []
    return found


def table(text, heading, *columns):
    """The one table of a section with all of `columns` in its header."""
    found = [t for t in tables(text, heading) if set(columns) <= set(t.header)]
    assert len(found) == 1, f"{len(found)} tables with {columns} in {heading!r}"
    return found[0]


def row(text, heading, *labels, columns=()):
    """The one row of a section's tables (those with `columns`) whose first cells are `labels`."""
    found = [
        r
        for t in tables(text, heading)
        if set(columns) <= set(t.header)
        for r in t.all_rows(*labels)
    ]
    assert len(found) == 1, f"{len(found)} rows {labels} in {heading!r}"
    return found[0]


@dataclasses.dataclass
class Finding:
    """A bullet of the findings: its claim, its verdict and the numbers it compares."""

    claim: str
    verdict: str
    numbers: list
    line: str


def findings(text):
    """The bullets of "## Findings at a glance", as `Finding`s."""
    found = []
    for line in section(text, "## Findings at a glance").splitlines():
        match = re.fullmatch(r"- (?P<claim>.*?): \*\*(?P<verdict>[^*]+)\*\*(?P<rest>.*)", line)
        if match:
            shown = re.match(r" \((.*?)\)", match["rest"])
            found.append(
                Finding(match["claim"], match["verdict"], numbers(shown[1]) if shown else [], line)
            )
    return found


def finding(text, *words):
    """The one finding whose claim has all of `words`."""
    found = [f for f in findings(text) if says(f.claim, *words)]
    assert len(found) == 1, f"{len(found)} findings with {words}: {[f.claim for f in found]}"
    return found[0]
