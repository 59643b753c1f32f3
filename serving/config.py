"""Which models to serve: names and base paths, from flags or a ModelServerConfig file.

Kept free of TensorFlow so that configuration mistakes are reported at once.
"""

import dataclasses
import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """A model to serve: its name in requests and its base path on disk."""

    name: str
    base_path: str


class ConfigError(Exception):
    """A model config file or model flag is unusable; the message says how to fix it."""


def read_model_config(path):
    """`ModelSource`s from a ModelServerConfig text proto file (tensorflow_model_server's).

    Relative base paths stay relative to the current directory, as there.
    """
    config = model_server_config_pb2.ModelServerConfig()
    try:
        with open(path, encoding="utf-8") as f:
            text_format.Parse(f.read(), config)
    except OSError as error:
        raise ConfigError(f"cannot read the model config file: {error}") from None
    except text_format.ParseError as error:
        raise ConfigError(f"{path}: not a ModelServerConfig text proto: {error}") from None
    if config.HasField("custom_model_config") or not config.model_config_list.config:
        raise ConfigError(
            f"{path}: no models; expected model_config_list {{ config {{ "
            'name: "NAME" base_path: "PATH" model_platform: '
            '"tensorflow" }} }}'
        )
    sources = []
    for index, model in enumerate(config.model_config_list.config, start=1):
        where = f"{path}: config {index} ({model.name or 'no name'})"
        if not model.name or not model.base_path:
            raise ConfigError(f"{where}: needs both name and base_path")
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigError(
                f"{where}: model_platform {model.model_platform!r} is not "
                'served here; use "tensorflow"'
            )
        policy = model.model_version_policy
        if (
            policy.WhichOneof("policy_choice") not in (None, "latest")
            or policy.latest.num_versions > 1
        ):
            raise ConfigError(
                f"{where}: only the default version policy (serve the "
                "latest version) is supported; remove model_version_policy"
            )
        if model.version_labels:
            raise ConfigError(f"{where}: version_labels are not supported; remove them")
        if model.name in {source.name for source in sources}:
            raise ConfigError(f"{where}: the name {model.name!r} is used twice")
        sources.append(ModelSource(model.name, model.base_path))
    return sources


def check_base_paths(sources):
    """Absolute base paths; raises `ConfigError` for one that is not a directory."""
    checked = []
    for source in sources:
        base_path = os.path.abspath(source.base_path)
        if not os.path.isdir(base_path):
            raise ConfigError(
                f"model {source.name!r}: base path {base_path} is not a directory; it "
                "should hold version directories (BASE/1/saved_model.pb, ...)"
            )
        checked.append(ModelSource(source.name, base_path))
    return checked
