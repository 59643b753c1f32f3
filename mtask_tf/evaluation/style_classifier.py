"""Style score: does a response sound like its target rather than like anybody?

Speaker accuracy asks which of the targets a response sounds like; a response
in nobody's style is still attributed to one of them. The style score asks,
per target, whether the response reads as that target's at all: a binary
classifier of the target's monologue lines against general responses (the
training split's responses of speakers who are no target) reads each of the
target's responses as "target" or "general", and the score is the share read as
the target, averaged over the targets. The real responses of the same rows give
its ceiling; a system that ignores the speaker (the baseline) shows its floor.
The classifier learns whatever tells the target's lines from the general ones,
topics and the show they come from included, and a short generic line ("i
don't know .") has too few features to be read reliably: the score means
something next to its ceiling and the baseline, not on its own.

Neither side of the training data is what the evaluated rows are drawn from
(the targets' dev and test triples). Texts are space-joined tokens, read with
the speaker classifier's features (`speaker_classifier.text_features`).
"""

import numpy as np

from mtask_tf import errors
from mtask_tf.evaluation import metrics
from mtask_tf.evaluation import speaker_classifier


def _check_texts(name, texts):
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings, one per text, not a single string")
    texts = list(texts)
    if not texts:
        raise errors.UserError(f"{name} is empty: the style classifier needs at least one text")
    return texts


class StyleClassifier:
    """Reads a text as its target's or as the general population's, one classifier per target.

    Shared TF-IDF features (word 1-2-grams, character 2-5-grams) fitted on all
    training texts; per target a logistic regression with balanced class
    weights, that target's monologue against the general responses (the other
    targets' monologue is in neither class). Build it with `StyleClassifier.fit`.

    Args:
        features: a fitted scikit-learn transformer from texts to features.
        classifiers: target -> fitted binary classifier (1: the target, 0: general).

    Example:
    >>> classifier = StyleClassifier.fit(
    ...     ["good night sweet prince", "o my prophetic soul"], ["HAMLET", "HAMLET"],
    ...     ["what time is it", "pass the salt", "see you later"])
    >>> classifier.reads_as_target(["sweet prince"], ["HAMLET"]).tolist()
    [True]
    """

    def __init__(self, features, classifiers):
        self._features = features
        self._classifiers = dict(classifiers)

    @classmethod
    def fit(cls, monologue, speakers, general, seed=0):
        """Trains one classifier per target, its monologue against the general responses.

        Args:
            monologue: the targets' monologue lines, space-joined tokens.
            speakers: the target of each monologue line, in the same order.
            general: responses of speakers who are no target, space-joined tokens.
            seed: seed of the logistic regressions.
        """
        monologue = _check_texts("monologue", monologue)
        general = _check_texts("general responses", general)
        speakers = np.asarray(list(speakers))
        if len(speakers) != len(monologue):
            raise ValueError(
                f"StyleClassifier.fit needs one speaker per monologue line, got "
                f"{len(monologue)} lines and {len(speakers)} speakers"
            )
        features = speaker_classifier.text_features()
        x = features.fit_transform(monologue + general)  # [lines, features], sparse rows
        others = np.arange(len(monologue), len(monologue) + len(general))
        classifiers = {}
        for target in sorted(set(speakers.tolist())):
            mine = np.flatnonzero(speakers == target)
            y = np.r_[np.ones(len(mine), int), np.zeros(len(others), int)]
            regression = speaker_classifier.balanced_logistic_regression(seed)
            classifiers[str(target)] = regression.fit(x[np.r_[mine, others]], y)
        return cls(features, classifiers)

    @property
    def targets(self):
        """The targets it has a classifier for, sorted."""
        return tuple(sorted(self._classifiers))

    def reads_as_target(self, texts, targets):
        """Per text, whether its target's classifier reads it as the target's (bool array).

        Args:
            texts: list of responses, space-joined tokens.
            targets: for each text, the target it was made for (or said by);
                each must be one of `targets`.
        """
        texts = _check_texts("texts", texts)
        targets = np.asarray(list(targets))
        if len(targets) != len(texts):
            raise ValueError(
                f"reads_as_target needs one target per text, got {len(texts)} texts "
                f"and {len(targets)} targets"
            )
        unknown = sorted(set(targets.tolist()) - set(self._classifiers))
        if unknown:
            raise errors.UserError(
                f"the style classifier has no monologue of {', '.join(unknown)} "
                f"(it knows {', '.join(self.targets)})"
            )
        x = self._features.transform(texts)
        hits = np.zeros(len(texts), bool)
        for target in set(targets.tolist()):
            rows = targets == target
            hits[rows] = self._classifiers[target].predict(x[rows]) == 1
        return hits


def style_score(classifier, texts, targets):
    """The share of texts read as their target's, averaged over the targets present.

    Args:
        classifier: a fitted `StyleClassifier`.
        texts: list of responses, space-joined tokens.
        targets: the target of each text.

    Returns:
        A fraction in [0, 1]; every target weighs the same, however many rows it has.
    """
    targets = list(targets)
    return metrics.group_mean(classifier.reads_as_target(texts, targets), targets)
