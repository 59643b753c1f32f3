"""The task file of a human preference test (paper section 7.1): what judges see.

Each item shows a target speaker's example texts (5, drawn at random), the
context and message of one test input, and two systems' responses to it in
random left/right order. Judges answer which response more likely comes from
the same person as the examples. The task file (JSON) records, hidden from the
judges, which system is on which side:

    {"settings": {...}, "left_out": {"mtask_m:baseline": 12, ...},
     "items": [{"id": "item-0001", "pair": ["mtask_m", "baseline"], "input": 17,
                "target": ..., "examples": [...], "context": ..., "message": ...,
                "left": {"system": ..., "response": ...}, "right": {...}}, ...]}

`pair` is (system, reference system): the analysis reports the first's
preference against the second.
"""

import dataclasses
import functools
import json
import pathlib
import random

from mtask_tf.data import detokenizer
from mtask_tf.data import records
from mtask_tf.errors import UserError


class TaskError(UserError):
    """A task file or its inputs cannot be used; the message names the file and problem."""


@dataclasses.dataclass(frozen=True)
class Side:
    system: str
    response: str


@dataclasses.dataclass(frozen=True)
class Item:
    """One comparison as judges see it, plus the hidden assignment of systems to sides."""

    id: str
    pair: tuple
    input: int
    target: str
    examples: tuple
    context: str
    message: str
    left: Side
    right: Side

    def side_of(self, system):
        return "left" if self.left.system == system else "right"

    def shown(self):
        """What the judging page shows: no system names (nor the target's name).

        Responses are shown as readable text; the task file keeps their tokens.
        """
        return {
            "id": self.id,
            "examples": list(self.examples),
            "context": self.context,
            "message": self.message,
            "left": detokenizer.detokenize(self.left.response),
            "right": detokenizer.detokenize(self.right.response),
        }


@dataclasses.dataclass(frozen=True)
class Task:
    """A prepared task: items and the settings they were made with.

    Attributes:
        items: the items, in the order judges are offered them (shuffled).
        judges_per_item: how many judges each item should get.
        settings: the preparation settings (systems, files, seed, ...).
        left_out: per pair "A:B", the inputs left out because both responses
            were the same text.
    """

    items: tuple
    judges_per_item: int
    settings: dict
    left_out: dict

    def item(self, item_id):
        """The item with this id, or None."""
        return self._by_id.get(item_id)

    @functools.cached_property
    def _by_id(self):
        # Looked up for every answer stored or analysed: built once.
        return {item.id: item for item in self.items}

    @property
    def pairs(self):
        return list(dict.fromkeys(tuple(item.pair) for item in self.items))


@dataclasses.dataclass(frozen=True)
class Responses:
    """One system's 1-best response to each input, in input order."""

    path: str
    rows: list  # of (speaker, context, message, response)


def read_responses(path):
    """Reads a system's responses: `evaluate`'s NAME.SPLIT.responses.tsv or `decode`'s output.

    Accepted: TSV with header `speaker context message reference response`
    (evaluate), decode's TSV N-best file (`input rank speaker context message
    response ...`, rank 1 is used) or decode's JSON lines (the first of `nbest`).
    """
    path = pathlib.Path(path)
    if path.suffix == ".jsonl":
        return Responses(str(path), _read_jsonl(path))
    rows, _ = records.read_responses(path)
    return Responses(str(path), [(r.speaker, r.context, r.message, r.response) for r in rows])


def _row(path, number, row):
    speaker, _, message, response = row
    for name, value in (("speaker", speaker), ("message", message), ("response", response)):
        if not value.strip():
            raise TaskError(f"{path}:{number}: empty {name} field")
    return tuple(row)


def _read_jsonl(path):
    rows = []
    for number, text in records.read_text_lines(path):
        try:
            record = json.loads(text)
            best = record["nbest"][0]["response"]
            row = (record["speaker"], record["context"], record["message"], best)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise TaskError(
                f"{path}:{number}: not a decode record with speaker, context, message "
                f"and a non-empty nbest list ({type(e).__name__}: {e})"
            ) from None
        rows.append(_row(path, number, row))
    return rows


def _check_same_inputs(responses):
    first = responses[0]
    for other in responses[1:]:
        if len(other.rows) != len(first.rows):
            raise TaskError(
                f"{other.path}: {len(other.rows)} responses but {first.path} has "
                f"{len(first.rows)}; every system must answer the same inputs"
            )
        for index, (a, b) in enumerate(zip(first.rows, other.rows), start=1):
            if a[:3] != b[:3]:
                raise TaskError(
                    f"{other.path}: response {index} answers another input than "
                    f"response {index} of {first.path} (speaker, context or message "
                    "differ); decode both from the same input file"
                )


def _examples_by_speaker(monologue_path, targets, count):
    rows, _ = records.read_monologue(monologue_path)
    by_speaker = {}
    for row in rows:
        by_speaker.setdefault(row.speaker, []).append(row.text)
    for target in sorted(targets):
        have = len(by_speaker.get(target, ()))
        if have < count:
            raise TaskError(
                f"{monologue_path}: {target!r} has {have} monologue lines, {count} example "
                "texts are needed for each item (set --examples lower, or add text)"
            )
    return by_speaker


def build_task(
    systems, pairs, monologue_path, *, judges_per_item=7, examples=5, max_items=0, seed=0
):
    """Makes the task's items from the systems' responses to the same inputs.

    Args:
        systems: {name: path of its responses}, see `read_responses`.
        pairs: (system, reference system) names, e.g. [("mtask_m", "baseline")].
        monologue_path: the targets' monologue TSV, where example texts come from.
        judges_per_item: judges each item should get (paper: 7).
        examples: example texts shown per item (paper: 5).
        max_items: at most this many inputs per pair, a seeded sample; 0: all.
        seed: seeds the sample, the example texts and the left/right order.

    Returns:
        A `Task`; inputs where both responses are the same text are left out
        and counted in `left_out`.
    """
    for a, b in pairs:
        for name in (a, b):
            if name not in systems:
                raise TaskError(f"pair {a}:{b}: no system {name!r} (given: {', '.join(systems)})")
        if a == b:
            raise TaskError(f"pair {a}:{b} compares a system with itself")
    responses = {name: read_responses(path) for name, path in systems.items()}
    _check_same_inputs(list(responses.values()))
    inputs = next(iter(responses.values())).rows
    by_speaker = _examples_by_speaker(monologue_path, {row[0] for row in inputs}, examples)
    rng = random.Random(seed)
    items, left_out = [], {}
    for a, b in pairs:
        kept = [i for i in range(len(inputs)) if responses[a].rows[i][3] != responses[b].rows[i][3]]
        left_out[f"{a}:{b}"] = len(inputs) - len(kept)
        if max_items and len(kept) > max_items:
            kept = sorted(rng.sample(kept, max_items))
        for i in kept:
            speaker, context, message, _ = inputs[i]
            sides = [Side(a, responses[a].rows[i][3]), Side(b, responses[b].rows[i][3])]
            rng.shuffle(sides)
            items.append(
                dict(
                    pair=(a, b),
                    input=i,
                    target=speaker,
                    context=context,
                    message=message,
                    examples=tuple(rng.sample(by_speaker[speaker], examples)),
                    left=sides[0],
                    right=sides[1],
                )
            )
    if not items:
        raise TaskError("no items: every pair's two systems gave the same response to every input")
    rng.shuffle(items)
    settings = dict(
        systems={k: str(v) for k, v in systems.items()},
        pairs=[list(p) for p in pairs],
        monologue=str(monologue_path),
        examples=examples,
        max_items=max_items,
        seed=seed,
    )
    return Task(
        items=tuple(Item(id=f"item-{n:04d}", **item) for n, item in enumerate(items, start=1)),
        judges_per_item=judges_per_item,
        settings=settings,
        left_out=left_out,
    )


def write_task(task, path):
    record = {
        "settings": task.settings,
        "judges_per_item": task.judges_per_item,
        "left_out": task.left_out,
        "items": [dataclasses.asdict(item) for item in task.items],
    }
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read_task(path):
    """Reads a task file written by `write_task` (`prepare`)."""
    try:
        record = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        items = tuple(
            Item(
                **{
                    **item,
                    "pair": tuple(item["pair"]),
                    "examples": tuple(item["examples"]),
                    "left": Side(**item["left"]),
                    "right": Side(**item["right"]),
                }
            )
            for item in record["items"]
        )
        task = Task(items, int(record["judges_per_item"]), record["settings"], record["left_out"])
    except OSError as e:
        raise TaskError(f"{path}: cannot read the task file ({e.strerror})") from None
    except (ValueError, KeyError, TypeError) as e:
        raise TaskError(
            f"{path}: not a task file written by `mtask_tf.human_eval prepare` "
            f"({type(e).__name__}: {e})"
        ) from None
    if not task.items:
        raise TaskError(f"{path}: the task has no items")
    return task
