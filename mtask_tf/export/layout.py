"""The export's directory layout, without TensorFlow: versions, speakers, models, config.

    EXPORT_ROOT/NAME/VERSION/saved_model.pb       one model's versions (integers)
    EXPORT_ROOT/NAME/VERSION/assets.extra/speakers.txt
    EXPORT_ROOT/models.config                     TensorFlow Serving's config

TensorFlow Serving ignores assets.extra; speakers.txt is for tools that offer
the speakers to people (the chat page of `mtask_tf.human_eval serve`).
"""

import pathlib

from mtask_tf.errors import UserError

SPEAKERS_FILE = pathlib.Path("assets.extra") / "speakers.txt"


def _versions(export_base):
    """[(number, path)] of the integer version directories under export_base, oldest first."""
    base = pathlib.Path(export_base)
    if not base.is_dir():
        return []
    return sorted((int(p.name), p) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(export_base):
    """1 + the highest integer version directory under export_base (1 if none)."""
    return max((number for number, _ in _versions(export_base)), default=0) + 1


def write_speakers(speakers, version_dir):
    """assets.extra/speakers.txt: the speakers the model answers as, one per line."""
    path = pathlib.Path(version_dir) / SPEAKERS_FILE
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(f"{s}\n" for s in speakers), encoding="utf-8")


def speakers(export_base):
    """The speakers of the newest version under export_base ([] for a model without any)."""
    versions = _versions(export_base)
    if not versions:
        raise UserError(f"{export_base}: no exported version (run mtask_tf.export first)")
    path = versions[-1][1] / SPEAKERS_FILE
    if not path.is_file():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


def served_models(export_root):
    """{name: base path} of every directory under export_root holding a version."""
    root = pathlib.Path(export_root)
    models = {}
    for base in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if any((path / "saved_model.pb").is_file() for _, path in _versions(base)):
            models[base.name] = base
    return models


def model_config(models, base_path_prefix=None):
    """TensorFlow Serving's ModelServerConfig text for {name: base path}.

    `base_path_prefix` replaces each base path's parent, e.g. "/models" for the
    `tensorflow/serving` Docker image with export/ mounted there.
    """
    lines = ["model_config_list {"]
    for name, base in models.items():
        path = (
            f"{base_path_prefix.rstrip('/')}/{base.name}"
            if base_path_prefix
            else str(pathlib.Path(base).resolve())
        )
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{path}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    return "\n".join(lines + ["}"]) + "\n"
