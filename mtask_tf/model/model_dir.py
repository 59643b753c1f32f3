"""What a model directory holds besides checkpoints, and loading a trained model."""

import dataclasses
import json
import pathlib
import re

import tensorflow as tf

from mtask_tf import errors
from mtask_tf.model import builders

VOCABULARY = "vocab.txt"
SPEAKERS = "speakers.txt"
MODEL_CONFIG = "model.json"
EXPERIMENT = "experiment.json"
BEST_RECORD = "best.json"  # the best weights' step and dev perplexity (training writes it)
FLAGS = "flags.txt"


class ModelDirError(errors.UserError):
    """A model directory that cannot be used as asked; the message says why."""


def target_dir_name(target):
    """The subdirectory (and export name suffix) of a target's MTASK-S model."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_") or "target"


def model_dirs(model_dir):
    """[model_dir] for a model directory, or its per-target model directories (MTASK-S).

    Raises:
        ModelDirError: neither.
    """
    model_dir = pathlib.Path(model_dir)
    if (model_dir / MODEL_CONFIG).is_file() or not model_dir.is_dir():
        return [model_dir]
    subdirs = sorted(p for p in model_dir.iterdir() if (p / MODEL_CONFIG).is_file())
    if not subdirs:
        raise ModelDirError(
            f"{model_dir}: neither a model directory nor a directory of per-target models (MTASK-S)"
        )
    return subdirs


def write_lines(path, lines):
    pathlib.Path(path).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def read_lines(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelDirError(
            f"{path}: missing; is {path.parent} a model directory "
            "written by python -m mtask_tf.train?"
        )
    return path.read_text(encoding="utf-8").splitlines()


def write_or_check(model_dir, name, content):
    """Writes a metadata file, or checks that a restarted run agrees with it."""
    path = pathlib.Path(model_dir) / name
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if old != content:
            raise ModelDirError(
                f"{path}: this model directory was started with different settings; "
                "resume with the same flags and data, or choose a new --model_dir.\n"
                f"--- was:\n{old}--- now:\n{content}"
            )
        return
    path.write_text(content, encoding="utf-8")


def to_json(mapping):
    return json.dumps(mapping, indent=2, sort_keys=True) + "\n"


def load_model_config(model_dir):
    path = pathlib.Path(model_dir) / MODEL_CONFIG
    if not path.is_file():
        raise ModelDirError(f"{path}: missing; train a model into {model_dir} first")
    return builders.ModelConfig.load(path)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """experiment.json: how a model was trained, as decoding, evaluation and enrolment read it.

    Attributes:
        direction: "forward" (p(response | ...)) or "reverse" (p(message | response)).
        targets: the target speakers of the run.
        max_source_length, max_target_length: the token limits it was trained with.
        multitask: whether it was trained in the multi-task stage.
        record: the whole file as written (for tools that copy or extend it).
    """

    direction: str
    targets: tuple
    max_source_length: int
    max_target_length: int
    multitask: bool = False
    record: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def reverse(self):
        return self.direction == "reverse"

    @property
    def lengths(self):
        """{"max_source_length": ..., "max_target_length": ...} (`pipeline.Lengths(**...)`)."""
        return {
            "max_source_length": self.max_source_length,
            "max_target_length": self.max_target_length,
        }

    @classmethod
    def from_record(cls, record, path=EXPERIMENT):
        """From the parsed file; a missing or malformed field is a `ModelDirError` naming it."""
        try:
            lengths = record["lengths"]
            return cls(
                direction=str(record["direction"]),
                targets=tuple(record.get("targets", ())),
                max_source_length=int(lengths["max_source_length"]),
                max_target_length=int(lengths["max_target_length"]),
                multitask=bool(record.get("multitask", False)),
                record=dict(record),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ModelDirError(
                f"{path}: not an experiment record written by mtask_tf.train "
                f"({type(error).__name__}: {error})"
            ) from None


@dataclasses.dataclass(frozen=True)
class BestRecord:
    """best.json: when the best weights (`best/`) were saved and how they did on dev.

    Training writes it at each new best dev perplexity, enrolment for the row
    it kept. `dev` holds `perplexity` and `perplexity_by_speaker` and, from
    training, `nll` and `tokens`, from enrolment the `measure` it watched.
    """

    step: int
    stage: str  # "seq2seq", "multitask" or "enroll"
    dev: dict

    @property
    def perplexity(self):
        return float(self.dev["perplexity"])

    @property
    def perplexity_by_speaker(self):
        return self.dev.get("perplexity_by_speaker", {})

    def save(self, model_dir):
        record = {"step": self.step, "stage": self.stage, "dev": self.dev}
        (pathlib.Path(model_dir) / BEST_RECORD).write_text(json.dumps(record, indent=2) + "\n")

    @classmethod
    def load(cls, model_dir):
        """Raises ModelDirError naming the file when it is missing or not a best record."""
        path = pathlib.Path(model_dir) / BEST_RECORD
        if not path.is_file():
            raise ModelDirError(
                f"{path}: not found; has training in {model_dir} evaluated at least once?"
            )
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ModelDirError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        try:
            best = cls(int(record["step"]), str(record["stage"]), dict(record["dev"]))
            best.perplexity  # noqa: B018  (checks it is there and a number)
        except (ValueError, KeyError, TypeError) as error:
            raise ModelDirError(
                f"{path}: not a best-weights record (step, stage, dev.perplexity): {error}"
            ) from None
        return best


ENROLL_RECORD = "enroll.json"


@dataclasses.dataclass(frozen=True)
class EnrollRecord:
    """enroll.json: what `mtask_tf.enroll` did to make an enrolled model directory.

    `text`: the speaker's text (path, kind, lines, blank_lines_skipped,
    rows_of_other_speakers, training_lines, held_out_lines,
    vocabulary_coverage); `dev`: {"triples": n} or None; `config`: the
    `EnrollConfig`; `curve`: [{"lines", "after"}] of --curve runs.
    """

    speaker: str
    adapt: str  # "speaker" or "decoder"
    source_model_dir: str
    text: dict
    dev: dict | None
    judged_by: str  # what perplexity_before/after measure
    speaker_id: int
    autoencoder_encoder: str
    perplexity_before: float
    perplexity_after: float
    best_step: int
    steps: int
    config: dict
    curve: list
    seconds: float

    def save(self, model_dir):
        path = pathlib.Path(model_dir) / ENROLL_RECORD
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, model_dir):
        """Raises ModelDirError naming the file when it is missing or not an enrolment record."""
        path = pathlib.Path(model_dir) / ENROLL_RECORD
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ModelDirError(f"{path}: not found; is {model_dir} an enrolled model?") from None
        except json.JSONDecodeError as error:
            raise ModelDirError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        except TypeError as error:
            raise ModelDirError(f"{path}: not an enrolment record ({error})") from None


def load_experiment(model_dir):
    """The model directory's `Experiment`."""
    path = pathlib.Path(model_dir, EXPERIMENT)
    if not path.is_file():
        raise ModelDirError(f"{path}: missing; train a model into {model_dir} first")
    try:
        record = json.loads(path.read_text())
    except ValueError as error:
        raise ModelDirError(f"{path}: not JSON ({error})") from None
    return Experiment.from_record(record, path)


def training_flag(model_dir, name, default):
    """A flag value of the command that trained the model (`--NAME=value` in flags.txt).

    flags.txt, the resolved flags `mtask_tf.train` wrote, is read because no
    structured record holds such values: experiment.json keeps the targets and
    what a restarted run must agree on (`experiment.Settings.describe`: model,
    direction, lengths, ...), not the optimiser's settings, e.g. the
    --learning_rate that enrolment's --adapt=decoder continues training with.
    The last such line counts, converted to the type of `default`; `default`
    when the file or the line is missing.
    """
    path = pathlib.Path(model_dir) / FLAGS
    lines = path.read_text().splitlines() if path.is_file() else []
    values = [line.split("=", 1)[1] for line in lines if line.startswith(f"--{name}=")]
    return type(default)(values[-1]) if values else default


@dataclasses.dataclass
class TrainedModel:
    """A trained model ready for decoding: its metadata, tokenizer and SEQ2SEQ layers."""

    model_dir: pathlib.Path
    config: builders.ModelConfig
    experiment: Experiment
    tokenizer: object  # mtask_tf.data.tokenizer.Tokenizer
    speakers: list
    models: builders.ConversationModels

    @property
    def persona(self):
        return self.config.num_speakers > 0

    @property
    def reverse(self):
        return self.experiment.reverse


def load_trained(model_dir, weights="best", name_prefix=""):
    """Loads a model directory's best (or last, `weights="last"`) weights for decoding.

    `name_prefix` prefixes the layer (and so variable) names, for a second model
    in the same graph (see `builders.build_models`).

    Raises:
        ModelDirError: the directory is not a trained model directory.
    """
    from mtask_tf.data import tokenizer as tokenizer_lib  # TensorFlow-heavy.

    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        raise ModelDirError(f"{model_dir}: model directory not found")
    config = load_model_config(model_dir)
    checkpoint_dir = model_dir / ("best" if weights == "best" else "checkpoints")
    path = tf.train.latest_checkpoint(checkpoint_dir)
    if path is None:
        raise ModelDirError(
            f"{checkpoint_dir}: no checkpoint; train the model first "
            "(python -m mtask_tf.train ... --model_dir="
            f"{model_dir})"
        )
    models = builders.build_models(config, with_autoencoder=False, name_prefix=name_prefix)
    # Training checkpoints also hold the autoencoder's encoder; decoding needs
    # only the Seq2Seq graph's variables.
    checkpoint = tf.train.Checkpoint(
        variables=builders.variable_map(models.seq2seq, name_prefix=name_prefix)
    )
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError):
        raise ModelDirError(
            f"{path}: the checkpoint's variables do not fit the model of "
            f"{model_dir / MODEL_CONFIG}; was it written by another "
            "version of mtask_tf?"
        ) from None
    speakers = read_lines(model_dir / SPEAKERS)
    return TrainedModel(
        model_dir,
        config,
        load_experiment(model_dir),
        tokenizer_lib.Tokenizer(model_dir / VOCABULARY),
        speakers,
        models,
    )
