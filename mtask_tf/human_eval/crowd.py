"""CSV for crowdsourcing platforms: the task out, the judges' results back in.

The exported CSV has one row per item (the platform's template shows the
columns and asks for the rating; the platform assigns each row to several
workers): `item_id, example_1 .. example_N, context, message, left, right`,
the responses as readable text (`data.detokenizer`). No column names the
systems or the target. A cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a single quote in front (OWASP's rule against CSV
injection), so that a spreadsheet shows a response such as `=HYPERLINK(...)`
as text instead of running it as a formula.

The results CSV the platform returns has one row per answer; by default the
columns are Amazon Mechanical Turk's (`WorkerId`, `Input.item_id`,
`Answer.rating`, and `AssignmentId` when present). A rating is 1-5 (see
`answers.SCALE`) or the text of a scale point. Importing the same file twice
adds nothing: each row's answer id comes from its assignment id (or worker and
item).
"""

import csv
import pathlib

from mtask_tf.data import detokenizer
from mtask_tf.human_eval import answers as answers_lib
from mtask_tf.human_eval.answers import AnswerError

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text):
    """`text`, with a quote in front if a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_csv(task, path):
    count = max(len(item.examples) for item in task.items)
    columns = [
        "item_id",
        *(f"example_{i}" for i in range(1, count + 1)),
        "context",
        "message",
        "left",
        "right",
    ]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for item in task.items:
            examples = list(item.examples) + [""] * (count - len(item.examples))
            cells = [
                item.id,
                *examples,
                item.context,
                item.message,
                detokenizer.detokenize(item.left.response),
                detokenizer.detokenize(item.right.response),
            ]
            writer.writerow([_cell(cell) for cell in cells])
    return len(task.items)


def _rating(value):
    labels = {label.lower(): str(rating) for rating, label in answers_lib.SCALE}
    return labels.get(value.strip().lower(), value.strip())


def read_results(
    path,
    task,
    judge_column="WorkerId",
    item_column="Input.item_id",
    rating_column="Answer.rating",
    assignment_column="AssignmentId",
):
    """Every row of a platform's results CSV as an `Answer`; all rows checked before any is used.

    Raises:
        AnswerError: naming the file, line and column of the first bad row.
    """
    path = pathlib.Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise AnswerError(f"{path}: cannot read ({e.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise AnswerError(f"{path}: not a UTF-8 CSV file ({e})") from None
    if not rows:
        raise AnswerError(f"{path}: file is empty, expected a header line")
    header = rows[0]
    for column in (judge_column, item_column, rating_column):
        if column not in header:
            raise AnswerError(
                f"{path}:1: no column {column!r} (columns: {', '.join(header)}); name the "
                "platform's columns with --judge_column, --item_column and --rating_column"
            )
    index = {name: header.index(name) for name in header}
    results = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise AnswerError(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
        judge, item = row[index[judge_column]], row[index[item_column]]
        assignment = row[index[assignment_column]] if assignment_column in index else ""
        record = {
            "answer_id": f"csv:{assignment}" if assignment else f"csv:{judge}:{item}",
            "judge": judge,
            "item": item,
            "rating": _rating(row[index[rating_column]]),
        }
        try:
            results.append(answers_lib.make_answer(record, task, source=f"csv:{path.name}"))
        except AnswerError as e:
            columns = {"judge": judge_column, "item": item_column, "rating": rating_column}
            column = columns.get(e.field, e.field)
            raise AnswerError(f"{path}:{number}: column {column}: {e.problem}") from None
    return results
