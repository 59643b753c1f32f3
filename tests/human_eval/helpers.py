"""Small tasks and answers for the human-evaluation tests, built without files."""

from mtask_tf.human_eval import answers as answers_lib
from mtask_tf.human_eval import task as task_lib


def make_task(items_per_pair=10, pairs=(("mtask_m", "baseline"),), judges_per_item=7):
    """Items whose system alternates between left and right (odd items: system on the right)."""
    items = []
    for a, b in pairs:
        for i in range(items_per_pair):
            sides = [task_lib.Side(a, f"{a} says {i}"), task_lib.Side(b, f"{b} says {i}")]
            if i % 2:
                sides.reverse()
            items.append(
                task_lib.Item(
                    id=f"item-{len(items) + 1:04d}",
                    pair=(a, b),
                    input=i,
                    target="HAMLET",
                    examples=("one", "two"),
                    context="c",
                    message=f"message {i}",
                    left=sides[0],
                    right=sides[1],
                )
            )
    return task_lib.Task(tuple(items), judges_per_item, {"seed": 0}, {})


def rating_for(item, preference):
    """The 1-5 rating that gives `item.pair[0]` this preference (1, 0.75, 0.5, 0.25 or 0)."""
    toward_left = preference if item.side_of(item.pair[0]) == "left" else 1 - preference
    return round(5 - 4 * toward_left)


def answer(judge, item, rating, answer_id=None):
    return answers_lib.Answer(answer_id or f"{judge}/{item.id}/{rating}", judge, item.id, rating)
