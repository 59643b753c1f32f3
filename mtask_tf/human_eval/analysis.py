"""The paper's analysis of a preference test (section 7.1, Table 3, Figs. 5-6).

1. Judges whose rating variance differs from the mean variance (over judges)
   by more than two standard deviations are discarded. The variance is that
   of the ratings as given on the page (1-5); judges with one answer have no
   variance and are kept; with fewer than three judges nothing is discarded.
2. Each remaining answer becomes the system's preference in [0, 1]: 1 when
   the judge found the system's response much more likely the target's, 0.75
   somewhat, 0.5 a tie, 0.25 and 0 the other way (the reference system's
   preference is one minus it).
3. Table 3: per pair, the mean preference over items (each item's mean over
   its judges; items are the independent units, the judges of one item are
   not), its 95 % confidence interval (Student's t over items) and a two-sided
   one-sample t-test of the item means against 0.5 (no preference).
4. Figs. 5-6: per item, the number of judges who "voted" for each system
   (a preference above 0.5 is a vote, a tie half a vote, partial votes
   rounded up as in the paper), bins from all judges down to half of them.
"""

import dataclasses
import math

import numpy as np
from scipy import stats

from mtask_tf.human_eval import answers as answers_lib

TEST_NAME = "two-sided one-sample t-test of the per-item mean preference against 0.5"


@dataclasses.dataclass(frozen=True)
class JudgeFilter:
    """Which judges were kept; variances of the 1-5 ratings (ddof 0)."""

    variances: dict
    discarded: tuple
    mean_variance: float
    std_variance: float


@dataclasses.dataclass(frozen=True)
class PairResult:
    """One row of Table 3 and the data of its agreement figure."""

    system: str
    reference: str
    items: int
    judgments: int
    mean: float  # the system's mean preference; the reference's is 1 - mean
    ci_low: float
    ci_high: float
    p_value: float
    item_votes: list  # per item (votes for system, votes for reference, judges)


def filter_judges(answers, sigmas=2.0):
    """The paper's judge filter over the latest answers (`answers.latest` values)."""
    ratings = {}
    for answer in answers:
        ratings.setdefault(answer.judge, []).append(answer.rating)
    variances = {j: float(np.var(r)) for j, r in ratings.items() if len(r) > 1}
    if len(variances) < 3:
        return JudgeFilter(variances, (), math.nan, math.nan)
    values = np.array(list(variances.values()))
    mean, std = float(values.mean()), float(values.std())
    discarded = tuple(sorted(j for j, v in variances.items() if abs(v - mean) > sigmas * std))
    return JudgeFilter(variances, discarded, mean, std)


def preference(item, rating):
    """The preference for `item.pair[0]` of a 1-5 rating of that item."""
    toward_left = (5 - rating) / 4  # 1 -> 1.0 (left much more likely) ... 5 -> 0.0
    return toward_left if item.side_of(item.pair[0]) == "left" else 1.0 - toward_left


def _votes(preferences):
    system = sum(1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0 for p in preferences)
    return math.ceil(system), math.ceil(len(preferences) - system), len(preferences)


def _mean_ci(values, confidence=0.95):
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan, math.nan
    if np.all(values == values[0]):  # no spread: the t statistic is 0/0 or infinite
        return mean, mean, mean, 1.0 if mean == 0.5 else 0.0
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=stats.sem(values))
    p_value = float(stats.ttest_1samp(values, 0.5).pvalue)
    return mean, float(low), float(high), p_value


def analyze(task, answers, sigmas=2.0):
    """Table 3 and the agreement counts of every pair of the task.

    Args:
        task: the `Task`.
        answers: answer lines in file order (`answers.read_answers`).
        sigmas: the judge filter's width (paper: 2).

    Returns:
        (JudgeFilter, [PairResult per pair, in the task's order]).
    """
    final = list(answers_lib.latest(answers).values())
    judges = filter_judges(final, sigmas)
    kept = [a for a in final if a.judge not in judges.discarded]
    by_item = {}
    for answer in kept:
        item = task.item(answer.item)
        by_item.setdefault(item.id, (item, []))[1].append(preference(item, answer.rating))
    results = []
    for system, reference in task.pairs:
        per_item = [(i, p) for i, p in by_item.values() if tuple(i.pair) == (system, reference)]
        if not per_item:
            continue
        means = [float(np.mean(p)) for _, p in per_item]
        mean, low, high, p_value = _mean_ci(means)
        results.append(
            PairResult(
                system,
                reference,
                len(per_item),
                sum(len(p) for _, p in per_item),
                mean,
                low,
                high,
                p_value,
                [_votes(p) for _, p in per_item],
            )
        )
    return judges, results


def agreement_bins(result):
    """{judges n: {k: (items where k of n voted for the system, ... for the reference)}}.

    Bins run from k = n down to ceil(n / 2); the lower ones mirror them.
    """
    bins = {}
    for system_votes, reference_votes, n in result.item_votes:
        table = bins.setdefault(n, {k: [0, 0] for k in range(n, math.ceil(n / 2) - 1, -1)})
        if system_votes in table:
            table[system_votes][0] += 1
        if reference_votes in table:
            table[reference_votes][1] += 1
    return {n: {k: tuple(v) for k, v in table.items()} for n, table in sorted(bins.items())}
