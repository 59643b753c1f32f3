"""Builds the Seq2Seq and Autoencoder functional models around one shared decoder."""

import dataclasses
import json
import pathlib

import keras

from mtask_tf.data import vocabulary
from mtask_tf.model import decoder as decoder_lib
from mtask_tf.model import encoder as encoder_lib


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes of a conversation model (paper: 2 layers of 500 cells, 50k words).

    `num_speakers == 0` builds models without speaker embeddings (SEQ2SEQ,
    MTASK-S and the reverse model); a positive number builds the persona model
    of MTASK-M. `dropout`, `attention` and `bidirectional` (the encoder) are
    options beyond the paper's text (Li et al.'s persona code had the first
    two); at their defaults the model is the paper's, and model.json leaves
    them out, as files written before them do.
    """

    vocabulary_size: int
    embedding_dim: int = 500
    units: int = 500
    num_layers: int = 2
    num_speakers: int = 0
    speaker_dim: int = 500
    init_scale: float = 0.1
    dropout: float = 0.0
    attention: str = "none"
    bidirectional: bool = False

    def save(self, path):
        pathlib.Path(path).write_text(json.dumps(self.to_record(), indent=2) + "\n")

    def to_record(self):
        """The fields as model.json holds them: the options beyond the paper only when set."""
        record = dataclasses.asdict(self)
        for name in _OPTIONAL_FIELDS:
            if record[name] == _DEFAULTS[name]:
                del record[name]
        return record

    @classmethod
    def load(cls, path):
        return cls(**json.loads(pathlib.Path(path).read_text()))


_OPTIONAL_FIELDS = ("dropout", "attention", "bidirectional")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelConfig)}


@dataclasses.dataclass
class ConversationModels:
    """The functional models of one experiment and the layers they share.

    `seq2seq` and `autoencoder` map {"source", "target_in", "speaker"} to logits
    [batch, time, vocab]; both call the same `decoder` object. `autoencoder` is
    None when the experiment has no autoencoder task.
    """

    seq2seq: keras.Model
    autoencoder: keras.Model | None
    encoder: encoder_lib.Encoder
    autoencoder_encoder: encoder_lib.Encoder | None
    decoder: decoder_lib.Decoder


INPUT_NAMES = ("source", "target_in", "speaker")


def model_feed(batch):
    """The part of a pipeline batch (see `mtask_tf.data.pipeline`) the models take."""
    return {name: batch[name] for name in INPUT_NAMES}


def model_inputs():
    return {
        "source": keras.Input((None,), dtype="int32", name="source"),
        "target_in": keras.Input((None,), dtype="int32", name="target_in"),
        "speaker": keras.Input((), dtype="int32", name="speaker"),
    }


def _encoder(config, name):
    return encoder_lib.Encoder(
        config.vocabulary_size,
        config.embedding_dim,
        config.units,
        config.num_layers,
        config.init_scale,
        config.dropout,
        config.bidirectional,
        name=name,
    )


def _functional(encoder, decoder, name):
    inputs = model_inputs()
    outputs, states = encoder(inputs["source"])
    speaker = inputs["speaker"] if decoder.num_speakers else None
    mask = keras.ops.not_equal(inputs["source"], vocabulary.PAD_ID)
    logits = decoder(inputs["target_in"], states, speaker, memory=outputs, memory_mask=mask)
    return keras.Model(inputs, logits, name=name)


def build_models(config, with_autoencoder, name_prefix=""):
    """Builds the Seq2Seq model and, if asked, the Autoencoder sharing its decoder.

    `name_prefix` prefixes every layer name, so two models can live in one graph
    (a SavedModel with the forward and the reverse model) without variable names
    colliding; `variable_map(..., name_prefix=...)` maps them back to checkpoint names.
    """
    decoder = decoder_lib.Decoder(
        config.vocabulary_size,
        config.embedding_dim,
        config.units,
        config.num_layers,
        config.num_speakers,
        config.speaker_dim,
        config.init_scale,
        config.dropout,
        config.attention,
        name=f"{name_prefix}decoder",
    )
    encoder = _encoder(config, f"{name_prefix}encoder")
    seq2seq = _functional(encoder, decoder, "seq2seq")
    autoencoder_encoder = autoencoder = None
    if with_autoencoder:
        autoencoder_encoder = _encoder(config, f"{name_prefix}autoencoder_encoder")
        autoencoder = _functional(autoencoder_encoder, decoder, "autoencoder")
    return ConversationModels(seq2seq, autoencoder, encoder, autoencoder_encoder, decoder)


def variable_map(*models, name_prefix=""):
    """{name: variable} of the models' weights, the layout of every checkpoint.

    Names are the Keras variable paths ("decoder/lstm/kernel_0", with "." for
    "/"), so a checkpoint restores into any model that has those layers: training
    checkpoints into a decoding-only Seq2Seq model, for example.
    """
    return {
        v.path.removeprefix(name_prefix).replace("/", "."): v
        for model in models
        if model is not None
        for v in model.weights
    }
