"""Sample-and-rerank: an N-best list drawn by seeded sampling over a step function.

A strategy beside `beam_search`, over the same step function (see the
contract in `beam_search`): each batch element draws `num_samples`
responses, word by word, and the distinct ones are returned as a
`BeamSearchResult`, best first, to be MMI-reranked like the beam's list.

Randomness. Every draw is one uniform number, a hash of (seed of the batch
element, sample number, step): the samples of a batch element depend on its
seed and its step function alone, never on its position in the batch or on
the other elements (TensorFlow Serving batches concurrent requests together,
and `decode` batches a file; both give an input the same samples). A word is
then drawn by inverting the cumulative distribution with that number. All
core ops (`tf.strings.to_hash_bucket_fast`, `tf.math.cumsum`,
`tf.searchsorted`), so it runs under the stock TensorFlow Serving binary.
"""

from typing import NamedTuple

import tensorflow as tf

from mtask_tf.decoding import beam_search as beam_search_lib

_NEG_INF = float("-inf")
_HASH_BUCKETS = 1 << 53  # exact in float64: uniforms in [0, 1) on a 2^-53 grid


class SamplingOptions(NamedTuple):
    """How each next word is drawn (the returned scores ignore all of it).

    Applied in this order: the logits are divided by `temperature`, cut to
    the `top_k` most probable words (0: all), then to the smallest set of
    most probable words whose probability reaches `top_p` (1.0: all).
    """

    top_k: int = 0
    top_p: float = 1.0
    temperature: float = 1.0

    def check(self):
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(
                f"sampling: top_k must be 0 (off) or a positive int, got {self.top_k!r}"
            )
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"sampling: top_p must be in (0, 1] (1: off), got {self.top_p!r}")
        if not 0.0 < self.temperature < float("inf"):
            raise ValueError(
                f"sampling: temperature must be positive and finite, got {self.temperature!r}"
            )


def sample(
    step_fn,
    initial_state,
    batch_size,
    *,
    num_samples: int,
    max_length: int,
    seed,
    bos_id: int,
    eos_id: int,
    options: SamplingOptions | None = None,
    blocked_ids=(),
    min_length: int = 0,
    no_repeat_ngram_size: int = 0,
) -> beam_search_lib.BeamSearchResult:
    """Draws `num_samples` responses per batch element; the distinct ones, best first.

    A sample ends with EOS, or after `max_length` tokens: at the last step
    EOS is the only word allowed and the sample gets the model's own
    log p(EOS), as in `beam_search`. Blocked words, EOS before `min_length`
    and words that repeat an n-gram (`no_repeat_ngram_size`) are never drawn.

    Scores: the model's log-probability of each sequence (the sum of
    log-softmax of the step function's logits over its tokens, EOS included),
    not the tempered or truncated distribution it was drawn from. Duplicate
    samples are returned once; their slots, and samples of probability 0,
    are empty (length 0, score -inf, last).

    Args:
        step_fn: `(ids, step, state) -> (logits, new_state)`, see `beam_search`.
        initial_state: nested tensors with leading dimension `batch`, or `()`.
        batch_size: int or int32 scalar tensor.
        num_samples: N, the samples drawn per batch element (a Python int).
        max_length: the most tokens of a sample, EOS included.
        seed: int64 scalar or `[batch]`: the seed of each batch element.
        bos_id, eos_id, blocked_ids, min_length, no_repeat_ngram_size: as
            for `beam_search`.
        options: a `SamplingOptions` (temperature, top-k, top-p); None: plain sampling.

    Returns:
        A `BeamSearchResult` with `nbest == num_samples`.

    Example:
    >>> result = sample(step_fn, (), 2, num_samples=10, max_length=5, seed=7,
    ...                 bos_id=2, eos_id=3, options=SamplingOptions(top_k=3))
    """
    beam_search_lib._check_positive(num_samples=num_samples, max_length=max_length)
    blocked_ids = beam_search_lib._check_blocked(blocked_ids, eos_id)
    guarded = beam_search_lib._check_no_repeat(no_repeat_ngram_size, max_length) > 0
    options = options or SamplingOptions()
    options.check()
    batch_size = tf.convert_to_tensor(batch_size, tf.int32)
    rows = batch_size * num_samples
    seed = tf.broadcast_to(tf.cast(seed, tf.int64), [batch_size])
    sample_number = tf.tile(tf.range(num_samples, dtype=tf.int64), [batch_size])
    keys = (tf.repeat(seed, num_samples), sample_number)

    def draw(step, ids, scores, done, state):
        prev_ids = tf.gather(ids, tf.maximum(step - 1, 0), axis=1)
        logits, state = step_fn(tf.where(step > 0, prev_ids, bos_id), step, state)
        logits = tf.cast(logits, tf.float32)  # [rows, vocab]
        allowed = _allowed_logits(logits, step, max_length, eos_id, blocked_ids, min_length)
        if guarded:
            allowed = _block_repeats(allowed, ids, step, no_repeat_ngram_size)
        words = _draw_words(allowed, options, _uniforms(keys, step))
        possible = tf.gather(allowed, words, batch_dims=1) > _NEG_INF
        log_probs = tf.gather(logits, words, batch_dims=1) - tf.reduce_logsumexp(logits, axis=1)
        live = tf.logical_not(done)
        scores += tf.where(live, tf.where(possible, log_probs, _NEG_INF), 0.0)
        words = tf.where(live, words, 0)  # PAD after EOS
        ids = tf.where(tf.equal(tf.range(max_length), step)[None, :], words[:, None], ids)
        return step + 1, ids, scores, done | tf.equal(words, eos_id), state

    loop_vars = (
        tf.constant(0),
        tf.zeros([rows, max_length], tf.int32),
        tf.zeros([rows], tf.float32),
        tf.zeros([rows], tf.bool),
        beam_search_lib.tile_to_beam(initial_state, num_samples),
    )
    _, ids, scores, _, _ = tf.while_loop(
        lambda step, ids, scores, done, state: tf.logical_and(
            step < max_length, tf.logical_not(tf.reduce_all(done))
        ),
        draw,
        loop_vars,
        shape_invariants=beam_search_lib._any_leading_dim(loop_vars),
        maximum_iterations=max_length,
    )
    return _distinct_best_first(
        tf.reshape(ids, [batch_size, num_samples, max_length]),
        tf.reshape(scores, [batch_size, num_samples]),
        eos_id,
    )


def _allowed_logits(logits, step, max_length, eos_id, blocked_ids, min_length):
    """The logits with every word that may not come at `step` set to -inf."""
    words = tf.range(tf.shape(logits)[1])
    eos = tf.equal(words, eos_id)
    forbidden = tf.logical_or(
        tf.logical_and(eos, step < min_length),  # too early to end
        tf.logical_and(tf.logical_not(eos), step == max_length - 1),  # the last token is EOS
    )
    for word in blocked_ids:
        forbidden |= tf.equal(words, word)
    return tf.where(forbidden[None, :], _NEG_INF, logits)


def _block_repeats(logits, ids, step, n):
    """-inf on each row's words that would repeat one of its n-grams (a min-scatter)."""
    words, blocked = beam_search_lib.repeated_ngram_words(ids, step, n)
    rows = tf.broadcast_to(tf.range(tf.shape(words)[0])[:, None], tf.shape(words))
    indices = tf.reshape(tf.stack([rows, words], axis=-1), [-1, 2])
    updates = tf.reshape(tf.where(blocked, _NEG_INF, float("inf")), [-1])
    return tf.tensor_scatter_nd_min(logits, indices, updates)


def _uniforms(keys, step):
    """One uniform number in [0, 1) per row: a hash of (seed, sample number, step)."""
    seed, sample_number = keys
    text = tf.strings.join(
        [tf.strings.as_string(x) for x in (seed, sample_number, step)],
        separator=":",
    )
    bucket = tf.strings.to_hash_bucket_fast(text, _HASH_BUCKETS)
    return tf.cast(bucket, tf.float64) / float(_HASH_BUCKETS)


def _draw_words(logits, options, uniforms):
    """int32 `[rows]`: one word per row from the tempered, truncated distribution.

    Inverse-CDF sampling: the first candidate whose cumulative probability
    exceeds the row's uniform number. Candidates are the whole vocabulary,
    or with top-k/top-p the most probable words, sorted (top-p needs the
    order; top-k bounds the sort).
    """
    logits = logits / options.temperature
    vocab = tf.shape(logits)[1]
    if options.top_k or options.top_p < 1.0:
        k = tf.minimum(options.top_k, vocab) if options.top_k else vocab
        logits, candidates = tf.math.top_k(logits, k=k)
    else:
        candidates = tf.broadcast_to(tf.range(vocab)[None, :], tf.shape(logits))
    probs = tf.nn.softmax(logits)
    if options.top_p < 1.0:
        # Keep a word while the words before it hold less than top_p (the best always stays).
        before = tf.math.cumsum(probs, axis=1, exclusive=True)
        probs = tf.where(before < options.top_p, probs, 0.0)
    cdf = tf.math.cumsum(tf.cast(probs, tf.float64), axis=1)
    target = uniforms * cdf[:, -1]  # the kept mass, not 1: no renormalising pass
    position = tf.searchsorted(cdf, target[:, None], side="right")[:, 0]
    # Rounding can leave the target at the total; the last candidate that has
    # probability then takes it, never a word of probability 0.
    last = tf.argmax(tf.cast(probs > 0.0, tf.int32) * tf.range(1, tf.shape(probs)[1] + 1), axis=1)
    position = tf.minimum(position, tf.cast(last, position.dtype))
    return tf.gather(candidates, tf.cast(position, tf.int32), batch_dims=1)


def _distinct_best_first(ids, scores, eos_id):
    """Duplicates and impossible samples emptied, then sorted by score: a `BeamSearchResult`.

    ids int32 `[batch, n, time]` (PAD after EOS, so equal rows are equal
    sequences), scores `[batch, n]`.
    """
    same = tf.reduce_all(tf.equal(ids[:, :, None, :], ids[:, None, :, :]), axis=-1)
    n = tf.shape(scores)[1]
    earlier = tf.range(n)[None, :] < tf.range(n)[:, None]  # [i, j]: j < i
    duplicate = tf.reduce_any(same & earlier[None], axis=2)
    filled = tf.logical_and(tf.logical_not(duplicate), scores > _NEG_INF)
    scores = tf.where(filled, scores, _NEG_INF)
    order = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
    ids, scores, filled = (tf.gather(x, order, batch_dims=1) for x in (ids, scores, filled))
    lengths = tf.cast(tf.argmax(tf.cast(tf.equal(ids, eos_id), tf.int32), axis=2), tf.int32) + 1
    return beam_search_lib.BeamSearchResult(
        ids=tf.where(filled[:, :, None], ids, 0),
        lengths=tf.where(filled, lengths, 0),
        scores=scores,
    )
