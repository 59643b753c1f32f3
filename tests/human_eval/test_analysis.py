"""The paper's analysis on synthetic judgments whose answer is known by construction."""

import math

import numpy as np
import pytest
from scipy import stats

from mtask_tf.human_eval import analysis
from mtask_tf.human_eval import answers as answers_lib
from mtask_tf.human_eval import report
from tests.human_eval.helpers import answer
from tests.human_eval.helpers import make_task
from tests.human_eval.helpers import rating_for


def test_preference_follows_the_side_the_system_is_on():
    task = make_task(items_per_pair=2)
    left, right = task.items  # item 0: system on the left; item 1: on the right
    assert [analysis.preference(left, r) for r in (1, 2, 3, 4, 5)] == [1, 0.75, 0.5, 0.25, 0]
    assert [analysis.preference(right, r) for r in (1, 2, 3, 4, 5)] == [0, 0.25, 0.5, 0.75, 1]


def _judgments(task, preference_of):
    """Seven judges; judge j gives item i the preference preference_of(i, j)."""
    return [
        answer(f"j{j}", item, rating_for(item, preference_of(i, j)))
        for i, item in enumerate(task.items)
        for j in range(7)
    ]


def test_a_system_preferred_by_construction_wins_with_the_right_interval():
    task = make_task(items_per_pair=12)
    # Items 0-8: five judges "somewhat" prefer the system, two see a tie;
    # items 9-11: every judge prefers the baseline somewhat.
    prefer = lambda i, j: (0.75 if j < 5 else 0.5) if i < 9 else 0.25
    judge_filter, (result,) = analysis.analyze(task, _judgments(task, prefer))
    assert judge_filter.discarded == ()
    item_means = np.array([(5 * 0.75 + 2 * 0.5) / 7] * 9 + [0.25] * 3)
    assert result.mean == pytest.approx(item_means.mean())
    half = stats.t.ppf(0.975, 11) * item_means.std(ddof=1) / math.sqrt(12)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (item_means.mean() - half, item_means.mean() + half)
    )
    t = (item_means.mean() - 0.5) / (item_means.std(ddof=1) / math.sqrt(12))
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), 11))
    assert (result.items, result.judgments) == (12, 84)
    # Votes: 5 for the system and two ties (half a vote each to both) -> 6 and 1.
    assert result.item_votes[:9] == [(6, 1, 7)] * 9
    assert result.item_votes[9:] == [(0, 7, 7)] * 3
    bins = analysis.agreement_bins(result)
    assert bins == {7: {7: (0, 3), 6: (9, 0), 5: (0, 0), 4: (0, 0)}}


def test_a_judge_with_outlying_variance_is_discarded_and_no_longer_counts():
    task = make_task(items_per_pair=10)
    ratings = []
    for i, item in enumerate(task.items):
        for j in range(6):  # steady judges: 2 and 4 in turn (variance 1)
            ratings.append(answer(f"j{j}", item, 2 if (i + j) % 2 else 4))
        ratings.append(answer("wild", item, 5 if i % 2 else 1))  # variance 4
    judge_filter, (result,) = analysis.analyze(task, ratings)
    assert judge_filter.discarded == ("wild",)
    assert judge_filter.variances["wild"] == 4.0 and judge_filter.variances["j0"] == 1.0
    values = np.array([1.0] * 6 + [4.0])
    assert judge_filter.mean_variance == pytest.approx(values.mean())
    assert judge_filter.std_variance == pytest.approx(values.std())
    assert result.judgments == 60
    # The steady judges are split on every item; the wild one always put the
    # system first (items alternate sides as the wild ratings do).
    assert result.mean == 0.5
    _, (with_wild,) = analysis.analyze(task, ratings, sigmas=100)
    assert with_wild.judgments == 70 and with_wild.mean > result.mean


def test_ties_give_half_a_preference_and_no_significance():
    task = make_task(items_per_pair=6)
    _, (result,) = analysis.analyze(task, _judgments(task, lambda i, j: 0.5))
    assert result.mean == 0.5 and result.p_value == 1.0
    assert result.item_votes == [(4, 4, 7)] * 6  # 3.5 votes each, rounded up


def test_the_last_answer_of_a_judge_counts_and_any_number_of_judges_works():
    task = make_task(items_per_pair=4)
    first, second = task.items[:2]
    ratings = [
        answer("a", first, rating_for(first, 0.0)),
        answer("a", first, rating_for(first, 1.0), answer_id="a-again"),  # went back, changed
        answer("b", first, rating_for(first, 1.0)),
        answer("a", second, rating_for(second, 0.75)),
    ]
    _, (result,) = analysis.analyze(task, ratings)
    assert (result.items, result.judgments) == (2, 3)
    assert result.mean == pytest.approx((1.0 + 0.75) / 2)
    assert sorted(result.item_votes) == [(1, 0, 1), (2, 0, 2)]
    assert analysis.agreement_bins(result) == {1: {1: (1, 0)}, 2: {2: (1, 0), 1: (0, 0)}}


def test_fewer_than_three_judges_discard_nobody():
    task = make_task(items_per_pair=4)
    ratings = [answer(j, item, r) for item in task.items for j, r in (("a", 1), ("b", 5))]
    judge_filter, _ = analysis.analyze(task, ratings)
    assert judge_filter.discarded == () and math.isnan(judge_filter.mean_variance)


def test_report_has_table_3_every_pair_and_the_figures(tmp_path):
    task = make_task(items_per_pair=8, pairs=(("mtask_s", "baseline"), ("mtask_m", "baseline")))
    prefer = lambda i, j: 0.75 if task.items[i].pair[0] == "mtask_m" else 0.5
    path, _, results = report.write_report(task, _judgments(task, prefer), tmp_path)
    text = path.read_text()
    assert [r.system for r in results] == ["mtask_s", "mtask_m"]
    assert "| mtask_m | baseline | 0.250 | 0.750 |" in text
    assert "| mtask_s | baseline | 0.500 | 0.500 |" in text
    assert analysis.TEST_NAME in text
    for name in ("agreement_mtask_s_vs_baseline.png", "agreement_mtask_m_vs_baseline.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in text
    assert "| 7 | 8 | 0 |" in text  # mtask_m: all 7 judges chose it on all 8 items
    assert len(answers_lib.latest(_judgments(task, prefer))) == 16 * 7
