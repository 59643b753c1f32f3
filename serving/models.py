"""Models on disk: loading SavedModel versions, serving the newest, polling for new ones.

A model is a base path in TensorFlow Serving's layout, `BASE/<version>/saved_model.pb`
with integer versions. The newest version is served; `ModelRepository.refresh`
(run by the poller) loads a newer one completely, switches requests to it, then
unloads the old one, which finishes the requests it already has.
"""

import dataclasses
import logging
import os
import threading

import grpc
import tensorflow as tf
import tensorflow_text  # noqa: F401  its ops, which the stock server links (docs/serving.md)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving import batching
from serving import errors
from serving import signatures as signatures_lib

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
_MODEL_FILE = "saved_model.pb"
# TensorFlow Serving's warm-up file: PredictionLog records replayed before serving.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
_MAX_WARMUP_RECORDS = 1000


@dataclasses.dataclass(frozen=True)
class Options:
    """How every model is served.

    Args:
      limits: what one request may send.
      batch_timeout_seconds: how long a request may wait for others to join its batch.
    """

    limits: signatures_lib.Limits = signatures_lib.Limits()
    batch_timeout_seconds: float = 0.0


def find_versions(base_path):
    """Integer-named subdirectories of `base_path` that hold a saved_model.pb, ascending."""
    versions = []
    for entry in os.scandir(base_path):
        if (
            entry.is_dir()
            and entry.name.isdigit()
            and os.path.isfile(os.path.join(entry.path, _MODEL_FILE))
        ):
            versions.append(int(entry.name))
    return sorted(versions)


def read_signature_defs(path):
    """The SignatureDef protos of the SavedModel in directory `path`, by key."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, _MODEL_FILE), "rb") as f:
        saved_model.ParseFromString(f.read())
    return dict(saved_model.meta_graphs[0].signature_def)


class Servable:
    """One loaded version of a model, with a batcher per batchable signature.

    Args:
      name: the model name.
      version: the integer version.
      path: the version's directory.
      options: an `Options`.
    """

    def __init__(self, name, version, path, options):
        self.name = name
        self.version = version
        self.path = path
        self.limits = options.limits
        self.signature_defs = read_signature_defs(path)
        self._loaded = tf.saved_model.load(path)
        self.signatures = {}
        self.unsupported = {}
        for key, function in self._loaded.signatures.items():
            try:
                self.signatures[key] = signatures_lib.Signature(
                    key, function, self.signature_defs[key]
                )
            except ValueError as error:
                self.unsupported[key] = str(error)
        self._batchers = {
            key: batching.Batcher(
                signature.run,
                options.limits.max_batch_size,
                options.batch_timeout_seconds,
                name=f"batcher {name}/{version}/{key}",
            )
            for key, signature in self.signatures.items()
            if signature.batchable
        }

    def signature(self, key):
        key = key or DEFAULT_SIGNATURE
        if key not in self.signatures:
            reason = f" ({self.unsupported[key]})" if key in self.unsupported else ""
            # As the stock server: FAILED_PRECONDITION over gRPC, 400 over REST.
            raise errors.ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'Serving signature key "{key}" not found{reason}; model {self.name!r} '
                f"version {self.version} has: {', '.join(sorted(self.signatures))}",
            )
        return self.signatures[key]

    def predict(self, signature_key, inputs, output_filter=()):
        """Checks and runs one request; returns `(signature key, {output: array})`."""
        signature = self.signature(signature_key)
        for alias in output_filter:
            if alias not in signature.outputs:
                raise errors.invalid(
                    f"output tensor alias not found in signature: {alias}. Outputs "
                    f"expected to be in the set {{{','.join(sorted(signature.outputs))}}}."
                )
        if len(set(output_filter)) != len(output_filter):
            raise errors.invalid(f"duplicate output tensor alias in {list(output_filter)}")
        batch = signature.check(inputs, self.limits)
        if signature.key in self._batchers:
            outputs = self._batchers[signature.key].submit(inputs, batch)
        else:
            outputs = signature.run(inputs)
        if output_filter:
            outputs = {alias: outputs[alias] for alias in output_filter}
        return signature.key, outputs

    def warm_up(self):
        """Replays WARMUP_FILE's Predict requests, if there is one; returns how many.

        The first run of a signature optimises its graph, which can take seconds: better
        here, before the switch, than in a client's request.
        """
        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.exists(path):
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(path).take(_MAX_WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if log.WhichOneof("log_type") != "predict_log":
                raise ValueError(
                    f"{path}: record {count + 1} is a "
                    f"{log.WhichOneof('log_type')}; only predict_log is supported"
                )
            request = log.predict_log.request
            inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            try:
                self.predict(request.model_spec.signature_name, inputs)
            except errors.ServingError as error:
                raise ValueError(f"{path}: warm-up request {count + 1} failed: {error}") from None
            count += 1
        return count

    def close(self):
        for batcher in self._batchers.values():
            batcher.close()


class _Model:
    def __init__(self, source):
        self.source = source
        self.servable = None
        self.states = {}  # version -> (state name, None or (error code, message))
        self.failed = {}  # version -> saved_model.pb mtime when loading it failed
        self.last_error = None


def _status_code(error):
    if isinstance(error, tf.errors.OpError):
        return error.error_code
    return grpc.StatusCode.UNKNOWN.value[0]


class ModelRepository:
    """Every served model and its current version.

    Args:
      sources: `config.ModelSource`s; names must be unique.
      options: an `Options`, passed to every `Servable`.
      log: called with one line of text on every load and unload.

    Example:
      repository = ModelRepository([config.ModelSource("mtask", "export/mtask")], Options())
      repository.refresh(raise_errors=True)
      servable = repository.get("mtask")
    """

    def __init__(self, sources, options, log=logger.info):
        self._models = {source.name: _Model(source) for source in sources}
        self._options = options
        self._log = log
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller = None

    @property
    def names(self):
        return sorted(self._models)

    def refresh(self, raise_errors=False):
        """Loads the newest version of every model where it is not already served."""
        for model in self._models.values():
            try:
                self._refresh(model)
            except Exception as error:  # noqa: BLE001  the poller keeps going
                if raise_errors:
                    raise
                if str(error) != model.last_error:  # once, not at every poll
                    logger.error("model %r: %s", model.source.name, error)
                model.last_error = str(error)
            else:
                model.last_error = None

    def _refresh(self, model):
        name, base_path = model.source.name, model.source.base_path
        versions = find_versions(base_path)
        if not versions:
            return
        version = versions[-1]
        current = model.servable
        if current is not None and current.version == version:
            return
        path = os.path.join(base_path, str(version))
        mtime = os.stat(os.path.join(path, _MODEL_FILE)).st_mtime
        if model.failed.get(version) == mtime:
            return  # Already reported; retried when saved_model.pb changes.
        servable, warmed_up = self._load(model, version, path, mtime)
        with self._lock:
            model.servable = servable
            model.states[version] = ("AVAILABLE", None)
            if current is not None:
                model.states[current.version] = ("UNLOADING", None)
        warm_up = f"; replayed {warmed_up} warm-up requests" if warmed_up else ""
        self._log(
            f"model {name!r}: serving version {version} from {path} (signatures: "
            f"{', '.join(sorted(servable.signatures))}{warm_up})"
        )
        if current is not None:
            current.close()
            with self._lock:
                model.states[current.version] = ("END", None)
            self._log(f"model {name!r}: unloaded version {current.version}")

    def _load(self, model, version, path, mtime):
        with self._lock:
            model.states[version] = ("LOADING", None)
        servable = None
        try:
            servable = Servable(model.source.name, version, path, self._options)
            return servable, servable.warm_up()
        except Exception as error:
            if servable is not None:
                servable.close()
            message = f"loading version {version} from {path} failed: {error}"
            with self._lock:
                model.states[version] = ("END", (_status_code(error), message))
                model.failed[version] = mtime
            raise RuntimeError(message) from error

    def start_polling(self, interval_seconds):
        """Calls `refresh` every `interval_seconds` on a background thread."""

        def poll():
            while not self._stop.wait(interval_seconds):
                self.refresh()

        self._poller = threading.Thread(target=poll, name="version poller", daemon=True)
        self._poller.start()

    def close(self):
        """Stops polling and unloads every model after its waiting requests ran."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
        for model in self._models.values():
            if model.servable is not None:
                model.servable.close()

    def serving_version(self, name):
        """The version of model `name` requests get, or None while none is loaded."""
        servable = self._models[name].servable
        return servable.version if servable is not None else None

    def get(self, name, version=None, label=None):
        """The servable for a request's model spec; raises NOT_FOUND if there is none."""
        model = self._models.get(name)
        if label:  # the stock server's answer to a label it does not know
            raise errors.invalid(
                f"Unrecognized servable version label: {label} "
                "(this server does not support version labels)"
            )
        servable = model.servable if model is not None else None
        if servable is None or (version is not None and version != servable.version):
            request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            served = servable.version if servable is not None else None
            hint = (
                f"; model {name!r} serves version {served}"
                if served is not None
                else f"; no version of {name!r} is loaded"
                if model is not None
                else f"; models: {', '.join(self.names)}"
            )
            raise errors.not_found(f"Servable not found for request: {request}{hint}")
        return servable

    def status(self, name, version=None):
        """`[(version, state, (error code, message) or None)]` like GetModelStatus."""
        model = self._models.get(name)
        with self._lock:
            states = dict(model.states) if model is not None else {}
        if version is not None:
            if version not in states:
                raise errors.not_found(f"Could not find version {version} of model {name}")
            return [(version, *states[version])]
        if not states:
            raise errors.not_found(f"Could not find any versions of model {name}")
        return [(v, *states[v]) for v in sorted(states)]
