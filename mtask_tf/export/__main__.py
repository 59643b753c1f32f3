r"""Exports a trained model as a SavedModel that TensorFlow Serving serves.

    python -m mtask_tf.export --model_dir=runs/demo/mtask_m \
        --reverse_model_dir=runs/demo/reverse --mmi=runs/demo/mtask_m/mmi.json \
        --export_base=export/mtask_m

writes export/mtask_m/<next version>/ and serving/models.config listing every
model under export/. For an MTASK-S directory (one model per target) it writes
one model per target, export/mtask_s_<TARGET>/<version>/. See docs/serving.md.
"""

import pathlib
import sys

from absl import app
from absl import flags
from absl import logging

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli
from mtask_tf.export import layout

_MODEL_DIR = flags.DEFINE_string(
    "model_dir",
    None,
    "Trained forward model directory, or an MTASK-S directory of per-target models.",
)
_REVERSE_MODEL_DIR = flags.DEFINE_string(
    "reverse_model_dir", None, "Reverse model for MMI reranking (also enables reverse_score)."
)
_MMI = flags.DEFINE_string("mmi", None, "MMI weights file from mtask_tf.tune_mmi.")
_EXPORT_BASE = flags.DEFINE_string(
    "export_base", None, "Model base path, e.g. export/mtask_m; versions go below it."
)
_DECODING = cli.DecodingFlags()
flags.adopt_module_key_flags(cli)
_MODELS_CONFIG = flags.DEFINE_string(
    "models_config", "serving/models.config", "TensorFlow Serving model config file to (re)write."
)
_CONFIG_BASE_PATH_PREFIX = flags.DEFINE_string(
    "config_base_path_prefix",
    None,
    "Write base paths as PREFIX/NAME in the model "
    "config (e.g. /models for the tensorflow/serving Docker image); default: absolute paths.",
)


def _validate():
    cli.require(_MODEL_DIR, _EXPORT_BASE)
    _DECODING.validate()
    if _MMI.value and not _REVERSE_MODEL_DIR.value:
        raise app.UsageError("--mmi needs --reverse_model_dir")


def main(argv):
    cli.no_positional_arguments(argv)
    _validate()
    logging.set_verbosity(logging.WARNING)
    from mtask_tf.decoding import responder as responder_lib
    from mtask_tf.export import serving_module
    from mtask_tf.model import model_dir as model_dir_lib

    with cli.user_errors():
        weights = _DECODING.load_mmi(_MMI.value)
        dirs = model_dir_lib.model_dirs(_MODEL_DIR.value)
        per_target = dirs != [pathlib.Path(_MODEL_DIR.value)]
        for model_dir in dirs:
            suffix = "_" + model_dir.name if per_target else ""
            responder = responder_lib.load(
                model_dir, _REVERSE_MODEL_DIR.value, _DECODING.decode_config(weights)
            )
            module = serving_module.ServingModule(responder)
            path = serving_module.save(module, _EXPORT_BASE.value + suffix)
            print(f"exported {model_dir} to {path}", file=sys.stderr)
    root = pathlib.Path(_EXPORT_BASE.value).parent
    models = layout.served_models(root)
    config = pathlib.Path(_MODELS_CONFIG.value)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(layout.model_config(models, _CONFIG_BASE_PATH_PREFIX.value))
    print(f"wrote {config} listing {', '.join(models)}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
