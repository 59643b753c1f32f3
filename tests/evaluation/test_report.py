"""The Markdown results table and the per-speaker perplexity bar chart."""

import pytest

from mtask_tf.evaluation import paper
from mtask_tf.evaluation import report

# The paper's Tables 1-2 (evaluation/paper.py) under the names the table shows.
PAPER = {
    label: paper.TABLES[name]
    for label, name in (("Baseline", "baseline"), ("MTASK-S", "mtask_s"), ("MTASK-M", "mtask_m"))
}


def test_metrics_table_reproduces_the_paper():
    # Relative changes by hand, e.g. (32.27 - 56.33) / 56.33 = -42.7 %. Two differ
    # from the printed paper: (2.52 - 1.32) / 1.32 = +90.9 % (paper: +90.1 %) and
    # (2.25 - 1.31) / 1.31 = +71.8 % (paper: +71.7 %, from unrounded scores).
    assert report.metrics_table(PAPER, "Baseline") == "\n".join(
        [
            "| | Baseline | MTASK-S | MTASK-M |",
            "|---|---|---|---|",
            "| Perplexity dev | 56.33 | 32.27 (-42.7 %) | 44.96 (-20.2 %) |",
            "| Perplexity test | 61.17 | 39.83 (-34.9 %) | 43.21 (-29.4 %) |",
            "| BLEU dev | 1.32 | 1.76 (+33.3 %) | 2.52 (+90.9 %) |",
            "| BLEU test | 1.31 | 1.69 (+29.0 %) | 2.25 (+71.8 %) |",
            "| distinct-1 | 1.69 % | 2.43 % | 2.44 % |",
            "| distinct-2 | 6.53 % | 10.20 % | 9.79 % |",
        ]
    )


def test_metrics_table_puts_the_baseline_first_and_compares_against_it():
    table = report.metrics_table(PAPER, "MTASK-S").splitlines()
    assert table[0] == "| | MTASK-S | Baseline | MTASK-M |"
    # (56.33 - 32.27) / 32.27 = +74.6 %; (44.96 - 32.27) / 32.27 = +39.3 %.
    assert table[2] == "| Perplexity dev | 32.27 | 56.33 (+74.6 %) | 44.96 (+39.3 %) |"


def test_metrics_table_shows_missing_values_as_a_dash():
    metrics = {
        "Baseline": {"perplexity": {"dev": 50.0}, "bleu": {"dev": 2.0}},
        "MTASK-M": {"perplexity": {"dev": 40.0, "test": 41.0}, "distinct_1": 0.05},
    }
    rows = report.metrics_table(metrics, "Baseline").splitlines()[2:]
    assert rows == [
        "| Perplexity dev | 50.00 | 40.00 (-20.0 %) |",
        "| Perplexity test | – | 41.00 |",  # no baseline value: no relative change
        "| BLEU dev | 2.00 | – |",
        "| BLEU test | – | – |",
        "| distinct-1 | – | 5.00 % |",
        "| distinct-2 | – | – |",
    ]


def test_metrics_table_rejects_an_unknown_baseline():
    with pytest.raises(ValueError, match="'LSTM-MMI' is not among the systems"):
        report.metrics_table(PAPER, "LSTM-MMI")


def _by_speaker(test, dev=None):
    return {"perplexity_by_speaker": {"test": test, "dev": dev or {}}}


BY_SPEAKER = {
    "Baseline": _by_speaker({"HAMLET": 60.0, "IAGO": 70.0, "OTHELLO": 65.0}, dev={"HAMLET": 1.0}),
    "MTASK-S": _by_speaker({"HAMLET": 40.0, "IAGO": 50.0, "OTHELLO": 45.0}),
    "MTASK-M": _by_speaker({"HAMLET": 45.0, "IAGO": 55.0, "OTHELLO": 35.0}),
}


def test_plot_has_one_bar_per_system_and_speaker(tmp_path):
    path = tmp_path / "plots" / "by_speaker.png"
    figure = report.plot_perplexity_by_speaker(BY_SPEAKER, path)
    (axes,) = figure.axes
    assert len(axes.patches) == 3 * 3
    assert [t.get_text() for t in axes.get_xticklabels()] == ["HAMLET", "IAGO", "OTHELLO"]
    heights = sorted(round(p.get_height(), 6) for p in axes.patches)
    assert heights == sorted(
        v for m in BY_SPEAKER.values() for v in m["perplexity_by_speaker"]["test"].values()
    )
    # Within each speaker group the bars are in system order: Baseline, MTASK-S, MTASK-M.
    hamlet = sorted(axes.patches, key=lambda p: p.get_x())[:3]
    assert [p.get_height() for p in hamlet] == [60.0, 40.0, 45.0]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == list(BY_SPEAKER)
    assert path.read_bytes().startswith(b"\x89PNG")
    assert path.stat().st_size > 1000


def test_plot_leaves_out_missing_values_and_follows_the_split(tmp_path):
    metrics = dict(BY_SPEAKER, Extra=_by_speaker({"IAGO": 30.0}, dev={"IAGO": 2.0}))
    figure = report.plot_perplexity_by_speaker(metrics, tmp_path / "test.png")
    assert len(figure.axes[0].patches) == 3 * 3 + 1
    figure = report.plot_perplexity_by_speaker(metrics, tmp_path / "dev.png", split="dev")
    (axes,) = figure.axes
    assert sorted(p.get_height() for p in axes.patches) == [1.0, 2.0]
    assert axes.get_ylabel() == "Perplexity (dev)"


def test_plot_without_per_speaker_perplexity_says_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match=r"\['perplexity_by_speaker'\]\['dev'\]"):
        report.plot_perplexity_by_speaker(PAPER, tmp_path / "x.png", split="dev")
    assert not (tmp_path / "x.png").exists()


def test_metrics_table_adds_diversity_and_speaker_accuracy_rows_when_present():
    speaker = {
        "speaker_accuracy_ceiling": {"dev": 0.8, "test": 0.75},
        "speaker_accuracy_chance": 0.5,
    }
    metrics = {
        "Baseline": dict(
            PAPER["Baseline"],
            ent_4=5.123,
            distinct_responses=0.1,
            speaker_accuracy={"dev": 0.5, "test": 0.52},
            **speaker,
        ),
        "MTASK-M": dict(
            PAPER["MTASK-M"],
            ent_4=6.5,
            distinct_responses=0.45,
            speaker_accuracy={"dev": 0.61},
            **speaker,
        ),
    }
    rows = report.metrics_table(metrics, "Baseline").splitlines()[8:]
    # Percentages and Ent-4 carry no relative change.
    assert rows == [
        "| Ent-4 | 5.12 | 6.50 |",
        "| distinct responses | 10.00 % | 45.00 % |",
        "| Speaker accuracy dev | 50.00 % | 61.00 % |",
        "| Speaker accuracy test | 52.00 % | – |",
        "| Speaker accuracy dev, real responses | 80.00 % | 80.00 % |",
        "| Speaker accuracy test, real responses | 75.00 % | 75.00 % |",
        "| Speaker accuracy, chance | 50.00 % | 50.00 % |",
    ]
    # Without speaker accuracy anywhere, only its rows are left out.
    without = {
        name: {k: v for k, v in m.items() if not k.startswith("speaker")}
        for name, m in metrics.items()
    }
    assert report.metrics_table(without, "Baseline").splitlines()[8:] == rows[:2]


def test_bleu_changes_are_shown_only_against_a_baseline_bleu_of_one_or_more():
    from mtask_tf.evaluation.report import metrics_table

    low = {"base": {"bleu": {"dev": 0.5}}, "other": {"bleu": {"dev": 0.8}}}
    assert "| BLEU dev | 0.50 | 0.80 |" in metrics_table(low, "base")
    high = {"base": {"bleu": {"dev": 2.0}}, "other": {"bleu": {"dev": 3.0}}}
    assert "| BLEU dev | 2.00 | 3.00 (+50.0 %) |" in metrics_table(high, "base")


def test_metrics_table_shows_degeneration_style_and_intervals_when_present():
    metrics = {
        "Baseline": dict(
            PAPER["Baseline"],
            distinct_responses=0.1,
            distinct_responses_interval=[0.08, 0.125],
            mean_length=7.25,
            length_cap_share=0.5,
            repetition_share=0.0,
            style_score={"dev": 0.2, "test": 0.25},
            style_score_interval={"dev": [0.15, 0.26], "test": [0.2, 0.3]},
            style_score_ceiling={"test": 0.6},
            style_score_ceiling_interval={"test": [0.55, 0.65]},
        ),
        "MTASK-M": dict(
            PAPER["MTASK-M"],
            distinct_responses=0.45,
            mean_length=9.0,
            length_cap_share=0.0625,
            repetition_share=0.015,
            style_score={"test": 0.4},
            style_score_interval={"test": [0.35, 0.45]},
        ),
    }
    rows = report.metrics_table(metrics, "Baseline").splitlines()[8:]
    assert rows == [
        "| distinct responses | 10.00 % [8.00, 12.50] | 45.00 % |",
        "| Mean length (words) | 7.25 | 9.00 |",
        "| At the length cap | 50.00 % | 6.25 % |",
        "| A word three times in a row | 0.00 % | 1.50 % |",
        "| Style score dev | 20.00 % [15.00, 26.00] | – |",
        "| Style score test | 25.00 % [20.00, 30.00] | 40.00 % [35.00, 45.00] |",
        "| Style score test, real responses | 60.00 % [55.00, 65.00] | – |",
    ]
    # An older metrics.json, without any of these, still renders, without these rows.
    assert len(report.metrics_table(PAPER, "Baseline").splitlines()) == 8


def test_interval_is_found_beside_its_measure():
    system = {"style_score_interval": {"test": [0.2, 0.3]}, "distinct_responses_interval": [0, 1]}
    assert report.interval(system, ("style_score", "test")) == (0.2, 0.3)
    assert report.interval(system, ("style_score", "dev")) is None
    assert report.interval(system, ("distinct_responses",)) == (0.0, 1.0)
    assert report.interval(system, ("speaker_accuracy", "test")) is None
