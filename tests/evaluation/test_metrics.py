"""Corpus BLEU, distinct-n, Ent-n, distinct responses, length, repetition and intervals, by hand."""

import math

import numpy as np
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
    from mtask_tf.evaluation import responses as responses_lib

    rows = list(range(100))
    sample = responses_lib.sample_rows(rows, 10, seed=4)
    assert len(sample) == 10 and sample == sorted(sample)
    assert (
        responses_lib.sample_rows(rows, 10, seed=4)
        == sample
        != responses_lib.sample_rows(rows, 10, 5)
    )
    assert max(sample) > 50  # spread over the file, not its first rows
    every = responses_lib.sample_rows(rows, 0, 4)
    assert every == rows == responses_lib.sample_rows(rows, 500, 4)


@pytest.mark.parametrize(
    "hypotheses, expected",
    [
        (["a b", "a b", "c"], [1 / 2, 1 / 2, 1]),
        (["a b", "a  b", "b a", "x"], [1 / 2, 1 / 2, 1, 1]),
        ([""], [1.0]),
    ],
)
def test_distinct_response_weights_average_to_the_share_of_distinct_responses(hypotheses, expected):
    weights = metrics.distinct_response_weights(hypotheses)
    assert weights.tolist() == pytest.approx(expected)
    assert weights.mean() == pytest.approx(metrics.distinct_responses(hypotheses))


def test_length_measures_hand_computed():
    # max_length 5: EOS is the fifth token, so the cap is 4 words.
    measures = metrics.length_measures([4, 2, 4, 0, 1], max_length=5)
    assert measures == {"mean_length": pytest.approx(11 / 5), "length_cap_share": 2 / 5}
    assert metrics.length_measures([3, 3], max_length=20)["length_cap_share"] == 0.0
    assert metrics.length_measures([1], max_length=2) == {
        "mean_length": 1.0,
        "length_cap_share": 1.0,
    }


def test_length_measures_reject_lengths_the_decoder_cannot_make():
    with pytest.raises(ValueError, match=r"\[0, 4\] words with max_length 5.*got 0 to 5"):
        metrics.length_measures([0, 5], max_length=5)
    with pytest.raises(ValueError, match="non-empty"):
        metrics.length_measures([], max_length=5)


@pytest.mark.parametrize(
    "response",
    [
        "no no no",
        "well , no no no !",
        "no , no , no",
        "no no , no",
        "no ! no ... no",  # the tokenizer's "!" and ". . ." alike
        "no . . . no . . . no",
        "i am no no no more",
        "ha ha ha ha",
        "1 1 1",
        "don't don't don't",
    ],
)
def test_repeats_a_word_with_only_punctuation_between(response):
    assert metrics.repeats_a_word(response)


@pytest.mark.parametrize(
    "response",
    [
        "no no",
        "no , no",
        "no not no no",  # a word between
        "no , not , no , no",
        "no no <unk> no",  # <unk> is a word: it interrupts
        ". . .",  # an ellipsis is punctuation, not a repeated word
        "! ! ! !",
        "<unk> <unk> <unk>",  # unknown words may all be different
        "no No no",  # tokens are compared as they are (ours are lower-cased)
        "",
    ],
)
def test_repeats_a_word_negatives(response):
    assert not metrics.repeats_a_word(response)


def test_repeats_a_word_times_and_share():
    assert metrics.repeats_a_word("no no", times=2)
    assert not metrics.repeats_a_word("no no no", times=4)
    with pytest.raises(ValueError, match="times >= 2"):
        metrics.repeats_a_word("no", times=1)
    responses = ["no no no", "no , no", "yes , yes , yes .", "my lord"]
    assert metrics.repetition_share(responses) == 2 / 4
    assert metrics.repetition_share([]) == 0.0
    with pytest.raises(TypeError, match="list of strings"):
        metrics.repetition_share("no no no")


def test_group_mean_weighs_every_group_the_same():
    # Group a: 3 of 3; group b: 0 of 1. Plain mean 3/4, group mean 1/2.
    assert metrics.group_mean([1, 1, 0, 1], ["a", "a", "b", "a"]) == 0.5
    with pytest.raises(ValueError, match="group_mean needs one group per value, got 2 values"):
        metrics.group_mean([1, 0], ["a"])


def test_bootstrap_interval_is_a_direct_numpy_percentile_bootstrap():
    values = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1, 1], dtype=float)
    rng = np.random.default_rng(7)
    means = values[rng.integers(0, 10, size=(500, 10))].mean(axis=1)
    expected = np.percentile(means, [5, 95])
    interval = metrics.bootstrap_interval(values, resamples=500, level=0.9, seed=7)
    assert interval == pytest.approx(tuple(expected))
    assert interval == metrics.bootstrap_interval(values, resamples=500, level=0.9, seed=7)
    assert interval != metrics.bootstrap_interval(values, resamples=500, level=0.9, seed=8)


def test_bootstrap_interval_known_properties():
    # Two inputs, 0 and 1: a resample's mean is 0, 1/2 or 1 with probabilities
    # 1/4, 1/2, 1/4, so the 2.5th and 97.5th percentiles are 0 and 1.
    assert metrics.bootstrap_interval([0, 1]) == (0.0, 1.0)
    # Every input the same: no spread.
    assert metrics.bootstrap_interval([0.25] * 7) == (0.25, 0.25)
    # 400 coin flips, half hits: the interval is about the normal one,
    # 0.5 +- 1.96 * sqrt(0.25 / 400) = 0.5 +- 0.049.
    low, high = metrics.bootstrap_interval([0, 1] * 200, resamples=2000)
    assert low == pytest.approx(0.451, abs=0.01) and high == pytest.approx(0.549, abs=0.01)
    wider = metrics.bootstrap_interval([0, 1] * 200, resamples=2000, level=0.99)
    assert wider[0] < low and wider[1] > high


def test_bootstrap_interval_resamples_within_groups():
    # Group a is all hits, group b all misses: each group's resampled mean is
    # fixed, so the mean over groups is 1/2 in every resample; resampling the
    # inputs together would let the share of a's rows, and the mean, vary.
    values, groups = [1, 1, 1, 0], ["a", "a", "a", "b"]
    assert metrics.bootstrap_interval(values, groups) == (0.5, 0.5)
    assert metrics.bootstrap_interval(values)[0] < 0.5
    estimate, interval = metrics.mean_with_interval(values, groups)
    assert estimate == 0.5 and interval == (0.5, 0.5)
    estimate, (low, high) = metrics.mean_with_interval(values)
    assert estimate == 0.75 and low < 0.75 < high


def test_bootstrap_interval_rejects_bad_arguments():
    with pytest.raises(ValueError, match="level in \\(0, 1\\)"):
        metrics.bootstrap_interval([1, 0], level=95)
    with pytest.raises(ValueError, match="at least one resample"):
        metrics.bootstrap_interval([1, 0], resamples=0)
    with pytest.raises(ValueError, match="bootstrap_interval needs a non-empty list"):
        metrics.bootstrap_interval([])
    with pytest.raises(ValueError, match="2 values and 3 groups"):
        metrics.bootstrap_interval([1, 0], ["a", "b", "c"])
