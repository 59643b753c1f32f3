r"""Runs the benchmarks; writes benchmarks/results/latest.json and prints a Markdown table.

    python -m benchmarks.run            # what `make bench` runs: paper sizes
    python -m benchmarks.run --quick    # what `make bench-quick` runs: < 3 minutes
    python -m benchmarks.run --skip=serving,torch

Figures run in this order, in one process (training memory and the server in
subprocesses): peak; Seq2Seq training, PyTorch, persona and multi-task
training, bfloat16 training; beam; memory; serving. See
benchmarks/README.md for what each figure means and how to read the ratios.
"""

import dataclasses
import datetime
import json
import math
import os
import pathlib
import subprocess
import sys

from absl import app
from absl import flags

from benchmarks import stats

FIGURES = ("peak", "train", "bf16", "attention", "torch", "beam", "memory", "serving")

_QUICK = flags.DEFINE_bool(
    "quick",
    False,
    "Fewer repetitions and smaller models, same "
    "code paths: a check that everything runs, in under 3 minutes.",
)
_OUTPUT = flags.DEFINE_string("output", "benchmarks/results/latest.json", "Results file.")
_SKIP = flags.DEFINE_list("skip", [], f"Figures to leave out, of: {', '.join(FIGURES)}.")

TARGETS = {  # name -> (what, JSON path of the measured value, test)
    "train_fp32_1.5x_torch": (
        "training float32 >= 1.5x PyTorch",
        ("train", "ratio_vs_torch"),
        lambda r: r >= 1.5,
    ),
    "train_fp32_75pct_of_peak": (
        "training float32 >= 0.75 of the float32 matmul peak",
        ("train", "paper_fp32", "fraction_of_bound"),
        lambda f: f >= 0.75,
    ),
    "train_bf16_1.5x_torch_autocast": (
        "training bfloat16 >= 1.5x PyTorch bfloat16 autocast",
        ("train", "bf16_ratio_vs_torch_autocast"),
        lambda r: r >= 1.5,
    ),
    "train_bf16_50pct_of_bf16_peak": (
        "training bfloat16 >= 0.5 of the bfloat16 matmul peak",
        ("train", "paper_bf16", "fraction_of_bf16_peak"),
        lambda f: f >= 0.5,
    ),
    "beam_bf16_p50_1.0x_bound": (
        "beam bf16 p50 <= 1.0x the float32 bound, scores exact",
        ("beam", "bf16", "ratio_to_bound"),
        lambda r: r <= 1.0,
    ),
    "beam_3x_torch": (
        "beam (float32) >= 3x faster than the PyTorch beam reference",
        ("beam", "ratio_vs_torch"),
        lambda r: r >= 3.0,
    ),
    "serving_c32_90pct_of_ceiling": (
        "serving c32 >= 0.9 of the in-process batch-32 requests/s, no error",
        ("serving", "c32_fraction_of_ceiling"),
        lambda f: f >= 0.9,
    ),
    "serving_c32_p99_1.5x_p50": (
        "serving c32 p99 <= 1.5x p50",
        ("serving", "c32_p99_over_p50"),
        lambda r: r <= 1.5,
    ),
    "serving_bf16_1.5x_fp32": (
        "serving the bf16 export >= 1.5x the requests/s of the float32 one (c32)",
        ("serving", "bf16_over_fp32"),
        lambda r: r >= 1.5,
    ),
    "train_attention_fp32_1.35x": (
        "training float32 with attention costs <= 1.35x the paper's model",
        ("train", "attention_fp32_cost"),
        lambda r: r <= 1.35,
    ),
    "train_attention_bf16_1.35x": (
        "training bfloat16 with attention costs <= 1.35x the paper's model",
        ("train", "attention_bf16_cost"),
        lambda r: r <= 1.35,
    ),
    "beam_attention_1.35x": (
        "beam (float32) p50 with attention <= 1.35x the paper's model",
        ("beam", "attention", "p50_over_paper"),
        lambda r: r <= 1.35,
    ),
    # The targets of issue #5, kept so that runs compare across versions.
    "train_fp32_80pct_of_bound": (
        "training float32 >= 80 % of the float32 bound",
        ("train", "paper_fp32", "fraction_of_bound"),
        lambda f: f >= 0.8,
    ),
    "train_bf16_above_fp32_bound": (
        "training bfloat16 above the float32 bound",
        ("train", "paper_bf16", "fraction_of_bound"),
        lambda f: f > 1.0,
    ),
    "beam_p50_1.5x_bound": (
        "beam p50 at batch 1 <= 1.5x its bound",
        ("beam", "ratio_to_bound"),
        lambda r: r <= 1.5,
    ),
    "serving_c32_3x_c1": (
        "serving c32 >= 3x c1 requests/s, no error",
        ("serving", "c32_over_c1"),
        lambda r: r >= 3.0,
    ),
}


def _get(mapping, path):
    for key in path:
        if not isinstance(mapping, dict) or mapping.get(key) is None:
            return None
        mapping = mapping[key]
    return mapping


def targets(results):
    """Each target by name: true, false, or null when a figure it needs was skipped."""
    met = {}
    for name, (_, path, test) in TARGETS.items():
        value = _get(results, path)
        met[name] = None if value is None else bool(test(value))
    errors = [_get(results, ("serving", f"c{c}", "errors")) for c in (1, 8, 32)]
    errors.append(_get(results, ("serving", "bf16", "c32", "errors")))
    for name in ("serving_c32_3x_c1", "serving_c32_90pct_of_ceiling"):
        if met[name] is not None and any(errors):
            met[name] = False
    error = _get(results, ("beam", "bf16", "max_score_error"))
    if met["beam_bf16_p50_1.0x_bound"] is not None and (error is None or error > 1e-3):
        met["beam_bf16_p50_1.0x_bound"] = False  # not exact float32 scores
    return met


def measure(quick, skip, log):
    """Every figure not in `skip`, as the nested dict written to the results file."""
    import tensorflow as tf

    from benchmarks import beam  # TensorFlow loads here.
    from benchmarks import memory  # TensorFlow loads here.
    from benchmarks import peak  # TensorFlow loads here.
    from benchmarks import serving  # TensorFlow loads here.
    from benchmarks import train  # TensorFlow loads here.

    shapes = train.QUICK if quick else train.PAPER
    warmup, reps = (1, 3) if quick else (2, 8)
    results = {
        "device": peak.device(),
        "tensorflow": tf.__version__,
        "shapes": dataclasses.asdict(shapes),
    }
    peak_fp32 = None
    if "peak" not in skip:
        log("peak: float32 and bfloat16 matmul")
        detail = peak.run(quick)
        # A peak is the best the machine did; other jobs only ever slow it down.
        peak_fp32 = detail["float32"]["max"]
        results["peak_gflops"] = {
            "float32": peak_fp32,
            "bfloat16": detail["bfloat16"]["max"],
            "detail": detail,
        }
    runs = results["train"] = {}
    train_ = lambda task, policy="float32": _train(
        shapes, task, policy, warmup, reps, peak_fp32, log
    )
    if "train" not in skip:
        runs["paper_fp32"] = train_("seq2seq")
    if "torch" not in skip:  # right after the Seq2Seq it is compared with
        runs["torch_reference"] = _torch(shapes, warmup, reps, peak_fp32, log)
        runs["torch_compile"] = _torch(shapes, warmup, reps, peak_fp32, log, "compile")
    if "train" not in skip:
        runs["persona_fp32"] = train_("persona")
        runs["multitask_fp32"] = train_("multitask")
    if "bf16" not in skip:
        runs["paper_bf16"] = train_("seq2seq", "mixed_bfloat16")
        if results.get("peak_gflops") and runs["paper_bf16"].get("gflops"):
            bf16_peak = results["peak_gflops"]["bfloat16"]
            runs["paper_bf16"]["fraction_of_bf16_peak"] = runs["paper_bf16"]["gflops"] / bf16_peak
        if "torch" not in skip:
            runs["torch_autocast_bf16"] = _torch(
                shapes, warmup, reps, peak_fp32, log, "autocast_bf16"
            )
    if "attention" not in skip:
        attention = shapes.with_attention()
        runs["attention_fp32"] = _train(
            attention, "seq2seq", "float32", warmup, reps, peak_fp32, log
        )
        runs["attention_fp32_cost"] = _ratio(runs, "paper_fp32", "attention_fp32")
        if "bf16" not in skip:
            runs["attention_bf16"] = _train(
                attention, "seq2seq", "mixed_bfloat16", warmup, reps, peak_fp32, log
            )
            runs["attention_bf16_cost"] = _ratio(runs, "paper_bf16", "attention_bf16")
    runs["ratio_vs_torch"] = _ratio(runs, "paper_fp32", "torch_reference")
    runs["bf16_ratio_vs_torch_autocast"] = _ratio(runs, "paper_bf16", "torch_autocast_bf16")
    if "beam" not in skip:
        log("beam: Responder, beam 50, 20 tokens, float32 and bf16")
        results["beam"] = beam.run(shapes, peak_fp32, quick)
        if "torch" not in skip:
            results["beam"]["torch_reference"] = _torch_beam(shapes, quick, log)
            torch_p50 = results["beam"]["torch_reference"].get("p50_s")
            results["beam"]["ratio_vs_torch"] = (
                torch_p50 / results["beam"]["p50_s"] if torch_p50 else None
            )
    if "memory" not in skip:
        log("memory: multi-task training in a subprocess")
        results["memory"] = {"train_peak_rss_mb": memory.train_peak_rss_mb(quick)}
    if "serving" not in skip:
        log("serving: train one step, export, python -m serving.server, gRPC load")
        results["serving"] = serving.run(quick, bf16=results["device"]["bfloat16"])
        c1, c32 = (results["serving"][c]["requests_per_s"] for c in ("c1", "c32"))
        results["serving"]["c32_over_c1"] = c32 / c1 if c1 else None
        results.setdefault("memory", {})["serve_peak_rss_mb"] = results["serving"]["peak_rss_mb"]
    return results


def _train(shapes, task, policy, warmup, reps, peak_fp32, log):
    from benchmarks import train

    log(f"train: {task}, Keras dtype policy {policy}")
    flops = train.flops_per_target_token(shapes, task != "seq2seq")
    try:
        samples, losses = train.measure(shapes, task, warmup, reps, policy)
    except Exception as error:  # noqa: BLE001 - under bfloat16, what breaks is the result
        if policy == "float32":
            raise
        return {"works": False, "error": f"{type(error).__name__}: {error}"}
    entry = train.result(samples, flops, peak_fp32, losses)
    # Works: it ran, and the loss of the repeated batch fell and stayed finite.
    entry["works"] = bool(math.isfinite(losses[-1]) and losses[-1] < losses[0])
    return entry


def _ratio(runs, ours, theirs):
    """ours tokens/s / theirs tokens/s, None when either is missing."""
    a, b = (runs.get(name, {}).get("tokens_per_s") for name in (ours, theirs))
    return a / b if a and b else None


def _torch(shapes, warmup, reps, peak_fp32, log, mode="eager"):
    from benchmarks import reference_torch
    from benchmarks import train

    if not reference_torch.available():
        return {"skipped": "torch is not installed (make bench installs it)"}
    log(f"train: PyTorch reference, {mode}")
    try:
        samples, info = reference_torch.measure(shapes, warmup, reps, mode)
    except reference_torch.Unsupported as error:
        log(f"train: PyTorch reference, {mode}: not run ({error})")
        return {"mode": mode, "works": False, "error": str(error)}
    except Exception as error:  # noqa: BLE001 - torch.compile may not work on a machine
        if mode != "compile":
            raise
        return {"mode": mode, "works": False, "error": f"{type(error).__name__}: {error}"[:2000]}
    flops = train.flops_per_target_token(shapes, False)
    return {**train.result(samples, flops, peak_fp32), **info}


def _torch_beam(shapes, quick, log):
    from benchmarks import reference_torch
    from benchmarks import reference_torch_beam

    if not reference_torch.available():
        return {"skipped": "torch is not installed (make bench installs it)"}
    log("beam: PyTorch reference search, beam 50, 20 tokens")
    seconds, info = reference_torch_beam.measure(shapes, 3 if quick else 8)
    return {"p50_s": stats.percentile(seconds, 50), "latency_s": stats.summary(seconds), **info}


def _row(results, label, path, unit="", digits=1, span=None):
    value = _get(results, path)
    if value is None:
        return f"| {label} | – | |"
    low_high = ""
    if span is not None and _get(results, span) is not None:
        low_high = (
            f"{_get(results, span + ('min',)):,.{digits}f} – "
            f"{_get(results, span + ('max',)):,.{digits}f}"
        )
    return f"| {label} | {value:,.{digits}f} {unit} | {low_high} |"


def markdown(results):
    """The results as a Markdown table: median, then min – max of the repetitions."""
    t, b, s = ("train",), ("beam",), ("serving",)
    rows = [
        f"Device: {results['device']['type']} {results['device']['name']} "
        f"(x{results['device']['count']}); load average {results['load_average_start'][0]:.1f}"
        f" at start, {results['load_average_end'][0]:.1f} at end"
        + ("; QUICK (small shapes)" if results["quick"] else ""),
        "",
        "| figure | median | min – max |",
        "|---|---|---|",
        _row(
            results,
            "peak float32",
            ("peak_gflops", "float32"),
            "GFLOP/s",
            0,
            ("peak_gflops", "detail", "float32"),
        ),
        _row(
            results,
            "peak bfloat16",
            ("peak_gflops", "bfloat16"),
            "GFLOP/s",
            0,
            ("peak_gflops", "detail", "bfloat16"),
        ),
    ]
    for name in (
        "paper_fp32",
        "persona_fp32",
        "multitask_fp32",
        "paper_bf16",
        "attention_fp32",
        "attention_bf16",
        "torch_reference",
        "torch_compile",
        "torch_autocast_bf16",
    ):
        rows.append(
            _row(
                results,
                f"train {name}",
                t + (name, "tokens_per_s"),
                "tokens/s",
                0,
                t + (name, "tokens_per_s_range"),
            )
        )
        rows.append(_row(results, "  GFLOP/s", t + (name, "gflops"), "", 1))
        rows.append(
            _row(results, "  fraction of the float32 bound", t + (name, "fraction_of_bound"), "", 2)
        )
    works = {True: "yes", False: "**no**"}.get(_get(results, t + ("paper_bf16", "works")), "–")
    rows += [
        f"| train paper_bf16 works (loss falls, finite) | {works} | |",
        _row(
            results,
            "train paper_bf16 / bfloat16 peak",
            t + ("paper_bf16", "fraction_of_bf16_peak"),
            "",
            2,
        ),
        _row(results, "train attention fp32 cost / paper", t + ("attention_fp32_cost",), "x", 2),
        _row(results, "train attention bf16 cost / paper", t + ("attention_bf16_cost",), "x", 2),
        _row(results, "train mtask_tf / PyTorch", t + ("ratio_vs_torch",), "x", 2),
        _row(
            results,
            "train bf16: mtask_tf / PyTorch autocast",
            t + ("bf16_ratio_vs_torch_autocast",),
            "x",
            2,
        ),
        _row(results, "beam p50 (batch 1)", b + ("p50_s",), "s", 3, b + ("latency_s",)),
        _row(results, "beam p95 (batch 1)", b + ("p95_s",), "s", 3),
        _row(results, "beam compute bound", b + ("bound_s",), "s", 3),
        _row(results, "beam p50 / bound", b + ("ratio_to_bound",), "x", 2),
        _row(results, "beam steps run", b + ("steps_run",), "", 1),
        _row(results, "  the decoder steps alone (no search)", b + ("decoder_steps_s",), "s", 3),
        _row(results, "beam batch 16", b + ("batch16_requests_per_s",), "requests/s", 2),
        _row(
            results,
            "beam bf16 p50 (batch 1, float32 rescored)",
            b + ("bf16", "p50_s"),
            "s",
            3,
            b + ("bf16", "latency_s"),
        ),
        _row(results, "  bf16 p50 / float32 bound", b + ("bf16", "ratio_to_bound"), "x", 2),
        _row(results, "  the bf16 search alone", b + ("bf16", "search_s"), "s", 3),
        _row(results, "  its decoder steps alone", b + ("bf16", "decoder_steps_s"), "s", 3),
        _row(results, "  the float32 rescoring alone", b + ("bf16", "rescore_s"), "s", 3),
        _row(results, "  token positions in the list", b + ("bf16", "positions"), "", 0),
        _row(results, "  distinct prefixes", b + ("bf16", "distinct_prefixes"), "", 0),
        _row(
            results,
            "  largest score error vs float32 scoring",
            b + ("bf16", "max_score_error"),
            "",
            6,
        ),
        _row(
            results,
            "beam PyTorch reference p50",
            b + ("torch_reference", "p50_s"),
            "s",
            3,
            b + ("torch_reference", "latency_s"),
        ),
        _row(results, "beam PyTorch / mtask_tf (float32)", b + ("ratio_vs_torch",), "x", 2),
        _row(
            results,
            "beam p50 with attention",
            b + ("attention", "p50_s"),
            "s",
            3,
            b + ("attention", "latency_s"),
        ),
        _row(results, "  its steps run", b + ("attention", "steps_run"), "", 1),
        _row(results, "  p50 / the paper model's", b + ("attention", "p50_over_paper"), "x", 2),
        _row(
            results,
            "  per step / the paper model's",
            b + ("attention", "per_step_over_paper"),
            "x",
            2,
        ),
        _row(results, "beam candidates reranked (full list)", b + ("candidates",), "", 0),
        _row(results, "MMI reranking extra", b + ("mmi_extra_s",), "s", 3),
        _row(
            results,
            "  reranking a full buffer (beam x max_length candidates)",
            b + ("rerank_full_list_s",),
            "s",
            3,
        ),
    ]
    for c in (1, 8, 32):
        rows += [
            _row(results, f"serving c{c}", s + (f"c{c}", "requests_per_s"), "requests/s"),
            _row(results, "  p50", s + (f"c{c}", "p50_s"), "s", 3),
            _row(results, "  p99", s + (f"c{c}", "p99_s"), "s", 3),
            _row(results, "  errors", s + (f"c{c}", "errors"), "", 0),
        ]
    rows += [
        _row(
            results,
            "serving c32 / in-process batch-32 requests/s",
            s + ("c32_fraction_of_ceiling",),
            "",
            2,
        ),
        _row(results, "serving c32 p99 / p50", s + ("c32_p99_over_p50",), "x", 2),
        _row(
            results, "serving bf16 export c32", s + ("bf16", "c32", "requests_per_s"), "requests/s"
        ),
        _row(results, "  errors", s + ("bf16", "c32", "errors"), "", 0),
        _row(results, "serving bf16 / float32 export (c32)", s + ("bf16_over_fp32",), "x", 2),
        _row(results, "serving c32 / c1", s + ("c32_over_c1",), "x", 2),
        _row(
            results,
            "  ceiling: c1 p50 / in-process batch-32 time per request",
            s + ("batching_limit",),
            "x",
            2,
        ),
    ]
    rows += [
        _row(results, "memory training peak RSS", ("memory", "train_peak_rss_mb"), "MB", 0),
        _row(results, "memory serving peak RSS", ("memory", "serve_peak_rss_mb"), "MB", 0),
        "",
        "| target | met |",
        "|---|---|",
    ]
    met = {True: "yes", False: "**no**", None: "not measured"}
    rows += [
        f"| {what} | {met[results['targets'][name]]} |" for name, (what, _, _) in TARGETS.items()
    ]
    return "\n".join(rows)


def _git_commit():
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).parent,
    )
    return result.stdout.strip() or None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    unknown = set(_SKIP.value) - set(FIGURES)
    if unknown:
        raise app.UsageError(
            f"--skip: unknown figure(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(FIGURES)}"
        )
    started = datetime.datetime.now().isoformat(timespec="seconds")
    load_start = os.getloadavg()
    results = measure(
        _QUICK.value,
        set(_SKIP.value),
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    results.update(
        started=started,
        git_commit=_git_commit(),
        quick=_QUICK.value,
        load_average_start=load_start,
        load_average_end=os.getloadavg(),
    )
    results["targets"] = targets(results)
    output = pathlib.Path(_OUTPUT.value)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nwrote {output}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
