"""The helpers evaluate runs around each system: sampling, references, 1-best measures."""

import pytest

from mtask_tf.data import records
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.evaluation import responses as responses_lib


def _rows(n):
    return [records.Triple("HAMLET", "", f"message {i}", f"Reply {i}, my LORD!") for i in range(n)]


def test_sample_rows_is_seeded_in_order_and_all_when_count_covers_the_file():
    rows = _rows(50)
    sample = responses_lib.sample_rows(rows, 10, seed=3)
    assert sample == responses_lib.sample_rows(rows, 10, seed=3)
    assert sample != responses_lib.sample_rows(rows, 10, seed=4)
    assert len(sample) == 10 and sample == sorted(sample, key=rows.index)
    assert responses_lib.sample_rows(rows, 0, 1) == rows == responses_lib.sample_rows(rows, 80, 1)


def test_shuffled_inputs_give_every_row_another_rows_input_and_keep_speakers_and_responses():
    rows = [
        records.Triple(f"S{i % 3}", f"context {i}", f"message {i}", f"reply {i}") for i in range(30)
    ]
    shuffled = responses_lib.shuffled_inputs(rows, seed=2)
    assert [(r.speaker, r.response) for r in shuffled] == [(r.speaker, r.response) for r in rows]
    inputs = [(r.context, r.message) for r in rows]
    moved = [(r.context, r.message) for r in shuffled]
    assert sorted(moved) == sorted(inputs)  # every input used once
    assert all(m != i for m, i in zip(moved, inputs))  # none kept its own
    assert all(m.split()[1] == c.split()[1] for c, m in moved)  # context and message together
    assert responses_lib.shuffled_inputs(rows, seed=2) == shuffled
    assert responses_lib.shuffled_inputs(rows, seed=3) != shuffled
    assert (
        responses_lib.shuffled_inputs(rows[:1]) == rows[:1]
        and responses_lib.shuffled_inputs([]) == []
    )


def test_references_are_tokenised_like_hypotheses_without_unknown_words():
    assert responses_lib.references(_rows(1)) == ["reply 0 , my lord !"]
    assert tokenizer_lib.split_texts([]) == []


def test_generation_metrics_of_a_collapsed_system():
    collapsed = ["my lord ."] * 3 + ["no no , no"]
    # Words as the decoder counts them (EOS not included); the cap of max_length 4 is 3.
    metrics = responses_lib.generation_metrics(
        collapsed, ["my lord .", "no", "yes sir", "go"], [3, 3, 3, 2], max_length=4
    )
    assert metrics["distinct_responses"] == pytest.approx(0.5)
    assert metrics["distinct_1"] == pytest.approx(5 / 13)
    assert metrics["mean_length"] == pytest.approx(11 / 4)
    assert metrics["length_cap_share"] == pytest.approx(0.75)
    assert metrics["repetition_share"] == pytest.approx(0.25)
    low, high = metrics["distinct_responses_interval"]
    assert low <= 0.5 <= high
    assert set(metrics) == {
        "bleu",
        "distinct_1",
        "distinct_2",
        "ent_4",
        "distinct_responses",
        "distinct_responses_interval",
        "mean_length",
        "length_cap_share",
        "repetition_share",
    }
