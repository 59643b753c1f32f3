"""The loop guard (no_repeat_ngram_size): scripted, exhaustive and reference checks."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.decoding.beam_search import beam_search
from mtask_tf.decoding.beam_search import greedy_search
from mtask_tf.decoding.beam_search import repeated_ngram_words
from tests.decoding.test_beam_search import BOS
from tests.decoding.test_beam_search import EOS
from tests.decoding.test_beam_search import MODELS
from tests.decoding.test_beam_search import NEG_INF
from tests.decoding.test_beam_search import NEVER_GENERATED
from tests.decoding.test_beam_search import VOCAB
from tests.decoding.test_beam_search import WideRnnModel
from tests.decoding.test_beam_search import assert_same_list
from tests.decoding.test_beam_search import assert_well_formed
from tests.decoding.test_beam_search import decode
from tests.decoding.test_beam_search import hypotheses
from tests.decoding.test_beam_search import teacher_forced


def repeats_ngram(sequence, n):
    """Whether the words of `sequence` (EOS dropped) hold some n-gram twice."""
    words = [w for w in sequence if w != EOS]
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


# A bigram model that loves the loop 4 5 4 5 ...: each row is p(next | prev).
LOOP = {
    BOS: {4: 0.7, 5: 0.1, 6: 0.12, EOS: 0.08},
    4: {5: 0.6, 6: 0.2, 4: 0.12, EOS: 0.08},
    5: {4: 0.6, 6: 0.2, 5: 0.12, EOS: 0.08},
    6: {4: 0.5, 5: 0.3, 6: 0.12, EOS: 0.08},
}


def loop_step_fn(ids, step, state):
    table = np.full([VOCAB, VOCAB], NEG_INF, np.float32)
    for prev, probs in LOOP.items():
        for word, prob in probs.items():
            table[prev, word] = math.log(prob)
    return tf.gather(tf.constant(table), ids), state


def loop_log_prob(sequence):
    return sum(math.log(LOOP[prev][word]) for prev, word in zip((BOS, *sequence), sequence))


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, (4, 5, 4, 5, 4, EOS)),  # the loop, cut at max_length
        (2, (4, 5, 4, 6, 4, EOS)),  # "4 5" again is blocked: the second-best word, 6
        (3, (4, 5, 4, 5, 6, EOS)),  # "4 5 4" again is blocked
        (1, (4, 5, 6, EOS)),  # no word twice: after 4 5 6 only EOS is left
    ],
)
def test_greedy_takes_the_best_word_that_repeats_no_ngram(n, expected):
    result = tf.nest.map_structure(
        lambda x: x.numpy(),
        tf.function(greedy_search, autograph=False)(
            loop_step_fn, (), 1, max_length=6, bos_id=BOS, eos_id=EOS, no_repeat_ngram_size=n
        ),
    )
    # Blocking is not renormalised: the score is the model's log-probability.
    assert_same_list(hypotheses(result, 0), [(expected, loop_log_prob(expected))])


def test_beam_list_of_the_loop_model_repeats_no_ngram():
    kwargs = dict(beam_size=4, max_length=8, bos_id=BOS, eos_id=EOS)
    plain = decode(loop_step_fn, (), 1, **kwargs)
    assert any(repeats_ngram(seq, 2) for seq, _ in hypotheses(plain, 0))  # the guard has work
    guarded = decode(loop_step_fn, (), 1, no_repeat_ngram_size=2, **kwargs)
    got = hypotheses(guarded, 0)
    assert len(got) > 4
    for seq, score in got:
        assert not repeats_ngram(seq, 2), seq
        assert score == pytest.approx(loop_log_prob(seq), abs=1e-4)


def exhaustive_ranking_without_repeats(model, row, max_length, n):
    words = [w for w in range(VOCAB) if w not in NEVER_GENERATED + (EOS,)]
    sequences = [
        prefix + (EOS,)
        for length in range(max_length)
        for prefix in itertools.product(words, repeat=length)
        if not repeats_ngram(prefix, n)
    ]
    scored = [(seq, teacher_forced(model, row, seq)) for seq in sequences]
    return sorted(scored, key=lambda item: -item[1])


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("n", [1, 2, 3])
def test_wide_beam_equals_exhaustive_ranking_of_sequences_without_repeats(kind, n):
    max_length, batch = 5, 2
    model = MODELS[kind](seed=17, max_length=max_length, batch=batch)
    # 256 = 4 words (UNK, 4, 5, 6) ** 4 live prefixes before the last step: the whole space.
    result = decode(
        model.step_fn,
        model.initial_state(),
        batch,
        beam_size=256,
        max_length=max_length,
        bos_id=BOS,
        eos_id=EOS,
        no_repeat_ngram_size=n,
    )
    assert_well_formed(result, max_length)
    for row in range(batch):
        expected = exhaustive_ranking_without_repeats(model, row, max_length, n)
        assert len(expected) < sum(4**k for k in range(max_length))  # some were blocked
        assert_same_list(hypotheses(result, row), expected)


def reference_beam_search_without_repeats(model, row, beam, max_length, nbest, n):
    """`reference_beam_search` with the words that repeat an n-gram never proposed."""
    alive, finished = [((), 0.0)], []
    for step in range(max_length):
        candidates = []
        for prefix, score in alive:
            log_probs = model.next_log_probs(row, prefix)
            allowed = log_probs.copy()
            for word in range(len(allowed)):
                if word != EOS and repeats_ngram(prefix + (word,), n):
                    allowed[word] = NEG_INF
            eos_rank = np.sum(allowed > log_probs[EOS])
            if step >= model.min_length and (eos_rank < beam or step == max_length - 1):
                finished.append((prefix + (EOS,), score + log_probs[EOS]))
            candidates += [
                (prefix + (w,), score + log_probs[w])
                for w in range(len(log_probs))
                if w != EOS and allowed[w] > NEG_INF
            ]
        alive = sorted(candidates, key=lambda item: -item[1])[:beam]
    finished = [item for item in finished if item[1] > NEG_INF]
    return sorted(finished, key=lambda item: -item[1])[:nbest]


@pytest.mark.parametrize("beam, n", [(1, 1), (3, 2), (5, 1), (4, 3)])
def test_wide_vocabulary_matches_reference_with_the_guard(beam, n):
    """The chunked top-k path: B + 1 + W candidates per beam keep the search exact."""
    max_length, batch, nbest = 6, 2, 7
    model = WideRnnModel(seed=23, batch=batch, vocab=1200)
    # A vocabulary of 1200 that loops: the most probable next word is often an earlier one.
    model.output[:, 4:8] += 4.0
    result = decode(
        model.step_fn,
        model.initial_state(),
        batch,
        beam_size=beam,
        max_length=max_length,
        nbest=nbest,
        bos_id=BOS,
        eos_id=EOS,
        blocked_ids=NEVER_GENERATED,
        min_length=1,
        no_repeat_ngram_size=n,
    )
    for row in range(batch):
        expected = reference_beam_search_without_repeats(model, row, beam, max_length, nbest, n)
        assert_same_list(hypotheses(result, row), expected)


def test_repeated_ngram_words_lists_the_completions_of_earlier_ngrams():
    ids = tf.constant([[4, 5, 6, 4, 5, 0, 0], [4, 4, 4, 0, 0, 0, 0]])
    words, blocked = repeated_ngram_words(ids, tf.constant(5), 3)
    got = [sorted(set(w[b].tolist())) for w, b in zip(words.numpy(), blocked.numpy())]
    assert got == [[6], []]  # row 0 ends "4 5" as at 0..1, so 6 would repeat "4 5 6"
    words, blocked = repeated_ngram_words(ids, tf.constant(3), 2)
    got = [sorted(set(w[b].tolist())) for w, b in zip(words.numpy(), blocked.numpy())]
    assert got == [[], [4]]  # row 1 ends "4" after "4 4": 4 again repeats "4 4"


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_rejects_a_bad_ngram_size(bad):
    with pytest.raises(ValueError, match="no_repeat_ngram_size must be 0 \\(off\\) or a positive"):
        beam_search(
            loop_step_fn,
            (),
            1,
            beam_size=2,
            max_length=4,
            bos_id=BOS,
            eos_id=EOS,
            no_repeat_ngram_size=bad,
        )
