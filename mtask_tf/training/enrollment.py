"""Enrols a new speaker into a trained model from their text alone.

`--adapt=speaker` (a persona model): the speaker gets a new row of the speaker
embedding table, started at the average of the others, and only that row is
trained, by the AUTOENCODER task on the speaker's text (paper section 4.2:
the autoencoder is how a speaker's non-conversational text reaches the
shared decoder). Every other weight keeps its exact bits, so the speakers
the model already had answer exactly as before.

Held-out lines of the text, or dev triples of the speaker when given, decide
when to stop and which row to keep, as dev perplexity does in the paper's
Fig. 3. The result is a normal model directory: `speakers.txt` with the new
speaker last, `best/` and `checkpoints/` weights, `best.json`, and
`enroll.json`, the record of what was done.
"""

import dataclasses
import json
import math
import pathlib
import random
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from mtask_tf import errors
from mtask_tf.data import pipeline
from mtask_tf.data import records
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.data import vocabulary
from mtask_tf.evaluation import perplexity as perplexity_lib
from mtask_tf.model import builders
from mtask_tf.model import losses
from mtask_tf.model import model_dir as model_dir_lib
from mtask_tf.training import loop

ENROLL_RECORD = "enroll.json"
CURVE_PLOT = "enroll_curve.png"
# Files of the trained model an enrolled model keeps as they are.
_COPIED = (model_dir_lib.VOCABULARY, model_dir_lib.FLAGS, "mmi.json")


class EnrollError(errors.UserError):
    """Input that cannot be enrolled; the message names the file or flag and the problem."""


@dataclasses.dataclass(frozen=True)
class SpeakerText:
    """The new speaker's lines, where they came from, and what was left out."""

    speaker: str
    lines: tuple
    path: str
    kind: str  # "text" (one sentence per line) or "monologue" (a speaker/text TSV)
    blank_lines: int = 0
    other_speakers_rows: int = 0


@dataclasses.dataclass(frozen=True)
class EnrollConfig:
    """How the new row is trained."""

    max_steps: int = 1000
    eval_every: int = 50
    patience: int = 3
    learning_rate: float = 0.01
    batch_size: int = 32
    holdout_fraction: float = 0.1
    seed: int = 1


def read_speaker_text(path, speaker):
    """Reads plain text (a sentence per line) or a monologue TSV (the speaker's rows).

    Raises:
        records.DataError: unreadable file, bad UTF-8 or TSV line (file and line named).
        EnrollError: no text of the speaker in the file.
    """
    lines = records.read_text_lines(path)
    if lines and lines[0][1].split("\t") == list(records.MONOLOGUE_COLUMNS):
        rows, _ = records.read_monologue(path)
        mine = [r.text for r in rows if r.speaker == speaker]
        if not mine:
            found = sorted({r.speaker for r in rows})
            raise EnrollError(
                f"{path}: a monologue file with no rows of speaker {speaker!r}; "
                f"its speakers: {', '.join(found[:20]) or 'none'}"
            )
        return SpeakerText(
            speaker,
            tuple(records.fold_whitespace(t) for t in mine),
            str(path),
            "monologue",
            other_speakers_rows=len(rows) - len(mine),
        )
    texts = [records.fold_whitespace(text) for _, text in lines]
    kept = tuple(t for t in texts if t)
    if not kept:
        raise EnrollError(f"{path}: no text: the file is empty or has only blank lines")
    return SpeakerText(speaker, kept, str(path), "text", blank_lines=len(texts) - len(kept))


def read_dev(path, speaker):
    """The speaker's triples of a dev file (speaker, context, message, response)."""
    rows, _ = records.read_triples(path)
    mine = [r for r in rows if r.speaker == speaker]
    if not mine:
        found = sorted({r.speaker for r in rows})
        raise EnrollError(
            f"{path}: no triples of speaker {speaker!r}; its speakers: "
            f"{', '.join(found[:20]) or 'none'}"
        )
    return mine


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


def vocabulary_coverage(model_dir, lines):
    """Share of the text's running words that the model's vocabulary holds."""
    tokens = vocabulary.load_vocabulary(pathlib.Path(model_dir) / model_dir_lib.VOCABULARY)
    return vocabulary.coverage(tokenizer_lib.count_words(lines), tokens)


@dataclasses.dataclass
class Source:
    """The trained model enrolment starts from."""

    model_dir: pathlib.Path
    config: builders.ModelConfig
    speakers: list
    checkpoint: str
    has_autoencoder: bool
    experiment: model_dir_lib.Experiment

    def training_flag(self, name, default):
        """A flag value of the model's training command (flags.txt), else `default`."""
        path = self.model_dir / model_dir_lib.FLAGS
        lines = path.read_text().splitlines() if path.is_file() else []
        values = [line.split("=", 1)[1] for line in lines if line.startswith(f"--{name}=")]
        return type(default)(values[-1]) if values else default


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


def check_request(source, speaker, output_dir, replace, adapt):
    """Refuses, before anything is written, what enrolment cannot do."""
    if not speaker.strip() or speaker != speaker.strip() or any(c in speaker for c in "\t\r\n"):
        raise EnrollError(
            f"--speaker={speaker!r}: a speaker name must be non-empty, one "
            "line, without tabs (a data file could never name it) or leading or "
            "trailing spaces"
        )
    output_dir = pathlib.Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise EnrollError(f"--output_dir={output_dir}: is a file; give the path of a new directory")
    if output_dir.resolve() == source.model_dir.resolve():
        raise EnrollError(
            f"--output_dir={output_dir} is the trained model's directory; "
            "enrolment writes a new model directory and leaves that one as it is"
        )
    if output_dir.exists() and any(output_dir.iterdir()):
        raise EnrollError(
            f"--output_dir={output_dir} exists and is not empty; choose a new directory"
        )
    if source.experiment.reverse:
        raise EnrollError(
            f"{source.model_dir}: a reverse model, p(message | response), has "
            "no speaker to answer as; enrol the forward model"
        )
    if adapt == "speaker" and not source.config.num_speakers:
        raise EnrollError(
            f"{source.model_dir}: this model has no speaker embeddings (a "
            "SEQ2SEQ or MTASK-S model), so there is no speaker row to train; "
            "use --adapt=decoder, which adapts the shared decoder to the text"
        )
    if speaker in source.speakers and not replace:
        raise EnrollError(
            f"speaker {speaker!r} is already in {source.model_dir / 'speakers.txt'}"
            "; pass --replace to train their row again from their text"
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


def plot_curve(points, path, speaker, what):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(5, 3.5))
    axes.plot(
        [p["lines"] for p in points], [p["after"] for p in points], marker="o", label="enrolled"
    )
    axes.axhline(
        points[0]["before"], color="grey", linestyle="--", label="average speaker (before)"
    )
    axes.set_xscale("log")
    axes.set_xlabel(f"lines of {speaker}'s text used")
    axes.set_ylabel(what.split(" (")[0])
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


@dataclasses.dataclass
class PreparedText:
    """The text as enrolment uses it: checked, split, in its seeded training order."""

    text: SpeakerText
    tokenizer: object
    coverage: float
    lines: list  # training lines, in the order a curve takes its first N from
    held_out: list


def prepare_text(source, text, has_dev, config):
    """Checks the vocabulary covers the text; holds lines out unless dev triples judge."""
    coverage = vocabulary_coverage(source.model_dir, text.lines)
    if coverage == 0:
        raise EnrollError(
            f"{text.path}: none of its words are in the model's vocabulary "
            f"({source.model_dir / model_dir_lib.VOCABULARY}), so the model "
            "cannot learn anything from it; is it in the model's language?"
        )
    if has_dev:
        lines, held_out = list(text.lines), []
    else:
        lines, held_out = split_held_out(list(text.lines), config.holdout_fraction, config.seed)
    random.Random(config.seed).shuffle(lines)
    tokenizer = tokenizer_lib.Tokenizer(source.model_dir / model_dir_lib.VOCABULARY)
    return PreparedText(text, tokenizer, coverage, lines, held_out)


def _partial_dir(output_dir):
    """A fresh sibling of the output directory; renamed to it when everything is written."""
    partial = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _write_metadata(source, directory, model_config, speakers, speaker):
    for name in _COPIED:
        if (source.model_dir / name).is_file():
            shutil.copy2(source.model_dir / name, directory / name)
    (directory / model_dir_lib.MODEL_CONFIG).write_text(
        model_dir_lib.to_json(model_config.to_record())
    )
    model_dir_lib.write_lines(directory / model_dir_lib.SPEAKERS, speakers)
    experiment = model_dir_lib.load_experiment(source.model_dir)
    targets = list(experiment.targets)
    if speaker not in targets:
        targets.append(speaker)
    record = {**experiment.record, "targets": targets, "enrolled_from": str(source.model_dir)}
    (directory / model_dir_lib.EXPERIMENT).write_text(model_dir_lib.to_json(record))


def _finish(partial, output_dir, record):
    (partial / ENROLL_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    if output_dir.exists():
        output_dir.rmdir()  # checked empty before
    partial.rename(output_dir)


def _record(prepared, source, adapt, dev, judge, speaker_id, result, config, points, began):
    text = prepared.text
    return {
        "speaker": text.speaker,
        "adapt": adapt,
        "source_model_dir": str(source.model_dir),
        "text": {
            "path": text.path,
            "kind": text.kind,
            "lines": len(text.lines),
            "blank_lines_skipped": text.blank_lines,
            "rows_of_other_speakers": text.other_speakers_rows,
            "training_lines": len(prepared.lines),
            "held_out_lines": len(prepared.held_out),
            "vocabulary_coverage": prepared.coverage,
        },
        "dev": None if dev is None else {"triples": len(dev)},
        "judged_by": judge.what,
        "speaker_id": speaker_id,
        "autoencoder_encoder": (
            "restored from the model"
            if source.has_autoencoder
            else "the SEQ2SEQ encoder"
            if adapt == "speaker"
            else "freshly initialised (the model had none)"
        ),
        "perplexity_before": result["before"],
        "perplexity_after": result["after"],
        "best_step": result["best_step"],
        "steps": result["steps"],
        "config": dataclasses.asdict(config),
        "curve": points,
        "seconds": round(time.time() - began, 1),
    }


def _curve(prepared, curve, train, log):
    """Trains on the first N lines for each N of the curve; `train(lines)` returns a result."""
    points = []
    for count in curve_points(curve, len(prepared.lines)) if curve else []:
        if count < len(prepared.lines):
            log(f"curve: {count} of {len(prepared.lines)} lines")
            points.append({"lines": count, **train(prepared.lines[:count])})
    return points


def enroll_speaker(source, text, output_dir, lengths, config, log, dev=None, curve=()):
    """`--adapt=speaker` end to end; returns the enroll.json record."""
    began, output_dir = time.time(), pathlib.Path(output_dir)
    prepared = prepare_text(source, text, dev is not None, config)
    trainer = RowTrainer(source, text.speaker)
    judge = Judge(
        trainer.models,
        trainer.autoencoder,
        trainer.row_id,
        len(trainer.speakers),
        prepared.tokenizer,
        lengths,
        held_out=prepared.held_out,
        dev=dev,
    )
    train = lambda lines: train_row(trainer, prepared.tokenizer, lengths, lines, judge, config, log)
    points = _curve(prepared, curve, train, log)
    log(f"enrolling {text.speaker!r} from {len(prepared.lines)} lines")
    result = train(prepared.lines)
    if curve:
        points.append({"lines": len(prepared.lines), **result})
    record = _record(
        prepared, source, "speaker", dev, judge, trainer.row_id, result, config, points, began
    )
    partial = _partial_dir(output_dir)
    _write_metadata(source, partial, trainer.config, trainer.speakers, text.speaker)
    checkpoint = tf.train.Checkpoint(
        variables=builders.variable_map(trainer.models.seq2seq, trainer.models.autoencoder)
    )
    for folder in ("best", "checkpoints"):
        tf.train.CheckpointManager(checkpoint, partial / folder, max_to_keep=1).save(
            checkpoint_number=result["steps"]
        )
    best = {
        "step": result["best_step"],
        "stage": "enroll",
        "dev": {
            "perplexity": result["after"],
            "measure": judge.what,
            "perplexity_by_speaker": {text.speaker: result["after"]},
        },
    }
    (partial / model_dir_lib.BEST_RECORD).write_text(json.dumps(best, indent=2) + "\n")
    if points:
        plot_curve(points, partial / CURVE_PLOT, text.speaker, judge.what)
    _finish(partial, output_dir, record)
    return record


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


def _decoder_model_config(source, speakers):
    """The model `--adapt=decoder` trains and writes: the source's, with a row for each speaker."""
    return dataclasses.replace(
        source.config, num_speakers=len(speakers) if source.config.num_speakers else 0
    )


def _train_decoder(
    source, directory, speakers, row_id, lines, general, prepared, lengths, config, dev, log
):
    """Stage 2 for one speaker into `directory`; returns before/after/best_step/steps."""
    from mtask_tf.training import multitask  # Keras model with train_step: heavy.

    model_config = _decoder_model_config(source, speakers)
    model = multitask.MultiTaskModel(model_config, True, config.learning_rate, 5.0)
    model.compile()
    table = restore_weights(model.models, source)
    if table is not None:
        model.models.decoder.speaker_embedding.embeddings.assign(
            with_row(table, row_id, average_row(table, row_id))
        )
    general_examples, general_ids = general
    judge = Judge(
        model.models,
        model.models.autoencoder,
        row_id,
        len(speakers),
        prepared.tokenizer,
        lengths,
        held_out=prepared.held_out,
        dev=dev,
    )
    datasets = loop.Datasets(
        seq2seq=pipeline.training_dataset(general_examples, config.batch_size, config.seed),
        autoencoder=pipeline.training_dataset(
            _examples_of_lines(prepared.tokenizer, lines, row_id, lengths),
            config.batch_size,
            config.seed + 1,
        ),
        dev=judge.dataset,
        num_speakers=len(speakers),
    )
    train_config = loop.TrainConfig(
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        pretrain=False,
        max_steps=config.max_steps,
        eval_every=config.eval_every,
        patience=config.patience,
        checkpoint_every=config.eval_every,
        log_every=config.eval_every,
        seed=config.seed,
    )
    trainer = _JudgedTrainer(judge, model, datasets, train_config, directory, log, speakers)
    before = trainer.evaluate()
    trainer.state.record_evaluation(before)
    trainer.save_best()
    log(f"  step 0: {judge.what} {before:.2f} (the model before enrolment)")
    if not trainer.run():
        raise EnrollError("stopped by a signal; nothing was written (run the command again)")
    best = json.loads((directory / model_dir_lib.BEST_RECORD).read_text())
    return judge, {
        "before": before,
        "after": best["dev"]["perplexity"],
        "best_step": best["step"],
        "steps": int(trainer.state.step.numpy()),
    }


def general_examples(general, data_path, speakers, tokenizer, lengths):
    """The general conversation triples, encoded, with speaker ids the model knows."""
    try:
        ids = pipeline.speaker_ids([t.speaker for t in general], speakers, str(data_path))
    except pipeline.SpeakerError as error:
        raise EnrollError(f"{error}: give the --data_dir the model was trained on") from None
    return pipeline.encode_triples(tokenizer, general, ids, lengths), ids


def enroll_decoder(source, text, output_dir, lengths, config, log, general, dev=None, curve=()):
    """`--adapt=decoder` end to end: the paper's stage 2 for one speaker; returns the record.

    Args:
        general: (triples, path) of the general conversation to alternate with.
    """
    began, output_dir = time.time(), pathlib.Path(output_dir)
    prepared = prepare_text(source, text, dev is not None, config)
    speakers, row_id = speakers_with(source, text.speaker)
    encoded = general_examples(general[0], general[1], speakers, prepared.tokenizer, lengths)
    partial = _partial_dir(output_dir)

    def train(lines, directory):
        return _train_decoder(
            source, directory, speakers, row_id, lines, encoded, prepared, lengths, config, dev, log
        )

    def train_aside(lines):
        aside = _partial_dir(output_dir.with_name(output_dir.name + ".curve"))
        try:
            return train(lines, aside)[1]
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    points = _curve(prepared, curve, train_aside, log)
    log(f"enrolling {text.speaker!r} from {len(prepared.lines)} lines, the shared decoder too")
    judge, result = train(prepared.lines, partial)
    if curve:
        points.append({"lines": len(prepared.lines), **result})
    _write_metadata(
        source, partial, _decoder_model_config(source, speakers), speakers, text.speaker
    )
    record = _record(prepared, source, "decoder", dev, judge, row_id, result, config, points, began)
    if points:
        plot_curve(points, partial / CURVE_PLOT, text.speaker, judge.what)
    _finish(partial, output_dir, record)
    return record


def summary(record):
    """The enrolment report in a few lines of text."""
    text = record["text"]
    lines = [
        f"enrolled {record['speaker']!r} (speaker id {record['speaker_id']}) by "
        f"--adapt={record['adapt']} in {record['seconds']:.0f} s",
        f"text: {text['lines']} lines from {text['path']} ({text['training_lines']} trained on, "
        f"{text['held_out_lines']} held out); the vocabulary covers "
        f"{100 * text['vocabulary_coverage']:.1f}% of its words",
        f"{record['judged_by']}: {record['perplexity_before']:.2f} before enrolment"
        f"{' (the average speaker)' if record['adapt'] == 'speaker' else ''}, "
        f"{record['perplexity_after']:.2f} after "
        f"({_change(record['perplexity_before'], record['perplexity_after'])}), best at step "
        f"{record['best_step']} of {record['steps']}",
    ]
    if record["curve"]:
        lines.append("lines of text | perplexity")
        lines += [f"{p['lines']:>13} | {p['after']:.2f}" for p in record["curve"]]
    return "\n".join(lines)


def _change(before, after):
    if not math.isfinite(before) or before == 0:
        return "n/a"
    return f"{100 * (after - before) / before:+.1f}%"
