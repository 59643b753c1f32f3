"""Corpus BLEU, distinct-n, Ent-n, distinct responses, length, repetition and intervals.

BLEU and distinct-n are the paper's (section 6.2); Ent-n (Zhang et al. 2018) and
the share of distinct responses are diversity measures it does not report, nor
are the degeneration measures (responses cut at the length cap, a word said
three times in a row) and the bootstrap intervals.

Hypotheses and references are strings of space-joined tokens as our tokenizer
makes them (`mtask_tf.data.tokenizer`: lower-cased, punctuation
split off); these metrics never tokenise again, they only split on white space.
"""

import collections
import math
import unicodedata

import numpy as np
import sacrebleu

from mtask_tf.data import vocabulary

UNKNOWN = vocabulary.SPECIAL_TOKENS[vocabulary.UNK_ID]
# The intervals evaluate reports: 95 % percentile intervals from 1,000 seeded
# resamples of the inputs.
BOOTSTRAP = {"resamples": 1000, "level": 0.95, "seed": 0}

# Both sides are already tokenised and case-folded by our tokenizer, so sacrebleu
# must not tokenise again: "none" splits on white space only. The default "13a"
# would re-split some of our tokens, e.g. "<unk>" into "< unk >", so every unknown
# word would count as three tokens (and match as three n-grams) and the lengths
# behind the brevity penalty would no longer be the lengths the model generated.
# Every other setting is sacrebleu's default (exp smoothing, case kept).
BLEU_TOKENIZE = "none"


def _check_corpus(name, texts):
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings, one per response, not a single string")
    return list(texts)


def corpus_bleu(hypotheses, references):
    """Corpus-level BLEU on the 0-100 scale the paper reports, one reference each.

    Args:
        hypotheses: list of generated responses, space-joined tokens.
        references: list of reference responses, tokenised the same way, in the
            same order as `hypotheses`.

    Returns:
        BLEU as a float in [0, 100], e.g. 1.32 for the paper's baseline on dev.
    """
    hypotheses = _check_corpus("hypotheses", hypotheses)
    references = _check_corpus("references", references)
    if not hypotheses:
        raise ValueError("corpus_bleu of an empty corpus: give at least one hypothesis")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"corpus_bleu needs one reference per hypothesis, got "
            f"{len(hypotheses)} hypotheses and {len(references)} references"
        )
    return sacrebleu.corpus_bleu(hypotheses, [references], tokenize=BLEU_TOKENIZE).score


def distinct_n(hypotheses, n):
    """The paper's distinct-n: distinct n-grams over the total number of generated tokens.

    The denominator is the total number of tokens in all hypotheses, NOT the
    number of n-grams (paper 6.2, Table 2: "scaled by total number of generated
    tokens to avoid favoring long sentences"). So distinct-2 of "a a b" is
    |{a a, a b}| / 3 = 2/3, and distinct-n of a one-token corpus is 0 for n > 1.
    N-grams are counted inside each hypothesis (none spans two hypotheses) and
    are distinct over the whole corpus. Tokens are the white-space split.

    Args:
        hypotheses: list of generated responses, space-joined tokens.
        n: n-gram order, 1 for distinct-1, 2 for distinct-2.

    Returns:
        A fraction (0.0169 for the paper's 1.69 %); 0.0 when there are no tokens.
    """
    hypotheses = _check_corpus("hypotheses", hypotheses)
    if n < 1:
        raise ValueError(f"distinct_n needs an n-gram order n >= 1, got {n}")
    ngrams, total_tokens = set(), 0
    for hypothesis in hypotheses:
        tokens = hypothesis.split()
        total_tokens += len(tokens)
        ngrams.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return len(ngrams) / total_tokens if total_tokens else 0.0


def _ngrams(hypothesis, n):
    tokens = hypothesis.split()
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_entropy(hypotheses, n):
    """Ent-n of Zhang et al. (2018): entropy of the corpus's n-gram distribution, in nats.

    The distribution is the empirical one over all n-grams of all hypotheses,
    each occurrence counted (so unlike distinct-n, how evenly a system uses its
    n-grams matters): H = -sum_g p(g) ln p(g), p(g) = count(g) / number of
    n-grams. k equally frequent n-grams give ln k; one n-gram repeated gives 0.
    N-grams are counted inside each hypothesis; one shorter than n adds none.
    Tokens are the white-space split.

    Args:
        hypotheses: list of generated responses, space-joined tokens.
        n: n-gram order, 4 for Ent-4.

    Returns:
        The entropy in nats (natural logarithm); 0.0 when there are no n-grams.
    """
    hypotheses = _check_corpus("hypotheses", hypotheses)
    if n < 1:
        raise ValueError(f"ngram_entropy needs an n-gram order n >= 1, got {n}")
    counts = collections.Counter(g for h in hypotheses for g in _ngrams(h, n))
    total = sum(counts.values())
    if not total:
        return 0.0
    # -sum p ln p rewritten as ln N - sum c ln c / N: one n-gram gives exactly 0.0,
    # where the direct form gives -0.0 (printed "-0.00" in the table).
    return math.log(total) - sum(c * math.log(c) for c in counts.values()) / total


def distinct_responses(hypotheses):
    """The share of distinct responses: different responses over all responses.

    A system that answers most inputs with the same line scores near
    1 / number of responses, however varied that one line is; distinct-n cannot
    show this on a large corpus. Responses are compared as token sequences, so
    white space does not make two of them different.

    Args:
        hypotheses: list of generated responses (the 1-best of each input).

    Returns:
        A fraction in (0, 1]; 0.0 for no responses.
    """
    hypotheses = _check_corpus("hypotheses", hypotheses)
    if not hypotheses:
        return 0.0
    return len({tuple(h.split()) for h in hypotheses}) / len(hypotheses)


def relative_change(value, baseline):
    """(value - baseline) / baseline as a fraction: -0.427 for 56.33 -> 32.27.

    Args:
        value: the system's score.
        baseline: the baseline's score; must not be zero.
    """
    if baseline == 0:
        raise ValueError(f"relative change of {value} against a baseline of 0 is undefined")
    return (value - baseline) / baseline


def distinct_response_weights(hypotheses):
    """Per response, 1 / the number of responses equal to it; their mean is `distinct_responses`.

    The share of distinct responses as a mean over inputs, so that a bootstrap
    can resample inputs: a direct resample would count the copies it draws of
    one input as repeated responses and sit far below the share (a thousand
    different responses resample to about 63 % distinct). Resampling these
    weights keeps each response's frequency as measured and varies which
    inputs are asked.

    Args:
        hypotheses: list of generated responses (the 1-best of each input).

    Returns:
        A float numpy array, one weight in (0, 1] per response.
    """
    keys = [tuple(h.split()) for h in _check_corpus("hypotheses", hypotheses)]
    counts = collections.Counter(keys)
    return np.array([1 / counts[key] for key in keys], dtype=float)


def length_measures(lengths, max_length):
    """The mean length of the responses and the share cut at the decoder's length cap.

    The decoder counts EOS as one of its `max_length` tokens, so a response has
    at most `max_length - 1` words; one with that many was (almost always)
    still going when it had to end. A large share at the cap means the system
    rambles or loops rather than ends its sentences.

    Args:
        lengths: words of each response, EOS not counted (0 for an input without one).
        max_length: the decoder's --max_length, EOS included.

    Returns:
        {"mean_length": mean words, "length_cap_share": fraction with max_length - 1 words}.
    """
    lengths = np.asarray(lengths, dtype=int)
    if lengths.ndim != 1 or not lengths.size:
        raise ValueError(f"length_measures needs a non-empty list of lengths, got {lengths!r}")
    cap = max_length - 1
    if lengths.min() < 0 or lengths.max() > cap:
        raise ValueError(
            f"response lengths must lie in [0, {cap}] words with max_length {max_length} "
            f"(EOS is one of its tokens), got {lengths.min()} to {lengths.max()}"
        )
    return {
        "mean_length": float(lengths.mean()),
        "length_cap_share": float(np.mean(lengths == cap)),
    }


def _is_word(token):
    # Our tokenizer makes every punctuation character a token of its own and
    # keeps apostrophes inside words, so a token with a letter or digit is a word.
    return any(unicodedata.category(c)[0] in "LN" for c in token)


def repeats_a_word(response, times=3):
    """Whether the response says the same word `times` times in a row.

    Only punctuation may come between the occurrences: "no no no" and
    "no , no , no !" repeat "no"; "no , not , no , no" does not (three "no"s,
    but a word between). Punctuation tokens never count as repeated words, so
    an ellipsis (". . .", three tokens after our tokenizer) or "! ! !" is not a
    repetition. `<unk>` stands for different words, so it is no repeated word
    either, and it interrupts a run like any word.

    Args:
        response: space-joined tokens.
        times: how many occurrences in a row make a repetition (at least 2).
    """
    if times < 2:
        raise ValueError(f"repeats_a_word needs times >= 2, got {times}")
    previous, run = None, 0
    for token in response.split():
        if token == UNKNOWN:
            previous, run = None, 0
        elif _is_word(token):
            run = run + 1 if token == previous else 1
            previous = token
            if run >= times:
                return True
    return False


def repetition_share(hypotheses, times=3):
    """The share of responses that say a word `times` times in a row (see `repeats_a_word`).

    Args:
        hypotheses: list of generated responses, space-joined tokens.
        times: occurrences in a row that count, 3 for "no no no".

    Returns:
        A fraction in [0, 1]; 0.0 for no responses.
    """
    hypotheses = _check_corpus("hypotheses", hypotheses)
    if not hypotheses:
        return 0.0
    return sum(repeats_a_word(h, times) for h in hypotheses) / len(hypotheses)


def group_mean(values, groups):
    """The mean over groups of each group's mean: every group weighs the same.

    Args:
        values: a number per item (1/0 for a hit or miss).
        groups: the group of each item (e.g. its target speaker), same length.
    """
    values, groups = _values_and_groups("group_mean", values, groups)
    return float(np.mean([values[groups == g].mean() for g in np.unique(groups)]))


def _values_and_groups(name, values, groups):
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or not values.size:
        raise ValueError(f"{name} needs a non-empty list of values, one per input")
    groups = np.zeros(len(values), int) if groups is None else np.asarray(groups)
    if groups.shape != values.shape:
        raise ValueError(
            f"{name} needs one group per value, got {len(values)} values and {len(groups)} groups"
        )
    return values, groups


def bootstrap_interval(
    values, groups=None, resamples=BOOTSTRAP["resamples"], level=BOOTSTRAP["level"], seed=0
):
    """A percentile bootstrap interval of the mean of `values` over resampled inputs.

    Each resample draws the inputs with replacement, as many as there are
    (numpy's `default_rng(seed).integers`, so the same seed gives the same
    interval); the interval holds the middle `level` of the resampled means.
    With `groups`, inputs are drawn within each group, as many as it has, and
    the statistic is `group_mean`: the interval of a measure averaged over
    targets, whose number of inputs per target the sample fixed.

    Args:
        values: a number per input (1/0 for a hit or miss, or a weight).
        groups: optional group of each input; None: one group.
        resamples: how many resamples.
        level: the interval's coverage, in (0, 1).
        seed: seed of the resampling.

    Returns:
        (low, high) as floats.
    """
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_interval needs a level in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"bootstrap_interval needs at least one resample, got {resamples}")
    values, groups = _values_and_groups("bootstrap_interval", values, groups)
    rng = np.random.default_rng(seed)
    means = []
    for group in np.unique(groups):
        members = values[groups == group]
        draws = rng.integers(0, len(members), size=(resamples, len(members)))
        means.append(members[draws].mean(axis=1))
    statistic = np.mean(means, axis=0)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(statistic, [tail, 100 - tail])
    return float(low), float(high)


def mean_with_interval(values, groups=None, **bootstrap):
    """(estimate, (low, high)): the mean of `values` (`group_mean` with `groups`) and its interval.

    Args:
        values: a number per input.
        groups: optional group of each input (see `bootstrap_interval`).
        **bootstrap: resamples, level and seed of `bootstrap_interval`.
    """
    values, groups_or_one = _values_and_groups("mean_with_interval", values, groups)
    estimate = group_mean(values, groups_or_one)
    return estimate, bootstrap_interval(values, groups, **bootstrap)
