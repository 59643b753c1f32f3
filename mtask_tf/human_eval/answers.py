"""The judges' answers: an append-only JSON-lines file, each answer on disk when it is given.

One line per answer given:

    {"answer_id": "...", "judge": "j7", "item": "item-0042", "rating": 2,
     "time": "2026-12-02T08:00:00Z", "source": "web"}

`rating` is the paper's 5-point scale with ties, as shown on the page from
left to right (`SCALE`): 1 = the left response much more likely comes from
the same person, 3 = equally likely, 5 = the right one much more likely.
A judge who goes back and answers an item again adds a line; the last line
of a (judge, item) is their answer. A line whose `answer_id` is already in the
file (a retried request, a re-imported CSV) is not written again.
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

    def __init__(self, problem, field=None):
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field, self.problem = field, problem


@dataclasses.dataclass(frozen=True)
class Answer:
    answer_id: str
    judge: str
    item: str
    rating: int
    time: str = ""
    source: str = ""


def check_judge(judge):
    judge = str(judge).strip()
    if not judge or len(judge) > 100 or any(c in judge for c in "\t\n\r"):
        raise AnswerError(
            f"{judge!r} is not a judge id (1 to 100 characters, no tabs or newlines)", "judge"
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
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete = lines[:-1]  # the text after the last newline never got its newline
    answers = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            answer = Answer(**json.loads(line))
        except (ValueError, TypeError) as e:
            raise AnswerError(f"{path}:{number}: not an answer record ({e})") from None
        if answer.rating not in RATINGS:
            raise AnswerError(f"{path}:{number}: rating {answer.rating!r} not in {list(RATINGS)}")
        if task is not None and task.item(answer.item) is None:
            raise AnswerError(f"{path}:{number}: item {answer.item!r} is not in the task")
        answers.append(answer)
    return answers


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
        answers = read_answers(self.path, task)
        self._ids = {a.answer_id for a in answers}
        self._latest = latest(answers)
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

    def add(self, answer):
        """Writes `answer` (flushed and fsynced) unless its id is known; True if written."""
        with self._lock:
            if answer.answer_id in self._ids:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(dataclasses.asdict(answer), ensure_ascii=False) + "\n"
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._ids.add(answer.answer_id)
            self._latest.pop((answer.judge, answer.item), None)
            self._latest[(answer.judge, answer.item)] = answer
            return True

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
        counts = collections.Counter(item for _, item in self._latest)
        done = {item for (j, item) in self._latest if j == judge}
        limit = self.task.judges_per_item
        return done, [i for i in self.task.items if i.id not in done and counts[i.id] < limit]

    def next_item(self, judge):
        """The next item for `judge`: not answered by them, still short of judges; None when done.

        Each judge goes through the items in their own seeded order, so that
        judges starting at once do not all judge the same items first.
        """
        with self._lock:
            _, open_items = self._open_items(judge)
        if not open_items:
            return None
        order = list(self.task.items)
        random.Random(f"{self.task.settings.get('seed', 0)}:{judge}").shuffle(order)
        still_open = {item.id for item in open_items}
        return next(item for item in order if item.id in still_open)

    def progress(self, judge):
        """(items answered by `judge`, items still open to them)."""
        with self._lock:
            done, open_items = self._open_items(judge)
        return len(done), len(open_items)

    def __len__(self):
        """The answers that count: the last of each judge and item."""
        with self._lock:
            return len(self._latest)
