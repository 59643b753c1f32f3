"""Corpus BLEU, distinct-n and relative change over decoded responses (paper 6.2).

Hypotheses and references are strings of space-joined tokens as our tokenizer
makes them (`mtask_tf.data.tokenizer`: lower-cased, punctuation
split off); these metrics never tokenise again, they only split on white space.
"""

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
        raise TypeError(f"{name} must be a list of strings, one per response, not a "
                        "single string")
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
        raise ValueError(f"corpus_bleu needs one reference per hypothesis, got "
                         f"{len(hypotheses)} hypotheses and {len(references)} references")
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
        ngrams.update(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return len(ngrams) / total_tokens if total_tokens else 0.0


def relative_change(value, baseline):
    """(value - baseline) / baseline as a fraction: -0.427 for 56.33 -> 32.27.

    Args:
        value: the system's score.
        baseline: the baseline's score; must not be zero.
    """
    if baseline == 0:
        raise ValueError(f"relative change of {value} against a baseline of 0 is undefined")
    return (value - baseline) / baseline
