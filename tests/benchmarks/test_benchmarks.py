"""The benchmark's own code: its formulas, its targets, and its figures run on tiny models."""

import math

import pytest

from benchmarks import beam
from benchmarks import run
from benchmarks import train

TINY = train.Shapes(
    vocabulary_size=64,
    embedding_dim=8,
    units=8,
    speaker_dim=4,
    batch_size=4,
    source_length=6,
    target_length=5,
)


def test_training_flops_follow_the_documented_formula():
    # benchmarks/README.md: 3 x 2 x (4.0 M + 4.0 M + 25 M) for the paper's Seq2Seq.
    assert train.flops_per_target_token(train.PAPER, persona=False) == 3 * 2 * 33e6
    # The persona decoder's first layer also reads the 500-dim speaker embedding.
    assert train.flops_per_target_token(train.PAPER, persona=True) == 3 * 2 * 34e6
    # The encoder's share scales with source tokens per target token.
    longer = train.Shapes(source_length=40)
    assert train.flops_per_target_token(longer, False) == 3 * 2 * 37e6


def _results(
    ratio_vs_torch=2.0, fraction=0.7, bf16=1.1, beam_ratio=1.4, c1=10.0, c32=40.0, errors=0
):
    serving = {
        f"c{c}": {"requests_per_s": rate, "errors": errors}
        for c, rate in ((1, c1), (8, c1), (32, c32))
    }
    serving["c32_over_c1"] = c32 / c1
    return {
        "train": {
            "ratio_vs_torch": ratio_vs_torch,
            "paper_fp32": {"fraction_of_bound": fraction},
            "paper_bf16": {"fraction_of_bound": bf16},
        },
        "beam": {"ratio_to_bound": beam_ratio},
        "serving": serving,
    }


def test_targets_compare_each_figure_with_its_threshold():
    assert run.targets(_results()) == {
        "train_fp32_1.5x_torch": True,
        "train_fp32_80pct_of_bound": False,
        "train_bf16_above_fp32_bound": True,
        "beam_p50_1.5x_bound": True,
        "serving_c32_3x_c1": True,
    }
    assert run.targets(
        _results(ratio_vs_torch=1.4, fraction=0.8, bf16=1.0, beam_ratio=1.6, c32=29.0)
    ) == {
        "train_fp32_1.5x_torch": False,
        "train_fp32_80pct_of_bound": True,
        "train_bf16_above_fp32_bound": False,
        "beam_p50_1.5x_bound": False,
        "serving_c32_3x_c1": False,
    }


def test_a_failed_request_fails_the_serving_target_and_a_skipped_figure_is_null():
    assert run.targets(_results(errors=1))["serving_c32_3x_c1"] is False
    results = _results()
    del results["beam"], results["train"]["ratio_vs_torch"]
    met = run.targets(results)
    assert met["beam_p50_1.5x_bound"] is None and met["train_fp32_1.5x_torch"] is None


def test_training_figure_runs_the_real_step_and_the_loss_falls():
    samples, losses = train.measure(TINY, "multitask", warmup=1, repetitions=3)
    assert len(samples) == 3 and all(rate > 0 for rate in samples)
    assert len(losses) == 4 and losses[-1] < losses[0]
    entry = train.result(samples, train.flops_per_target_token(TINY, True), 100.0, losses)
    assert entry["gflops"] == pytest.approx(entry["tokens_per_s"] * entry["flops_per_token"] / 1e9)
    assert entry["fraction_of_bound"] == pytest.approx(entry["gflops"] / 100.0)


def test_beam_figures_on_a_tiny_model_are_consistent():
    result = beam.run(TINY, peak_float32_gflops=100.0, quick=True)
    assert 1 <= result["steps_run"] <= result["max_length"] == 20
    expected_bound = result["steps_run"] * 50 * beam.step_flops(TINY, True) / 100e9
    assert result["bound_s"] == pytest.approx(expected_bound)
    assert result["ratio_to_bound"] == pytest.approx(result["p50_s"] / result["bound_s"])
    assert 0 < result["decoder_steps_s"] and result["p50_s"] <= result["p95_s"]
    assert result["batch16_requests_per_s"] > 0 and math.isfinite(result["mmi_extra_s"])
    # The full list: at least one candidate per live beam at the last step, at most
    # beam x max_length; reranking a full buffer is timed on its own.
    assert 50 <= result["candidates"] <= result["candidate_slots"] == 50 * 20
    assert result["rerank_full_list_s"] > 0


def test_markdown_lists_every_target_and_marks_missing_figures():
    results = _results()
    results.update(
        device={"type": "CPU", "name": "test", "count": 2},
        quick=True,
        load_average_start=(0.5, 0, 0),
        load_average_end=(0.7, 0, 0),
    )
    results["targets"] = run.targets(results)
    table = run.markdown(results)
    for what, _, _ in run.TARGETS.values():
        assert what in table
    assert "| beam p50 (batch 1) | – | |" in table
    assert "| serving c32 / c1 | 4.00 x |  |" in table
