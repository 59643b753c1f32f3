"""The systems `evaluate` and `tune_mmi` compare: loading them, and scoring and decoding rows.

A system is one trained model directory, or an MTASK-S directory holding one
model per target speaker (`MODEL_DIR/<target>/`, as `configs/mtask_s.flags`
trains them); each row is then scored and decoded by its speaker's model.
The measures themselves are `mtask_tf.evaluation`'s.
"""

import dataclasses
import math
import pathlib

from mtask_tf.data import pipeline
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.decoding import runner
from mtask_tf.evaluation import perplexity as perplexity_lib
from mtask_tf.model import model_dir as model_dir_lib


@dataclasses.dataclass
class System:
    """A named system: its model(s) and optional MMI weights file."""

    name: str
    models: dict  # speaker name -> TrainedModel; key None: the model for everyone
    mmi_path: str | None = None
    responders: dict = dataclasses.field(default_factory=dict)

    def responder(self, model, reverse, config):
        """One Responder per model, so each traces its graph once for all splits."""
        key = id(model)
        if key not in self.responders:
            self.responders[key] = responder_lib.Responder(model, reverse, config)
        return self.responders[key]

    def model_for(self, speaker, source_name):
        model = self.models.get(speaker) or self.models.get(None)
        if model is None:
            raise model_dir_lib.ModelDirError(
                f"{source_name}: system {self.name!r} has no model for speaker {speaker!r} "
                f"(it has models for {', '.join(sorted(k for k in self.models if k))})"
            )
        return model


def load_system(name, model_dir, mmi_path=None):
    """Loads a model directory, or the per-target models below an MTASK-S directory."""
    dirs = model_dir_lib.model_dirs(model_dir)
    if dirs == [pathlib.Path(model_dir)]:
        return System(name, {None: model_dir_lib.load_trained(model_dir)}, mmi_path)
    models = {}
    for sub in dirs:
        model = model_dir_lib.load_trained(sub)
        for target in model.experiment.targets:
            models[target] = model
    return System(name, models, mmi_path)


def _groups(system, rows, source_name):
    """Rows grouped by the model that serves them, keeping row indices."""
    groups = {}
    for index, row in enumerate(rows):
        model = system.model_for(row.speaker, source_name)
        groups.setdefault(id(model), (model, []))[1].append(index)
    return list(groups.values())


def perplexity(system, rows, source_name, batch_size=64):
    """Seq2Seq perplexity over rows (overall and per speaker), EOS included."""
    nll = tokens = 0.0
    by_speaker = {}
    for model, indices in _groups(system, rows, source_name):
        subset = [rows[i] for i in indices]
        speakers = model.speakers
        if model.persona:
            ids = pipeline.speaker_ids([r.speaker for r in subset], speakers, source_name)
        else:  # Ids only label the per-speaker sums here.
            speakers = sorted({r.speaker for r in subset})
            ids = [speakers.index(r.speaker) for r in subset]
        lengths = pipeline.Lengths(**model.experiment.lengths)
        examples = pipeline.encode_triples(model.tokenizer, subset, ids, lengths)
        result = perplexity_lib.perplexity(
            model.models.seq2seq, pipeline.evaluation_dataset(examples, batch_size), len(speakers)
        )
        nll, tokens = nll + result.nll, tokens + result.tokens
        by_speaker.update(result.to_dict(speakers)["perplexity_by_speaker"])
    return math.exp(nll / tokens), by_speaker


def decode(system, rows, source_name, reverse, config, batch_size, progress=None):
    """Reranked N-best lists for every row, in row order."""
    results = [None] * len(rows)
    for model, indices in _groups(system, rows, source_name):
        responder = system.responder(model, reverse, config)
        decoded = runner.decode(responder, [rows[i] for i in indices], batch_size, progress)
        for index, hypotheses in zip(indices, decoded):
            results[index] = hypotheses
    return results
