"""The style classifier behind the style score, on tiny made-up monologues."""

import random

import numpy as np
import pytest

from mtask_tf.evaluation import style_classifier

GENERAL = "the a and i you it is of to my what time where go see come okay yes".split()
SAILOR = "ship sea wave sail anchor deck storm wind harbour rope mast tide".split()
COOK = "bread butter oven soup salt pepper onion knife bake stew pie flour".split()


def _lines(rng, words, count, filler=()):
    """`count` lines of 3-8 tokens, half of them from `filler` when given."""

    def token():
        return rng.choice(filler) if filler and rng.random() < 0.5 else rng.choice(words)

    return [" ".join(token() for _ in range(rng.randint(3, 8))) for _ in range(count)]


@pytest.fixture(scope="module")
def classifier():
    """SAILOR and COOK each with 30 monologue lines; 200 general responses."""
    rng = random.Random(0)
    monologue = _lines(rng, SAILOR, 30, GENERAL) + _lines(rng, COOK, 30, GENERAL)
    speakers = ["SAILOR"] * 30 + ["COOK"] * 30
    return style_classifier.StyleClassifier.fit(monologue, speakers, _lines(rng, GENERAL, 200))


def test_a_targets_words_read_as_the_target_and_general_talk_does_not(classifier):
    rng = random.Random(1)
    assert classifier.targets == ("COOK", "SAILOR")
    sailor = _lines(rng, SAILOR, 20, GENERAL)
    general = _lines(rng, GENERAL, 20)
    targets = ["SAILOR"] * 20
    assert classifier.reads_as_target(sailor, targets).mean() >= 0.9
    assert classifier.reads_as_target(general, targets).mean() <= 0.1


def test_style_score_is_the_share_read_as_the_target_averaged_over_targets(classifier):
    rng = random.Random(2)
    # Three sailor lines and one general line for SAILOR (3/4); one cook and one
    # general line for COOK (1/2): (3/4 + 1/2) / 2, not the plain 4/6. The rows
    # of the two targets interleave, so each must reach its own classifier.
    texts = _lines(rng, SAILOR, 3) + _lines(rng, GENERAL, 1) + _lines(rng, COOK, 1)
    texts += _lines(rng, GENERAL, 1)
    order = [0, 4, 1, 5, 2, 3]
    texts = [texts[i] for i in order]
    targets = [(["SAILOR"] * 4 + ["COOK"] * 2)[i] for i in order]
    expected = [([True] * 3 + [False, True, False])[i] for i in order]
    assert classifier.reads_as_target(texts, targets).tolist() == expected
    assert style_classifier.style_score(classifier, texts, targets) == pytest.approx(5 / 8)


def test_the_general_population_does_not_win_by_its_size():
    # 10 target lines against 500 general ones: balanced class weights still
    # read the target's words as the target's.
    rng = random.Random(3)
    classifier = style_classifier.StyleClassifier.fit(
        _lines(rng, SAILOR, 10), ["SAILOR"] * 10, _lines(rng, GENERAL, 500)
    )
    assert classifier.reads_as_target(_lines(rng, SAILOR, 10), ["SAILOR"] * 10).all()


def test_fit_and_reading_reject_bad_input(classifier):
    with pytest.raises(ValueError, match="general responses is empty"):
        style_classifier.StyleClassifier.fit(["ship sea"], ["SAILOR"], [])
    with pytest.raises(ValueError, match="monologue is empty"):
        style_classifier.StyleClassifier.fit([], [], ["what time"])
    with pytest.raises(ValueError, match="2 lines and 1 speakers"):
        style_classifier.StyleClassifier.fit(["ship", "sea"], ["SAILOR"], ["what time"])
    with pytest.raises(TypeError, match="list of strings"):
        style_classifier.StyleClassifier.fit("ship sea", ["SAILOR"], ["what time"])
    with pytest.raises(ValueError, match="no monologue of DOCTOR .it knows COOK, SAILOR"):
        classifier.reads_as_target(["fever"], ["DOCTOR"])
    with pytest.raises(ValueError, match="1 texts and 2 targets"):
        classifier.reads_as_target(["sea"], ["SAILOR", "COOK"])
    with pytest.raises(ValueError, match="texts is empty"):
        style_classifier.style_score(classifier, [], [])
    assert isinstance(classifier.reads_as_target(["sea"], ["SAILOR"]), np.ndarray)
