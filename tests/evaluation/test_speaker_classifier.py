"""The speaker classifier behind speaker accuracy, on tiny made-up monologues."""

import random

import pytest

from mtask_tf.data import records
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.evaluation import responses as responses_lib
from mtask_tf.evaluation import speaker_classifier

FILLER = "the a and i you it is of to my".split()
VOCABULARIES = {
    "SAILOR": "ship sea wave sail anchor deck storm wind harbour rope mast tide".split(),
    "COOK": "bread butter oven soup salt pepper onion knife bake stew pie flour".split(),
    "DOCTOR": "fever pulse wound cure pill blood heart nurse ache remedy bed ill".split(),
}
SHARED = (
    "the a to and of i you my is it that in thou me not with be your for his "
    "this but have he good night sweet prince sir lord"
).split()


def _lines(rng, words, count, filler=()):
    """`count` lines of 3-8 tokens, half of them from `filler` when given."""

    def token():
        return rng.choice(filler) if filler and rng.random() < 0.5 else rng.choice(words)

    return [" ".join(token() for _ in range(rng.randint(3, 8))) for _ in range(count)]


def _corpus(rng, vocabularies, count, filler=()):
    texts, speakers = [], []
    for speaker, words in vocabularies.items():
        texts += _lines(rng, words, count, filler)
        speakers += [speaker] * count
    return texts, speakers


def test_distinct_vocabularies_are_attributed_well_above_chance():
    rng = random.Random(0)
    classifier = speaker_classifier.SpeakerClassifier.fit(*_corpus(rng, VOCABULARIES, 30, FILLER))
    assert classifier.speakers == ("COOK", "DOCTOR", "SAILOR")
    assert classifier.chance == pytest.approx(1 / 3)
    held_out, speakers = _corpus(rng, VOCABULARIES, 20, FILLER)
    assert speaker_classifier.attribution_accuracy(classifier, held_out, speakers) >= 0.8
    assert classifier.predict(["the storm and the anchor", "my soup is salt"]) == ["SAILOR", "COOK"]


def test_generic_lines_are_attributed_near_chance():
    rng = random.Random(1)
    generic = {"HAMLET": SHARED, "IAGO": SHARED}
    classifier = speaker_classifier.SpeakerClassifier.fit(*_corpus(rng, generic, 100))
    # 400 held-out lines: pure guessing is 0.5 +- 0.025 (one standard deviation).
    held_out, speakers = _corpus(rng, generic, 200)
    accuracy = speaker_classifier.attribution_accuracy(classifier, held_out, speakers)
    assert abs(accuracy - 0.5) < 0.1, accuracy


def test_a_system_that_always_sounds_like_one_target_scores_its_share():
    rng = random.Random(2)
    two = {k: VOCABULARIES[k] for k in ("SAILOR", "COOK")}
    classifier = speaker_classifier.SpeakerClassifier.fit(*_corpus(rng, two, 30, FILLER))
    responses = _lines(rng, two["SAILOR"], 10)
    intended = ["SAILOR"] * 3 + ["COOK"] * 7
    assert speaker_classifier.attribution_accuracy(classifier, responses, intended) == 0.3


def test_monologue_is_tokenised_like_the_responses():
    assert tokenizer_lib.split_texts(["Good night, sweet Prince!", "I'll  NOT-go."]) == [
        "good night , sweet prince !",
        "i'll not - go .",
    ]
    assert tokenizer_lib.split_texts([]) == []
    rows = [records.Triple("HAMLET", "", "Who's there?", "Is it SO?")]
    assert responses_lib.references(rows) == ["is it so ?"]


def test_fit_needs_two_targets_and_some_text():
    with pytest.raises(ValueError, match=r"at least two targets.*\['HAMLET'\]"):
        speaker_classifier.SpeakerClassifier.fit(["a b", "c d"], ["HAMLET", "HAMLET"])
    with pytest.raises(ValueError, match="texts is empty"):
        speaker_classifier.SpeakerClassifier.fit([], [])
    with pytest.raises(ValueError, match="2 texts and 1 speakers"):
        speaker_classifier.SpeakerClassifier.fit(["a b", "c d"], ["HAMLET"])
    with pytest.raises(TypeError, match="list of strings"):
        speaker_classifier.SpeakerClassifier.fit("a b", ["HAMLET"])


def test_attribution_rejects_empty_mismatched_and_unknown_speakers():
    classifier = speaker_classifier.SpeakerClassifier.fit(
        ["ship sea", "bread soup"], ["SAILOR", "COOK"]
    )
    with pytest.raises(ValueError, match="texts is empty"):
        speaker_classifier.attribution_accuracy(classifier, [], [])
    with pytest.raises(ValueError, match="texts is empty"):
        classifier.predict([])
    with pytest.raises(ValueError, match="1 texts and 2 speakers"):
        speaker_classifier.attribution_accuracy(classifier, ["sea"], ["SAILOR", "COOK"])
    with pytest.raises(ValueError, match="no monologue of DOCTOR .it knows COOK, SAILOR"):
        speaker_classifier.attribution_accuracy(classifier, ["sea"], ["DOCTOR"])


def test_balanced_accuracy_puts_a_one_speaker_system_at_chance():
    from mtask_tf.evaluation.speaker_classifier import SpeakerClassifier
    from mtask_tf.evaluation.speaker_classifier import attribution_accuracy

    classifier = SpeakerClassifier.fit(
        ["my lord my lord", "good my lord", "sweet prince sweet", "good night sweet prince"],
        ["A", "A", "B", "B"],
    )
    # Nine rows meant for A, one for B; every response sounds like A.
    texts = ["my lord"] * 10
    intended = ["A"] * 9 + ["B"]
    assert attribution_accuracy(classifier, texts, intended) == 0.9
    assert attribution_accuracy(classifier, texts, intended, balanced=True) == 0.5
