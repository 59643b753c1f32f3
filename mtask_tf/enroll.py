r"""Enrols a new speaker into a trained model from their text alone, without retraining.

    python -m mtask_tf.enroll --model_dir=runs/demo/mtask_m --speaker="Yorick" \
        --text=yorick.txt --output_dir=runs/demo/mtask_m_yorick

`--text` is plain UTF-8 text, one sentence or post per line, or a monologue
TSV (`speaker<TAB>text`, the rows of --speaker are used). With the default
`--adapt=speaker` (persona models) only the new speaker's embedding row is
trained, by the AUTOENCODER task on the text; every other weight, and so every
existing speaker's responses, stay exactly as they were. Held-out lines of the
text (or `--dev` triples of the speaker) decide when to stop. The output is a
normal model directory for decode, evaluate, tune_mmi and export. See docs/enrolment.md.
"""

import time

from absl import app
from absl import flags
from absl import logging

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli

_MODEL_DIR = flags.DEFINE_string("model_dir", None, "The trained model directory.")
_SPEAKER = flags.DEFINE_string(
    "speaker", None, "Name of the new speaker, as requests will give it."
)
_TEXT = flags.DEFINE_string(
    "text",
    None,
    "The speaker's text: plain UTF-8, one sentence "
    "or post per line, or a monologue TSV (speaker, text).",
)
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir",
    None,
    "The new model directory (must not exist or be empty; never the --model_dir).",
)
_ADAPT = flags.DEFINE_enum(
    "adapt",
    "speaker",
    ["speaker", "decoder"],
    "speaker: train only the new speaker's embedding row (persona models; minutes on "
    "a CPU; the other speakers unchanged). decoder: the paper's stage 2 for this "
    "speaker, the shared decoder too (needs --data_dir).",
)
_DEV = flags.DEFINE_string(
    "dev",
    None,
    "Triples file (speaker, context, message, "
    "response) with conversations of the speaker: their dev "
    "perplexity decides when to stop, instead of held-out lines.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "General conversation data directory, for --adapt=decoder."
)
_REPLACE = flags.DEFINE_bool(
    "replace", False, "Enrol a speaker the model already has again, training their row afresh."
)
_CURVE = flags.DEFINE_list(
    "curve",
    [],
    "Also enrol from the first N lines for each N "
    "(e.g. 100,300,1000) and report perplexity against N (table "
    "and enroll_curve.png).",
)
_MAX_STEPS = flags.DEFINE_integer("max_steps", 1000, "Most training steps per enrolment.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 50, "Steps between perplexity checks.")
_PATIENCE = flags.DEFINE_integer("patience", 3, "Checks without improvement that stop it.")
_LEARNING_RATE = flags.DEFINE_float(
    "learning_rate",
    None,
    "Adam's learning rate; default 0.01 for --adapt=speaker, the "
    "model's own training rate (its flags.txt) for --adapt=decoder.",
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Lines of text per step.")
_HOLDOUT = flags.DEFINE_float(
    "holdout_fraction", 0.1, "Share of the lines held out to decide when to stop (without --dev)."
)
_SEED = flags.DEFINE_integer("seed", 1, "Seed of the held-out split and the line order.")
# The flags named as the fields of workflows.enrollment.Request (all but its
# curve, the line counts of --curve) and of EnrollConfig (all but its learning
# rate, which the workflow sets from the Request's: its default depends on the
# mode and the model).
_REQUEST_FLAGS = (
    "model_dir",
    "speaker",
    "text",
    "output_dir",
    "adapt",
    "replace",
    "dev",
    "data_dir",
    "learning_rate",
)
_CONFIG_FLAGS = ("max_steps", "eval_every", "patience", "batch_size", "holdout_fraction", "seed")


def _log(message):
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _values(names):
    return {name: flags.FLAGS[name].value for name in names}


def _validate():
    cli.require(_MODEL_DIR, _SPEAKER, _TEXT, _OUTPUT_DIR)
    cli.require_positive("max_steps", "eval_every", "patience", "batch_size", show_value=True)
    if _LEARNING_RATE.value is not None and _LEARNING_RATE.value <= 0:
        raise app.UsageError(f"--learning_rate must be positive, got {_LEARNING_RATE.value}")
    if not 0 < _HOLDOUT.value < 1:
        raise app.UsageError(f"--holdout_fraction must lie in (0, 1), got {_HOLDOUT.value}")
    try:
        curve = [int(n) for n in _CURVE.value]
    except ValueError:
        raise app.UsageError(
            f"--curve takes line counts, e.g. 100,300,1000; got {','.join(_CURVE.value)}"
        ) from None
    if any(n <= 0 for n in curve):
        raise app.UsageError(f"--curve: line counts must be positive, got {curve}")
    if _ADAPT.value == "decoder" and not _DATA_DIR.value:
        raise app.UsageError(
            "--adapt=decoder alternates with general conversation: give "
            "--data_dir (the data directory the model was trained on)"
        )
    return curve


def main(argv):
    cli.no_positional_arguments(argv)
    curve = _validate()
    logging.set_verbosity(logging.WARNING)
    from mtask_tf.training import enrollment
    from mtask_tf.workflows import enrollment as workflow

    request = workflow.Request(curve=tuple(curve), **_values(_REQUEST_FLAGS))
    config = enrollment.EnrollConfig(**_values(_CONFIG_FLAGS))
    with cli.user_errors():
        record = workflow.enroll(request, config, _log)
    print(workflow.summary(record))
    _log(f"wrote {_OUTPUT_DIR.value} (enroll.json records what was done)")


if __name__ == "__main__":
    app.run(main)
