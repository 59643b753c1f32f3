"""Evaluating a system: perplexity, then decoding, reranking and BLEU / distinct-n.

A system is one trained model directory, or an MTASK-S directory holding one
model per target speaker (`MODEL_DIR/<target>/`, as `configs/mtask_s.flags`
trains them); each row is then scored and decoded by its speaker's model.
"""

import dataclasses
import math
import pathlib
import random

import tensorflow as tf

from mtask_tf.data import pipeline
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.decoding import runner
from mtask_tf.evaluation import metrics as metrics_lib
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


def tokenize(texts):
    """Texts as space-joined tokens, the form of the generated responses.

    Lower-cased with punctuation split off (`tokenizer.split_words`, the
    normalisation the model's tokenizer applies before the vocabulary lookup),
    but words stay words: nothing becomes `<unk>`.

    Args:
        texts: list of raw strings (references, monologue lines).
    """
    if not texts:  # tf.constant([]) would be float32, not a string tensor.
        return []
    words = tokenizer_lib.split_words(tf.constant(list(texts), dtype=tf.string))
    return [" ".join(w.decode("utf-8") for w in row) for row in words.to_list()]


def sample_rows(rows, count, seed):
    """A seeded random sample of `count` rows in their original order (all for 0 or more).

    Decoding-based measures on a fixed subset: the same seed gives the same rows
    for every system, and the sample spreads over the whole file instead of its
    first conversations.
    """
    if not count or count >= len(rows):
        return list(rows)
    chosen = sorted(random.Random(seed).sample(range(len(rows)), count))
    return [rows[i] for i in chosen]


def shuffled_inputs(rows, seed=0):
    """The rows with each one's context and message taken from another row (seeded).

    Speakers and responses stay where they are, so the perplexity of these
    rows against that of the real ones says how much a model's responses
    depend on their input: equal, and the model ignores what it answers. The
    inputs move along one seeded cycle through all rows, so no row keeps its
    own (given two rows or more).
    """
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    donor = {row: order[(k + 1) % len(order)] for k, row in enumerate(order)}
    return [
        dataclasses.replace(row, context=rows[donor[i]].context, message=rows[donor[i]].message)
        for i, row in enumerate(rows)
    ]


def references(rows):
    """Reference responses tokenised like the hypotheses (no vocabulary mapping)."""
    return tokenize([r.response for r in rows])


def generation_metrics(hypotheses, refs, lengths, max_length):
    """BLEU, diversity and degeneration measures of the 1-best responses.

    BLEU and distinct-1/2 (paper 6.2), Ent-4, the share of distinct responses
    with its bootstrap interval, the mean length, the share at the length cap
    and the share repeating a word three times in a row.

    Args:
        hypotheses: the 1-best response of each input, space-joined tokens.
        refs: the reference responses, tokenised the same way.
        lengths: words of each 1-best, EOS not counted.
        max_length: the decoder's maximum length, EOS included.
    """
    _, interval = metrics_lib.mean_with_interval(
        metrics_lib.distinct_response_weights(hypotheses), **metrics_lib.BOOTSTRAP
    )
    return {
        "bleu": metrics_lib.corpus_bleu(hypotheses, refs),
        "distinct_1": metrics_lib.distinct_n(hypotheses, 1),
        "distinct_2": metrics_lib.distinct_n(hypotheses, 2),
        "ent_4": metrics_lib.ngram_entropy(hypotheses, 4),
        "distinct_responses": metrics_lib.distinct_responses(hypotheses),
        "distinct_responses_interval": list(interval),
        **metrics_lib.length_measures(lengths, max_length),
        "repetition_share": metrics_lib.repetition_share(hypotheses),
    }
