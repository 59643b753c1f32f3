"""Corpus BLEU, distinct-n, Ent-n, distinct responses and relative change, by hand."""

import math

import pytest
import sacrebleu

from mtask_tf.evaluation import metrics

HYPOTHESES = ["i do n't know <unk> .", "good night sweet prince", "the cat sat on a mat"]
REFERENCES = ["i don't know <unk> !", "good night , sweet prince", "the cat sat on the mat"]


def test_corpus_bleu_equals_a_direct_sacrebleu_call_on_pretokenised_text():
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], tokenize="none").score
    assert metrics.corpus_bleu(HYPOTHESES, REFERENCES) == pytest.approx(expected)
    # "13a" would split "<unk>" into "< unk >" and give a different score.
    retokenised = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], tokenize="13a").score
    assert metrics.corpus_bleu(HYPOTHESES, REFERENCES) != pytest.approx(retokenised)


def test_corpus_bleu_is_corpus_level_not_a_sentence_average():
    sentence_mean = sum(
        sacrebleu.sentence_bleu(h, [r], tokenize="none").score
        for h, r in zip(HYPOTHESES, REFERENCES)
    ) / len(HYPOTHESES)
    assert metrics.corpus_bleu(HYPOTHESES, REFERENCES) != pytest.approx(sentence_mean)


def test_corpus_bleu_of_identical_corpora_is_100():
    assert metrics.corpus_bleu(REFERENCES, REFERENCES) == pytest.approx(100.0)


def test_corpus_bleu_of_disjoint_corpora_is_0():
    assert metrics.corpus_bleu(["x y z w"], ["a b c d"]) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "hypotheses, references, error, match",
    [
        ([], [], ValueError, "empty"),
        (["a b"], ["a b", "c d"], ValueError, "1 hypotheses and 2 references"),
        ("a b", ["a b"], TypeError, "list of strings"),
    ],
)
def test_corpus_bleu_rejects_bad_input(hypotheses, references, error, match):
    with pytest.raises(error, match=match):
        metrics.corpus_bleu(hypotheses, references)


@pytest.mark.parametrize(
    "hypotheses, n, expected",
    [
        (["a a b"], 1, 2 / 3),  # {a, b} over 3 tokens
        (["a a b"], 2, 2 / 3),  # {a a, a b} over 3 tokens
        (["a b c"], 2, 2 / 3),  # over tokens (3), not over bigrams (2)
        (["a b c"], 3, 1 / 3),
        (["a"], 2, 0.0),  # no bigram in a one-token response
        (["a b", "a b"], 1, 2 / 4),  # distinct over the whole corpus
        (["a b", "a b"], 2, 1 / 4),
        (["a b", "c d"], 2, 2 / 4),  # "b c" spans two responses: not an n-gram
        (["a  b\tc "], 1, 3 / 3),  # white-space split
    ],
)
def test_distinct_n_hand_computed(hypotheses, n, expected):
    assert metrics.distinct_n(hypotheses, n) == pytest.approx(expected)


@pytest.mark.parametrize("hypotheses", [[], [""], ["", "  "]])
def test_distinct_n_without_tokens_is_0(hypotheses):
    assert metrics.distinct_n(hypotheses, 1) == 0.0
    assert metrics.distinct_n(hypotheses, 2) == 0.0


def test_distinct_n_rejects_bad_input():
    with pytest.raises(ValueError, match="n >= 1"):
        metrics.distinct_n(["a b"], 0)
    with pytest.raises(TypeError, match="list of strings"):
        metrics.distinct_n("a b", 1)


def test_relative_change():
    assert metrics.relative_change(32.27, 56.33) == pytest.approx(-24.06 / 56.33)
    assert metrics.relative_change(1.76, 1.32) == pytest.approx(0.44 / 1.32)
    with pytest.raises(ValueError, match="baseline of 0"):
        metrics.relative_change(1.0, 0.0)


@pytest.mark.parametrize(
    "hypotheses, n, expected",
    [
        (["a b c d", "a b c d"], 4, 0.0),  # one 4-gram, however often
        (["a b c d e"], 4, math.log(2)),  # "a b c d", "b c d e"
        (["a b c d", "e f g h", "i j k l"], 4, math.log(3)),
        (
            ["a b c d", "a b c d", "e f g h"],
            4,  # p = 2/3, 1/3
            -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)),
        ),
        (["a b c", "x y", "a b c d"], 4, 0.0),  # shorter than n: no 4-gram
        (["a b c", "x y"], 4, 0.0),
        (["a a b b"], 1, math.log(2)),
        (["a b", "c d"], 2, math.log(2)),  # "b c" spans two responses
        ([], 4, 0.0),
        ([""], 4, 0.0),
    ],
)
def test_ngram_entropy_hand_computed_in_nats(hypotheses, n, expected):
    entropy = metrics.ngram_entropy(hypotheses, n)
    assert entropy == pytest.approx(expected)
    assert math.copysign(1.0, entropy) == 1.0  # never -0.0, which prints as "-0.00"


def test_ngram_entropy_counts_every_occurrence_unlike_distinct_n():
    even, skewed = ["a b c d", "e f g h"], ["a b c d"] * 9 + ["e f g h"]
    assert metrics.distinct_n(even, 4) > metrics.distinct_n(skewed, 4)
    assert metrics.ngram_entropy(even, 4) == pytest.approx(math.log(2))
    assert 0 < metrics.ngram_entropy(skewed, 4) < math.log(2)


def test_ngram_entropy_rejects_bad_input():
    with pytest.raises(ValueError, match="n >= 1"):
        metrics.ngram_entropy(["a b"], 0)
    with pytest.raises(TypeError, match="list of strings"):
        metrics.ngram_entropy("a b c d", 4)


@pytest.mark.parametrize(
    "hypotheses, expected",
    [
        (["a b", "a b", "c"], 2 / 3),
        (["my lord ."] * 9 + ["good night ."], 2 / 10),  # one line for most inputs
        (["a b", "a  b", " a b"], 1 / 3),  # white space does not count
        (["a b", "b a"], 1.0),
        ([""], 1.0),
        ([], 0.0),
    ],
)
def test_distinct_responses(hypotheses, expected):
    assert metrics.distinct_responses(hypotheses) == pytest.approx(expected)


def test_distinct_responses_rejects_a_single_string():
    with pytest.raises(TypeError, match="list of strings"):
        metrics.distinct_responses("my lord")


def test_sample_rows_is_seeded_in_file_order_and_all_for_zero():
    from mtask_tf.evaluation import systems

    rows = list(range(100))
    sample = systems.sample_rows(rows, 10, seed=4)
    assert len(sample) == 10 and sample == sorted(sample)
    assert systems.sample_rows(rows, 10, seed=4) == sample != systems.sample_rows(rows, 10, 5)
    assert max(sample) > 50  # spread over the file, not its first rows
    assert systems.sample_rows(rows, 0, 4) == rows == systems.sample_rows(rows, 500, 4)
