"""tf.data pipelines: triples and monologue text to padded id batches.

Every batch is a dict of int32 tensors:
    source      [batch, source_time]   encoder input (`context EOS message`)
    target_in   [batch, target_time]   `BOS w1 .. wn`
    target_out  [batch, target_time]   `w1 .. wn EOS`
    speaker     [batch]                responder's id (speaker list order)
"""

import dataclasses

import tensorflow as tf

from mtask_tf import errors
from mtask_tf.data import tokenizer as tokenizer_lib

_ENCODE_CHUNK = 4096


@dataclasses.dataclass(frozen=True)
class Lengths:
    """Token limits. Sources keep their last tokens, targets their first ones."""

    max_source_length: int = 40
    max_target_length: int = 20


class SpeakerError(errors.UserError):
    """A row names a speaker the model does not know."""


def speaker_ids(names, speakers, source_name):
    """Maps speaker names to ids, naming the first unknown one and its row."""
    index = {name: i for i, name in enumerate(speakers)}
    ids = []
    for row, name in enumerate(names, start=1):
        if name not in index:
            raise SpeakerError(
                f"{source_name}: data row {row}: unknown speaker {name!r}; the model "
                f"knows {len(speakers)} speakers (listed in its speakers.txt)"
            )
        ids.append(index[name])
    return ids


def _encode(tokenizer, *columns):
    """Each column of texts as ragged ids, every distinct text encoded once.

    A conversation's turn is the response of one triple, the message of the
    next and the context of the one after: encoding each distinct text once
    (in chunks) and gathering its rows makes a 1M-triple set a third of the work.
    """
    index = {}
    positions = [[index.setdefault(text, len(index)) for text in column] for column in columns]
    distinct = list(index)
    parts = [
        tokenizer.encode(tf.constant(distinct[start : start + _ENCODE_CHUNK]))
        for start in range(0, len(distinct), _ENCODE_CHUNK)
    ]
    ids = tf.concat(parts, axis=0) if parts else tf.ragged.constant([[]], tf.int32)[:0]
    return [tf.gather(ids, tf.constant(p, tf.int64, shape=[len(p)])) for p in positions]


def encode_triples(tokenizer, triples, speakers_of_rows, lengths, reverse=False):
    """Encodes triples; `reverse` builds p(message | response) examples instead.

    Returns a dict of ragged source/target tensors and dense speaker ids.
    """
    contexts, messages, responses = _encode(
        tokenizer,
        [t.context for t in triples],
        [t.message for t in triples],
        [t.response for t in triples],
    )
    if reverse:
        source, targets = responses[:, -lengths.max_source_length :], messages
    else:
        source = tokenizer_lib.join_source(contexts, messages, lengths.max_source_length)
        targets = responses
    target_in, target_out = tokenizer_lib.target_pair(targets, lengths.max_target_length)
    return _examples(source, target_in, target_out, speakers_of_rows)


def encode_monologue(tokenizer, rows, speakers_of_rows, lengths):
    """Autoencoder examples: each sentence is both the source and the target."""
    (texts,) = _encode(tokenizer, [r.text for r in rows])
    target_in, target_out = tokenizer_lib.target_pair(texts, lengths.max_target_length)
    return _examples(texts[:, : lengths.max_source_length], target_in, target_out, speakers_of_rows)


def _examples(source, target_in, target_out, speakers_of_rows):
    return {
        "source": source,
        "target_in": target_in,
        "target_out": target_out,
        "speaker": tf.constant(speakers_of_rows, tf.int32, shape=[len(speakers_of_rows)]),
    }


def num_examples(examples):
    return int(examples["speaker"].shape[0])


def _dense(example):
    """Slices of ragged columns come out ragged; padded batching needs dense rows."""
    return {k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v for k, v in example.items()}


def _slices(examples):
    return tf.data.Dataset.from_tensor_slices(examples).map(_dense)


def _length(example):
    return tf.maximum(tf.shape(example["source"])[0], tf.shape(example["target_in"])[0])


def training_dataset(examples, batch_size, seed, bucket_width=10):
    """An endless stream of batches drawn at random from all examples, of similar lengths.

    Each pass over the data is a fresh random permutation of every example's
    index (8 bytes an example, even at millions), so batches mix the whole
    training set rather than a window of a file written in conversation order.
    Bucketing by length keeps padding, and so wasted LSTM steps, small.
    """
    count = num_examples(examples)
    dataset = (
        tf.data.Dataset.range(count)
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .map(
            lambda index: _dense(_example_at(examples, index)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    )
    boundaries = list(range(bucket_width, 200, bucket_width))
    dataset = dataset.bucket_by_sequence_length(
        _length, boundaries, [batch_size] * (len(boundaries) + 1)
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _example_at(examples, index):
    return {
        k: v[index] if isinstance(v, tf.RaggedTensor) else tf.gather(v, index)
        for k, v in examples.items()
    }


def evaluation_dataset(examples, batch_size):
    """One pass over the examples in order, padded per batch."""
    return _slices(examples).padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)
