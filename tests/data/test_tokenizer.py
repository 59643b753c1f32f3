"""Vocabulary building and the TensorFlow tokenizer."""

import collections

import pytest
import tensorflow as tf

from mtask_tf.data import pipeline
from mtask_tf.data import records
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.data import vocabulary

TEXTS = [
    "Good morrow, sir!",
    "'Tis bitter cold, and I am sick at heart.",
    "Good night, sweet prince.",
    "Don't café",
]


@pytest.fixture()
def tokenizer(tmp_path):
    tokens = vocabulary.build_vocabulary(tokenizer_lib.count_words(TEXTS), max_size=40)
    vocabulary.save_vocabulary(tmp_path / "vocab.txt", tokens)
    return tokenizer_lib.Tokenizer(tmp_path / "vocab.txt")


@pytest.mark.parametrize("batch_size", [1, 3, 65536])
def test_word_counts_are_the_split_words_counted_across_batches(batch_size):
    counts = tokenizer_lib.count_words(TEXTS + ["good CAFÉ"], batch_size=batch_size)
    words = tokenizer_lib.split_words(tf.constant(TEXTS + ["good CAFÉ"])).flat_values.numpy()
    assert counts == collections.Counter(w.decode() for w in words)
    assert counts["good"] == 3 and counts["café"] == 2 and counts[","] == 3


def test_a_repeated_text_counts_once_for_each_time_it_occurs():
    # count_words splits each distinct text once; its words still count per occurrence.
    texts = ["good night", "good night", "sir", "good night"]
    assert tokenizer_lib.count_words(texts, batch_size=1) == {"good": 3, "night": 3, "sir": 1}


def test_words_are_case_folded_and_punctuation_split():
    words = tokenizer_lib.split_words(tf.constant(["Good morrow, SIR! Don't café."]))
    assert [w.decode() for w in words[0].numpy()] == [
        "good",
        "morrow",
        ",",
        "sir",
        "!",
        "don't",
        "café",
        ".",
    ]


def test_vocabulary_keeps_the_most_frequent_words_ties_alphabetical():
    counts = {"b": 2, "a": 2, "c": 5, "d": 1}
    assert vocabulary.build_vocabulary(counts, 7) == list(vocabulary.SPECIAL_TOKENS) + [
        "c",
        "a",
        "b",
    ]
    with pytest.raises(vocabulary.VocabularyError, match="no room"):
        vocabulary.build_vocabulary(counts, 4)


def test_vocabulary_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("<pad>\n<unk>\n<s>\n</s>\nword\nword\n")
    with pytest.raises(vocabulary.VocabularyError, match=r"vocab.txt:6: .*repeats line 5"):
        vocabulary.load_vocabulary(path)
    path.write_text("hello\n")
    with pytest.raises(vocabulary.VocabularyError, match=r"vocab.txt:1: .*special tokens"):
        vocabulary.load_vocabulary(path)


def test_encode_decode_round_trip_with_unknown_words(tokenizer):
    ids = tokenizer.encode(tf.constant(["Good morrow, zounds!"]))
    assert ids[0].numpy().tolist()[-2] == vocabulary.UNK_ID
    assert tokenizer.decode(ids.to_tensor()).numpy()[0].decode() == "good morrow , <unk> !"


def test_source_is_context_eos_message_keeping_the_last_tokens(tokenizer):
    source = tokenizer.encode_source(
        tf.constant(["good night", ""]), tf.constant(["good sir", "sir"]), max_length=4
    )
    good, night, sir = (
        tokenizer.encode(tf.constant([w]))[0, 0].numpy() for w in ("good", "night", "sir")
    )
    eos = vocabulary.EOS_ID
    assert source.to_list() == [[night, eos, good, sir], [eos, sir]]


def test_target_gets_bos_and_eos_and_is_cut(tokenizer):
    target_in, target_out = tokenizer.encode_target(tf.constant(["good night sweet"]), 3)
    good, night = (tokenizer.encode(tf.constant([w]))[0, 0].numpy() for w in ("good", "night"))
    assert target_in.to_list() == [[vocabulary.BOS_ID, good, night]]
    assert target_out.to_list() == [[good, night, vocabulary.EOS_ID]]


def test_decode_stops_at_eos(tokenizer):
    good = tokenizer.encode(tf.constant(["good"]))[0, 0].numpy()
    text = tokenizer.decode(tf.constant([[good, vocabulary.EOS_ID, good, 0]]))
    assert text.numpy()[0] == b"good"


def test_pipeline_batches_and_reverse_examples(tokenizer):
    triples = [
        records.Triple("A", "good night", "good sir", "sweet prince"),
        records.Triple("B", "", "sir", "good"),
    ]
    lengths = pipeline.Lengths(10, 5)
    forward = pipeline.encode_triples(tokenizer, triples, [0, 1], lengths)
    reverse = pipeline.encode_triples(tokenizer, triples, [0, 1], lengths, reverse=True)
    assert reverse["source"].to_list()[1] == tokenizer.encode(tf.constant(["good"])).to_list()[0]
    assert reverse["target_out"].to_list()[1][:-1] == forward["source"].to_list()[1][1:]
    batch = next(iter(pipeline.evaluation_dataset(forward, 2)))
    assert batch["source"].shape[0] == 2 and batch["speaker"].numpy().tolist() == [0, 1]
    assert batch["target_in"].dtype == tf.int32


def test_triples_sharing_texts_encode_as_each_row_alone(tokenizer):
    # A turn is one triple's response, the next one's message and the one after's
    # context; encode_triples encodes each distinct text once and gathers its rows.
    turns = ["good morrow , sir", "good night", "sweet prince", "zounds", "good night"]
    triples = [records.Triple("A", *turns[i : i + 3]) for i in range(3)]
    triples.append(records.Triple("B", "", "sir", "good night"))
    lengths = pipeline.Lengths(max_source_length=4, max_target_length=3)
    for reverse in (False, True):
        examples = pipeline.encode_triples(tokenizer, triples, [0, 0, 0, 1], lengths, reverse)
        for row, t in enumerate(triples):
            if reverse:
                source = tokenizer.encode(tf.constant([t.response]))[:, -4:]
                target = tokenizer.encode_target(tf.constant([t.message]), 3)
            else:
                source = tokenizer.encode_source(
                    tf.constant([t.context]), tf.constant([t.message]), 4
                )
                target = tokenizer.encode_target(tf.constant([t.response]), 3)
            assert examples["source"][row].numpy().tolist() == source[0].numpy().tolist()
            assert examples["target_in"][row].numpy().tolist() == target[0][0].numpy().tolist()
            assert examples["target_out"][row].numpy().tolist() == target[1][0].numpy().tolist()
    monologue = pipeline.encode_monologue(
        tokenizer, [records.Monologue("A", t) for t in turns], [0] * 5, lengths
    )
    assert monologue["source"].to_list() == tokenizer.encode(tf.constant(turns))[:, :4].to_list()
    assert monologue["target_out"].to_list()[1] == examples["target_out"].to_list()[0]


def test_unknown_speaker_is_named():
    with pytest.raises(pipeline.SpeakerError, match=r"dev.tsv: data row 2: unknown speaker 'Z'"):
        pipeline.speaker_ids(["A", "Z"], ["A", "B"], "dev.tsv")
