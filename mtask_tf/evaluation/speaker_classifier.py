"""Speaker classifier accuracy: does a response sound like the speaker it was made for?

A classifier trained on the targets' monologue attributes each generated
response to one target; the share attributed to the row's own speaker measures
how much of the speaker's way of speaking came through. The same classifier on
the real responses of those rows gives the ceiling, 1 / number of targets the
chance level.

Every text is space-joined tokens, the form of the generated responses
(`mtask_tf.data.tokenizer.split_texts` makes it from raw monologue lines and
references). The features split on white space only, so the classifier sees
monologue, references and hypotheses alike, punctuation and one-letter words
included; the hypotheses' `<unk>` is one word it has never seen.
"""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from sklearn.pipeline import Pipeline

from mtask_tf import errors
from mtask_tf.evaluation import metrics


def _check_texts(name, texts):
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings, one per text, not a single string")
    texts = list(texts)
    if not texts:
        raise errors.UserError(f"{name} is empty: the speaker classifier needs at least one text")
    return texts


def text_features():
    """TF-IDF word 1-2-grams and character 2-5-grams of space-joined tokens, unfitted.

    The speaker classifier's features, and the style classifier's
    (`style_classifier.py`), so that both read a response the same way.
    """
    # Word uni- and bigrams catch what a speaker talks about and their phrases;
    # character n-grams within words catch spelling and morphology ("thou",
    # "-eth") that a small monologue sees too rarely as whole words. Sublinear tf
    # keeps one repeated word from dominating a line.
    words = TfidfVectorizer(
        analyzer="word",
        token_pattern=r"\S+",
        lowercase=False,
        ngram_range=(1, 2),
        sublinear_tf=True,
    )
    characters = TfidfVectorizer(
        analyzer="char_wb", lowercase=False, ngram_range=(2, 5), sublinear_tf=True
    )
    return FeatureUnion([("words", words), ("characters", characters)])


def balanced_logistic_regression(seed):
    """Logistic regression with class weights inverse to the classes' sizes."""
    # Balanced classes: a class with more lines must not win by default, or the
    # speaker accuracy would reward systems that sound like the most talkative
    # target, and the style classifier would read everything as the (far larger)
    # general population.
    return LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)


def _pipeline(seed):
    return Pipeline(
        [("features", text_features()), ("classifier", balanced_logistic_regression(seed))]
    )


class SpeakerClassifier:
    """Attributes a text to one of the targets it was trained on.

    TF-IDF word 1-2-grams and character 2-5-grams, logistic regression with
    balanced class weights. Build it with `SpeakerClassifier.fit`.

    Args:
        pipeline: a fitted scikit-learn pipeline from texts to speaker names.

    Example:
    >>> classifier = SpeakerClassifier.fit(
    ...     ["good night sweet prince", "i am not what i am"], ["HAMLET", "IAGO"])
    >>> attribution_accuracy(classifier, ["sweet prince"], ["HAMLET"])
    1.0
    """

    def __init__(self, pipeline):
        self._pipeline = pipeline

    @classmethod
    def fit(cls, texts, speakers, seed=0):
        """Trains on monologue lines and their speakers.

        Args:
            texts: list of monologue lines, space-joined tokens.
            speakers: the speaker of each line, in the same order.
            seed: seed of the logistic regression.
        """
        texts = _check_texts("texts", texts)
        speakers = list(speakers)
        if len(speakers) != len(texts):
            raise ValueError(
                f"SpeakerClassifier.fit needs one speaker per text, got "
                f"{len(texts)} texts and {len(speakers)} speakers"
            )
        if len(set(speakers)) < 2:
            raise errors.UserError(
                f"speaker classifier accuracy needs at least two targets, but "
                f"the monologue has only {sorted(set(speakers))}"
            )
        return cls(_pipeline(seed).fit(texts, speakers))

    @property
    def speakers(self):
        """The targets it can attribute a text to, sorted."""
        return tuple(str(s) for s in self._pipeline.classes_)

    @property
    def chance(self):
        """The accuracy of guessing: 1 / number of targets."""
        return 1 / len(self.speakers)

    def predict(self, texts):
        """The most likely speaker of each text, as a list of names.

        Args:
            texts: list of texts, space-joined tokens.
        """
        return [str(s) for s in self._pipeline.predict(_check_texts("texts", texts))]


def attribution_accuracy(classifier, texts, intended_speakers, balanced=False):
    """The share of texts the classifier attributes to their intended speaker.

    Args:
        classifier: a fitted `SpeakerClassifier`.
        texts: list of responses, space-joined tokens.
        intended_speakers: for each text, the speaker it was generated for (or
            said by); each must be one of `classifier.speakers`, since a speaker
            without monologue could never be recognised.

    Returns:
        A fraction in [0, 1]. Plain (balanced=False) it is not balanced over
        speakers: when the rows are mostly one target's, a system that always
        sounds like that target scores that target's share of the rows, above
        1 / number of targets. balanced=True averages the share over the
        intended speakers present, so such a system scores exactly chance.
    """
    plain, balanced_share = attribution_accuracies(classifier, texts, intended_speakers)
    return balanced_share if balanced else plain


def attribution_accuracies(classifier, texts, intended_speakers):
    """(plain, balanced) `attribution_accuracy` from one pass of the classifier."""
    intended_speakers = list(intended_speakers)
    hits = attribution_hits(classifier, texts, intended_speakers)
    return float(hits.mean()), metrics.group_mean(hits, intended_speakers)


def attribution_hits(classifier, texts, intended_speakers):
    """Per text, whether the classifier attributes it to its intended speaker.

    The arguments are those of `attribution_accuracy`; returns a bool numpy
    array, one entry per text (what a bootstrap over inputs resamples).
    """
    texts = _check_texts("texts", texts)
    intended_speakers = list(intended_speakers)
    if len(intended_speakers) != len(texts):
        raise ValueError(
            f"attribution_accuracy needs one intended speaker per text, got "
            f"{len(texts)} texts and {len(intended_speakers)} speakers"
        )
    unknown = sorted(set(intended_speakers) - set(classifier.speakers))
    if unknown:
        raise errors.UserError(
            f"the speaker classifier has no monologue of {', '.join(unknown)} "
            f"(it knows {', '.join(classifier.speakers)})"
        )
    return np.array([p == s for p, s in zip(classifier.predict(texts), intended_speakers)])
