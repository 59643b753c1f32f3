"""The benchmark's own code: its formulas, its targets, and its figures run on tiny models."""

import math
import re

import pytest

from benchmarks import beam
from benchmarks import reference_torch
from benchmarks import reference_torch_beam
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
    ratio_vs_torch=2.0,
    fraction=0.7,
    bf16=1.1,
    beam_ratio=1.4,
    c1=10.0,
    c32=40.0,
    errors=0,
    score_error=1e-5,
    good=True,
):
    """Results with every figure a target reads; `good` passes every new target."""
    serving = {
        f"c{c}": {"requests_per_s": rate, "errors": errors}
        for c, rate in ((1, c1), (8, c1), (32, c32))
    }
    serving.update(
        c32_over_c1=c32 / c1,
        c32_fraction_of_ceiling=0.95 if good else 0.85,
        c32_p99_over_p50=1.2 if good else 1.6,
        bf16={"c32": {"requests_per_s": c32 * 2, "errors": 0}},
        bf16_over_fp32=2.0 if good else 1.4,
    )
    return {
        "train": {
            "ratio_vs_torch": ratio_vs_torch,
            "bf16_ratio_vs_torch_autocast": 1.6 if good else 1.4,
            "attention_fp32_cost": 1.3 if good else 1.4,
            "attention_bf16_cost": 1.35 if good else 1.36,
            "paper_fp32": {"fraction_of_bound": fraction},
            "paper_bf16": {
                "fraction_of_bound": bf16,
                "fraction_of_bf16_peak": 0.6 if good else 0.4,
            },
        },
        "beam": {
            "ratio_to_bound": beam_ratio,
            "ratio_vs_torch": 3.5 if good else 2.5,
            "attention": {"p50_over_paper": 1.2 if good else 1.5},
            "bf16": {"ratio_to_bound": 0.9 if good else 1.1, "max_score_error": score_error},
        },
        "serving": serving,
    }


def _stated_threshold(what):
    """(comparison, threshold) as a target's description states it in words."""
    if " above the float32 bound" in what:
        return ">", 1.0
    found = re.search(r"(>=|<=) ([0-9.]+)( %)?", what)
    assert found, f"no threshold stated in {what!r}"
    return found[1], float(found[2]) / (100 if found[3] else 1)


@pytest.mark.parametrize("name", sorted(run.TARGETS))
def test_each_target_is_met_exactly_from_the_threshold_its_description_states(name):
    what, path, _ = run.TARGETS[name]
    comparison, threshold = _stated_threshold(what)
    step = 0.01 * threshold
    on, off = {
        ">=": (threshold, threshold - step),
        "<=": (threshold, threshold + step),
        ">": (threshold + step, threshold),
    }[comparison]
    for value, expected in ((on, True), (off, False)):
        results = _results()
        *parents, leaf = path
        node = results
        for key in parents:
            node = node[key]
        node[leaf] = value
        assert run.targets(results)[name] is expected, (what, value)


def test_a_failed_request_fails_the_serving_target_and_a_skipped_figure_is_null():
    met = run.targets(_results(errors=1))
    assert met["serving_c32_3x_c1"] is False and met["serving_c32_90pct_of_ceiling"] is False
    results = _results()
    del results["beam"], results["train"]["ratio_vs_torch"], results["serving"]["bf16_over_fp32"]
    met = run.targets(results)
    assert met["beam_p50_1.5x_bound"] is None and met["train_fp32_1.5x_torch"] is None
    assert met["beam_bf16_p50_1.0x_bound"] is None and met["serving_bf16_1.5x_fp32"] is None


def test_a_fast_bf16_search_with_inexact_scores_does_not_meet_its_target():
    assert run.targets(_results(score_error=0.01))["beam_bf16_p50_1.0x_bound"] is False


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
    bf16 = result["bf16"]
    assert bf16["max_score_error"] < 1e-4  # rescored: float32 scores
    # Separately timed parts: each is positive, but on a busy machine the search
    # alone may take longer than a whole request timed at another moment.
    assert 0 < bf16["search_s"] and 0 < bf16["p50_s"] and 0 < bf16["rescore_s"]
    assert 0 < bf16["distinct_prefixes"] < bf16["positions"]  # candidates share prefixes
    assert bf16["ratio_to_bound"] == pytest.approx(bf16["p50_s"] / result["bound_s"])


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


@pytest.mark.parametrize("mode", reference_torch.MODES)
def test_torch_training_reference_runs_each_mode_and_learns(mode):
    if reference_torch.unsupported(mode):  # e.g. bfloat16 on an AVX2-only CPU
        with pytest.raises(reference_torch.Unsupported, match="on this CPU"):
            reference_torch.measure(TINY, warmup=1, repetitions=3, mode=mode)
        return
    samples, info = reference_torch.measure(TINY, warmup=1, repetitions=3, mode=mode)
    assert len(samples) == 3 and all(rate > 0 for rate in samples)
    assert info["mode"] == mode and info["last_loss"] < info["first_loss"]


def test_torch_beam_reference_keeps_every_finished_hypothesis_with_its_log_prob():
    import torch

    net = reference_torch_beam.reference_torch.model(TINY, speakers=3, seed=4).eval()
    with torch.no_grad():  # EOS favoured: hypotheses end early and often
        net.output.bias[reference_torch_beam.EOS] += 3.0
    source, speaker = torch.tensor([[5, 6, 7]]), torch.tensor([2])
    with torch.inference_mode():
        scores, tokens = reference_torch_beam.beam_search(net, source, speaker, 4, 6)
        assert 4 < len(scores) <= 4 * 6  # more than a beam: the full list
        assert torch.all(scores[:-1] >= scores[1:])
        lengths = (tokens != reference_torch_beam.PAD).sum(dim=1)
        assert (tokens[torch.arange(len(tokens)), lengths - 1] == reference_torch_beam.EOS).all()
        # Each score is the teacher-forced log-probability of its tokens.
        target_in = torch.cat(
            [torch.full((len(tokens), 1), reference_torch_beam.BOS), tokens[:, :-1]], 1
        )
        _, state = net.encoder(net.source_embedding(source.repeat(len(tokens), 1)))
        hidden, _ = net.decoder(net.decoder_input(target_in, speaker.repeat(len(tokens))), state)
        log_probs = torch.log_softmax(net.output(hidden), -1).gather(2, tokens[:, :, None])[:, :, 0]
        expected = (log_probs * (tokens != reference_torch_beam.PAD)).sum(1)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)
    assert len({tuple(t.tolist()) for t in tokens}) == len(tokens)  # no duplicates


def test_torch_beam_reference_figure_on_a_tiny_model():
    seconds, info = reference_torch_beam.measure(TINY, repetitions=2)
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert 50 <= info["candidates"] <= 50 * 20
