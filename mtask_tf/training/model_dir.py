"""What a model directory holds besides checkpoints, and loading a trained model."""

import json
import pathlib

from mtask_tf.model import builders

VOCABULARY = "vocab.txt"
SPEAKERS = "speakers.txt"
MODEL_CONFIG = "model.json"
EXPERIMENT = "experiment.json"
FLAGS = "flags.txt"


class ModelDirError(ValueError):
    """A model directory that cannot be used as asked; the message says why."""


def write_lines(path, lines):
    pathlib.Path(path).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def read_lines(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelDirError(f"{path}: missing; is {path.parent} a model directory "
                            "written by python -m mtask_tf.train?")
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
                f"--- was:\n{old}--- now:\n{content}")
        return
    path.write_text(content, encoding="utf-8")


def to_json(mapping):
    return json.dumps(mapping, indent=2, sort_keys=True) + "\n"


def load_model_config(model_dir):
    path = pathlib.Path(model_dir) / MODEL_CONFIG
    if not path.is_file():
        raise ModelDirError(f"{path}: missing; train a model into {model_dir} first")
    return builders.ModelConfig.load(path)


def load_experiment(model_dir):
    return json.loads(pathlib.Path(model_dir, EXPERIMENT).read_text())
