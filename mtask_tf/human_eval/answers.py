"""The judges' answers: an append-only JSON-lines file, each answer on disk when it is given.

One line per answer given:

    {"answer_id": "...", "judge": "j7", "item": "item-0042", "rating": 2,
     "time": "2026-12-02T08:00:00Z", "source": "web"}

`rating` is the paper's 5-point scale with ties, as shown on the page from
left to right (`SCALE`): 1 = the left response much more likely comes from
the same person, 3 = equally likely, 5 = the right one much more likely.
A judge who goes back and answers an item again adds a line that names the
answer it changes (`"replaces": "<answer_id>"`); the last line of a (judge,
item) is their answer, and the first stays in the file. A line whose
`answer_id` is already in the file (a retried request, a re-imported CSV) is
not written again. An answer that cannot be written whole (a full disk, a
read-only directory) is not recorded at all: the file is cut back to its last
whole line and the caller gets a `StoreError`.
"""

import collections
import dataclasses
import datetime
import json
import os
import pathlib
import random
import threading

from mtask_tf.errors import UserError

SCALE = (
    (1, "Left much more likely the same person"),
    (2, "Left somewhat more likely"),
    (3, "Equally likely"),
    (4, "Right somewhat more likely"),
    (5, "Right much more likely the same person"),
)
RATINGS = tuple(value for value, _ in SCALE)


class AnswerError(UserError):
    """A bad answer or answers file; the message names the field or file and line.

    Args:
        problem: what is wrong.
        field: the answer's field it is about, if any (the message starts with it).
    """

    def __init__(self, problem, field=None, status=400):
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field, self.problem, self.status = field, problem, status


class StoreError(AnswerError):
    """The answers file cannot be written; nothing of the answer is in it."""

    def __init__(self, problem):
        super().__init__(problem, status=503)


@dataclasses.dataclass(frozen=True)
class Answer:
    answer_id: str
    judge: str
    item: str
    rating: int
    time: str = ""
    source: str = ""
    replaces: str = ""  # the answer_id of the judge's earlier answer to the item


def _is_text(value, limit):
    """A str of 1 to `limit` characters, encodable as UTF-8 (no lone surrogates), no tab or
    newline."""
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        return False
    if any(c in value for c in "\t\n\r"):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_judge(judge):
    judge = str(judge).strip()
    if not _is_text(judge, 100):
        raise AnswerError(
            f"{judge!r} is not a judge id (1 to 100 characters of UTF-8, no tabs or newlines)",
            "judge",
        )
    return judge


def make_answer(record, task, source):
    """An `Answer` from a request or CSV row (a dict); the error names the bad field."""
    for field in ("answer_id", "judge", "item", "rating"):
        if field not in record or record[field] in (None, ""):
            raise AnswerError("missing", field)
    if task.item(str(record["item"])) is None:
        raise AnswerError(f"no item {record['item']!r} in the task", "item")
    # Whole numbers only, as given (2, "2", " 2 "); not 2.0, "2.5" or True.
    if str(record["rating"]).strip() not in {str(r) for r in RATINGS}:
        raise AnswerError(f"{record['rating']!r} is not one of {list(RATINGS)}", "rating")
    rating = int(record["rating"])
    if not _is_text(str(record["answer_id"]), 200):
        problem = "not an id (1 to 200 characters of UTF-8, no tabs or newlines)"
        raise AnswerError(problem, "answer_id")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Answer(
        str(record["answer_id"]),
        check_judge(record["judge"]),
        str(record["item"]),
        rating,
        now,
        source,
    )


def read_answers(path, task=None):
    """Every answer line of `path` (none if it does not exist), in file order.

    A last line cut short by a crash (no newline at the end) is ignored:
    its answer was never acknowledged to the judge.
    """
    path = pathlib.Path(path)
    if not path.exists():
        return []
    check_answers_path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AnswerError(f"{path}: cannot read the answers file ({e.strerror})") from None
    complete = data.split(b"\n")[:-1]  # the text after the last newline never got its newline
    answers = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            problem = f"not UTF-8 (byte {line[e.start]:#04x} at column {e.start + 1})"
            raise AnswerError(f"{path}:{number}: {problem}") from None
        try:
            answer = Answer(**json.loads(text))
        except (ValueError, TypeError) as e:
            raise AnswerError(f"{path}:{number}: not an answer record ({e})") from None
        if answer.rating not in RATINGS:
            raise AnswerError(f"{path}:{number}: rating {answer.rating!r} not in {list(RATINGS)}")
        if task is not None and task.item(answer.item) is None:
            raise AnswerError(f"{path}:{number}: item {answer.item!r} is not in the task")
        answers.append(answer)
    return answers


def check_answers_path(path):
    """Raises AnswerError unless `path` is, or can be created as, a regular file."""
    path = pathlib.Path(path)
    if path.exists():
        if not path.is_file():
            raise AnswerError(f"{path}: the answers file is not a regular file")
        return
    directory = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not directory.is_dir():
        raise AnswerError(
            f"{path}: cannot create the answers file, {directory} is a file, not a directory"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise AnswerError(f"{path}: cannot create the answers file, {directory} is not writable")


def _line(answer):
    record = dataclasses.asdict(answer)
    if not record["replaces"]:
        del record["replaces"]
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def latest(answers):
    """{(judge, item): the judge's last answer to the item}, in the order first answered."""
    result = {}
    for answer in answers:
        result.pop((answer.judge, answer.item), None)
        result[(answer.judge, answer.item)] = answer
    return result


class AnswerStore:
    """The answers file of one task, shared by the server's threads.

    Args:
        path: the JSON-lines file; created on the first answer, appended to after.
        task: the `Task` the answers are for.
    """

    def __init__(self, path, task):
        self.path = pathlib.Path(path)
        self.task = task
        self._lock = threading.Lock()
        check_answers_path(self.path)
        answers = read_answers(self.path, task)
        self._ids = {a.answer_id for a in answers}
        self._latest = latest(answers)
        self._judges = collections.Counter(item for _, item in self._latest)
        self._truncate_partial_line()

    def _truncate_partial_line(self):
        # A crash mid-write leaves a line without its newline; the next answer
        # must start on a line of its own.
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as f:
                data = f.read()
                keep = data.rfind(b"\n") + 1
                if keep != len(data):
                    f.truncate(keep)

    def add(self, answer, offered_only=False):
        """Writes `answer` (fsynced) unless its id is known; True if written.

        A judge's second answer to an item is written as a change of the first
        (`replaces`). offered_only: a first answer must be to the item offered
        to the judge now (`next_item`), so also to an item short of judges;
        checked and written under one lock, so concurrent answers cannot
        exceed `judges_per_item`.

        Raises:
            AnswerError: status 409 (the item has its judges) or 403 (not offered).
            StoreError: the file cannot be written; nothing of the answer is in it.
        """
        with self._lock:
            if answer.answer_id in self._ids:
                return False
            key = (answer.judge, answer.item)
            previous = self._latest.get(key)
            if previous is not None:
                answer = dataclasses.replace(answer, replaces=previous.answer_id)
            elif offered_only:
                self._check_offered(answer.judge, answer.item)
            self._append(_line(answer))
            self._ids.add(answer.answer_id)
            self._latest.pop(key, None)
            self._latest[key] = answer
            if previous is None:
                self._judges[answer.item] += 1
            return True

    def _check_offered(self, judge, item):
        limit = self.task.judges_per_item
        if self._judges[item] >= limit:
            raise AnswerError(f"{item} already has its {limit} judges", "item", status=409)
        offered = self._next_item(judge)
        if offered is None or offered.id != item:
            raise AnswerError(f"{item} is not the item offered to judge {judge}", "item", 403)

    def _append(self, data):
        """Appends `data` to the file and fsyncs; on failure cuts the file back, StoreError."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(
                f"{self.path}: cannot write the answer ({e.strerror}); it was not recorded"
            ) from None
        try:
            start = os.fstat(fd).st_size
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as e:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # the next start-up drops the line cut short
            raise StoreError(
                f"{self.path}: cannot write the answer ({e.strerror}); it was not recorded"
            ) from None
        finally:
            os.close(fd)

    def answered(self, judge):
        """The items `judge` has answered, in the order first answered, with their ratings."""
        with self._lock:
            return [(item, a.rating) for (j, item), a in self._latest.items() if j == judge]

    def rating(self, judge, item):
        with self._lock:
            answer = self._latest.get((judge, item))
            return None if answer is None else answer.rating

    def _open_items(self, judge):
        """(items `judge` answered, the items still open to them: not answered by
        them and short of judges), under the lock."""
        done = {item for (j, item) in self._latest if j == judge}
        limit = self.task.judges_per_item
        return done, [i for i in self.task.items if i.id not in done and self._judges[i.id] < limit]

    def _next_item(self, judge):
        """`next_item`, under the lock."""
        _, open_items = self._open_items(judge)
        if not open_items:
            return None
        order = list(self.task.items)
        random.Random(f"{self.task.settings.get('seed', 0)}:{judge}").shuffle(order)
        still_open = {item.id for item in open_items}
        return next(item for item in order if item.id in still_open)

    def next_item(self, judge):
        """The next item for `judge`: not answered by them, still short of judges; None when done.

        Each judge goes through the items in their own seeded order, so that
        judges starting at once do not all judge the same items first.
        """
        with self._lock:
            return self._next_item(judge)

    def progress(self, judge):
        """(items answered by `judge`, items still open to them)."""
        with self._lock:
            done, open_items = self._open_items(judge)
        return len(done), len(open_items)

    def __len__(self):
        """The answers that count: the last of each judge and item."""
        with self._lock:
            return len(self._latest)
