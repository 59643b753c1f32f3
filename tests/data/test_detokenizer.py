"""The detokenizer: hand-written expectations, and Python and TensorFlow in agreement."""

import random

import pytest
import tensorflow as tf

from mtask_tf.data import detokenizer
from mtask_tf.data import tokenizer

# (tokens as the tokenizer writes them, what a person should read).
CASES = [
    ("my lord , i pray you , - -", "My lord, I pray you,--"),
    ("good night , sweet prince .", "Good night, sweet prince."),
    ("'tis bitter cold . i am sick at heart", "'Tis bitter cold. I am sick at heart"),
    ("don't you know ? i'm here . . . or not", "Don't you know? I'm here... or not"),
    ("well . . . i think so", "Well... I think so"),
    ("i'll go ; i'd stay : i've said it", "I'll go; I'd stay: I've said it"),
    ("what ? ! no way !", "What?! No way!"),
    ('he said : " no ! " and left .', 'He said: "No!" and left.'),
    ('" stop , " she said . " now . "', '"Stop," she said. "Now."'),
    ("“ hello , ” she said . ‘ yes ’", "“Hello,” she said. ‘Yes’"),
    ("( see above ) and [ this ] .", "(See above) and [this]."),
    ("a well - known , well - to - do man - - and yet", "A well-known, well-to-do man-- and yet"),
    (
        "it costs $ 5 , or 3 . 5 % of 1 , 000 at 10 : 30 .",
        "It costs $5, or 3.5% of 1,000 at 10:30.",
    ),
    ("i ’ m sure it ’ s fine , don ’ t worry", "I’m sure it’s fine, don’t worry"),
    ("it 's i 'll do n't", "It's I'll don't"),
    ("it ' s the boys ' toys", "It's the boys' toys"),
    ("<unk> is here . <unk> , sir", "<unk> is here. <unk>, sir"),
    ("2 men came . i saw them", "2 men came. I saw them"),
    ("is it ? ¿ qué ? ¡ olé !", "Is it? ¿Qué? ¡Olé!"),
    ("my liege , this is i .", "My liege, this is I."),
    ("  spaced \t out\n", "Spaced out"),
    ("", ""),
]


@pytest.mark.parametrize(("tokens", "expected"), CASES)
def test_python_reads_as_written(tokens, expected):
    assert detokenizer.detokenize(tokens) == expected


def test_tensorflow_reads_as_written_and_keeps_the_shape():
    tokens = [[t for t, _ in CASES[:11]], [t for t, _ in CASES[11:]]]
    shown = detokenizer.detokenize_tf(tf.constant(tokens)).numpy()
    assert shown.shape == (2, 11)
    assert [s.decode() for s in shown.ravel()] == [e for _, e in CASES]
    assert detokenizer.detokenize_tf(tf.constant("i")).numpy() == b"I"
    assert detokenizer.detokenize_tf(tf.zeros([0, 3], tf.string)).shape == (0, 3)


# Tokens that exercise every rule, and words.
_ALPHABET = (
    ". , ! ? ; : ) ] } % … ( [ { ¿ ¡ $ £ € “ ” ‘ ’ \" ' - – < 's n't 'll t s ll re "
    "i i'm i'd 'tis é 3 10 000 <unk> 2nd the my lord o'er ünter".split()
)


def _random_lines(count, seed=0):
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12))) for _ in range(count)
    ]


def test_python_and_tensorflow_agree_on_random_token_sequences():
    lines = _random_lines(600)
    shown = detokenizer.detokenize_tf(tf.constant(lines)).numpy()
    disagree = [
        (line, python, tensorflow.decode())
        for line, python, tensorflow in (
            (line, detokenizer.detokenize(line), tf_text) for line, tf_text in zip(lines, shown)
        )
        if python != tensorflow.decode()
    ]
    assert disagree == []


def _tokens(texts):
    return [" ".join(w.decode() for w in row) for row in tokenizer.split_words(texts).to_list()]


def test_the_tokenizer_reads_readable_text_back_as_the_same_tokens():
    # Apostrophes aside (they join words into one token), only spaces and case
    # change; "<unk>" comes from the vocabulary, not from text.
    lines = [
        " ".join(t for t in line.split() if "'" not in t and t not in ("’", "<unk>"))
        for line in _random_lines(300, seed=1)
    ]
    assert _tokens(tf.constant([detokenizer.detokenize(line) for line in lines])) == lines


@pytest.mark.parametrize(
    "line",
    [
        "I don't know... I think so.",
        "Hey! What's up? I'm fine; you?",
        '"Oh my," she said. "You\'re late."',
        "My lord, I pray you--",
        "Well-known facts (mostly) are 95% true.",
        "It's 3.5 miles; I'll walk [maybe].",
    ],
)
def test_typical_lines_read_back_as_written(line):
    assert detokenizer.detokenize(_tokens(tf.constant([line]))[0]) == line
