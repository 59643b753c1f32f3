"""Enrolment's computation: a new speaker learnt from their text alone.

`--adapt=speaker` (a persona model): the speaker gets a new row of the speaker
embedding table, started at the average of the others, and only that row is
trained, by the AUTOENCODER task on the speaker's text (paper section 4.2:
the autoencoder is how a speaker's non-conversational text reaches the
shared decoder). Every other weight keeps its exact bits, so the speakers
the model already had answer exactly as before.

`--adapt=decoder`: the paper's stage 2 for one speaker: AUTOENCODER batches of
the text alternate with general SEQ2SEQ batches, and the shared decoder is
trained too.

Held-out lines of the text, or dev triples of the speaker when given, decide
when to stop and which weights to keep, as dev perplexity does in the paper's
Fig. 3. Reading the text, writing the enrolled model directory and reporting
are the workflow's: `mtask_tf/workflows/enrollment.py`.
"""

import dataclasses
import pathlib
import random
import time

import keras
import numpy as np
import tensorflow as tf

from mtask_tf import errors
from mtask_tf import training
from mtask_tf.data import pipeline
from mtask_tf.data import records
from mtask_tf.evaluation import perplexity as perplexity_lib
from mtask_tf.model import builders
from mtask_tf.model import losses
from mtask_tf.model import model_dir as model_dir_lib
from mtask_tf.training import loop


class EnrollError(errors.UserError):
    """Input that cannot be enrolled; the message names the file or flag and the problem."""


@dataclasses.dataclass(frozen=True)
class EnrollConfig:
    """How the new row (or, with --adapt=decoder, the decoder) is trained."""

    max_steps: int = 1000
    eval_every: int = 50
    patience: int = 3
    learning_rate: float = 0.01
    batch_size: int = 32
    holdout_fraction: float = 0.1
    seed: int = 1

    def train_config(self):
        """The `loop.TrainConfig` of `--adapt=decoder`: the multi-task stage only, with
        training's default gradient clipping, checked and saved every `eval_every` steps."""
        return loop.TrainConfig(
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            clip_norm=training.CLIP_NORM,
            pretrain=False,
            max_steps=self.max_steps,
            eval_every=self.eval_every,
            patience=self.patience,
            checkpoint_every=self.eval_every,
            log_every=self.eval_every,
            seed=self.seed,
        )


def split_held_out(lines, fraction, seed):
    """(training lines, held-out lines): a seeded share of the lines, at least one, held out."""
    if len(lines) < 2:
        raise EnrollError(
            f"only {len(lines)} line of text: at least two are needed, one to "
            "learn from and one held out to decide when to stop (or give "
            "--dev triples of the speaker)"
        )
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    held = max(1, round(fraction * len(lines)))
    held_out = sorted(order[:held])
    kept = sorted(order[held:])
    return [lines[i] for i in kept], [lines[i] for i in held_out]


@dataclasses.dataclass
class Source:
    """The trained model enrolment starts from."""

    model_dir: pathlib.Path
    config: builders.ModelConfig
    speakers: list
    checkpoint: str
    has_autoencoder: bool
    experiment: model_dir_lib.Experiment


def load_source(model_dir):
    """Checks and reads a trained model directory for enrolment."""
    model_dir = pathlib.Path(model_dir)
    try:
        dirs = model_dir_lib.model_dirs(model_dir)
    except model_dir_lib.ModelDirError as error:
        raise EnrollError(str(error)) from None
    if dirs != [model_dir]:
        raise EnrollError(
            f"{model_dir}: an MTASK-S directory of per-target models; give one "
            f"of them as --model_dir (e.g. {dirs[0]})"
        )
    config = model_dir_lib.load_model_config(model_dir)
    speakers = model_dir_lib.read_lines(model_dir / model_dir_lib.SPEAKERS)
    checkpoint = tf.train.latest_checkpoint(model_dir / "best")
    if checkpoint is None:
        raise EnrollError(f"{model_dir / 'best'}: no best weights; train the model first")
    names = [name for name, _ in tf.train.list_variables(checkpoint)]
    return Source(
        model_dir,
        config,
        speakers,
        checkpoint,
        any("autoencoder_encoder" in name for name in names),
        model_dir_lib.load_experiment(model_dir),
    )


def restore_weights(models, source):
    """Restores the source's best weights into `models`, whose speaker table may be longer.

    The autoencoder's encoder is restored when the source has one (else it keeps
    its fresh initialisation). Returns the source's speaker table (numpy), or None
    for a model without speaker embeddings.
    """
    variables = builders.variable_map(
        models.seq2seq, models.autoencoder if source.has_autoencoder else None
    )
    trained = None
    if models.decoder.speaker_embedding is not None:
        table = models.decoder.speaker_embedding.embeddings
        key = next(k for k, v in variables.items() if v is table)
        trained = variables[key] = tf.Variable(
            tf.zeros([source.config.num_speakers, source.config.speaker_dim])
        )
    tf.train.Checkpoint(variables=variables).restore(
        source.checkpoint
    ).expect_partial().assert_existing_objects_matched()
    return None if trained is None else trained.numpy()


def with_row(table, row_id, row):
    """The table with row `row_id` set to `row` (appended when it is one past the end)."""
    table = np.array(table)
    if row_id < len(table):
        table[row_id] = row
        return table
    return np.concatenate([table, np.asarray(row, table.dtype)[None]], axis=0)


def average_row(table, row_id):
    """The mean of the speaker rows other than `row_id`: where a new speaker starts."""
    others = np.delete(table, row_id, axis=0) if row_id < len(table) else table
    return others.mean(axis=0)


def speakers_with(source, speaker):
    """The enrolled model's speakers (the new one last) and the new speaker's id."""
    speakers = list(source.speakers)
    if speaker not in speakers:
        speakers.append(speaker)
    return speakers, speakers.index(speaker)


class RowTrainer:
    """A persona model with one speaker row that the AUTOENCODER task trains, and nothing else.

    Args:
        source: `Source`, a persona model.
        speaker: the new (or, with replace, re-trained) speaker's name.
    """

    def __init__(self, source, speaker):
        self.source = source
        self.speakers, self.row_id = speakers_with(source, speaker)
        self.config = dataclasses.replace(source.config, num_speakers=len(self.speakers))
        self.models = builders.build_models(self.config, source.has_autoencoder)
        # Without an autoencoder encoder in the checkpoint (a persona model of stage 1
        # only), the SEQ2SEQ encoder reads the text: the same graph with source = text.
        self.autoencoder = self.models.autoencoder or self.models.seq2seq
        self.table = self.models.decoder.speaker_embedding.embeddings
        self.trained_table = restore_weights(self.models, source)
        self.initial_row = average_row(self.trained_table, self.row_id)
        self.set_row(self.initial_row)

    def set_row(self, row):
        self.table.assign(with_row(self.trained_table, self.row_id, row))

    def row(self):
        return self.table.numpy()[self.row_id]

    def train_step_function(self, learning_rate):
        """A tf.function taking one AUTOENCODER batch; it moves only the speaker's row."""
        row = tf.Variable(self.row(), name="enrolled_row")
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build([row])
        table, row_id = self.table, self.row_id

        @tf.function(reduce_retracing=True, autograph=False)
        def step(batch):
            with tf.GradientTape() as tape:
                logits = self.autoencoder(builders.model_feed(batch), training=False)
                nll, weights = losses.token_nll_compiled(logits, batch["target_out"])
                loss = tf.reduce_sum(nll) / tf.maximum(tf.reduce_sum(weights), 1.0)
            gradient = tf.convert_to_tensor(tape.gradient(loss, table))[row_id]
            optimizer.apply([gradient], [row])
            # Every other row is written back as it was read: the same bits.
            table.assign(tf.tensor_scatter_nd_update(table, [[row_id]], row[None]))
            return loss

        def reset(value):
            row.assign(value)
            self.set_row(value)

        return step, reset


def _examples_of_lines(tokenizer, lines, speaker_id, lengths):
    rows = [records.Monologue("enrolled", text) for text in lines]
    return pipeline.encode_monologue(tokenizer, rows, [speaker_id] * len(rows), lengths)


class Judge:
    """The perplexity that decides when to stop: the speaker's dev triples or held-out lines.

    Dev triples go through the SEQ2SEQ graph; held-out lines through the
    AUTOENCODER graph (`autoencoder`), as the text was learnt.
    """

    def __init__(
        self,
        models,
        autoencoder,
        speaker_id,
        num_speakers,
        tokenizer,
        lengths,
        held_out=None,
        dev=None,
    ):
        if dev is not None:
            examples = pipeline.encode_triples(tokenizer, dev, [speaker_id] * len(dev), lengths)
            self.model, self.what = models.seq2seq, f"dev perplexity ({len(dev)} triples)"
        else:
            examples = _examples_of_lines(tokenizer, held_out, speaker_id, lengths)
            self.model = autoencoder
            self.what = f"held-out perplexity ({len(held_out)} lines of the text)"
        self.dataset = pipeline.evaluation_dataset(examples, 64)
        self.num_speakers = max(num_speakers, 1)

    def measure(self):
        return perplexity_lib.perplexity(self.model, self.dataset, self.num_speakers)

    def __call__(self):
        return self.measure().perplexity


def train_row(trainer, tokenizer, lengths, lines, judge, config, log):
    """Trains the speaker's row on `lines`; keeps the row with the best judged perplexity.

    Returns a dict: before, after (perplexities), best_step, steps.
    """
    examples = _examples_of_lines(tokenizer, lines, trainer.row_id, lengths)
    batches = iter(pipeline.training_dataset(examples, config.batch_size, config.seed))
    step, reset = trainer.train_step_function(config.learning_rate)
    reset(trainer.initial_row)
    before = best = judge()
    best_row, best_step, waiting, began = trainer.row(), 0, 0, time.time()
    log(f"  step 0: {judge.what} {before:.2f} (the average speaker)")
    done = 0
    for done in range(1, config.max_steps + 1):
        step(next(batches))
        if done % config.eval_every and done != config.max_steps:
            continue
        value = judge()
        improved = value < best
        if improved:
            best, best_row, best_step, waiting = value, trainer.row(), done, 0
        else:
            waiting += 1
        rate = (time.time() - began) / done
        log(
            f"  step {done}: {judge.what} {value:.2f}  best {best:.2f} (step {best_step})"
            f"  {rate * 1000:.0f} ms/step"
        )
        if waiting >= config.patience:
            break
    reset(best_row)
    return {"before": before, "after": best, "best_step": best_step, "steps": done}


def curve_points(requested, available):
    """The line counts of a curve that the text has, plus all of it; sorted, unique."""
    points = sorted({n for n in requested if 0 < n < available} | {available})
    return points


class _JudgedTrainer(loop.Trainer):
    """The training loop of Fig. 3 with the enrolment's judge as its dev perplexity."""

    def __init__(self, judge, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.judge = judge

    def evaluate(self):
        self.last_evaluation = self.judge.measure()
        with self.dev_writer.as_default(step=int(self.state.step.numpy())):
            tf.summary.scalar("dev/perplexity", self.last_evaluation.perplexity)
        self.dev_writer.flush()
        return self.last_evaluation.perplexity


def general_examples(general, data_path, speakers, tokenizer, lengths):
    """The general conversation triples, encoded, with speaker ids the model knows."""
    try:
        ids = pipeline.speaker_ids([t.speaker for t in general], speakers, str(data_path))
    except pipeline.SpeakerError as error:
        raise EnrollError(f"{error}: give the --data_dir the model was trained on") from None
    return pipeline.encode_triples(tokenizer, general, ids, lengths)


@dataclasses.dataclass
class DecoderSetup:
    """What `--adapt=decoder` trains for one speaker, on whichever lines of their text.

    Attributes:
        source: `Source`.
        speakers: the enrolled model's speakers and row_id the new one's id
            (`speakers_with`).
        general: the general conversation, encoded (`general_examples`); its
            SEQ2SEQ batches alternate with the text's AUTOENCODER batches.
        tokenizer, lengths: how the text is encoded.
        config: `EnrollConfig`.
        held_out: the held-out lines of the text, or dev: the speaker's dev
            triples, which decide when to stop (`Judge`).
    """

    source: Source
    speakers: list
    row_id: int
    general: dict  # pipeline.encode_triples: ragged token tensors and speaker ids
    tokenizer: object
    lengths: pipeline.Lengths
    config: EnrollConfig
    held_out: list
    dev: list | None = None

    def model_config(self):
        """The model trained and written: the source's, with a row for each speaker."""
        num_speakers = len(self.speakers) if self.source.config.num_speakers else 0
        return dataclasses.replace(self.source.config, num_speakers=num_speakers)


def _decoder_model(setup, train_config):
    """The source's weights in a model to train; the new speaker's row is the average one."""
    from mtask_tf.training import multitask  # Keras model with train_step: heavy.

    model = multitask.MultiTaskModel(
        setup.model_config(),
        with_autoencoder=True,
        learning_rate=train_config.learning_rate,
        clip_norm=train_config.clip_norm,
    )
    model.compile()
    table = restore_weights(model.models, setup.source)
    if table is not None:
        model.models.decoder.speaker_embedding.embeddings.assign(
            with_row(table, setup.row_id, average_row(table, setup.row_id))
        )
    return model


def _decoder_datasets(setup, lines, judge):
    config = setup.config
    text = _examples_of_lines(setup.tokenizer, lines, setup.row_id, setup.lengths)
    return loop.Datasets(
        seq2seq=pipeline.training_dataset(setup.general, config.batch_size, config.seed),
        autoencoder=pipeline.training_dataset(text, config.batch_size, config.seed + 1),
        dev=judge.dataset,
        num_speakers=len(setup.speakers),
    )


def train_decoder(setup, lines, directory, log):
    """Stage 2 for one speaker on `lines`, into `directory` (checkpoints, best/, best.json).

    Returns:
        (the `Judge`, a dict: before, after (perplexities), best_step, steps).
    """
    train_config = setup.config.train_config()
    model = _decoder_model(setup, train_config)
    judge = Judge(
        model.models,
        model.models.autoencoder,
        setup.row_id,
        len(setup.speakers),
        setup.tokenizer,
        setup.lengths,
        held_out=setup.held_out,
        dev=setup.dev,
    )
    datasets = _decoder_datasets(setup, lines, judge)
    trainer = _JudgedTrainer(judge, model, datasets, train_config, directory, log, setup.speakers)
    before = trainer.evaluate()
    trainer.state.record_evaluation(before)
    trainer.save_best()
    log(f"  step 0: {judge.what} {before:.2f} (the model before enrolment)")
    if not trainer.run():
        raise EnrollError("stopped by a signal; nothing was written (run the command again)")
    best = model_dir_lib.BestRecord.load(directory)
    return judge, {
        "before": before,
        "after": best.perplexity,
        "best_step": best.step,
        "steps": int(trainer.state.step.numpy()),
    }
