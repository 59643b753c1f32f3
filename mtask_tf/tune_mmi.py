r"""Tunes the MMI reranking weights lambda and gamma with MERT on dev N-best lists.

    python -m mtask_tf.tune_mmi --model_dir=runs/demo/mtask_m \
        --reverse_model_dir=runs/demo/reverse --data=data/shakespeare/dev.tsv \
        --output=runs/demo/mtask_m/mmi.json

score(R) = log p(R | M, v) + lambda * log p(M | R) + gamma * |R| (paper eq. 4).
The forward model decodes every dev input once (beam search, N-best list); the
reverse model scores every candidate; MERT (Och 2003) then searches (lambda,
gamma) for the highest corpus BLEU of the reranked 1-best responses. The
weights file records the search settings, so decode, evaluate and export can
tell when they rerank other lists than these.
"""

import pathlib
import sys

from absl import app
from absl import flags
from absl import logging

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli

_MODEL_DIR = flags.DEFINE_string(
    "model_dir",
    None,
    "Trained forward model directory (or an MTASK-S directory of per-target models).",
)
_REVERSE_MODEL_DIR = flags.DEFINE_string(
    "reverse_model_dir", None, "Trained reverse model p(message | response)."
)
_DATA = flags.DEFINE_string("data", None, "Dev triples (speaker context message response).")
_OUTPUT = flags.DEFINE_string(
    "output", None, "Where the weights go (JSON), read by decode, evaluate and export via --mmi."
)
_DECODING = cli.DecodingFlags(reads_mmi=False)
_SAMPLE = cli.SampleFlags(
    "Tune on N rows of --data, a seeded random sample (--sample_seed) "
    "kept in file order; 0: every row."
)
flags.adopt_module_key_flags(cli)
_RESTARTS = flags.DEFINE_integer("restarts", 20, "MERT random restarts.")
_MAX_LAMBDA = flags.DEFINE_float("max_lambda", 5.0, "Search lambda in [0, max_lambda].")
_MAX_GAMMA = flags.DEFINE_float("max_gamma", 5.0, "Search gamma in [-max_gamma, max_gamma].")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of MERT's random restarts.")


def _validate():
    cli.require(_MODEL_DIR, _REVERSE_MODEL_DIR, _DATA, _OUTPUT)
    _DECODING.validate()
    _SAMPLE.validate()
    if _MAX_LAMBDA.value <= 0 or _MAX_GAMMA.value <= 0:
        raise app.UsageError("--max_lambda and --max_gamma must be positive")


def main(argv):
    cli.no_positional_arguments(argv)
    _validate()
    logging.set_verbosity(logging.WARNING)
    from mtask_tf.data import records
    from mtask_tf.decoding import mert
    from mtask_tf.decoding import mmi
    from mtask_tf.decoding import responder
    from mtask_tf.decoding import runner
    from mtask_tf.evaluation import responses as responses_lib
    from mtask_tf.model import model_dir as model_dir_lib
    from mtask_tf.workflows import systems as workflow_systems

    with cli.user_errors():
        rows, _ = records.read_triples(_DATA.value)
        if not rows:
            raise records.DataError("no triples to tune on", _DATA.value)
        rows = _SAMPLE.sample(rows)
        system = workflow_systems.load_system("tuned", _MODEL_DIR.value)
        reverse = model_dir_lib.load_trained(
            _REVERSE_MODEL_DIR.value, name_prefix=responder.REVERSE_PREFIX
        )
        config = _DECODING.decode_config(responses=None)  # MERT sees every candidate
        nbest = workflow_systems.decode(
            system,
            rows,
            _DATA.value,
            reverse,
            config,
            _DECODING.batch_size,
            runner.progress_printer("decoding dev", sys.stderr),
        )
    keep = [i for i, h in enumerate(nbest) if h]
    lists = mert.nbest_lists([nbest[i] for i in keep], config.length_penalty)
    references = responses_lib.references([rows[i] for i in keep])
    candidates = sum(len(n.hypotheses) for n in lists)
    print(
        f"MERT on {len(lists)} N-best lists ({candidates} candidates, "
        f"{candidates / max(len(lists), 1):.1f} per input)...",
        file=sys.stderr,
    )
    bounds = [None, (0.0, _MAX_LAMBDA.value), (-_MAX_GAMMA.value, _MAX_GAMMA.value)]
    before = mert.corpus_bleu(lists, references, [1.0, 0.0, 0.0])
    result = mert.mert(
        lists,
        references,
        initial_weights=[1.0, 0.0, 0.0],
        bounds=bounds,
        restarts=_RESTARTS.value,
        seed=_SEED.value,
    )
    weights = mmi.MmiWeights(
        float(result.weights[1]),
        float(result.weights[2]),
        _DECODING.search_settings(),
        {
            "bleu_before": before,
            "bleu_after": result.bleu,
            "data": _DATA.value,
            "sentences": len(lists),
            "candidates_per_input": candidates / max(len(lists), 1),
            "model_dir": _MODEL_DIR.value,
            "reverse_model_dir": _REVERSE_MODEL_DIR.value,
        },
    )
    pathlib.Path(_OUTPUT.value).parent.mkdir(parents=True, exist_ok=True)
    weights.save(_OUTPUT.value)
    print(
        f"lambda {weights.mmi_lambda:.4f}  gamma {weights.mmi_gamma:.4f}  dev BLEU "
        f"{before:.2f} -> {result.bleu:.2f}; wrote {_OUTPUT.value}"
    )
    for note in mert.box_edge_notes(
        lists, references, result.weights, result.bleu, _MAX_LAMBDA.value, _MAX_GAMMA.value
    ):
        print(note, file=sys.stderr)
    _print_one_best(lists, result.weights)


def _print_one_best(lists, weights):
    """How the 1-best responses change with the weights; a warning when they collapse."""
    from mtask_tf.decoding import mert

    max_words = _DECODING.search_settings().max_length - 1
    before = mert.one_best_summary(lists, [1.0, 0.0, 0.0], max_words)
    after = mert.one_best_summary(lists, weights, max_words)
    for name, summary in (("forward score alone", before), ("tuned weights", after)):
        print(
            f"1-best under the {name}: {summary.mean_words:.1f} words on average, "
            f"{100 * summary.distinct:.1f} % distinct, {100 * summary.at_limit:.1f} % cut off "
            f"at {max_words} words"
        )
    if after.distinct < 0.5 * before.distinct:
        print(
            f"warning: under the tuned weights most inputs get the same few responses "
            f"({100 * after.distinct:.1f} % distinct, {100 * before.distinct:.1f} % under the "
            "forward score alone); corpus BLEU can reward long generic responses, see "
            "docs/decoding.md (MMI tuning)",
            file=sys.stderr,
        )


if __name__ == "__main__":
    app.run(main)
