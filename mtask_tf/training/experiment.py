"""One training run in one model directory: metadata, inputs, model, stages."""

import dataclasses
import pathlib
import random

import keras
import tensorflow as tf

from mtask_tf import errors
from mtask_tf.data import pipeline
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.data import vocabulary
from mtask_tf.model import builders
from mtask_tf.model import model_dir as model_dir_lib
from mtask_tf.training import distribution
from mtask_tf.training import loop
from mtask_tf.training import multitask


class ExperimentError(errors.UserError):
    """Settings that cannot work together; the message says how to fix them."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a run needs besides its data and model directory."""

    model: str  # "seq2seq" or "persona"
    multitask: bool
    direction: str  # "forward" or "reverse"
    vocab_size: int
    embedding_dim: int
    units: int
    num_layers: int
    speaker_dim: int
    init_scale: float
    lengths: pipeline.Lengths
    train: loop.TrainConfig
    distribution: str = "none"
    mixed_precision: str = "none"  # or "bf16"
    # A model directory whose best weights a fresh run starts from (paper Fig. 3:
    # stage 2 from the converged stage-1 model); None: random initialisation.
    init_from: str | None = None
    # The share of each target's monologue lines the AUTOENCODER task sees.
    monologue_fraction: float = 1.0
    # Options beyond the paper's text (builders.ModelConfig).
    dropout: float = 0.0
    attention: str = "none"
    bidirectional: bool = False

    def describe(self):
        """The settings a restarted run must keep (sizes may not change mid-run)."""
        record = {
            "model": self.model,
            "multitask": self.multitask,
            "direction": self.direction,
            "lengths": dataclasses.asdict(self.lengths),
        }
        if self.init_from:
            record["init_from"] = str(self.init_from)
        if self.monologue_fraction < 1:
            record["monologue_fraction"] = self.monologue_fraction
        return record


def _vocabulary(data, path, vocab_size, log):
    """Builds the vocabulary from the training text once; a restart reuses it."""
    if not path.exists():
        texts = [x for t in data.train for x in (t.context, t.message, t.response)]
        texts += [m.text for m in data.all_monologue]
        counts = tokenizer_lib.count_words(texts)
        tokens = vocabulary.build_vocabulary(counts, vocab_size)
        vocabulary.save_vocabulary(path, tokens)
        log(
            f"vocabulary: {len(tokens)} tokens from {len(counts)} distinct words, covering "
            f"{100 * vocabulary.coverage(counts, tokens):.1f}% of the training text"
        )
    return tokenizer_lib.Tokenizer(path)


def _write_metadata(data, model_dir, settings, flags_text, log):
    model_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _vocabulary(data, model_dir / model_dir_lib.VOCABULARY, settings.vocab_size, log)
    speakers = data.speakers()
    model_dir_lib.write_or_check(
        model_dir, model_dir_lib.SPEAKERS, "".join(s + "\n" for s in speakers)
    )
    config = builders.ModelConfig(
        vocabulary_size=tokenizer.vocabulary_size,
        embedding_dim=settings.embedding_dim,
        units=settings.units,
        num_layers=settings.num_layers,
        num_speakers=len(speakers) if settings.model == "persona" else 0,
        speaker_dim=settings.speaker_dim,
        init_scale=settings.init_scale,
        dropout=settings.dropout,
        attention=settings.attention,
        bidirectional=settings.bidirectional,
    )
    model_dir_lib.write_or_check(
        model_dir, model_dir_lib.MODEL_CONFIG, model_dir_lib.to_json(config.to_record())
    )
    model_dir_lib.write_or_check(
        model_dir,
        model_dir_lib.EXPERIMENT,
        model_dir_lib.to_json({**settings.describe(), "targets": data.targets}),
    )
    # Last, so that a restart refused above leaves the run's flags as they were.
    (model_dir / model_dir_lib.FLAGS).write_text(flags_text)
    return tokenizer, speakers, config


def _datasets(data, tokenizer, speakers, settings, strategy):
    reverse = settings.direction == "reverse"
    lengths, batch_size = settings.lengths, settings.train.batch_size
    ids = lambda rows, name: pipeline.speaker_ids(
        [r.speaker for r in rows], speakers, str(data.path / name)
    )
    if not data.train:
        raise ExperimentError(f"{data.path / 'train.tsv'}: no training triples")
    train = pipeline.encode_triples(
        tokenizer, data.train, ids(data.train, "train.tsv"), lengths, reverse
    )
    dev = pipeline.encode_triples(tokenizer, data.dev, ids(data.dev, "dev.tsv"), lengths, reverse)
    global_batch = batch_size * strategy.num_replicas_in_sync
    autoencoder = None
    if settings.multitask:
        rows = sample_monologue(data.monologue, settings.monologue_fraction, settings.train.seed)
        monologue = pipeline.encode_monologue(tokenizer, rows, ids(rows, "monologue.tsv"), lengths)
        autoencoder = pipeline.training_dataset(monologue, global_batch, settings.train.seed + 1)
    seq2seq = pipeline.training_dataset(train, global_batch, settings.train.seed)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Each worker takes its own share of every global batch (the default
        # policy first tries to shard by files, which these in-memory data lack).
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        seq2seq = seq2seq.with_options(options)
        autoencoder = autoencoder and autoencoder.with_options(options)
    datasets = loop.Datasets(
        seq2seq=seq2seq,
        autoencoder=autoencoder,
        dev=pipeline.evaluation_dataset(dev, batch_size),
        num_speakers=len(speakers),
    )
    return datasets, dev


def sample_monologue(rows, fraction, seed):
    """A seeded `fraction` of each speaker's monologue rows (at least one each), in order.

    For studies of how much of a speaker's text the method needs: the same seed
    gives the same lines, and a smaller fraction's lines are a subset of a
    larger one's.
    """
    if fraction >= 1:
        return list(rows)
    rng = random.Random(seed)
    keys = [rng.random() for _ in rows]
    by_speaker = {}
    for index, row in enumerate(rows):
        by_speaker.setdefault(row.speaker, []).append(index)
    kept = set()
    for indices in by_speaker.values():
        count = max(1, round(fraction * len(indices)))
        kept.update(sorted(indices, key=lambda i: keys[i])[:count])
    return [row for index, row in enumerate(rows) if index in kept]


def _check_init_source(source, model_dir, config):
    """The model directory a run starts from must share sizes, vocabulary and speakers."""
    source = pathlib.Path(source)
    if tf.train.latest_checkpoint(source / "best") is None:
        raise ExperimentError(
            f"--init_from={source}: no best weights in {source / 'best'}; train that model first"
        )
    names = [model_dir_lib.MODEL_CONFIG, model_dir_lib.VOCABULARY]
    if config.num_speakers:  # Speaker ids index a persona model's embedding rows.
        names.append(model_dir_lib.SPEAKERS)
    for name in names:
        mine, theirs = model_dir / name, source / name
        if not theirs.is_file() or theirs.read_text() != mine.read_text():
            raise ExperimentError(
                f"--init_from={source}: its {name} differs from this run's ({mine}); start "
                "from a model trained on the same data directory with the same sizes, "
                "--vocab_size and --model"
            )
    return tf.train.latest_checkpoint(source / "best")


def run(data, model_dir, settings, flags_text, log, strategy=None, sampler=None):
    """Trains (or resumes) one model; returns a summary dict, or None if stopped by a signal.

    `strategy` (see `distribution.make_strategy`) must have been made before any
    TensorFlow op ran; None trains in this process alone. `sampler`, if given, is
    `decoding.samples.dev_sampler` or a function like it: TensorBoard then shows
    its replies to the first dev inputs at each evaluation.
    """
    strategy = strategy or tf.distribute.get_strategy()
    where = distribution.place(model_dir, strategy)
    try:
        return _run(data, where, settings, flags_text, log, strategy, sampler)
    finally:
        where.cleanup()


def _run(data, where, settings, flags_text, log, strategy, sampler):
    model_dir = where.write_dir
    log(
        f"model directory {where.model_dir}: {settings.model} model, "
        f"{'multi-task' if settings.multitask else 'no autoencoder'}, {settings.direction}, "
        f"targets {', '.join(data.targets)}"
    )
    if strategy.num_replicas_in_sync > 1:
        name = {"mirrored": "MirroredStrategy", "multi_worker": "MultiWorkerMirroredStrategy"}
        log(
            f"distribution: {name.get(settings.distribution, type(strategy).__name__)} with "
            f"{strategy.num_replicas_in_sync} replicas"
            + ("" if where.chief else f"; this worker writes only to {model_dir}")
        )
    tokenizer, speakers, config = _write_metadata(data, model_dir, settings, flags_text, log)
    keras.utils.set_random_seed(settings.train.seed)
    if settings.mixed_precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        log("mixed precision: bfloat16 compute, float32 weights")
    datasets, dev = _datasets(data, tokenizer, speakers, settings, strategy)
    with strategy.scope():
        model = multitask.MultiTaskModel(
            config,
            settings.multitask,
            settings.train.learning_rate,
            settings.train.clip_norm or None,
        )
        model.compile()
    trainer = loop.Trainer(
        model,
        datasets,
        settings.train,
        model_dir,
        log,
        speakers,
        sample=sampler
        and sampler(
            model.models,
            tokenizer,
            data.dev,
            dev,
            settings.lengths.max_target_length,
            reverse=settings.direction == "reverse",
        ),
        read_dir=where.model_dir,
    )
    resumed = trainer.restore()
    if resumed is None and settings.init_from:
        trainer.start_from(
            _check_init_source(settings.init_from, model_dir, config), settings.init_from
        )
    if resumed is not None:
        log(
            f"resumed from step {resumed} ({trainer.state.stage_name} stage)"
            if trainer.state.stage_name != "done"
            else f"resumed from step {resumed}: training had already finished"
        )
    if not trainer.run():
        return None
    best = model_dir_lib.BestRecord.load(model_dir)
    log(
        f"done after {int(trainer.state.step.numpy())} steps: best dev perplexity "
        f"{best.perplexity:.2f} at step {best.step}; best model in "
        f"{where.model_dir / 'best'}"
    )
    return best
