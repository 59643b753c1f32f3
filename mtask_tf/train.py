r"""Trains a conversation model: Seq2Seq pre-training, then multi-task training.

    python -m mtask_tf.train --flagfile=configs/mtask_m.flags \
        --flagfile=configs/demo.flags --data_dir=data/shakespeare \
        --model_dir=runs/demo/mtask_m

Run the same command again to resume after an interruption. See docs/training.md.
"""

import dataclasses
import json
import pathlib
import sys
import time

from absl import app
from absl import flags
from absl import logging

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli
from mtask_tf import training

_MODEL = flags.DEFINE_enum(
    "model",
    "seq2seq",
    ["seq2seq", "persona"],
    "seq2seq: no speaker information (baseline, MTASK-S, reverse model); persona: "
    "speaker embeddings in the decoder (MTASK-M).",
)
_MULTITASK = flags.DEFINE_boolean(
    "multitask",
    False,
    "Add the Autoencoder task on the targets' monologue text (stage 2 of the paper's Fig. 3).",
)
_PER_TARGET = flags.DEFINE_boolean(
    "per_target", False, "Train one model per target speaker (MTASK-S), each in MODEL_DIR/<target>."
)
_DIRECTION = flags.DEFINE_enum(
    "direction",
    "forward",
    ["forward", "reverse"],
    "forward: p(response | context, message); reverse: p(message | response), the "
    "MMI reranker's model.",
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory made by mtask_tf.prepare.")
_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Where checkpoints, the best model, TensorBoard events and metadata go."
)
_TARGETS = flags.DEFINE_list(
    "targets",
    None,
    "Target speakers; default: every speaker of the data directory's monologue.tsv.",
)
_SKIP_BAD_LINES = flags.DEFINE_boolean(
    "skip_bad_lines", False, "Skip and count malformed data lines."
)
_VOCAB_SIZE = flags.DEFINE_integer(
    "vocab_size", 50_000, "Vocabulary size, special tokens included (paper: 50k)."
)
_EMBEDDING_DIM = flags.DEFINE_integer("embedding_dim", 500, "Word embedding size.")
_UNITS = flags.DEFINE_integer("units", 500, "LSTM cells per layer (paper: 500).")
_NUM_LAYERS = flags.DEFINE_integer("num_layers", 2, "LSTM layers (paper: 2).")
_SPEAKER_DIM = flags.DEFINE_integer("speaker_dim", 500, "Speaker embedding size K.")
_INIT_SCALE = flags.DEFINE_float("init_scale", 0.1, "Uniform initialisation range.")
_DROPOUT = flags.DEFINE_float(
    "dropout",
    0.0,
    "Dropout rate in training: word embeddings, speaker vector, between LSTM layers and "
    "before the output projection (0: none, the paper's text; Li et al.'s persona code "
    "used 0.2). Recorded in model.json; decoding never drops.",
)
_ATTENTION = flags.DEFINE_enum(
    "attention",
    "none",
    ["none", "luong"],
    "none: the paper's decoder, started from the encoder's last state only; luong: the "
    "decoder also attends over every encoder output at each step (Luong attention with "
    "input feeding, as in Li et al.'s persona code), so responses can draw on the words "
    "of their input. Recorded in model.json and read from there by every tool.",
)
_BIDIRECTIONAL = flags.DEFINE_bool(
    "bidirectional",
    False,
    "A bidirectional encoder: --units/2 cells per layer read the input forwards and as "
    "many backwards, joined, so every encoder output (what attention reads) knows the "
    "words on both sides of it. Not in the paper. Recorded in model.json.",
)
_MAX_SOURCE = flags.DEFINE_integer(
    "max_source_length", 40, "Encoder tokens kept (the last ones of `context EOS message`)."
)
_MAX_TARGET = flags.DEFINE_integer("max_target_length", 20, "Decoder tokens kept, EOS included.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size of each task.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
_CLIP_NORM = flags.DEFINE_float(
    "clip_norm", training.CLIP_NORM, "Global gradient norm clipping; 0: off."
)
_PRETRAIN = flags.DEFINE_boolean(
    "pretrain",
    True,
    "Stage 1: train Seq2Seq alone until dev perplexity converges before multi-task training.",
)
_PRETRAIN_MAX_STEPS = flags.DEFINE_integer("pretrain_max_steps", 50_000, "Step limit of stage 1.")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 50_000, "Step limit of stage 2.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 1000, "Steps between dev evaluations.")
_PATIENCE = flags.DEFINE_integer(
    "patience", 3, "Evaluations without a better dev perplexity that end a stage."
)
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    "checkpoint_every", 500, "Steps between checkpoints (the most a kill loses)."
)
_LOG_EVERY = flags.DEFINE_integer("log_every", 100, "Steps between progress lines.")
_SEED = flags.DEFINE_integer("seed", 1, "Random seed (initialisation, shuffling).")
_MIXED_PRECISION = flags.DEFINE_enum(
    "mixed_precision",
    "none",
    ["none", "bf16", "auto"],
    "bf16: compute in bfloat16 with float32 weights (Keras mixed_bfloat16 policy); "
    "about twice the matmul speed on CPUs with AVX-512 BF16 or AMX, but about three "
    "times slower on CPUs without them, where TensorFlow emulates it. auto: bf16 where "
    "the CPU has bfloat16 instructions, none elsewhere.",
)
_DISTRIBUTION = flags.DEFINE_enum(
    "distribution",
    "none",
    ["none", "mirrored", "multi_worker"],
    "tf.distribute strategy: none, mirrored (all local devices) or multi_worker "
    "(MultiWorkerMirroredStrategy, configured by the TF_CONFIG environment variable).",
)

_INIT_FROM = flags.DEFINE_string(
    "init_from",
    None,
    "Start a fresh run from the best weights of this model directory "
    "(trained on the same data directory with the same sizes and --model), e.g. "
    "MTASK-S stage 2 from the baseline's converged stage 1 with --nopretrain, or a "
    "baseline continued for more SEQ2SEQ steps. Their dev perplexity is the run's "
    "step-0 best. Ignored when the run resumes from its own checkpoint.",
)
_MONOLOGUE_FRACTION = flags.DEFINE_float(
    "monologue_fraction",
    1.0,
    "Use this share of each target's monologue lines "
    "(seeded by --seed, at least one line each) for the AUTOENCODER task; for studies "
    "of how much of a speaker's text is needed. The vocabulary is unchanged.",
)

_POSITIVE = (
    "vocab_size",
    "embedding_dim",
    "units",
    "num_layers",
    "speaker_dim",
    "max_source_length",
    "max_target_length",
    "batch_size",
    "pretrain_max_steps",
    "max_steps",
    "eval_every",
    "patience",
    "checkpoint_every",
    "log_every",
)


def _validate():
    if not _DATA_DIR.value or not _MODEL_DIR.value:
        raise app.UsageError(
            "--data_dir and --model_dir are required, e.g. "
            "--data_dir=data/shakespeare --model_dir=runs/demo/baseline"
        )
    cli.require_positive(*_POSITIVE, "learning_rate", show_value=True)
    if _DIRECTION.value == "reverse" and (_MULTITASK.value or _MODEL.value == "persona"):
        raise app.UsageError(
            "the reverse model has no speaker information and no "
            "autoencoder: use --model=seq2seq --nomultitask "
            "(configs/reverse.flags)"
        )
    if _BIDIRECTIONAL.value and _UNITS.value % 2:
        raise app.UsageError(
            f"--bidirectional splits --units between two directions: it must be even, "
            f"got {_UNITS.value}"
        )
    if not 0 <= _DROPOUT.value < 1:
        raise app.UsageError(f"--dropout must be in [0, 1), got {_DROPOUT.value}")
    if not 0 < _MONOLOGUE_FRACTION.value <= 1:
        raise app.UsageError(
            f"--monologue_fraction must be in (0, 1], got {_MONOLOGUE_FRACTION.value}"
        )
    if _INIT_FROM.value and not pathlib.Path(_INIT_FROM.value).is_dir():
        raise app.UsageError(f"--init_from={_INIT_FROM.value}: no such model directory")
    if _PER_TARGET.value and _MODEL.value == "persona":
        raise app.UsageError(
            "--per_target (MTASK-S) trains plain Seq2Seq models; use --model=seq2seq"
        )


def _log(message):
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _resolved_flags():
    module_flags = flags.FLAGS.get_key_flags_for_module(sys.modules[__name__])
    return "".join(f.serialize() + "\n" for f in module_flags if f.serialize())


def _mixed_precision():
    """--mixed_precision with auto resolved for this CPU; the flag is set to it, so the
    model directory's flags.txt records what ran."""
    if _MIXED_PRECISION.value == "auto":
        from mtask_tf.decoding import low_precision

        native = low_precision.cpu_has_bfloat16()
        flags.FLAGS.mixed_precision = "bf16" if native else "none"
        _log(
            f"--mixed_precision=auto: {flags.FLAGS.mixed_precision} (the CPU "
            f"{'has' if native else 'has no'} bfloat16 instructions)"
        )
    return _MIXED_PRECISION.value


def _configs():
    from mtask_tf.data import pipeline
    from mtask_tf.training import loop

    train_config = loop.TrainConfig(
        batch_size=_BATCH_SIZE.value,
        learning_rate=_LEARNING_RATE.value,
        clip_norm=_CLIP_NORM.value,
        pretrain=_PRETRAIN.value,
        pretrain_max_steps=_PRETRAIN_MAX_STEPS.value,
        max_steps=_MAX_STEPS.value,
        eval_every=_EVAL_EVERY.value,
        patience=_PATIENCE.value,
        checkpoint_every=_CHECKPOINT_EVERY.value,
        log_every=_LOG_EVERY.value,
        seed=_SEED.value,
    )
    lengths = pipeline.Lengths(_MAX_SOURCE.value, _MAX_TARGET.value)
    return train_config, lengths


def main(argv):
    cli.no_positional_arguments(argv)
    _validate()
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines drown the progress.
    from mtask_tf.data import datadir
    from mtask_tf.decoding import samples
    from mtask_tf.model import model_dir as model_dir_lib
    from mtask_tf.training import distribution
    from mtask_tf.training import experiment

    # Before TensorFlow runs any op: MultiWorkerMirroredStrategy configures
    # collective ops, which is only possible at program start-up.
    strategy = distribution.make_strategy(_DISTRIBUTION.value)
    train_config, lengths = _configs()
    with cli.user_errors():
        data = datadir.load(
            _DATA_DIR.value,
            _TARGETS.value,
            _SKIP_BAD_LINES.value,
            splits=("train", "monologue", "dev"),
        )
    for report in data.reports:
        _log(
            f"read {report.path}: {report.rows} rows"
            + (f", {len(report.skipped)} bad lines skipped" if report.skipped else "")
        )
    settings = experiment.Settings(
        model=_MODEL.value,
        multitask=_MULTITASK.value,
        direction=_DIRECTION.value,
        vocab_size=_VOCAB_SIZE.value,
        embedding_dim=_EMBEDDING_DIM.value,
        units=_UNITS.value,
        num_layers=_NUM_LAYERS.value,
        speaker_dim=_SPEAKER_DIM.value,
        init_scale=_INIT_SCALE.value,
        lengths=lengths,
        train=train_config,
        distribution=_DISTRIBUTION.value,
        mixed_precision=_mixed_precision(),
        init_from=_INIT_FROM.value,
        monologue_fraction=_MONOLOGUE_FRACTION.value,
        dropout=_DROPOUT.value,
        attention=_ATTENTION.value,
        bidirectional=_BIDIRECTIONAL.value,
    )
    model_dir = pathlib.Path(_MODEL_DIR.value)
    runs = (
        [(data.for_target(t), model_dir / model_dir_lib.target_dir_name(t)) for t in data.targets]
        if _PER_TARGET.value
        else [(data, model_dir)]
    )
    results = {}
    for run_data, run_dir in runs:
        with (
            cli.user_errors(),
            distribution.peer_failures(run_dir),
        ):
            outcome = experiment.run(
                run_data,
                run_dir,
                settings,
                _resolved_flags(),
                _log,
                strategy,
                sampler=samples.dev_sampler,
            )
        if outcome is None:
            raise SystemExit(143)  # Stopped by a signal after saving.
        results[str(run_dir)] = dataclasses.asdict(outcome)  # best.json's content
    print(json.dumps(results, indent=2), flush=True)
    distribution.finish(strategy)


if __name__ == "__main__":
    app.run(main)
