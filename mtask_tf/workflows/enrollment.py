"""What `python -m mtask_tf.enroll` does: a new speaker enrolled into a trained model.

Files in: the trained model directory, the speaker's text, their dev triples
(`--dev`) and, for `--adapt=decoder`, the general conversation the model was
trained on. Everything is checked before anything is written. The training is
`mtask_tf.training.enrollment`'s. Out: a normal model directory, written as
`OUTPUT.partial` and renamed when complete: `speakers.txt` with the new speaker
last, `best/` and `checkpoints/` weights, `best.json`, the trained model's
`vocab.txt`, `flags.txt` and `mmi.json`, `enroll.json` (the record of what was
done), with `--curve` `enroll_curve.png`; and a report of a few lines (`summary`).
"""

import dataclasses
import math
import pathlib
import random
import shutil
import time

import tensorflow as tf

from mtask_tf.data import pipeline
from mtask_tf.data import records
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.data import vocabulary
from mtask_tf.evaluation import enrolment_plot
from mtask_tf.model import builders
from mtask_tf.model import model_dir as model_dir_lib
from mtask_tf.training import enrollment
from mtask_tf.training import loop

ENROLL_RECORD = model_dir_lib.ENROLL_RECORD
CURVE_PLOT = "enroll_curve.png"
# Files of the trained model an enrolled model keeps as they are.
_COPIED = (model_dir_lib.VOCABULARY, model_dir_lib.FLAGS, "mmi.json")


@dataclasses.dataclass(frozen=True)
class Request:
    """What to enrol, as `python -m mtask_tf.enroll`'s flags say.

    Attributes:
        model_dir, speaker, text, output_dir, adapt, replace, dev, data_dir, curve:
            the flags of those names (`curve`: line counts; `dev`, `data_dir`:
            None when not given).
        learning_rate: --learning_rate; None: the mode's default (`learning_rate`).
    """

    model_dir: str
    speaker: str
    text: str
    output_dir: str
    adapt: str = "speaker"
    replace: bool = False
    dev: str | None = None
    data_dir: str | None = None
    curve: tuple = ()
    learning_rate: float | None = None


def enroll(request, config, log):
    """Checks the request, reads its files and enrols; returns the enroll.json record.

    Args:
        request: `Request`.
        config: `enrollment.EnrollConfig`; its learning rate is replaced by
            `learning_rate(...)`, the request's or the mode's default.
        log: function(str) that prints progress.
    """
    source = enrollment.load_source(request.model_dir)
    check_request(source, request.speaker, request.output_dir, request.replace, request.adapt)
    text = read_speaker_text(request.text, request.speaker)
    dev = read_dev(request.dev, request.speaker) if request.dev else None
    lengths = pipeline.Lengths(**source.experiment.lengths)
    config = dataclasses.replace(config, learning_rate=learning_rate(source, request))
    output_dir, curve = pathlib.Path(request.output_dir), request.curve
    if request.adapt == "speaker":
        return enroll_speaker(source, text, output_dir, lengths, config, log, dev=dev, curve=curve)
    general_path = pathlib.Path(request.data_dir) / "train.tsv"
    general, _ = records.read_triples(general_path)
    return enroll_decoder(
        source, text, output_dir, lengths, config, log, (general, general_path), dev, curve
    )


def learning_rate(source, request):
    """--learning_rate; else `EnrollConfig`'s for --adapt=speaker, and for --adapt=decoder
    the rate the model was trained with (training's default if its flags.txt lacks it)."""
    if request.learning_rate:
        return request.learning_rate
    if request.adapt == "speaker":
        return enrollment.EnrollConfig().learning_rate
    default = loop.TrainConfig().learning_rate
    return model_dir_lib.training_flag(source.model_dir, "learning_rate", default)


@dataclasses.dataclass(frozen=True)
class SpeakerText:
    """The new speaker's lines, where they came from, and what was left out."""

    speaker: str
    lines: tuple
    path: str
    kind: str  # "text" (one sentence per line) or "monologue" (a speaker/text TSV)
    blank_lines: int = 0
    other_speakers_rows: int = 0


def read_speaker_text(path, speaker):
    """Reads plain text (a sentence per line) or a monologue TSV (the speaker's rows).

    Raises:
        records.DataError: unreadable file, bad UTF-8 or TSV line (file and line named).
        enrollment.EnrollError: no text of the speaker in the file.
    """
    lines = records.read_text_lines(path)
    if lines and lines[0][1].split("\t") == list(records.MONOLOGUE_COLUMNS):
        rows, _ = records.read_monologue(path)
        mine = [r.text for r in rows if r.speaker == speaker]
        if not mine:
            found = sorted({r.speaker for r in rows})
            raise enrollment.EnrollError(
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
        raise enrollment.EnrollError(f"{path}: no text: the file is empty or has only blank lines")
    return SpeakerText(speaker, kept, str(path), "text", blank_lines=len(texts) - len(kept))


def read_dev(path, speaker):
    """The speaker's triples of a dev file (speaker, context, message, response)."""
    rows, _ = records.read_triples(path)
    mine = [r for r in rows if r.speaker == speaker]
    if not mine:
        found = sorted({r.speaker for r in rows})
        raise enrollment.EnrollError(
            f"{path}: no triples of speaker {speaker!r}; its speakers: "
            f"{', '.join(found[:20]) or 'none'}"
        )
    return mine


def check_request(source, speaker, output_dir, replace, adapt):
    """Refuses, before anything is written, what enrolment cannot do."""
    if not speaker.strip() or speaker != speaker.strip() or any(c in speaker for c in "\t\r\n"):
        raise enrollment.EnrollError(
            f"--speaker={speaker!r}: a speaker name must be non-empty, one "
            "line, without tabs (a data file could never name it) or leading or "
            "trailing spaces"
        )
    output_dir = pathlib.Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise enrollment.EnrollError(
            f"--output_dir={output_dir}: is a file; give the path of a new directory"
        )
    if output_dir.resolve() == source.model_dir.resolve():
        raise enrollment.EnrollError(
            f"--output_dir={output_dir} is the trained model's directory; "
            "enrolment writes a new model directory and leaves that one as it is"
        )
    if output_dir.exists() and any(output_dir.iterdir()):
        raise enrollment.EnrollError(
            f"--output_dir={output_dir} exists and is not empty; choose a new directory"
        )
    if source.experiment.reverse:
        raise enrollment.EnrollError(
            f"{source.model_dir}: a reverse model, p(message | response), has "
            "no speaker to answer as; enrol the forward model"
        )
    if adapt == "speaker" and not source.config.num_speakers:
        raise enrollment.EnrollError(
            f"{source.model_dir}: this model has no speaker embeddings (a "
            "SEQ2SEQ or MTASK-S model), so there is no speaker row to train; "
            "use --adapt=decoder, which adapts the shared decoder to the text"
        )
    if speaker in source.speakers and not replace:
        raise enrollment.EnrollError(
            f"speaker {speaker!r} is already in {source.model_dir / 'speakers.txt'}"
            "; pass --replace to train their row again from their text"
        )


def vocabulary_coverage(model_dir, lines):
    """Share of the text's running words that the model's vocabulary holds."""
    tokens = vocabulary.load_vocabulary(pathlib.Path(model_dir) / model_dir_lib.VOCABULARY)
    return vocabulary.coverage(tokenizer_lib.count_words(lines), tokens)


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
        raise enrollment.EnrollError(
            f"{text.path}: none of its words are in the model's vocabulary "
            f"({source.model_dir / model_dir_lib.VOCABULARY}), so the model "
            "cannot learn anything from it; is it in the model's language?"
        )
    if has_dev:
        lines, held_out = list(text.lines), []
    else:
        lines, held_out = enrollment.split_held_out(
            list(text.lines), config.holdout_fraction, config.seed
        )
    random.Random(config.seed).shuffle(lines)
    tokenizer = tokenizer_lib.Tokenizer(source.model_dir / model_dir_lib.VOCABULARY)
    return PreparedText(text, tokenizer, coverage, lines, held_out)


def enroll_speaker(source, text, output_dir, lengths, config, log, dev=None, curve=()):
    """`--adapt=speaker` end to end; returns the enroll.json record."""
    began, output_dir = time.time(), pathlib.Path(output_dir)
    prepared = prepare_text(source, text, dev is not None, config)
    trainer = enrollment.RowTrainer(source, text.speaker)
    judge = enrollment.Judge(
        trainer.models,
        trainer.autoencoder,
        trainer.row_id,
        len(trainer.speakers),
        prepared.tokenizer,
        lengths,
        held_out=prepared.held_out,
        dev=dev,
    )

    def train(lines):
        return enrollment.train_row(trainer, prepared.tokenizer, lengths, lines, judge, config, log)

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
    _save_weights(trainer.models, partial, result["steps"])
    _write_best(partial, result, judge.what, text.speaker)
    _finish(partial, output_dir, record, points)
    return record


def enroll_decoder(source, text, output_dir, lengths, config, log, general, dev=None, curve=()):
    """`--adapt=decoder` end to end: the paper's stage 2 for one speaker; returns the record.

    Args:
        general: (triples, path) of the general conversation to alternate with.
    """
    began, output_dir = time.time(), pathlib.Path(output_dir)
    prepared = prepare_text(source, text, dev is not None, config)
    speakers, row_id = enrollment.speakers_with(source, text.speaker)
    triples, general_path = general
    setup = enrollment.DecoderSetup(
        source,
        speakers,
        row_id,
        enrollment.general_examples(triples, general_path, speakers, prepared.tokenizer, lengths),
        prepared.tokenizer,
        lengths,
        config,
        prepared.held_out,
        dev,
    )
    partial = _partial_dir(output_dir)

    def train_aside(lines):
        aside = _partial_dir(output_dir.with_name(output_dir.name + ".curve"))
        try:
            return enrollment.train_decoder(setup, lines, aside, log)[1]
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    points = _curve(prepared, curve, train_aside, log)
    log(f"enrolling {text.speaker!r} from {len(prepared.lines)} lines, the shared decoder too")
    judge, result = enrollment.train_decoder(setup, prepared.lines, partial, log)
    if curve:
        points.append({"lines": len(prepared.lines), **result})
    _write_metadata(source, partial, setup.model_config(), speakers, text.speaker)
    record = _record(prepared, source, "decoder", dev, judge, row_id, result, config, points, began)
    _finish(partial, output_dir, record, points)
    return record


def _curve(prepared, curve, train, log):
    """Trains on the first N lines for each N of the curve; `train(lines)` returns a result."""
    points = []
    for count in enrollment.curve_points(curve, len(prepared.lines)) if curve else []:
        if count < len(prepared.lines):
            log(f"curve: {count} of {len(prepared.lines)} lines")
            points.append({"lines": count, **train(prepared.lines[:count])})
    return points


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


def _save_weights(models, directory, step):
    """The enrolled model's weights, as both its best and its last checkpoint."""
    checkpoint = tf.train.Checkpoint(
        variables=builders.variable_map(models.seq2seq, models.autoencoder)
    )
    for folder in ("best", "checkpoints"):
        tf.train.CheckpointManager(checkpoint, directory / folder, max_to_keep=1).save(
            checkpoint_number=step
        )


def _write_best(directory, result, what, speaker):
    """best.json, as training writes it, for the row `train_row` kept."""
    dev = {
        "perplexity": result["after"],
        "measure": what,
        "perplexity_by_speaker": {speaker: result["after"]},
    }
    model_dir_lib.BestRecord(result["best_step"], "enroll", dev).save(directory)


def _finish(partial, output_dir, record, points):
    """The curve's plot and enroll.json, then the finished directory renamed into place."""
    if points:
        enrolment_plot.plot_curve(points, partial / CURVE_PLOT, record.speaker, record.judged_by)
    record.save(partial)
    if output_dir.exists():
        output_dir.rmdir()  # checked empty before
    partial.rename(output_dir)


def _record(prepared, source, adapt, dev, judge, speaker_id, result, config, points, began):
    text = prepared.text
    return model_dir_lib.EnrollRecord(
        speaker=text.speaker,
        adapt=adapt,
        source_model_dir=str(source.model_dir),
        text={
            "path": text.path,
            "kind": text.kind,
            "lines": len(text.lines),
            "blank_lines_skipped": text.blank_lines,
            "rows_of_other_speakers": text.other_speakers_rows,
            "training_lines": len(prepared.lines),
            "held_out_lines": len(prepared.held_out),
            "vocabulary_coverage": prepared.coverage,
        },
        dev=None if dev is None else {"triples": len(dev)},
        judged_by=judge.what,
        speaker_id=speaker_id,
        autoencoder_encoder=(
            "restored from the model"
            if source.has_autoencoder
            else "the SEQ2SEQ encoder"
            if adapt == "speaker"
            else "freshly initialised (the model had none)"
        ),
        perplexity_before=result["before"],
        perplexity_after=result["after"],
        best_step=result["best_step"],
        steps=result["steps"],
        config=dataclasses.asdict(config),
        curve=points,
        seconds=round(time.time() - began, 1),
    )


def summary(record):
    """The enrolment report (a `model_dir.EnrollRecord`) in a few lines of text."""
    text = record.text
    lines = [
        f"enrolled {record.speaker!r} (speaker id {record.speaker_id}) by "
        f"--adapt={record.adapt} in {record.seconds:.0f} s",
        f"text: {text['lines']} lines from {text['path']} ({text['training_lines']} trained on, "
        f"{text['held_out_lines']} held out); the vocabulary covers "
        f"{100 * text['vocabulary_coverage']:.1f}% of its words",
        f"{record.judged_by}: {record.perplexity_before:.2f} before enrolment"
        f"{' (the average speaker)' if record.adapt == 'speaker' else ''}, "
        f"{record.perplexity_after:.2f} after "
        f"({_change(record.perplexity_before, record.perplexity_after)}), best at step "
        f"{record.best_step} of {record.steps}",
    ]
    if record.curve:
        lines.append("lines of text | perplexity")
        lines += [f"{p['lines']:>13} | {p['after']:.2f}" for p in record.curve]
    return "\n".join(lines)


def _change(before, after):
    if not math.isfinite(before) or before == 0:
        return "n/a"
    return f"{100 * (after - before) / before:+.1f}%"
