"""Corpus BLEU, distinct-n, Ent-n, distinct responses and relative change.

BLEU and distinct-n are the paper's (section 6.2); Ent-n (Zhang et al. 2018) and
the share of distinct responses are diversity measures it does not report.

Hypotheses and references are strings of space-joined tokens as our tokenizer
makes them (`mtask_tf.data.tokenizer`: lower-cased, punctuation
split off); these metrics never tokenise again, they only split on white space.
"""

import collections
import math

import sacrebleu

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
