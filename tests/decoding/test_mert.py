"""MERT for the MMI reranking weights: BLEU statistics, the exact line search, the search."""

import numpy as np
import pytest
import sacrebleu

from mtask_tf.decoding import mert as mert_lib
from mtask_tf.decoding.mert import NBestList
from mtask_tf.decoding.mert import bleu_along_line
from mtask_tf.decoding.mert import bleu_statistics
from mtask_tf.decoding.mert import corpus_bleu
from mtask_tf.decoding.mert import corpus_bleu_from_statistics
from mtask_tf.decoding.mert import mert
from mtask_tf.decoding.mert import rerank

BOUNDS = [None, (0.0, 5.0), (-5.0, 5.0)]  # forward weight fixed; mmi_lambda, mmi_gamma


def _sacrebleu(hypotheses, references):
    return sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none").score


def _random_corpus(rng, size, vocab, max_length):
    def sentence():
        return " ".join(rng.choice(vocab, int(rng.integers(0, max_length + 1))))

    return [sentence() for _ in range(size)], [sentence() for _ in range(size)]


# --- BLEU statistics ---------------------------------------------------------

HAND_MADE = {
    "perfect": (["the cat sat on the mat", "a b c d e"], ["the cat sat on the mat", "a b c d e"]),
    "partial, 13a splits punctuation": (
        ["hello, world! how are you today?", "i am fine thank you", "yes"],
        ["hello world, how are you today ?", "i am fine , thanks", "yes i am"],
    ),
    "no 4-gram matches (exp smoothing)": (["a b x c d y e", "p q r"], ["a b c d e f g", "p q s"]),
    "longer than the reference": (["a b c d e f g h i j"], ["a b c d"]),
    "empty hypothesis": (["", "a b c d e"], ["a b c", "a b c d e"]),
    "nothing matches": (["x y z w"], ["a b c d"]),
    "no 4-grams at all": (["a b", "c d e"], ["a b", "c d e"]),
    "repeated n-grams are clipped": (["the the the the the"], ["the cat is on the mat"]),
    "tokenized period": (["yes it is .", "no ."], ["yes it is .", "no , it is not ."]),
}


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_statistics_score_like_sacrebleu_hand_made(name):
    hypotheses, references = HAND_MADE[name]
    stats = bleu_statistics(hypotheses, references)
    assert stats.shape == (len(hypotheses), 10)
    assert (
        abs(corpus_bleu_from_statistics(stats.sum(axis=0)) - _sacrebleu(hypotheses, references))
        < 1e-9
    )


@pytest.mark.parametrize("seed", range(5))
def test_statistics_score_like_sacrebleu_random(seed):
    rng = np.random.default_rng(seed)
    vocab = ["the", "a", "cat", "dog", "sat", "on", "mat", ",", ".", "?", "it's", "n't"]
    hypotheses, references = _random_corpus(rng, 50, vocab[: 4 + 2 * seed], 12)
    expected = _sacrebleu(hypotheses, references)
    assert 0 < expected < 100  # a corpus that exercises the formula
    stats = bleu_statistics(hypotheses, references)
    assert abs(corpus_bleu_from_statistics(stats.sum(axis=0)) - expected) < 1e-9
    # Any sub-corpus: the rows are per hypothesis, not per corpus.
    subset = rng.permutation(50)[:17]
    assert (
        abs(
            corpus_bleu_from_statistics(stats[subset].sum(axis=0))
            - _sacrebleu([hypotheses[i] for i in subset], [references[i] for i in subset])
        )
        < 1e-9
    )


def test_statistics_score_like_sacrebleu_on_real_text():
    # Real English: the Zen of Python as references; as hypotheses, each line's
    # words with a neighbour's words mixed in (some n-grams of every order match).
    import codecs
    import this

    lines = [line for line in codecs.decode(this.s, "rot13").splitlines() if line.strip()]
    references = [" ".join(line.lower().replace(".", " .").split()) for line in lines]
    hypotheses = [
        " ".join(ref.split()[:5] + references[(i + 1) % len(references)].split()[2:7])
        for i, ref in enumerate(references)
    ]
    expected = _sacrebleu(hypotheses, references)
    assert 1 < expected < 100 and len(references) == 20
    stats = bleu_statistics(hypotheses, references)
    assert abs(corpus_bleu_from_statistics(stats.sum(axis=0)) - expected) < 1e-9


def test_statistics_reject_mismatched_inputs():
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        bleu_statistics(["a b"], ["a", "b"])
    with pytest.raises(ValueError, match="sum the rows"):
        corpus_bleu_from_statistics(bleu_statistics(["a b"], ["a b"]))


# --- The exact line search ---------------------------------------------------

GOOD_1, GOOD_2 = "the cat sat on the mat today", "i like green eggs and ham"


def _tiny_nbest():
    """Two inputs; along mmi_lambda from (1, 0, 0) the 1-best changes at t = -2, 0.25 and 2.

    Input 1, lines a + b*t over (fwd, rev, length): c0 = -1 - 5t, c1 = -2 - t,
    c2 = -4; c0 leads until 0.25, c1 until 2, c2 after. Input 2: d0 = -1 - t,
    d1 = -3 - 2t (leads before -2); d2 is parallel to d0 and below it; d3 is
    identical to d0, so d0 (the lower index) wins the tie.
    """
    first = NBestList(
        np.array([[-1.0, -5.0, 3.0], [-2.0, -1.0, 7.0], [-4.0, 0.0, 4.0]]),
        ["dog dog dog", GOOD_1, "the cat sat"],
    )
    second = NBestList(
        np.array([[-1.0, -1.0, 6.0], [-3.0, -2.0, 2.0], [-1.5, -1.0, 6.0], [-1.0, -1.0, 6.0]]),
        [GOOD_2, "no no", "i like green eggs and spam", "x y z w u v"],
    )
    return [first, second], [GOOD_1, GOOD_2]


# 1-best hypotheses on each interval of the tiny example.
TINY_INTERVALS = [
    ("dog dog dog", "no no"),
    ("dog dog dog", GOOD_2),
    (GOOD_1, GOOD_2),
    ("the cat sat", GOOD_2),
]


def _brute_force_bleu(nbest_lists, references, weights, direction, t):
    """Rerank every input by scores along the line, then ask sacrebleu."""
    best = [np.argmax(n.features @ weights + t * (n.features @ direction)) for n in nbest_lists]
    return _sacrebleu([n.hypotheses[i] for n, i in zip(nbest_lists, best)], references)


def test_line_profile_of_tiny_example():
    nbest_lists, references = _tiny_nbest()
    breakpoints, bleus = bleu_along_line(nbest_lists, references, [1, 0, 0], [0, 1, 0])
    np.testing.assert_allclose(breakpoints, [-2.0, 0.25, 2.0], rtol=0, atol=1e-12)
    expected = [_sacrebleu(list(hyps), references) for hyps in TINY_INTERVALS]
    np.testing.assert_allclose(bleus, expected, rtol=0, atol=1e-9)
    assert np.argmax(bleus) == 2 and bleus[2] == pytest.approx(100.0)


def test_line_profile_matches_brute_force_on_tiny_example():
    nbest_lists, references = _tiny_nbest()
    weights, direction = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    breakpoints, bleus = bleu_along_line(nbest_lists, references, weights, direction)
    ts = np.linspace(-6, 6, 241) + 1e-3  # off the breakpoints
    brute = [_brute_force_bleu(nbest_lists, references, weights, direction, t) for t in ts]
    np.testing.assert_allclose(bleus[np.searchsorted(breakpoints, ts)], brute, atol=1e-9)
    assert max(bleus) == pytest.approx(max(brute), abs=1e-9)


@pytest.mark.parametrize("seed", range(40))
def test_line_profile_matches_brute_force_with_ties(seed):
    """Integer features: parallel, identical and concurrent lines everywhere."""
    rng = np.random.default_rng(seed)
    words = "a b c d e".split()
    nbest_lists, references = [], []
    for _ in range(8):
        size = int(rng.integers(1, 7))
        features = rng.integers(-3, 4, size=(size, 3)).astype(float)
        features[1:2] = features[:1]  # identical candidates when size > 1
        hypotheses = [" ".join(rng.choice(words, int(rng.integers(1, 6)))) for _ in range(size)]
        nbest_lists.append(NBestList(features, hypotheses))
        references.append(" ".join(rng.choice(words, 4)))
    weights = rng.integers(-2, 3, 3).astype(float)
    direction = rng.integers(-2, 3, 3).astype(float) + np.array([0.0, 0.5, 0.0])
    breakpoints, bleus = bleu_along_line(nbest_lists, references, weights, direction)
    assert np.all(np.diff(breakpoints) > 0)
    edges = np.concatenate([[-10.0], breakpoints, [10.0]])
    ts = np.concatenate([(edges[:-1] + edges[1:]) / 2, rng.uniform(-10, 10, 50)])
    ts = ts[np.min(np.abs(ts[:, None] - edges[None, 1:-1]), axis=1, initial=1) > 1e-6]
    brute = [_brute_force_bleu(nbest_lists, references, weights, direction, t) for t in ts]
    np.testing.assert_allclose(bleus[np.searchsorted(breakpoints, ts)], brute, atol=1e-9)


def test_envelope_jumps_straight_to_the_steepest_of_concurrent_lines():
    """Lines through one point: one switch, to the steepest (the lowest index among equals).

    Stopping on a shallower line first would leave a zero-width piece in
    exact arithmetic but, after rounding, a sliver with the wrong 1-best.
    """
    # Row 0: a - b = 1 for all, so they meet at t = 1; rows 3 and 4 are identical.
    # Row 1: the middle of three lines; parallel lines, the highest first.
    a = np.array([[1.0, 0.0, -1.0, -2.0, -2.0], [0.0, 0.3, 0.1, 0.0, 0.0]])
    b = np.array([[-1.0, 0.0, 1.0, 2.0, 2.0], [-1.0, 0.0, 0.0, 1.0, 0.0]])
    valid = np.array([[True] * 5, [True, True, True, True, False]])
    first, (rows, ts, old, new) = mert_lib._upper_envelopes(a, b, valid)
    assert first.tolist() == [0, 0]
    pieces = sorted(zip(rows.tolist(), ts.tolist(), old.tolist(), new.tolist()))
    assert pieces == [(0, 1.0, 0, 3), (1, pytest.approx(-0.3), 0, 1), (1, pytest.approx(0.3), 1, 3)]


def test_line_without_breakpoints():
    """One candidate per input, or parallel lines only: BLEU is constant along the line."""
    nbest_lists = [
        NBestList(np.array([[-1.0, -2.0, 3.0]]), ["a b c"]),
        NBestList(np.array([[-1.0, -2.0, 3.0], [-2.0, -2.0, 3.0]]), ["a b", "b"]),
    ]
    references = ["a b c d", "a b"]
    breakpoints, bleus = bleu_along_line(nbest_lists, references, [1, 0, 0], [0, 1, 1])
    assert breakpoints.shape == (0,)
    assert bleus.tolist() == [pytest.approx(_sacrebleu(["a b c", "a b"], references), abs=1e-9)]
    result = mert(nbest_lists, references, initial_weights=[1, 0, 0], restarts=2)
    assert result.weights.tolist() == [1, 0, 0] and result.bleu == bleus[0]


def test_mert_finds_the_best_interval_of_the_tiny_example():
    nbest_lists, references = _tiny_nbest()
    only_lambda = dict(initial_weights=[1, 0, 0], fixed=(0, 2), restarts=0)
    result = mert(nbest_lists, references, **only_lambda)
    assert 0.25 < result.weights[1] < 2 and result.bleu == pytest.approx(100.0)
    # Bounds clip the search interval: the midpoint of (0.25, 1), inside the box.
    result = mert(nbest_lists, references, bounds=[None, (0, 1), None], **only_lambda)
    assert result.weights[1] == pytest.approx(0.625) and result.bleu == pytest.approx(100.0)
    # Bounds that exclude it: the best reachable interval, (2, inf) cut to (3, 5).
    result = mert(
        nbest_lists,
        references,
        bounds=[None, (3, 5), None],
        **dict(only_lambda, initial_weights=[1, 3, 0]),
    )
    assert 3 <= result.weights[1] <= 5
    assert result.bleu == pytest.approx(_sacrebleu(list(TINY_INTERVALS[3]), references))


# --- The search on synthetic N-best lists ------------------------------------


def _synthetic_nbest(num_inputs, num_candidates, seed, mmi_lambda=1.5, mmi_gamma=0.8):
    """N-best lists where fwd + mmi_lambda * rev + mmi_gamma * length tracks BLEU, plus noise.

    A candidate copies each reference word with probability `quality`; its
    hidden merit rewards quality and a length close to the reference's. The
    forward log-prob favours short candidates and knows nothing of merit, so
    the start (lambda = gamma = 0) picks poor ones.
    """
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(300)])
    nbest_lists, references = [], []
    for _ in range(num_inputs):
        reference = rng.choice(vocab, int(rng.integers(4, 13)))
        features, hypotheses = [], []
        for _ in range(num_candidates):
            length, quality = int(rng.integers(1, 2 * len(reference) + 2)), rng.uniform()
            words = [
                reference[i]
                if i < len(reference) and rng.uniform() < quality
                else rng.choice(vocab)
                for i in range(length)
            ]
            merit = 4 * quality - 0.5 * abs(length - len(reference)) + rng.normal()
            forward = -length + rng.normal()
            reverse = (merit - forward - mmi_gamma * length) / mmi_lambda
            features.append((forward, reverse, length))
            hypotheses.append(" ".join(words))
        nbest_lists.append(NBestList(np.array(features), hypotheses))
        references.append(" ".join(reference))
    return nbest_lists, references


def _grid_search(nbest_lists, references, lambdas, gammas):
    """The best corpus BLEU over a (mmi_lambda, mmi_gamma) grid, computed independently of MERT."""
    stats = [
        bleu_statistics(n.hypotheses, [ref] * len(n.hypotheses))
        for n, ref in zip(nbest_lists, references)
    ]
    forward, reverse, length = (np.stack([n.features[:, i] for n in nbest_lists]) for i in range(3))
    stats = np.stack(stats)  # [inputs, candidates, 10]
    rows = np.arange(len(nbest_lists))
    best = (-np.inf, None)
    for mmi_lambda in lambdas:
        scores = (forward + mmi_lambda * reverse)[None] + gammas[:, None, None] * length[None]
        for mmi_gamma, choice in zip(gammas, np.argmax(scores, axis=2)):
            bleu = corpus_bleu_from_statistics(stats[rows, choice].sum(axis=0))
            if bleu > best[0]:
                best = (bleu, (mmi_lambda, mmi_gamma))
    return best


@pytest.fixture(scope="module")
def synthetic():
    return _synthetic_nbest(200, 20, seed=0)


@pytest.fixture(scope="module")
def synthetic_result(synthetic):
    return mert(*synthetic, initial_weights=[1.0, 0.0, 0.0], bounds=BOUNDS, seed=0)


def test_mert_matches_or_beats_dense_grid_search(synthetic, synthetic_result):
    grid_bleu, _ = _grid_search(*synthetic, np.linspace(0, 5, 101), np.linspace(-5, 5, 101))
    assert synthetic_result.bleu >= grid_bleu - 1e-9


def test_mert_beats_the_start_clearly(synthetic, synthetic_result):
    start = corpus_bleu(*synthetic, [1.0, 0.0, 0.0])
    assert start < 5 and synthetic_result.bleu > start + 30


def test_mert_result_is_consistent(synthetic, synthetic_result):
    nbest_lists, references = synthetic
    weights = synthetic_result.weights
    assert weights[0] == 1.0
    assert 0 <= weights[1] <= 5 and -5 <= weights[2] <= 5
    assert synthetic_result.bleu == corpus_bleu(nbest_lists, references, weights)
    chosen = [n.hypotheses[i] for n, i in zip(nbest_lists, rerank(nbest_lists, weights))]
    assert synthetic_result.bleu == pytest.approx(_sacrebleu(chosen, references), abs=1e-9)
    assert len(synthetic_result.history) == 21
    assert synthetic_result.bleu == max(bleu for _, bleu in synthetic_result.history)


@pytest.mark.parametrize("column", [1, 2])
def test_mert_ends_where_no_axis_move_gains(synthetic, synthetic_result, column):
    """A search ends at a point no move along a tuned axis (in bounds) improves."""
    direction = np.eye(3)[column]
    low, high = BOUNDS[column]
    finals = [(synthetic_result.weights, synthetic_result.bleu)] + synthetic_result.history[:3]
    for weights, bleu in finals:
        breakpoints, bleus = bleu_along_line(*synthetic, weights, direction)
        # Intervals (in t) that reach into the box.
        starts = np.concatenate([[-np.inf], breakpoints]) + weights[column]
        ends = np.concatenate([breakpoints, [np.inf]]) + weights[column]
        reachable = (ends > low) & (starts < high)
        assert bleus[reachable].max() <= bleu + 1e-9


def test_mert_is_deterministic_for_a_seed(synthetic, synthetic_result):
    again = mert(*synthetic, initial_weights=[1.0, 0.0, 0.0], bounds=BOUNDS, seed=0)
    np.testing.assert_array_equal(again.weights, synthetic_result.weights)
    assert again.bleu == synthetic_result.bleu
    for (w1, b1), (w2, b2) in zip(again.history, synthetic_result.history):
        np.testing.assert_array_equal(w1, w2)
        assert b1 == b2


def test_mert_handles_lists_of_different_sizes():
    nbest_lists, references = _synthetic_nbest(30, 6, seed=3)
    nbest_lists = [
        NBestList(n.features[: 1 + i % 6], n.hypotheses[: 1 + i % 6])
        for i, n in enumerate(nbest_lists)
    ]
    result = mert(nbest_lists, references, initial_weights=[1, 0, 0], bounds=BOUNDS, restarts=3)
    assert result.bleu == corpus_bleu(nbest_lists, references, result.weights)
    assert result.bleu >= corpus_bleu(nbest_lists, references, [1, 0, 0])


def test_mert_explains_bad_inputs():
    nbest_lists, references = _tiny_nbest()
    with pytest.raises(ValueError, match="one reference per input"):
        mert(nbest_lists, references[:1], initial_weights=[1, 0, 0])
    with pytest.raises(ValueError, match="3 feature columns"):
        mert(nbest_lists, references, initial_weights=[1, 0])
    with pytest.raises(ValueError, match="outside bounds"):
        mert(nbest_lists, references, initial_weights=[1, 9, 0], bounds=BOUNDS)
    broken = NBestList(np.array([[-np.inf, 0.0, 1.0]]), ["a"])
    with pytest.raises(ValueError, match="drop empty beam slots"):
        mert([broken], ["a"], initial_weights=[1, 0, 0])


def test_mert_tunes_the_bleu_that_evaluation_reports():
    from mtask_tf.evaluation import metrics

    hypotheses = ["my lord , i know not .", "<s> is not </s>", "don't go", "o !"]
    references = ["i know not , my lord .", "it is not", "do not go", "o , o !"]
    stats = bleu_statistics(hypotheses, references).sum(axis=0)
    assert corpus_bleu_from_statistics(stats) == pytest.approx(
        metrics.corpus_bleu(hypotheses, references), abs=1e-9
    )


def test_box_edge_notes_say_when_the_best_region_reaches_an_edge():
    from mtask_tf.decoding.mert import box_edge_notes

    # One input: the reference is the longest candidate, which only a length
    # reward (gamma) above 1 picks; lambda does not matter.
    lists = [
        NBestList(np.array([[-1.0, -1.0, 4.0], [-3.0, -1.0, 6.0]]), ["x y z w", "a b c d e f"])
    ]
    references = ["a b c d e f"]
    result = mert(
        lists, references, initial_weights=[1, 0, 0], bounds=[None, (0, 5), (-5, 5)], restarts=3
    )
    assert result.weights[2] > 1 and result.bleu > 50
    notes = box_edge_notes(lists, references, result.weights, result.bleu, 5.0, 5.0)
    assert any("--max_lambda=10" in n for n in notes)  # lambda is free up to the edge
    assert any("gamma reaches 5" in n and "--max_gamma=10" in n for n in notes)
    # A box where gamma's best interval ends inside: no gamma note.
    inside = box_edge_notes(lists, references, [1.0, 0.0, 1.5], result.bleu, 5.0, 1.0)
    assert not any("gamma" in n for n in inside)
    assert any("lambda reaches the top" in n for n in inside)


def test_one_best_summary_shows_a_length_weight_collapsing_the_responses():
    lists = [
        NBestList(np.array([[-1.0, 0, 2], [-9.0, 0, 5]]), [f"short {i}", "no , no , no"])
        for i in range(4)
    ]
    before = mert_lib.one_best_summary(lists, [1.0, 0.0, 0.0], max_words=5)
    assert (before.mean_words, before.distinct, before.at_limit) == (2.0, 1.0, 0.0)
    after = mert_lib.one_best_summary(lists, [1.0, 0.0, 3.0], max_words=5)  # +3 a word wins
    assert (after.mean_words, after.distinct, after.at_limit) == (5.0, 0.25, 1.0)
