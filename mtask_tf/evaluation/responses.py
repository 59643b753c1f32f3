"""The rows an evaluation scores, and the measures of the responses a system gave them.

Text only (no model): a seeded sample of the rows, their inputs shuffled among
them, references tokenised as the responses are, and the 1-best measures.
"""

import dataclasses
import random

from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.evaluation import metrics as metrics_lib


def sample_rows(rows, count, seed):
    """A seeded random sample of `count` rows in their original order (all for 0 or more).

    Decoding-based measures on a fixed subset: the same seed gives the same rows
    for every system, and the sample spreads over the whole file instead of its
    first conversations.
    """
    if not count or count >= len(rows):
        return list(rows)
    chosen = sorted(random.Random(seed).sample(range(len(rows)), count))
    return [rows[i] for i in chosen]


def shuffled_inputs(rows, seed=0):
    """The rows with each one's context and message taken from another row (seeded).

    Speakers and responses stay where they are, so the perplexity of these
    rows against that of the real ones says how much a model's responses
    depend on their input: equal, and the model ignores what it answers. The
    inputs move along one seeded cycle through all rows, so no row keeps its
    own (given two rows or more).
    """
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    donor = {row: order[(k + 1) % len(order)] for k, row in enumerate(order)}
    return [
        dataclasses.replace(row, context=rows[donor[i]].context, message=rows[donor[i]].message)
        for i, row in enumerate(rows)
    ]


def references(rows):
    """Reference responses tokenised like the hypotheses (no vocabulary mapping)."""
    return tokenizer_lib.split_texts([r.response for r in rows])


def generation_metrics(hypotheses, refs, lengths, max_length):
    """BLEU, diversity and degeneration measures of the 1-best responses.

    BLEU and distinct-1/2 (paper 6.2), Ent-4, the share of distinct responses
    with its bootstrap interval, the mean length, the share at the length cap
    and the share repeating a word three times in a row.

    Args:
        hypotheses: the 1-best response of each input, space-joined tokens.
        refs: the reference responses, tokenised the same way.
        lengths: words of each 1-best, EOS not counted.
        max_length: the decoder's maximum length, EOS included.
    """
    _, interval = metrics_lib.mean_with_interval(
        metrics_lib.distinct_response_weights(hypotheses), **metrics_lib.BOOTSTRAP
    )
    return {
        "bleu": metrics_lib.corpus_bleu(hypotheses, refs),
        "distinct_1": metrics_lib.distinct_n(hypotheses, 1),
        "distinct_2": metrics_lib.distinct_n(hypotheses, 2),
        "ent_4": metrics_lib.ngram_entropy(hypotheses, 4),
        "distinct_responses": metrics_lib.distinct_responses(hypotheses),
        "distinct_responses_interval": list(interval),
        **metrics_lib.length_measures(lengths, max_length),
        "repetition_share": metrics_lib.repetition_share(hypotheses),
    }
