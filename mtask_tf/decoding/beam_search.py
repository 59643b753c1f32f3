"""In-graph beam search over a step function (Luan et al. 2017, section 6.4).

Decoding knows nothing about models. A model is reached only through a step
function

    step_fn(ids, step, state) -> (logits, new_state)

where `ids` is int32 `[batch * beam]` (the previous token of every hypothesis,
BOS at step 0), `step` an int32 scalar (the 0-based position of the token
being predicted), `state` a nested structure of tensors whose leading
dimension is `batch * beam` (batch-major: the beams of batch element `b` are
rows `b * beam ... b * beam + beam - 1`), and `logits` float
`[batch * beam, vocab]`: scores whose log-softmax is log p(next word). The
search normalises them itself, so log-probabilities (already normalised) work
as well. The state must keep its shapes from step to step, apart from the
leading dimension, which may be unknown.

Speed (the output layer makes the logits `[batch * beam, vocab]`, 2.5 million
numbers per step at the paper's sizes): each step makes two passes over the
logits, one for the maxima of small chunks of the vocabulary and one for the
softmax normaliser. The best words of each hypothesis are then found among the
few chunks whose maxima can hold them (an exact top-k, see `_top_k_rows`),
and nothing of vocabulary size is ever copied or log-softmaxed.

Everything here is core TensorFlow (`tf.while_loop`, `tf.math.top_k`,
`tf.gather`), so it runs in a SavedModel under the stock TensorFlow Serving
binary, with a dynamic batch size and without retracing per batch size.
"""

import numbers
from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

StepFn = Callable[[tf.Tensor, tf.Tensor, object], tuple]

_NEG_INF = float("-inf")


class BeamSearchResult(NamedTuple):
    """The N-best list of each batch element, best first.

    Attributes:
        ids: int32 `[batch, nbest, max_length]`, the tokens of each finished
            hypothesis including its final EOS, padded with 0 (PAD).
        lengths: int32 `[batch, nbest]`, the number of tokens including EOS;
            0 for an empty slot.
        scores: float32 `[batch, nbest]`, the sum of the log-probabilities of
            all tokens including EOS, sorted descending; -inf for an empty
            slot.
    """

    ids: tf.Tensor
    lengths: tf.Tensor
    scores: tf.Tensor


def tile_to_beam(nested, beam_size):
    """Repeats each batch row `beam_size` times: `[batch, ...]` -> `[batch * beam, ...]`.

    The copies of row `b` are adjacent (rows `b * beam_size ...`), the layout
    that `beam_search` and `gather_beams` expect.
    """
    return tf.nest.map_structure(lambda x: tf.repeat(x, beam_size, axis=0), nested)


def gather_beams(nested, indices, batch_size, beam_size):
    """Reorders beams: row `(b, k)` of the result is row `(b, indices[b, k])`.

    Args:
        nested: a nested structure of tensors `[batch * beam, ...]`.
        indices: int32 `[batch, beam]`, beam indices in `[0, beam_size)`.
        batch_size: int or int32 scalar tensor.
        beam_size: int.

    Returns:
        The same structure, each tensor `[batch * beam, ...]`.
    """
    offsets = tf.range(batch_size)[:, None] * beam_size
    flat_indices = tf.reshape(indices + offsets, [-1])
    return tf.nest.map_structure(lambda x: tf.gather(x, flat_indices), nested)


def beam_search(
    step_fn: StepFn,
    initial_state,
    batch_size,
    *,
    beam_size: int,
    max_length: int,
    nbest: int | None = None,
    bos_id: int,
    eos_id: int,
    blocked_ids=(),
    min_length: int = 0,
    no_repeat_ngram_size: int = 0,
) -> BeamSearchResult:
    """Beam search producing the paper's N-best list (section 6.4).

    At each step `t` every live hypothesis is scored with `step_fn`, then:

    - its EOS extension joins the finished list, score frozen, if EOS is
      among the `beam_size` most probable next words of that hypothesis (the
      paper examines the top B words of each of the B beams: "B x B
      candidates"), so at most B candidates join per step;
    - the `beam_size` best non-EOS extensions over all beams stay live, so
      there are always B live hypotheses however many candidates end in EOS
      (found with a top-(B+1) per beam, then a top-B over the B x (B+1)
      candidates with EOS masked: the same as a top-B over all B x V).

    Maximum length: a hypothesis has at most `max_length` tokens, EOS
    included. At the last step (`t == max_length - 1`) EOS is the only word
    allowed: the EOS extension of every live hypothesis joins the finished
    list, scored with the model's own log p(EOS), and the non-EOS extensions
    are dropped. Nothing is renormalised or forced, so every returned score is
    exactly the teacher-forced log-probability of the returned sequence.

    Step 0: all beams of a batch element start as the same BOS prefix; only
    beam 0 is expanded (the others score -inf) so no duplicates appear.

    The finished list: with `nbest=None` (the default, the paper's list) it
    keeps every candidate, up to `beam_size * max_length` of them, a buffer
    of that fixed size; with `nbest=N` only the N best by score.

    Early exit: log-probabilities are <= 0, so no descendant of a live
    hypothesis can beat the best live score. The loop stops once, for every
    batch element, the worst kept finished score (the `nbest`-th, -inf while
    the list has room) is at least the best live score, or no hypothesis is
    live; the result is the same as running all steps.

    Hypotheses with probability 0 (score -inf) are never returned: such
    slots are empty. With `beam_size=1, nbest=1` this is greedy search.

    Blocked words (`blocked_ids`) are never proposed, and EOS is not proposed
    before `min_length` words; their probability is not spread over the other
    words, so a score stays the model's log-probability of the sequence.

    Loop guard (`no_repeat_ngram_size=n`, 0: off): no hypothesis repeats one
    of its own n-grams. The words that would complete an n-gram the
    hypothesis already holds (its last n-1 words matched against every
    earlier window, `repeated_ngram_words`) are not proposed, exactly like
    blocked words: not renormalised. EOS is never blocked this way (no
    earlier n-gram ends in EOS). The B best words of a beam are then found
    among its B + 1 + W best, W = max_length - n + 1 being the most words
    one hypothesis can block, so the search stays exact.

    Args:
        step_fn: `(ids, step, state) -> (log_probs, new_state)`, see the
            module docstring.
        initial_state: nested structure of tensors with leading dimension
            `batch` (tiled to `batch * beam` here), or `()`.
        batch_size: int or int32 scalar tensor.
        beam_size: B, the number of live hypotheses kept per batch element.
        max_length: maximum number of tokens per hypothesis, EOS included.
        nbest: size of the returned N-best list; None: every finished
            hypothesis (`beam_size * max_length` slots, empty ones last).
        bos_id: the token fed at step 0.
        eos_id: the token that ends a hypothesis.
        blocked_ids: tokens never proposed (e.g. padding, BOS, unknown).
        min_length: the fewest tokens before EOS (1: no empty responses).
        no_repeat_ngram_size: n > 0: no hypothesis repeats one of its n-grams.

    Returns:
        A `BeamSearchResult`.

    Example:

    >>> table = tf.random.normal([7, 7])  # logits [prev, next]
    >>> def step_fn(ids, step, state):
    ...     return tf.gather(table, ids), state
    >>> result = beam_search(step_fn, (), 2, beam_size=4, max_length=5,
    ...                      bos_id=2, eos_id=3)
    >>> result.ids.shape  # every finished hypothesis: up to 4 per step
    TensorShape([2, 20, 5])
    """
    keep_all = nbest is None
    if keep_all:
        _check_positive(beam_size=beam_size, max_length=max_length)
        nbest = beam_size * max_length  # room for every candidate: at most B a step
    _check_positive(beam_size=beam_size, max_length=max_length, nbest=nbest)
    blocked_ids = _check_blocked(blocked_ids, eos_id)
    repeat_slots = _check_no_repeat(no_repeat_ngram_size, max_length)
    batch_size = tf.convert_to_tensor(batch_size, tf.int32)
    positions = tf.range(max_length)

    alive_ids = tf.zeros([batch_size, beam_size, max_length], tf.int32)
    alive_scores = tf.tile(tf.constant([[0.0] + [_NEG_INF] * (beam_size - 1)]), [batch_size, 1])
    # The full list is a buffer with one row of B slots per step, written in
    # place and sorted once at the end; a bounded list is merged every step.
    slots = [max_length, beam_size] if keep_all else [nbest]
    finished_ids = tf.zeros([batch_size, *slots, max_length], tf.int32)
    finished_lengths = tf.zeros([batch_size, *slots], tf.int32)
    finished_scores = tf.fill([batch_size, *slots], _NEG_INF)
    state = tile_to_beam(initial_state, beam_size)

    def not_done(step, alive_ids, alive_scores, state, f_ids, f_lengths, f_scores):
        # Exact early exit. A new candidate can at best tie the worst kept
        # entry, and ties keep the older entry (top_k prefers lower indices
        # and the finished list comes first in the merge).
        # The full list keeps everything: the loop goes on as long as any
        # hypothesis is live.
        best_alive = tf.reduce_max(alive_scores, axis=1)
        worst_kept = tf.fill(tf.shape(best_alive), _NEG_INF) if keep_all else f_scores[:, -1]
        return tf.logical_and(step < max_length, tf.reduce_any(worst_kept < best_alive))

    def expand(step, alive_ids, alive_scores, state, f_ids, f_lengths, f_scores):
        prev_ids = tf.gather(alive_ids, tf.maximum(step - 1, 0), axis=2)
        prev_ids = tf.where(step > 0, prev_ids, bos_id)
        logits, state = step_fn(tf.reshape(prev_ids, [-1]), step, state)
        logits = tf.cast(logits, tf.float32)  # [batch * beam, vocab]
        at_step = tf.equal(positions, step)  # [max_length]

        # The paper's B x B candidates: the best words of each beam. One more
        # than B, so that B non-EOS words remain when EOS is among them.
        top_logits, top_words, row_max = _top_k_rows(
            logits, beam_size + 1 + repeat_slots, blocked_ids
        )
        if repeat_slots:
            top_logits, top_words = _drop_repeated(
                top_logits,
                top_words,
                repeated_ngram_words(
                    tf.reshape(alive_ids, [-1, max_length]), step, no_repeat_ngram_size
                ),
                beam_size + 1,
            )
        k = top_words.shape[-1] or tf.shape(top_words)[-1]
        log_normalizer = _log_normalizer(logits, row_max)  # [batch * beam]
        top_log_probs = top_logits - log_normalizer[:, None]

        # Finished candidates: the EOS extension of a live beam joins the
        # list if EOS is among that beam's top B words (fewer than B words
        # beat it), or at the last step, where EOS is the only word allowed.
        eos_log_probs = tf.reshape(logits[:, eos_id] - log_normalizer, [batch_size, beam_size])
        bth_best = tf.reshape(
            top_log_probs[:, tf.minimum(beam_size, k) - 1], [batch_size, beam_size]
        )
        examined = tf.logical_or(eos_log_probs >= bth_best, step == max_length - 1)
        examined = tf.logical_and(examined, step >= min_length)
        eos_scores = tf.where(examined, alive_scores + eos_log_probs, _NEG_INF)
        candidates = (
            tf.where(at_step, eos_id, alive_ids),
            tf.fill(tf.shape(eos_scores), step + 1),
            eos_scores,
        )
        f_ids, f_lengths, f_scores = (
            _store_step((f_ids, f_lengths, f_scores), candidates, step)
            if keep_all
            else _merge_finished((f_ids, f_lengths, f_scores), candidates, nbest)
        )

        # Live candidates: the best B non-EOS extensions over all beams, the
        # same as a top-B over [batch, beam * vocab] with EOS masked. At the
        # last step they are computed but never used (the loop ends).
        top_log_probs = tf.where(tf.equal(top_words, eos_id), _NEG_INF, top_log_probs)
        scores = alive_scores[:, :, None] + tf.reshape(top_log_probs, [batch_size, beam_size, k])
        alive_scores, flat_index = tf.math.top_k(
            tf.reshape(scores, [batch_size, beam_size * k]), k=beam_size
        )
        words = tf.gather(
            tf.reshape(top_words, [batch_size, beam_size * k]), flat_index, batch_dims=1
        )
        beam_index = flat_index // k
        alive_ids = tf.gather(alive_ids, beam_index, batch_dims=1)
        alive_ids = tf.where(at_step, words[:, :, None], alive_ids)
        state = gather_beams(state, beam_index, batch_size, beam_size)
        return step + 1, alive_ids, alive_scores, state, f_ids, f_lengths, f_scores

    loop_vars = (
        tf.constant(0),
        alive_ids,
        alive_scores,
        state,
        finished_ids,
        finished_lengths,
        finished_scores,
    )
    *_, finished_ids, finished_lengths, finished_scores = tf.while_loop(
        not_done,
        expand,
        loop_vars,
        shape_invariants=_any_leading_dim(loop_vars),
        maximum_iterations=max_length,
    )
    if keep_all:
        finished_ids, finished_lengths, finished_scores = _sort_buffer(
            (finished_ids, finished_lengths, finished_scores), nbest, max_length
        )
    # A -inf candidate never displaces an empty slot as long as top_k keeps
    # the older entry on ties; this makes empty slots clean on any device.
    filled = finished_scores > _NEG_INF
    return BeamSearchResult(
        ids=tf.where(filled[:, :, None], finished_ids, 0),
        lengths=tf.where(filled, finished_lengths, 0),
        scores=finished_scores,
    )


def greedy_search(
    step_fn: StepFn,
    initial_state,
    batch_size,
    *,
    max_length,
    bos_id,
    eos_id,
    blocked_ids=(),
    min_length=0,
    no_repeat_ngram_size=0,
) -> BeamSearchResult:
    """Greedy search: the most probable word at each step (EOS at the last).

    The special case `beam_size=1, nbest=1` of `beam_search`; the result has
    `nbest == 1`.
    """
    return beam_search(
        step_fn,
        initial_state,
        batch_size,
        beam_size=1,
        max_length=max_length,
        nbest=1,
        bos_id=bos_id,
        eos_id=eos_id,
        blocked_ids=blocked_ids,
        min_length=min_length,
        no_repeat_ngram_size=no_repeat_ngram_size,
    )


def repeated_ngram_words(ids, step, n):
    """The words that would make each hypothesis repeat one of its own n-grams.

    A hypothesis holds tokens 0 .. step-1 of its row of `ids`; the word at
    `step` repeats an n-gram if the last n-1 tokens equal the window at
    j .. j+n-2 for some j <= step - n: then token j+n-1 is blocked. Every
    window is compared at once (n-1 shifted slices), so the cost is
    `[rows, max_length, n]` comparisons, nothing of vocabulary size.

    Args:
        ids: int32 `[rows, max_length]`, the hypotheses (padded past `step`).
        step: int32 scalar, the position being predicted.
        n: the n-gram size, a positive Python int.

    Returns:
        (words int32 `[rows, W]`, blocked bool `[rows, W]`), W = max_length - n + 1:
        `words[r, j]` is blocked for row r where `blocked[r, j]`; a word may
        appear several times.
    """
    max_length = ids.shape[1]
    width = max_length - n + 1
    # Windows wholly before the suffix.
    blocked = tf.broadcast_to(tf.range(width)[None, :] <= step - n, [tf.shape(ids)[0], width])
    for k in range(n - 1):
        suffix_word = tf.gather(ids, tf.maximum(step - n + 1 + k, 0), axis=1)
        blocked &= tf.equal(ids[:, k : k + width], suffix_word[:, None])
    return ids[:, n - 1 :], blocked


def _drop_repeated(values, words, repeated, k):
    """The k best of each row's candidates once the repeated words are removed.

    values, words: `[rows, k + W]`, the best candidates; repeated: the pair
    `repeated_ngram_words` returns. At most W of a row's candidates are
    removed, so the k best that remain are that row's k best allowed words.
    """
    repeated_words, blocked = repeated
    hit = tf.equal(words[:, :, None], repeated_words[:, None, :]) & blocked[:, None, :]
    values = tf.where(tf.reduce_any(hit, axis=2), _NEG_INF, values)
    width = values.shape[-1]
    k = min(k, width) if width is not None else tf.minimum(k, tf.shape(values)[-1])
    values, position = tf.math.top_k(values, k=k)
    return values, tf.gather(words, position, batch_dims=1)


def sequence_log_prob(step_fn: StepFn, initial_state, ids, lengths, bos_id):
    """Teacher-forced log-probability of given sequences under `step_fn`.

    The step function is run with one hypothesis per batch element
    (`beam == 1`), fed BOS then the given tokens.

    Args:
        step_fn: as for `beam_search`.
        initial_state: nested structure of tensors with leading dimension
            `batch`.
        ids: int32 `[batch, time]`, tokens (EOS included, if scored).
        lengths: int32 `[batch]`, the number of tokens of each row to score.
        bos_id: the token fed at step 0.

    Returns:
        float32 `[batch]`, the sum of log p of the first `lengths` tokens.
    """
    ids = tf.convert_to_tensor(ids, tf.int32)
    lengths = tf.convert_to_tensor(lengths, tf.int32)
    num_steps = tf.reduce_max(tf.concat([lengths, [0]], axis=0))

    def score_token(step, total, state):
        prev_ids = tf.gather(ids, tf.maximum(step - 1, 0), axis=1)
        prev_ids = tf.where(step > 0, prev_ids, bos_id)
        logits, state = step_fn(prev_ids, step, state)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        token_log_prob = tf.gather(log_probs, ids[:, step], batch_dims=1)
        total += tf.where(step < lengths, token_log_prob, 0.0)
        return step + 1, total, state

    loop_vars = (tf.constant(0), tf.zeros(tf.shape(lengths), tf.float32), initial_state)
    _, total, _ = tf.while_loop(
        lambda step, *_: step < num_steps,
        score_token,
        loop_vars,
        shape_invariants=_any_leading_dim(loop_vars),
    )
    return total


# Exact top-k per row by chunks of the vocabulary. A row's k best unblocked
# words lie in the row's k + t chunks with the largest maxima, t being the
# number of chunks holding a blocked word: a chunk left out has k + t chunks
# at least as good, and at least k of those have an unblocked maximum, a
# distinct word at least as good as any word of the left-out chunk. So one
# pass over the logits (chunk maxima), then a top-k over (k + t) * chunk
# candidates, instead of a top-k over the whole vocabulary.
_MIN_CHUNK, _MAX_CHUNK = 16, 512


def _chunk_size(vocab_size, candidates):
    """The chunk length for `_top_k_rows`, or None when chunking does not pay.

    Chunks must tile the vocabulary exactly (a reshape, no copy); the length
    that touches the fewest numbers after the first pass wins.
    """
    sizes = [
        c
        for c in range(_MIN_CHUNK, _MAX_CHUNK + 1)
        if vocab_size % c == 0 and vocab_size // c >= 4 * candidates
    ]
    if not sizes:
        return None
    return min(sizes, key=lambda c: vocab_size // c + candidates * c)


def _top_k_rows(logits, k, blocked_ids):
    """The `k` largest unblocked logits of each row, their words, and each row's maximum.

    float32 [rows, vocab] -> values [rows, k], int32 words [rows, k], row maxima
    [rows] (over all words, blocked ones included). The same as `tf.math.top_k`
    on the logits with blocked words set to -inf (up to the order of ties).
    """
    vocab_size = logits.shape[-1]
    if vocab_size is None:
        return _top_k_rows_plain(logits, tf.minimum(k, tf.shape(logits)[-1]), blocked_ids)
    k = min(k, vocab_size)
    chunk = _chunk_size(vocab_size, k + len(blocked_ids))
    if chunk is None:
        return _top_k_rows_plain(logits, k, blocked_ids)
    tainted = len({int(word) // chunk for word in blocked_ids})
    rows = tf.shape(logits)[0]
    chunks = tf.reshape(logits, [rows, vocab_size // chunk, chunk])
    chunk_max = tf.reduce_max(chunks, axis=-1)  # the one pass over the logits
    _, best_chunks = tf.math.top_k(chunk_max, k=k + tainted)  # [rows, k + t]
    candidates = tf.reshape(tf.gather(chunks, best_chunks, batch_dims=1), [rows, -1])
    words = tf.reshape(best_chunks[:, :, None] * chunk + tf.range(chunk), [rows, -1])
    candidates = _mask_blocked(candidates, words, blocked_ids, vocab_size)
    values, position = tf.math.top_k(candidates, k=k)
    return (values, tf.gather(words, position, batch_dims=1), tf.reduce_max(chunk_max, axis=-1))


def _top_k_rows_plain(logits, k, blocked_ids):
    vocab_size = tf.shape(logits)[-1]
    words = tf.range(vocab_size)[None, :]
    values, top_words = tf.math.top_k(_mask_blocked(logits, words, blocked_ids, vocab_size), k=k)
    return values, top_words, tf.reduce_max(logits, axis=-1)


def _mask_blocked(logits, words, blocked_ids, vocab_size):
    """-inf where `words` (int32, broadcasting against `logits`) is a blocked id."""
    if not blocked_ids:
        return logits
    blocked = tf.scatter_nd(
        tf.constant(blocked_ids, tf.int32)[:, None],
        tf.ones([len(blocked_ids)], tf.bool),
        [vocab_size],
    )
    return tf.where(tf.gather(blocked, words), _NEG_INF, logits)


_EXP_SAFE = 60.0  # |max logit| up to which exp() of a row sums without overflow


def _log_normalizer(logits, row_max):
    """log sum exp of each row of float32 [rows, vocab]: one pass over the logits.

    The usual shift by the row maximum costs a second pass (a subtraction);
    it is skipped while every row maximum is within +-60, where exp() neither
    overflows nor underflows to an all-zero row. A row of -inf (no possible
    word) gets 0, so its log-probabilities stay -inf.
    """
    shift = tf.where(tf.math.is_finite(row_max), row_max, 0.0)
    lse = tf.cond(
        tf.reduce_all(tf.abs(shift) <= _EXP_SAFE),
        lambda: tf.math.log(tf.reduce_sum(tf.exp(logits), axis=-1)),
        lambda: shift + tf.math.log(tf.reduce_sum(tf.exp(logits - shift[:, None]), axis=-1)),
    )
    return tf.where(tf.equal(row_max, _NEG_INF), 0.0, lse)


def _check_blocked(blocked_ids, eos_id):
    blocked_ids = tuple(int(word) for word in blocked_ids)
    if eos_id in blocked_ids:
        raise ValueError(
            f"beam_search: EOS ({eos_id}) cannot be blocked; use min_length "
            "to keep it from ending a hypothesis too early."
        )
    return blocked_ids


def _check_no_repeat(n, max_length):
    """The most words one hypothesis can block for repeating an n-gram (0: guard off)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(
            f"beam_search: no_repeat_ngram_size must be 0 (off) or a positive Python int, "
            f"got {n!r}."
        )
    return max(max_length - n + 1, 0) if n else 0


def _merge_finished(finished, candidates, nbest):
    """Keeps the best `nbest` of the finished list and new candidates.

    Both are `(ids [batch, n, time], lengths [batch, n], scores [batch, n])`;
    the list comes first so that it wins ties.
    """
    ids, lengths, scores = (tf.concat([old, new], axis=1) for old, new in zip(finished, candidates))
    scores, index = tf.math.top_k(scores, k=nbest)
    return (
        tf.gather(ids, index, batch_dims=1),
        tf.gather(lengths, index, batch_dims=1),
        scores,
    )


def _store_step(buffer, candidates, step):
    """Writes step `step`'s B candidates into their row of the full-list buffer.

    buffer: (ids [batch, max_length, beam, time], lengths and scores
    [batch, max_length, beam]); candidates: the same without the step axis.
    """
    batch = tf.shape(candidates[2])[0]
    rows = tf.stack([tf.range(batch), tf.fill([batch], step)], axis=1)  # (b, step)
    return tuple(
        tf.tensor_scatter_nd_update(old, rows, new) for old, new in zip(buffer, candidates)
    )


def _sort_buffer(buffer, slots, max_length):
    """The full-list buffer as one list per batch element, best first.

    Slots are in step order, so top_k's preference for lower indices keeps
    the earlier candidate first on ties, as the merge of a bounded list does.
    """
    ids, lengths, scores = buffer
    batch = tf.shape(scores)[0]
    scores, index = tf.math.top_k(tf.reshape(scores, [batch, slots]), k=slots)
    take = lambda x, shape: tf.gather(tf.reshape(x, shape), index, batch_dims=1)
    return take(ids, [batch, slots, max_length]), take(lengths, [batch, slots]), scores


def _any_leading_dim(nested):
    """Shape invariants that let the batch dimension of every tensor vary."""

    def relax(x):
        shape = x.shape
        if shape.rank is None or shape.rank == 0:
            return shape
        return tf.TensorShape([None]).concatenate(shape[1:])

    return tf.nest.map_structure(relax, nested)


def _check_positive(**values):
    for name, value in values.items():
        is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not is_int or value < 1:
            raise ValueError(
                f"beam_search: {name} must be a positive Python int, got "
                f"{value!r}; it fixes the shape of the search buffers."
            )
