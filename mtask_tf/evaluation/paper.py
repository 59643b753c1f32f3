"""The paper's own results: Luan et al. (2017), Tables 1-2 (Twitter), the one copy.

Laid out as `evaluate`'s metrics.json (`mtask_tf.evaluation.report`), so the
same formatter shows them beside ours. BLEU on the 0-100 scale, distinct-n as
fractions. The paper prints its relative changes too; computed from these
values they agree, except MTASK-M's BLEU: +90.9 % on dev where the paper
prints +90.1 %, and +71.8 % on test where it prints +71.7 %.
"""

TABLES = {
    "baseline": {
        "perplexity": {"dev": 56.33, "test": 61.17},
        "bleu": {"dev": 1.32, "test": 1.31},
        "distinct_1": 0.0169,
        "distinct_2": 0.0653,
    },
    "mtask_s": {
        "perplexity": {"dev": 32.27, "test": 39.83},
        "bleu": {"dev": 1.76, "test": 1.69},
        "distinct_1": 0.0243,
        "distinct_2": 0.102,
    },
    "mtask_m": {
        "perplexity": {"dev": 44.96, "test": 43.21},
        "bleu": {"dev": 2.52, "test": 2.25},
        "distinct_1": 0.0244,
        "distinct_2": 0.0979,
    },
}
