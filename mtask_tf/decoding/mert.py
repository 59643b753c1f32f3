"""Minimum error rate training (Och 2003) of the MMI reranking weights (paper 6.3).

Each input's N-best list is reranked with a linear score over its feature
columns, here (forward_log_prob, reverse_log_prob, length):

    score(R) = log p(R|M,v) + mmi_lambda * log p(M|R) + mmi_gamma * |R|   (eq. 4)

`mert` tunes the weights to maximise *corpus* BLEU of the 1-best responses
(sentence BLEU on chat data is almost always 0). Pure numpy; no TensorFlow, so
it runs anywhere the dev N-best lists can be loaded.

BLEU sufficient statistics, one row per hypothesis, columns
`[correct_1..4, total_1..4, hyp_len, ref_len]`; summing rows over a corpus and
calling `corpus_bleu_from_statistics` gives `sacrebleu.corpus_bleu(hyps,
[refs], tokenize="none").score`: the same BLEU as `mtask_tf.evaluation.metrics`
reports (our tokenizer's tokens, no second tokenisation; exp smoothing).
"""

import collections
import dataclasses

import numpy as np

from mtask_tf.decoding import mmi
from mtask_tf.evaluation import metrics

MAX_ORDER = 4
NUM_STATS = 2 * MAX_ORDER + 2
_HYP_LEN, _REF_LEN = 2 * MAX_ORDER, 2 * MAX_ORDER + 1
# A move must beat the current corpus BLEU (0-100 scale) by more than this;
# smaller gains are float noise and would let the search cycle.
_MIN_GAIN = 1e-10
# Where to stop on an unbounded outermost interval, past its one breakpoint.
_OUTER_STEP = 1.0
# A local search ends after this many passes in a row without gain (each pass
# draws new random directions). On 240 synthetic 200 x 20 corpora, 1 lost to a
# 101 x 101 grid search 3 times and 2 never did, for ~1.4x the time.
_STALE_PASSES = 2


@dataclasses.dataclass
class NBestList:
    """The candidate responses for one input message.

    Args:
        features: float `[n_candidates, n_features]`, finite; here the columns
            are (forward_log_prob, reverse_log_prob, length).
        hypotheses: the `n_candidates` detokenized responses (tokens joined
            by spaces), in the same order.
    """

    features: np.ndarray
    hypotheses: list


def nbest_lists(nbest, length_penalty=0.0):
    """MERT's view of decoded lists: features (forward, reverse, words) per candidate.

    nbest: per input, its `runner.Hypothesis` list. The features are the ones
    the decoder reranks with (`mmi.rerank_features`): with a length penalty,
    MERT tunes lambda and gamma on the normalised scores.
    """
    lists = []
    for hypotheses in nbest:
        columns = [
            np.array([getattr(h, name) for h in hypotheses], np.float64)
            for name in ("forward_log_prob", "reverse_log_prob", "length", "message_length")
        ]
        features = np.stack(mmi.rerank_features(*columns, length_penalty), axis=1)
        lists.append(NBestList(features.reshape(-1, 3), [h.response for h in hypotheses]))
    return lists


@dataclasses.dataclass
class MertResult:
    """The best weights over all starting points.

    Attributes:
        weights: float64 `[n_features]`.
        bleu: corpus BLEU (0-100) of the 1-best responses under `weights`;
            equal to `corpus_bleu(nbest_lists, references, weights)`.
        history: one `(weights, bleu)` per starting point, in order (the
            given initial weights first): where each local search ended.
    """

    weights: np.ndarray
    bleu: float
    history: list


# --- BLEU statistics ---------------------------------------------------------


def _ngram_counts(tokens):
    """{n-gram tuple: count} of every order 1..MAX_ORDER of a token list."""
    orders = range(1, MAX_ORDER + 1)
    return collections.Counter(
        tuple(tokens[i : i + n]) for n in orders for i in range(len(tokens) - n + 1)
    )


def bleu_statistics(hypotheses, references):
    """Per-hypothesis BLEU sufficient statistics, int64 `[n, NUM_STATS]`.

    `references[i]` is the one reference of `hypotheses[i]`. Both are split on
    white space only (sacrebleu's tokenize="none", as `metrics.corpus_bleu`
    scores); each hypothesis n-gram matches at most as often as the reference
    has it (clipped counts). Summed over a corpus, the rows score exactly as
    sacrebleu's corpus BLEU (tests/decoding/test_mert.py).
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"bleu_statistics: {len(hypotheses)} hypotheses but "
            f"{len(references)} references; pass one reference per hypothesis."
        )
    ref_cache = {}
    stats = np.zeros([len(hypotheses), NUM_STATS], np.int64)
    for i, (hyp, ref) in enumerate(zip(hypotheses, references)):
        if ref not in ref_cache:
            ref_cache[ref] = _ngram_counts(ref.split())
        tokens = hyp.split()
        for gram, count in _ngram_counts(tokens).items():
            stats[i, len(gram) - 1] += min(count, ref_cache[ref][gram])
        stats[i, MAX_ORDER:_HYP_LEN] = [max(0, len(tokens) - n) for n in range(MAX_ORDER)]
        stats[i, _HYP_LEN] = len(tokens)
        stats[i, _REF_LEN] = len(ref.split())
    return stats


def _bleu(stats):
    """Corpus BLEU of summed statistics, vectorised: `[..., NUM_STATS]` -> float64 `[...]`.

    The same arithmetic as sacrebleu's `BLEU.compute_bleu` with exp smoothing:
    the k-th n-gram order without a match gets precision 100 / (2^k * total).
    """
    stats = np.asarray(stats, np.float64)
    correct, total = stats[..., :MAX_ORDER], stats[..., MAX_ORDER:_HYP_LEN]
    hyp_len, ref_len = stats[..., _HYP_LEN], stats[..., _REF_LEN]
    unmatched = correct == 0
    smoothing = 2.0 ** np.cumsum(unmatched, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(unmatched, 100.0 / (smoothing * total), 100.0 * correct / total)
        logs = np.log(precision)
        log_sum = logs[..., 0]
        for n in range(1, MAX_ORDER):  # left to right, like sacrebleu's sum()
            log_sum = log_sum + logs[..., n]
        brevity = np.where(hyp_len < ref_len, np.exp(1.0 - ref_len / hyp_len), 1.0)
        score = brevity * np.exp(log_sum / MAX_ORDER)
    # sacrebleu scores 0 when nothing matches or some order has no n-grams.
    defined = np.all(total > 0, axis=-1) & np.any(correct > 0, axis=-1)
    return np.where(defined, score, 0.0)


def corpus_bleu_from_statistics(stats_sum):
    """Corpus BLEU (0-100) from statistics summed over the corpus, `[NUM_STATS]`."""
    stats_sum = np.asarray(stats_sum)
    if stats_sum.shape != (NUM_STATS,):
        raise ValueError(
            f"corpus_bleu_from_statistics: expected shape ({NUM_STATS},), got "
            f"{stats_sum.shape}; sum the rows of bleu_statistics() first."
        )
    return float(_bleu(stats_sum))


# --- Padded N-best arrays ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Corpus:
    features: np.ndarray  # float64 [sentences, candidates, features], 0 where padded
    valid: np.ndarray  # bool [sentences, candidates]
    stats: np.ndarray  # int64 [sentences, candidates, NUM_STATS], 0 where padded


def _pad_features(nbest_lists):
    if not nbest_lists:
        raise ValueError("MERT needs at least one N-best list.")
    arrays = [np.asarray(nbest.features, np.float64) for nbest in nbest_lists]
    num_features = arrays[0].shape[-1] if arrays[0].ndim == 2 else None
    for i, (array, nbest) in enumerate(zip(arrays, nbest_lists)):
        if array.ndim != 2 or array.shape[1] != num_features or not len(array):
            raise ValueError(
                f"N-best list {i}: features have shape {array.shape}; every list "
                f"needs shape [n_candidates >= 1, {num_features}]."
            )
        if len(nbest.hypotheses) != len(array):
            raise ValueError(
                f"N-best list {i}: {len(array)} feature rows but "
                f"{len(nbest.hypotheses)} hypotheses."
            )
        if not np.all(np.isfinite(array)):
            row = np.flatnonzero(~np.all(np.isfinite(array), axis=1))[0]
            raise ValueError(
                f"N-best list {i}, candidate {row}: non-finite features "
                f"{array[row].tolist()}; drop empty beam slots (score -inf) first."
            )
    width = max(len(array) for array in arrays)
    features = np.zeros([len(arrays), width, num_features])
    valid = np.zeros([len(arrays), width], bool)
    for i, array in enumerate(arrays):
        features[i, : len(array)] = array
        valid[i, : len(array)] = True
    return features, valid


def _build_corpus(nbest_lists, references):
    if len(nbest_lists) != len(references):
        raise ValueError(
            f"{len(nbest_lists)} N-best lists but {len(references)} references; "
            f"pass one reference per input."
        )
    features, valid = _pad_features(nbest_lists)
    hypotheses = [hyp for nbest in nbest_lists for hyp in nbest.hypotheses]
    refs = [ref for nbest, ref in zip(nbest_lists, references) for _ in nbest.hypotheses]
    stats = np.zeros(valid.shape + (NUM_STATS,), np.int64)
    stats[valid] = bleu_statistics(hypotheses, refs)  # row-major, like the lists above
    return _Corpus(features, valid, stats)


def _best_indices(corpus, weights):
    scores = np.where(corpus.valid, corpus.features @ weights, -np.inf)
    return np.argmax(scores, axis=1)  # ties: the lowest index


def _bleu_at(corpus, weights):
    best = _best_indices(corpus, weights)
    return float(_bleu(corpus.stats[np.arange(len(best)), best].sum(axis=0)))


def rerank(nbest_lists, weights):
    """Index of the best-scoring candidate of each list (ties: the lowest index)."""
    features, valid = _pad_features(nbest_lists)
    return _best_indices(_Corpus(features, valid, None), np.asarray(weights, np.float64)).tolist()


def corpus_bleu(nbest_lists, references, weights):
    """Corpus BLEU (0-100) of the 1-best responses under `weights`."""
    return _bleu_at(_build_corpus(nbest_lists, references), np.asarray(weights, np.float64))


# --- Exact line search -------------------------------------------------------


def _upper_envelopes(a, b, valid):
    """The upper envelope of the lines a + b*t of every sentence, all sentences at once.

    Args:
        a, b: float64 `[sentences, candidates]`; valid: bool, same shape.

    Returns:
        first: int `[sentences]`, the 1-best as t -> -inf;
        (rows, ts, old, new): flat arrays, one entry per breakpoint: sentence
        `rows[i]` switches from candidate `old[i]` to `new[i]` at t = `ts[i]`.
    """
    # As t -> -inf the smallest slope wins; among parallel lines the highest,
    # among identical lines the lowest index (as argmax does in rerank).
    b_valid = np.where(valid, b, np.inf)
    lowest_slope = valid & (b == b_valid.min(axis=1, keepdims=True))
    a_masked = np.where(lowest_slope, a, -np.inf)
    first = np.argmax(lowest_slope & (a == a_masked.max(axis=1, keepdims=True)), axis=1)

    rows, current, t_current = np.arange(len(a)), first.copy(), np.full(len(a), -np.inf)
    pieces = []
    while len(rows):
        a_rows, b_rows, valid_rows = a[rows], b[rows], valid[rows]
        a_cur, b_cur = a_rows[np.arange(len(rows)), current], b_rows[np.arange(len(rows)), current]
        # Only a steeper line can overtake the current one, where they cross.
        steeper = valid_rows & (b_rows > b_cur[:, None])
        cross = np.full(a_rows.shape, np.inf)
        np.divide(a_cur[:, None] - a_rows, b_rows - b_cur[:, None], out=cross, where=steeper)
        cross = np.maximum(cross, t_current[:, None])  # rounding must not step back
        t_next = cross.min(axis=1)
        go_on = np.isfinite(t_next)
        # Lines crossing at the same point: the steepest takes over (then the lowest index).
        at_next = steeper & (cross == t_next[:, None])
        b_next = np.where(at_next, b_rows, -np.inf).max(axis=1, keepdims=True)
        new = np.argmax(at_next & (b_rows == b_next), axis=1)
        rows, current, t_next, new = rows[go_on], current[go_on], t_next[go_on], new[go_on]
        pieces.append((rows, t_next, current, new))
        current, t_current = new, t_next
    rows, ts, old, new = (np.concatenate(column) for column in zip(*pieces))
    return first, (rows, ts, old, new)


def _bleu_profile(corpus, a, b):
    """Corpus BLEU along the line a + b*t: breakpoints `[U]` (sorted, distinct), BLEU `[U + 1]`.

    Interval 0 is (-inf, breakpoints[0]), interval i is (breakpoints[i-1],
    breakpoints[i]), the last one (breakpoints[-1], inf).
    """
    first, (rows, ts, old, new) = _upper_envelopes(a, b, corpus.valid)
    start = corpus.stats[np.arange(len(first)), first].sum(axis=0)
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    deltas = corpus.stats[rows[order], new[order]] - corpus.stats[rows[order], old[order]]
    running = start + np.cumsum(deltas, axis=0)
    # Several sentences may switch at the same t: keep the sum after the last one.
    last_at_t = np.flatnonzero(np.append(ts[1:] != ts[:-1], True)[: len(ts)])
    stats = np.concatenate([start[None], running[last_at_t]])
    return ts[last_at_t], _bleu(stats)


def _step_range(weights, direction, bounds):
    """The t for which weights + t * direction stays within `bounds` ([features, 2])."""
    low, high = -np.inf, np.inf
    moving = direction != 0
    with np.errstate(invalid="ignore"):
        ends = (bounds[moving] - weights[moving, None]) / direction[moving, None]
    if moving.any():
        low, high = np.max(np.min(ends, axis=1)), np.min(np.max(ends, axis=1))
    return low, high


def _line_search(corpus, weights, direction, bounds):
    """The best step t along `direction` (within `bounds`) and its predicted BLEU."""
    a = corpus.features @ weights
    b = corpus.features @ direction
    breakpoints, bleus = _bleu_profile(corpus, a, b)
    t_low, t_high = _step_range(weights, direction, bounds)
    lower = np.maximum(np.concatenate([[-np.inf], breakpoints]), t_low)
    upper = np.minimum(np.concatenate([breakpoints, [np.inf]]), t_high)
    keep = lower < upper
    if not keep.any():
        return 0.0, -np.inf
    lower, upper, bleus = lower[keep], upper[keep], bleus[keep]
    with np.errstate(invalid="ignore"):
        t = np.where(np.isinf(lower), upper - _OUTER_STEP, (lower + upper) / 2)
    t = np.where(np.isinf(upper), lower + _OUTER_STEP, t)
    t = np.where(np.isinf(lower) & np.isinf(upper), 0.0, t)
    # Equal BLEU: the smallest move.
    best = np.flatnonzero(bleus == bleus.max())
    best = best[np.argmin(np.abs(t[best]))]
    return float(t[best]), float(bleus[best])


def bleu_along_line(nbest_lists, references, weights, direction):
    """Corpus BLEU of `weights + t * direction` as a function of t, exactly.

    Returns `(breakpoints, bleus)`: sorted distinct breakpoints `[U]` and the
    BLEU on each of the U + 1 open intervals between them (the first from -inf,
    the last to +inf). For inspecting the objective and for tests.
    """
    corpus = _build_corpus(nbest_lists, references)
    weights, direction = np.asarray(weights, np.float64), np.asarray(direction, np.float64)
    return _bleu_profile(corpus, corpus.features @ weights, corpus.features @ direction)


# --- The search --------------------------------------------------------------


def _bounds_array(bounds, initial, tunable):
    if bounds is not None and len(bounds) != len(initial):
        raise ValueError(
            f"bounds has {len(bounds)} entries for {len(initial)} features; give "
            f"one (low, high) or None per feature column."
        )
    array = np.tile([-np.inf, np.inf], (len(initial), 1))
    for i, bound in enumerate(bounds or ()):
        if bound is not None and tunable[i]:
            array[i] = bound
    if np.any(array[:, 0] > array[:, 1]):
        raise ValueError(f"bounds: low > high in {array.tolist()}.")
    outside = tunable & ((initial < array[:, 0]) | (initial > array[:, 1]))
    if outside.any():
        raise ValueError(
            f"initial_weights {initial.tolist()} lie outside bounds "
            f"{array.tolist()} at columns {np.flatnonzero(outside).tolist()}."
        )
    return array


def _directions(tunable, random_directions, rng):
    axes = np.eye(len(tunable))[tunable]
    random = rng.standard_normal([random_directions, len(tunable)]) * tunable
    random /= np.maximum(np.linalg.norm(random, axis=1, keepdims=True), 1e-300)
    return np.concatenate([axes, random])


def _random_start(initial, tunable, bounds, rng):
    # Finite bounds: uniform in the box; unbounded columns: within +-1 of the initial value.
    low = np.where(np.isfinite(bounds[:, 0]), bounds[:, 0], initial - 1.0)
    high = np.where(np.isfinite(bounds[:, 1]), bounds[:, 1], initial + 1.0)
    low, high = np.maximum(low, bounds[:, 0]), np.minimum(high, bounds[:, 1])
    return np.where(tunable, rng.uniform(low, high), initial)


def _step(corpus, weights, bleu, direction, bounds):
    """One exact line search; the new (weights, bleu) if it gains, else the old ones."""
    t, predicted = _line_search(corpus, weights, direction, bounds)
    if predicted <= bleu + _MIN_GAIN:
        return weights, bleu
    # Trust the reranked corpus, not the prediction: they differ only when an
    # interval is too narrow for float arithmetic.
    candidate = weights + t * direction
    candidate_bleu = _bleu_at(corpus, candidate)
    if candidate_bleu > bleu + _MIN_GAIN:
        return candidate, candidate_bleu
    return weights, bleu


def _local_search(corpus, weights, bounds, tunable, iterations, random_directions, rng):
    """Passes of line searches from `weights` until _STALE_PASSES in a row gain nothing."""
    bleu, stale = _bleu_at(corpus, weights), 0
    for _ in range(iterations):
        pass_start, pass_bleu = weights, bleu
        for direction in _directions(tunable, random_directions, rng):
            weights, bleu = _step(corpus, weights, bleu, direction, bounds)
        if bleu == pass_bleu:
            stale += 1
            if stale == _STALE_PASSES:
                break
            continue
        stale = 0
        # Along the pass's net move too, as in Powell's method: good weights
        # often lie on a diagonal ridge that no axis follows for long.
        net = weights - pass_start
        weights, bleu = _step(corpus, weights, bleu, net / np.linalg.norm(net), bounds)
    return weights, bleu


def mert(
    nbest_lists,
    references,
    *,
    initial_weights,
    fixed=(0,),
    restarts=20,
    iterations=25,
    seed=0,
    bounds=None,
    random_directions=4,
):
    """Tunes the reranking weights to maximise corpus BLEU of the 1-best responses.

    Args:
        nbest_lists: one `NBestList` per input.
        references: one reference response per input (a string).
        initial_weights: `[n_features]`, the first starting point, e.g. (1, 0, 0).
        fixed: feature columns kept at their initial weight (the forward
            log-probability's weight stays 1, which fixes the score's scale).
        restarts: random starting points searched after `initial_weights`,
            uniform in `bounds` (within +-1 of the initial weight where unbounded).
        iterations: at most this many passes over the directions per start.
        seed: seeds the starting points and random directions.
        bounds: optional, one `(low, high)` or None per feature column; the
            search never leaves the box (e.g. `[None, (0, 5), (-5, 5)]`).
        random_directions: random directions per pass, besides the coordinate axes.

    Returns:
        A `MertResult`; ties between starting points go to the earliest.

    Example:
    >>> result = mert(dev_nbest, dev_references, initial_weights=[1.0, 0.0, 0.0],
    ...               bounds=[None, (0, 5), (-5, 5)])
    >>> mmi_lambda, mmi_gamma = result.weights[1:]
    """
    corpus = _build_corpus(nbest_lists, references)
    initial = np.array(initial_weights, np.float64)  # a copy: results never alias it
    if initial.shape != (corpus.features.shape[2],):
        raise ValueError(
            f"initial_weights has shape {initial.shape}; the N-best lists have "
            f"{corpus.features.shape[2]} feature columns."
        )
    if any(not 0 <= i < len(initial) for i in fixed):
        raise ValueError(f"fixed={tuple(fixed)}: column indices must lie in [0, {len(initial)}).")
    tunable = np.ones(len(initial), bool)
    tunable[list(fixed)] = False
    if not tunable.any():
        raise ValueError(f"fixed={tuple(fixed)} leaves no weight to tune.")
    bounds = _bounds_array(bounds, initial, tunable)
    rng = np.random.default_rng(seed)
    best, history = None, []
    for start in range(restarts + 1):
        weights = initial if start == 0 else _random_start(initial, tunable, bounds, rng)
        weights, bleu = _local_search(
            corpus, weights, bounds, tunable, iterations, random_directions, rng
        )
        history.append((weights, bleu))
        if best is None or bleu > best[1]:
            best = (weights, bleu)
    return MertResult(weights=best[0], bleu=best[1], history=history)


@dataclasses.dataclass(frozen=True)
class OneBestSummary:
    """What the 1-best responses under some weights look like.

    Attributes:
        mean_words: mean length in words of the 1-best responses.
        distinct: the share of distinct 1-best responses (1.0: all different).
        at_limit: the share of 1-best responses of `max_words` words, the
            longest the search makes (cut off rather than ended by the model).
    """

    mean_words: float
    distinct: float
    at_limit: float


def one_best_summary(nbest_lists, weights, max_words, length_column=2):
    """Length, diversity and cut-off share of the 1-best of each list under `weights`."""
    best = rerank(nbest_lists, weights)
    chosen = [nbest.hypotheses[i] for nbest, i in zip(nbest_lists, best)]
    words = np.array([nbest.features[i][length_column] for nbest, i in zip(nbest_lists, best)])
    return OneBestSummary(
        mean_words=float(words.mean()),
        distinct=metrics.distinct_responses(chosen),
        at_limit=float(np.mean(words >= max_words)),
    )


def box_edge_notes(nbest_lists, references, weights, bleu, max_lambda, max_gamma):
    """Notes for tuned (1, lambda, gamma) whose best region reaches an edge of the box.

    MERT stops in the middle of the best interval and never leaves the box
    [0, max_lambda] x [-max_gamma, max_gamma]; when moving a weight onto the
    edge keeps the same corpus BLEU, the best region may extend beyond it, and
    the note names the flag that widens the range. Lambda reaching 0 means the
    reverse model did not help on these lists.
    """
    _, mmi_lambda, mmi_gamma = weights
    same = lambda w: corpus_bleu(nbest_lists, references, w) >= bleu - _MIN_GAIN
    notes = []
    if same([1.0, max_lambda, mmi_gamma]):
        notes.append(
            f"note: the best lambda reaches the top of its range [0, {max_lambda:g}]; "
            f"a larger one may be better: tune again with --max_lambda={2 * max_lambda:g}"
        )
    elif same([1.0, 0.0, mmi_gamma]):
        notes.append(
            "note: the best lambda reaches 0: on these dev lists the reverse model's "
            "score does not raise BLEU"
        )
    for edge in (-max_gamma, max_gamma):
        if same([1.0, mmi_lambda, edge]):
            notes.append(
                f"note: the best gamma reaches {edge:g}, an end of its range "
                f"[-{max_gamma:g}, {max_gamma:g}]; tune again with "
                f"--max_gamma={2 * max_gamma:g}"
            )
            break
    return notes
