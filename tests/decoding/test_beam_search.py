"""Beam search over step functions: golden scripts, exhaustive and reference checks."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.decoding.beam_search import beam_search
from mtask_tf.decoding.beam_search import gather_beams
from mtask_tf.decoding.beam_search import greedy_search
from mtask_tf.decoding.beam_search import sequence_log_prob
from mtask_tf.decoding.beam_search import tile_to_beam

PAD, UNK, BOS, EOS = 0, 1, 2, 3
VOCAB = 7  # PAD, UNK, BOS, EOS and the words 4, 5, 6
NEVER_GENERATED = (PAD, BOS)
NEG_INF = -np.inf


# --- Step functions ---------------------------------------------------------


def tree_step_fn(tree, max_length):
    """A step function from `{(step, prev_id): {next_id: prob}}`; unlisted words get p = 0."""
    table = np.full([max_length, VOCAB, VOCAB], NEG_INF, np.float32)
    for (step, prev), probs in tree.items():
        for word, prob in probs.items():
            table[step, prev, word] = math.log(prob)
    table = tf.constant(table)

    def step_fn(ids, step, state):
        return tf.gather(tf.gather(table, step), ids), state

    return step_fn


def script_step_fn(ids, step, state):
    """One-hot: row r emits `state["script"][r, step]` with probability 1."""
    next_id = tf.gather(state["script"], step, axis=1)
    return tf.math.log(tf.one_hot(next_id, VOCAB)), state


def _never_generated_mask():
    mask = np.zeros(VOCAB, np.float32)
    mask[list(NEVER_GENERATED)] = NEG_INF
    return mask


def _np_log_softmax(logits):
    finite_max = np.max(logits)
    return logits - finite_max - np.log(np.sum(np.exp(logits - finite_max)))


class TableModel:
    """Random logits indexed by (step, previous word), plus a per-row bias carried in the state."""

    def __init__(self, seed, max_length, batch):
        rng = np.random.default_rng(seed)
        self.logits = 2.0 * rng.normal(size=[max_length, VOCAB, VOCAB])
        self.bias = rng.normal(size=[batch, VOCAB])
        self.mask = _never_generated_mask()

    def initial_state(self):
        return {"bias": tf.constant(self.bias, tf.float32)}

    def step_fn(self, ids, step, state):
        logits = tf.gather(tf.constant(self.logits, tf.float32)[step], ids)
        return tf.nn.log_softmax(logits + state["bias"] + self.mask), state

    def next_log_probs(self, row, prefix):
        prev = prefix[-1] if prefix else BOS
        return _np_log_softmax(self.logits[len(prefix), prev] + self.bias[row] + self.mask)


class RnnModel:
    """A tiny random RNN: its hidden state is the step state, so beams must be reordered."""

    def __init__(self, seed, batch, hidden=4):
        rng = np.random.default_rng(seed)
        self.embedding = rng.normal(size=[VOCAB, hidden])
        self.recurrent = rng.normal(size=[hidden, hidden])
        self.output = 3.0 * rng.normal(size=[hidden, VOCAB])
        self.h0 = rng.normal(size=[batch, hidden])
        self.mask = _never_generated_mask()

    def initial_state(self):
        return {"h": tf.constant(self.h0, tf.float32)}

    def step_fn(self, ids, step, state):
        embedded = tf.gather(tf.constant(self.embedding, tf.float32), ids)
        h = tf.tanh(embedded + state["h"] @ tf.constant(self.recurrent, tf.float32))
        logits = h @ tf.constant(self.output, tf.float32) + self.mask
        return tf.nn.log_softmax(logits), {"h": h}

    def next_log_probs(self, row, prefix):
        h = self.h0[row]
        for prev in (BOS,) + tuple(prefix):
            h = np.tanh(self.embedding[prev] + h @ self.recurrent)
        return _np_log_softmax(h @ self.output + self.mask)


class WideRnnModel(RnnModel):
    """A random RNN with a vocabulary wide enough for the chunked top-k (`_top_k_rows`).

    Its step function returns raw logits; the search gets the blocked words and
    the minimum length, and must neither renormalise over the unblocked words
    nor propose a blocked one.
    """

    min_length = 1

    def __init__(self, seed, batch, vocab=1200, hidden=8):
        rng = np.random.default_rng(seed)
        self.embedding = rng.normal(size=[vocab, hidden])
        self.recurrent = rng.normal(size=[hidden, hidden])
        self.output = 2.0 * rng.normal(size=[hidden, vocab])
        self.output[:, BOS] += 3.0  # blocked words that would often win
        self.h0 = rng.normal(size=[batch, hidden])
        self.mask = np.zeros(vocab)

    def step_fn(self, ids, step, state):
        log_probs, state = super().step_fn(ids, step, state)
        return 5.0 + log_probs, state  # logits: any shift of the log-probabilities

    def next_log_probs(self, row, prefix):
        log_probs = super().next_log_probs(row, prefix)
        log_probs[list(NEVER_GENERATED)] = NEG_INF
        if not prefix:
            log_probs[EOS] = NEG_INF
        return log_probs


MODELS = {
    "table": lambda seed, max_length, batch: TableModel(seed, max_length, batch),
    "rnn": lambda seed, max_length, batch: RnnModel(seed, batch),
}


# --- References -------------------------------------------------------------


def teacher_forced(model, row, sequence):
    return sum(
        model.next_log_probs(row, tuple(sequence[:t]))[word] for t, word in enumerate(sequence)
    )


def exhaustive_ranking(model, row, max_length):
    """Every sequence ending in EOS with at most `max_length` tokens, best first."""
    words = [w for w in range(VOCAB) if w not in NEVER_GENERATED + (EOS,)]
    sequences = [
        prefix + (EOS,) for n in range(max_length) for prefix in itertools.product(words, repeat=n)
    ]
    scored = [(seq, teacher_forced(model, row, seq)) for seq in sequences]
    return sorted(scored, key=lambda item: -item[1])


def reference_beam_search(model, row, beam, max_length, nbest):
    """The documented algorithm, written plainly over Python lists."""
    alive, finished = [((), 0.0)], []
    for step in range(max_length):
        candidates = []
        for prefix, score in alive:
            log_probs = model.next_log_probs(row, prefix)
            eos_rank = np.sum(log_probs > log_probs[EOS])
            if step >= getattr(model, "min_length", 0) and (
                eos_rank < beam or step == max_length - 1
            ):
                finished.append((prefix + (EOS,), score + log_probs[EOS]))
            candidates += [
                (prefix + (w,), score + log_probs[w])
                for w in range(len(log_probs))
                if w != EOS and log_probs[w] > NEG_INF
            ]
        alive = sorted(candidates, key=lambda item: -item[1])[:beam]
    finished = [item for item in finished if item[1] > NEG_INF]
    return sorted(finished, key=lambda item: -item[1])[:nbest]  # nbest None: all


# --- Helpers ----------------------------------------------------------------


def decode(step_fn, initial_state, batch, **kwargs):
    """Runs beam_search inside a tf.function, as in an exported model (no autograph)."""
    search = lambda state: beam_search(step_fn, state, batch, **kwargs)
    return tf.nest.map_structure(
        lambda x: x.numpy(), tf.function(search, autograph=False)(initial_state)
    )


def hypotheses(result, row):
    """The filled slots of one row as [(tokens, score)]."""
    return [
        (tuple(result.ids[row, k, : result.lengths[row, k]]), result.scores[row, k])
        for k in range(result.scores.shape[1])
        if result.lengths[row, k] > 0
    ]


def assert_same_list(got, expected):
    assert [seq for seq, _ in got] == [seq for seq, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=0, atol=1e-4)


def assert_well_formed(result, max_length):
    ids, lengths, scores = result
    assert np.all(scores[:, :-1] >= scores[:, 1:]), "N-best lists must be sorted"
    for row in range(ids.shape[0]):
        seen = set()
        for k in range(ids.shape[1]):
            n = lengths[row, k]
            if n == 0:
                assert scores[row, k] == NEG_INF and not ids[row, k].any()
                continue
            seq = tuple(ids[row, k, :n])
            assert 1 <= n <= max_length and seq[-1] == EOS
            assert EOS not in seq[:-1] and not set(seq) & set(NEVER_GENERATED)
            assert not ids[row, k, n:].any(), "padding must be PAD"
            assert seq not in seen, f"duplicate hypothesis {seq}"
            seen.add(seq)


# --- Golden scripted step functions -----------------------------------------

TREE = {
    (0, BOS): {4: 0.6, 5: 0.4},
    (1, 4): {EOS: 0.7, 6: 0.3},
    (1, 5): {6: 1.0},
    (2, 6): {EOS: 1.0},
}


def test_golden_tree_nbest():
    result = decode(
        tree_step_fn(TREE, 4),
        (),
        1,
        beam_size=2,
        max_length=4,
        nbest=4,
        bos_id=BOS,
        eos_id=EOS,
    )
    np.testing.assert_array_equal(
        result.ids[0],
        [[4, EOS, 0, 0], [5, 6, EOS, 0], [4, 6, EOS, 0], [0, 0, 0, 0]],
    )
    np.testing.assert_array_equal(result.lengths[0], [2, 3, 3, 0])
    np.testing.assert_allclose(result.scores[0], [*np.log([0.42, 0.4, 0.18]), NEG_INF], rtol=1e-6)


def test_golden_tree_beam_one_is_greedy():
    result = decode(
        tree_step_fn(TREE, 4),
        (),
        1,
        beam_size=1,
        max_length=4,
        nbest=3,
        bos_id=BOS,
        eos_id=EOS,
    )
    # 5 is pruned at step 0; "4 6 EOS" survives because B=1 keeps one live beam.
    assert hypotheses(result, 0) == [
        ((4, EOS), pytest.approx(math.log(0.42))),
        ((4, 6, EOS), pytest.approx(math.log(0.18))),
    ]
    greedy = tf.nest.map_structure(
        lambda x: x.numpy(),
        greedy_search(tree_step_fn(TREE, 4), (), 1, max_length=4, bos_id=BOS, eos_id=EOS),
    )
    assert hypotheses(greedy, 0) == [((4, EOS), pytest.approx(math.log(0.42)))]


def test_scripted_rows_decode_exactly():
    scripts = np.array([[4, 5, 6, EOS, 0], [EOS, 0, 0, 0, 0], [6, EOS, 0, 0, 0]], np.int32)
    result = decode(
        script_step_fn,
        {"script": tf.constant(scripts)},
        3,
        beam_size=3,
        max_length=5,
        nbest=2,
        bos_id=BOS,
        eos_id=EOS,
    )
    np.testing.assert_array_equal(result.ids[:, 0], scripts)
    np.testing.assert_array_equal(result.lengths, [[4, 0], [1, 0], [2, 0]])
    np.testing.assert_array_equal(result.scores[:, 0], 0.0)
    np.testing.assert_array_equal(result.scores[:, 1], NEG_INF)
    assert not result.ids[:, 1].any()


def test_eos_as_first_token():
    tree = {(0, BOS): {EOS: 0.5, 4: 0.3, 5: 0.2}, (1, 4): {EOS: 1.0}, (1, 5): {EOS: 1.0}}
    result = decode(
        tree_step_fn(tree, 3),
        (),
        1,
        beam_size=3,
        max_length=3,
        nbest=3,
        bos_id=BOS,
        eos_id=EOS,
    )
    np.testing.assert_array_equal(result.ids[0], [[EOS, 0, 0], [4, EOS, 0], [5, EOS, 0]])
    np.testing.assert_array_equal(result.lengths[0], [1, 2, 2])
    np.testing.assert_allclose(result.scores[0], np.log([0.5, 0.3, 0.2]), rtol=1e-6)


def test_early_exit_stops_once_nothing_can_improve():
    calls = []

    def counting_step_fn(ids, step, state):
        calls.append(step)
        return script_step_fn(ids, step, state)

    # Eager mode runs the loop in Python, so the calls can be counted.
    scripts = tf.constant([[EOS] + [0] * 9, [4, EOS] + [0] * 8], tf.int32)
    result = beam_search(
        counting_step_fn,
        {"script": scripts},
        2,
        beam_size=2,
        max_length=10,
        nbest=1,
        bos_id=BOS,
        eos_id=EOS,
    )
    np.testing.assert_array_equal(result.lengths, [[1], [2]])
    assert len(calls) == 2


def test_last_step_allows_only_eos_with_its_own_probability():
    # EOS is never among the top B words, so only the last step finishes.
    tree = {(0, BOS): {4: 0.9, EOS: 0.1}, (1, 4): {5: 0.8, EOS: 0.2}}
    result = decode(
        tree_step_fn(tree, 2),
        (),
        1,
        beam_size=1,
        max_length=2,
        nbest=2,
        bos_id=BOS,
        eos_id=EOS,
    )
    assert hypotheses(result, 0) == [((4, EOS), pytest.approx(math.log(0.9 * 0.2)))]


# --- Random models: exhaustive, reference and teacher forcing ---------------


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("nbest", [21, 5])
def test_wide_beam_equals_exhaustive_ranking(kind, nbest):
    max_length, batch = 3, 2
    model = MODELS[kind](seed=7, max_length=max_length, batch=batch)
    # 16 = 4 words ** 2 live prefixes before the last step: the whole space.
    result = decode(
        model.step_fn,
        model.initial_state(),
        batch,
        beam_size=16,
        max_length=max_length,
        nbest=nbest,
        bos_id=BOS,
        eos_id=EOS,
    )
    for row in range(batch):
        expected = exhaustive_ranking(model, row, max_length)
        assert len(expected) == 21
        assert_same_list(hypotheses(result, row), expected[:nbest])
    assert hypotheses(result, 0) != hypotheses(result, 1)


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("beam", [1, 2, 3])
def test_narrow_beam_matches_reference_and_teacher_forcing(kind, beam):
    max_length, batch, nbest = 5, 3, 6
    model = MODELS[kind](seed=11, max_length=max_length, batch=batch)
    result = decode(
        model.step_fn,
        model.initial_state(),
        batch,
        beam_size=beam,
        max_length=max_length,
        nbest=nbest,
        bos_id=BOS,
        eos_id=EOS,
    )
    assert_well_formed(result, max_length)
    rescored = (
        sequence_log_prob(
            model.step_fn,
            tile_to_beam(model.initial_state(), nbest),
            result.ids.reshape([batch * nbest, max_length]),
            result.lengths.reshape([-1]),
            BOS,
        )
        .numpy()
        .reshape([batch, nbest])
    )
    filled = result.lengths > 0
    assert filled[:, 0].all()
    np.testing.assert_allclose(rescored[filled], result.scores[filled], atol=1e-4, rtol=0)
    for row in range(batch):
        got = hypotheses(result, row)
        for seq, score in got:
            assert abs(teacher_forced(model, row, seq) - score) < 1e-4
        assert_same_list(got, reference_beam_search(model, row, beam, max_length, nbest))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_full_list_keeps_every_finished_hypothesis(kind):
    """nbest=None: the paper's list, all EOS extensions examined, up to B per step."""
    max_length, batch, beam = 6, 3, 2
    model = MODELS[kind](seed=13, max_length=max_length, batch=batch)
    result = decode(
        model.step_fn,
        model.initial_state(),
        batch,
        beam_size=beam,
        max_length=max_length,
        bos_id=BOS,
        eos_id=EOS,
    )
    assert result.ids.shape == (batch, beam * max_length, max_length)
    assert_well_formed(result, max_length)
    for row in range(batch):
        expected = reference_beam_search(model, row, beam, max_length, nbest=None)
        assert len(expected) > beam  # more than a beam-sized list finishes
        assert_same_list(hypotheses(result, row), expected)


def test_greedy_search_takes_the_argmax():
    max_length, batch = 6, 3
    model = RnnModel(seed=3, batch=batch)
    result = tf.nest.map_structure(
        lambda x: x.numpy(),
        tf.function(greedy_search, autograph=False)(
            model.step_fn,
            model.initial_state(),
            batch,
            max_length=max_length,
            bos_id=BOS,
            eos_id=EOS,
        ),
    )
    for row in range(batch):
        prefix = ()
        while not prefix or prefix[-1] != EOS:
            log_probs = model.next_log_probs(row, prefix)
            last = len(prefix) == max_length - 1
            prefix += (EOS if last else int(np.argmax(log_probs)),)
        assert_same_list(hypotheses(result, row), [(prefix, teacher_forced(model, row, prefix))])


def test_batch_rows_equal_decoding_each_row_alone_in_one_graph():
    model = RnnModel(seed=5, batch=3)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)], autograph=False)
    def search(h0):
        kwargs = dict(beam_size=3, max_length=5, nbest=4, bos_id=BOS, eos_id=EOS)
        return beam_search(model.step_fn, {"h": h0}, tf.shape(h0)[0], **kwargs)

    h0 = model.initial_state()["h"]
    together = tf.nest.map_structure(lambda x: x.numpy(), search(h0))
    assert together.ids.shape == (3, 4, 5)
    rows = [hypotheses(together, row) for row in range(3)]
    assert rows[0] != rows[1] and rows[1] != rows[2]
    for row in range(3):
        alone = tf.nest.map_structure(lambda x: x.numpy(), search(h0[row : row + 1]))
        assert_same_list(hypotheses(alone, 0), rows[row])
    # Another batch size runs the same graph: no retracing.
    assert search.experimental_get_tracing_count() == 1


# --- Helpers ------------------------------------------------------------------


def test_tile_and_gather_beams():
    nested = {"a": tf.constant([[1, 2], [3, 4]]), "b": (tf.constant([10, 20]),)}
    tiled = tile_to_beam(nested, 3)
    np.testing.assert_array_equal(tiled["b"][0], [10, 10, 10, 20, 20, 20])
    gathered = gather_beams({"x": tf.range(6)}, tf.constant([[2, 2, 0], [1, 0, 0]]), 2, 3)
    np.testing.assert_array_equal(gathered["x"], [2, 2, 0, 4, 3, 3])


def test_sequence_log_prob_matches_numpy():
    model = RnnModel(seed=9, batch=3)
    ids = np.array([[4, 5, EOS, 0], [EOS, 0, 0, 0], [6, 6, 4, EOS]], np.int32)
    lengths = np.array([3, 1, 4], np.int32)
    got = sequence_log_prob(model.step_fn, model.initial_state(), ids, lengths, BOS)
    expected = [teacher_forced(model, r, tuple(ids[r, : lengths[r]])) for r in range(3)]
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["beam_size", "max_length", "nbest"])
def test_rejects_sizes_that_are_not_positive(name):
    kwargs = dict(beam_size=2, max_length=3, nbest=2, bos_id=BOS, eos_id=EOS)
    kwargs[name] = 0
    with pytest.raises(ValueError, match=name):
        beam_search(script_step_fn, (), 1, **kwargs)


def test_runs_from_a_saved_model(tmp_path):
    model = RnnModel(seed=5, batch=3)
    kwargs = dict(beam_size=3, max_length=5, nbest=2, bos_id=BOS, eos_id=EOS)
    module = tf.Module()
    module.search = tf.function(
        lambda h0: beam_search(model.step_fn, {"h": h0}, tf.shape(h0)[0], **kwargs)._asdict(),
        input_signature=[tf.TensorSpec([None, 4], tf.float32)],
        autograph=False,
    )
    h0 = model.initial_state()["h"]
    expected = module.search(h0)
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    for batch in (1, 3):
        got = loaded.search(h0[:batch])
        np.testing.assert_array_equal(got["ids"], expected["ids"][:batch])
        np.testing.assert_allclose(got["scores"], expected["scores"][:batch], atol=1e-5)


def hide_vocabulary_size(step_fn):
    def wrapped(ids, step, state):
        log_probs, state = step_fn(ids, step, state)
        log_probs = tf.reshape(log_probs, [tf.shape(ids)[0], -1])
        assert log_probs.shape[-1] is None
        return log_probs, state

    return wrapped


def test_vocabulary_size_unknown_at_trace_time():
    result = decode(
        hide_vocabulary_size(tree_step_fn(TREE, 4)),
        (),
        1,
        beam_size=1,
        max_length=4,
        nbest=3,
        bos_id=BOS,
        eos_id=EOS,
    )
    # At step 1, EOS is the best word: B non-EOS words must still be found.
    assert [seq for seq, _ in hypotheses(result, 0)] == [(4, EOS), (4, 6, EOS)]

    model = TableModel(seed=13, max_length=5, batch=2)
    result = decode(
        hide_vocabulary_size(model.step_fn),
        model.initial_state(),
        2,
        beam_size=3,
        max_length=5,
        nbest=4,
        bos_id=BOS,
        eos_id=EOS,
    )
    for row in range(2):
        expected = reference_beam_search(model, row, beam=3, max_length=5, nbest=4)
        assert_same_list(hypotheses(result, row), expected)


# --- Chunked top-k over wide vocabularies -------------------------------------


@pytest.mark.parametrize(
    "vocab, k, blocked",
    [
        (3000, 11, (0, 1, 2)),
        (3000, 11, (0, 7, 1500, 2999)),
        (4096, 51, ()),
        (1201, 5, (0,)),  # 1201 is prime: no chunking, the plain top-k
    ],
)
def test_top_k_rows_equals_top_k_over_unblocked_words(vocab, k, blocked):
    from mtask_tf.decoding import beam_search as beam_search_lib

    rng = np.random.default_rng(vocab + k)
    logits = rng.normal(size=[6, vocab]).astype(np.float32)
    logits[0, 100:140] += 10.0  # row 0: every best word in one or two chunks
    logits[1, list(blocked)] += 20.0  # row 1: blocked words are the row maxima
    logits[2, ::97] += 5.0  # row 2: one good word in many chunks
    if vocab != 1201:
        assert beam_search_lib._chunk_size(vocab, k + len(blocked)) is not None
    top_k_rows = lambda x: beam_search_lib._top_k_rows(x, k, blocked)
    values, words, row_max = tf.function(top_k_rows, autograph=False)(tf.constant(logits))
    masked = logits.copy()
    masked[:, list(blocked)] = NEG_INF
    expected = np.sort(masked, axis=1)[:, ::-1][:, :k]
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(np.take_along_axis(masked, words.numpy(), axis=1), expected)
    np.testing.assert_array_equal(row_max, logits.max(axis=1))


@pytest.mark.parametrize("beam", [1, 4, 12])
def test_wide_vocabulary_with_blocked_words_matches_reference(beam):
    max_length, batch, nbest = 6, 2, 8
    model = WideRnnModel(seed=21, batch=batch)
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
    )
    assert_well_formed(result, max_length)
    for row in range(batch):
        got = hypotheses(result, row)
        assert got and all(len(seq) >= 2 for seq, _ in got)  # never an empty response
        assert_same_list(got, reference_beam_search(model, row, beam, max_length, nbest))


def test_log_normalizer_is_exact_for_large_and_impossible_rows():
    from mtask_tf.decoding import beam_search as beam_search_lib

    logits = np.random.default_rng(0).normal(size=[4, 500]).astype(np.float32)
    logits[1] += 200.0  # exp() would overflow without the shift
    logits[2] -= 200.0  # ... and underflow to an all-zero row
    logits[3] = NEG_INF  # no possible word
    x = tf.constant(logits)
    got = beam_search_lib._log_normalizer(x, tf.reduce_max(x, axis=-1)).numpy()
    np.testing.assert_allclose(got[:3], tf.reduce_logsumexp(x[:3], axis=-1), rtol=1e-6)
    assert got[3] == 0.0
    safe = beam_search_lib._log_normalizer(x[:1], tf.reduce_max(x[:1], axis=-1))
    np.testing.assert_allclose(safe, tf.reduce_logsumexp(x[:1], axis=-1), rtol=1e-6)


def test_eos_cannot_be_blocked():
    with pytest.raises(ValueError, match="EOS"):
        beam_search(
            script_step_fn,
            (),
            1,
            beam_size=2,
            max_length=3,
            nbest=2,
            bos_id=BOS,
            eos_id=EOS,
            blocked_ids=(PAD, EOS),
        )


@pytest.mark.parametrize(
    "min_length, expected",
    [
        (0, [((EOS,), math.log(0.9)), ((4, EOS), math.log(0.1))]),
        (1, [((4, EOS), math.log(0.1))]),  # not renormalised: p(4) stays 0.1
    ],
)
def test_min_length_keeps_eos_out_without_renormalising(min_length, expected):
    tree = {(0, BOS): {EOS: 0.9, 4: 0.1}, (1, 4): {EOS: 1.0}}
    result = decode(
        tree_step_fn(tree, 2),
        (),
        1,
        beam_size=2,
        max_length=2,
        nbest=3,
        bos_id=BOS,
        eos_id=EOS,
        min_length=min_length,
    )
    assert_same_list(hypotheses(result, 0), expected)
