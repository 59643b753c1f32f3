"""decode, tune_mmi and evaluate end to end on smoke-sized models, in subprocesses."""

import json
import os
import re
import subprocess

import numpy as np
import pytest

from mtask_tf.data import detokenizer
from tests.conftest import REPO
from tests.conftest import python_for_modules
from tests.conftest import run_module

pytestmark = pytest.mark.slow


def _check_nbest_tsv(path, responses):
    """decode's TSV output for the 20 dev rows: the columns, the n-best and the score parts."""
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == [
        "input",
        "rank",
        "speaker",
        "context",
        "message",
        "response",
        "display",
        "score",
        "forward_log_prob",
        "reverse_log_prob",
        "length",
    ]
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == 20 * responses
    first = [r for r in rows if r[0] == "1"]
    assert [r[1] for r in first] == [str(rank) for rank in range(1, responses + 1)]
    scores = [float(r[7]) for r in first]
    assert scores == sorted(scores, reverse=True)
    assert all(float(r[9]) < 0 for r in rows)  # Reverse model scores are present.
    # Beside the tokens, the readable text: "i" and sentence starts capitalised.
    assert [r[6] for r in rows] == [detokenizer.detokenize(r[5]) for r in rows]
    assert any(r[6] != r[5] for r in rows)


def _check_one_best_jsonl(path):
    """decode's JSONL output for the 20 test rows with --responses=1."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 20 and all(len(r["nbest"]) == 1 for r in records)
    assert records[0]["reference"] and records[0]["nbest"][0]["response"]
    best = [r["nbest"][0] for r in records]
    assert [b["display"] for b in best] == [detokenizer.detokenize(b["response"]) for b in best]


def test_decode_names_the_errors_of_its_input_and_model(trained, tmp_path):
    # (The JSONL output: test_attention_models_draw_their_attention.)
    bad = tmp_path / "bad.tsv"
    bad.write_text("speaker\tcontext\tmessage\nHAMLET\t\t\n")
    result = run_module(
        "mtask_tf.decode",
        f"--model_dir={trained / 'mtask_m'}",
        f"--input={bad}",
        f"--output={tmp_path / 'x.tsv'}",
    )
    assert result.returncode == 1 and "bad.tsv:2: empty message field" in result.stderr
    bad.write_text("speaker\tcontext\tmessage\nNOBODY\t\thi\n")
    result = run_module(
        "mtask_tf.decode",
        f"--model_dir={trained / 'mtask_m'}",
        f"--input={bad}",
        f"--output={tmp_path / 'x.tsv'}",
    )
    assert "data row 1: unknown speaker 'NOBODY'" in result.stderr
    result = run_module(
        "mtask_tf.decode",
        f"--model_dir={tmp_path / 'nothing'}",
        f"--input={bad}",
        f"--output={tmp_path / 'x.tsv'}",
    )
    assert "nothing: model directory not found" in result.stderr
    result = run_module(
        "mtask_tf.decode",
        f"--model_dir={tmp_path}",
        f"--input={bad}",
        f"--output={tmp_path / 'x.tsv'}",
    )
    assert "model.json: missing" in result.stderr and "Traceback" not in result.stderr
    for flags, message in (
        (["--max_examples=-1", f"--input={bad}", f"--output={tmp_path / 'x.tsv'}"], "0 (every"),
        (["--max_examples=2", "--interactive"], "not --interactive"),
    ):
        result = run_module("mtask_tf.decode", f"--model_dir={trained / 'mtask_m'}", *flags)
        assert result.returncode == 1 and message in result.stderr, result.stderr


def test_interactive_answers_as_the_chosen_speaker(trained):
    # A bad byte and an over-long message are refused, and the prompt comes back.
    session = (
        b"NOBODY\nIAGO\nsweet \xff prince\n" + b"x" * 10_001 + b"\ngood night sweet prince\n:quit\n"
    )
    python, zygote_env = python_for_modules()
    result = subprocess.run(
        [
            python,
            "-m",
            "mtask_tf.decode",
            f"--model_dir={trained / 'mtask_m'}",
            "--interactive",
            "--beam_size=3",
            "--max_length=5",
        ],
        input=session,
        capture_output=True,
        cwd=REPO,
        env=dict(os.environ, **zygote_env),
        timeout=120,
    )
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: your message is not valid UTF-8 (at character 7)" in result.stdout
    assert "error: your message is 10001 characters, more than the 10000" in result.stdout
    assert "unknown speaker 'NOBODY'" in result.stdout
    assert "you (to IAGO)>" in result.stdout
    assert "  1. " in result.stdout and "score" in result.stdout
    # The readable form: no response starts with a lower-case letter, and some start.
    shown = re.findall(r"^  \d+\. (.*?)    \(score", result.stdout, re.MULTILINE)
    assert shown and not any(text[:1].islower() for text in shown)
    assert any(text[:1].isupper() for text in shown)


def test_tune_mmi_writes_weights_that_decode_reads_into_an_nbest_tsv(trained, tmp_path):
    weights = tmp_path / "mmi.json"
    result = run_module(
        "mtask_tf.tune_mmi",
        f"--model_dir={trained / 'mtask_m'}",
        f"--reverse_model_dir={trained / 'reverse'}",
        f"--data={trained / 'data' / 'dev.tsv'}",
        f"--output={weights}",
        "--beam_size=4",
        "--max_length=6",
        "--restarts=3",
        check=True,
    )
    record = json.loads(weights.read_text())
    assert {"lambda", "gamma", "bleu_before", "bleu_after"} <= set(record)
    assert record["decoding"] == {"beam_size": 4, "max_length": 6, "candidates": "all"}
    assert record["bleu_after"] >= record["bleu_before"]
    assert 0 <= record["lambda"] <= 5
    # The full list: more candidates than the beam per input.
    assert record["candidates_per_input"] > 4, record
    assert "per input" in result.stderr
    decode = (
        "mtask_tf.decode",
        f"--model_dir={trained / 'mtask_m'}",
        f"--reverse_model_dir={trained / 'reverse'}",
        f"--mmi={weights}",
        f"--input={trained / 'data' / 'dev.tsv'}",
        f"--output={tmp_path / 'o.tsv'}",
        "--max_length=6",
    )
    # (Decoding with the tuned settings gives no warning: tests/export runs it with
    # --strict_mmi.)
    other = run_module(*decode, "--beam_size=3", "--responses=3", check=True)
    assert (
        "warning: the MMI weights in" in other.stderr
        and "tuned with beam 4, max_length 6, every candidate" in other.stderr
        and "decodes with beam 3" in other.stderr
    )
    assert "items/s" in other.stderr
    _check_nbest_tsv(tmp_path / "o.tsv", responses=3)
    strict = run_module(*decode, "--beam_size=3", "--strict_mmi")
    assert strict.returncode == 1 and "error: the MMI weights in" in strict.stderr
    assert "Traceback" not in strict.stderr


def test_evaluate_writes_metrics_table_and_plot(trained, tmp_path):
    data = trained / "data"
    result = run_module(
        "mtask_tf.evaluate",
        f"--systems=baseline={trained / 'baseline'},mtask_m={trained / 'mtask_m'}",
        f"--reverse_model_dir={trained / 'reverse'}",
        f"--data={data / 'dev.tsv'},{data / 'test.tsv'}",
        f"--output_dir={tmp_path}",
        "--beam_size=3",
        "--max_length=5",
        check=True,
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for system in ("baseline", "mtask_m"):
        assert set(metrics[system]["perplexity"]) == {"dev", "test"}
        assert set(metrics[system]["perplexity_by_speaker"]["test"]) == {"HAMLET", "IAGO"}
        assert {"bleu", "distinct_1", "distinct_2"} <= set(metrics[system])
    _check_shuffled_inputs(metrics, trained, data)
    best = json.loads((trained / "mtask_m" / "best.json").read_text())
    assert metrics["mtask_m"]["perplexity"]["dev"] == pytest.approx(
        best["dev"]["perplexity"], rel=1e-4
    )
    table = (tmp_path / "metrics.md").read_text()
    assert "| Perplexity dev |" in table and "%)" in table
    assert "| Perplexity test, inputs shuffled |" in table
    assert table.strip() in result.stdout
    assert (tmp_path / "perplexity_by_speaker.png").stat().st_size > 1000
    assert (tmp_path / "mtask_m.test.responses.tsv").exists()
    nbest = [
        json.loads(line)
        for line in (tmp_path / "mtask_m.test.nbest.jsonl").read_text().splitlines()
    ]
    assert len(nbest) == 20 and all(1 <= len(r["nbest"]) <= 5 for r in nbest)
    assert metrics["mtask_m"]["decoding"] == {"beam_size": 3, "max_length": 5, "candidates": "all"}
    _check_diversity_and_speaker_accuracy(metrics, table, result.stderr, tmp_path, data)
    # One target: nothing to tell apart, so speaker accuracy is left out, saying why.
    hamlet = tmp_path / "hamlet"
    hamlet.mkdir()
    lines = (data / "dev.tsv").read_text().splitlines()
    (hamlet / "dev.tsv").write_text(
        "\n".join([lines[0]] + [line for line in lines[1:] if line.startswith("HAMLET\t")]) + "\n"
    )
    # The attention model is evaluated beside it (reranked with the reverse model).
    result = run_module(
        "mtask_tf.evaluate",
        f"--systems=baseline={trained / 'baseline'},attention={trained / 'attention'}",
        f"--reverse_model_dir={trained / 'reverse'}",
        f"--data={hamlet / 'dev.tsv'}",
        f"--monologue={data / 'monologue.tsv'}",
        f"--output_dir={hamlet}",
        f"--general_responses={data / 'train.tsv'}",
        "--beam_size=2",
        "--max_length=3",
        "--max_examples=2",
        check=True,
    )
    assert "note: no speaker accuracy: the data has one target (HAMLET)" in result.stderr, (
        result.stderr
    )
    evaluated = json.loads((hamlet / "metrics.json").read_text())
    one_target, attention = evaluated["baseline"], evaluated["attention"]
    assert attention["perplexity"]["dev"] > 1 and attention["mean_length"] > 0
    assert json.loads((trained / "attention" / "best.json").read_text())["dev"]["perplexity"] > 1
    assert "speaker_accuracy" not in one_target
    assert "Speaker accuracy" not in (hamlet / "metrics.md").read_text()
    # The style score needs one target only; its general responses are named.
    assert set(one_target["style_score"]) == {"dev"}
    assert "against 200 responses of speakers who are no target from" in result.stderr
    assert one_target["length_cap_share"] >= 0 and one_target["decoding"]["max_length"] == 3
    # The style classifier must not learn from the rows it scores.
    result = run_module(
        "mtask_tf.evaluate",
        f"--systems=baseline={trained / 'baseline'}",
        f"--data={hamlet / 'dev.tsv'}",
        f"--general_responses={hamlet / 'dev.tsv'}",
        f"--output_dir={hamlet / 'refused'}",
    )
    assert result.returncode != 0 and "is also one of the --data files" in result.stderr
    # --max_examples decodes a seeded sample of the rows, in file order.
    decoded = (hamlet / "baseline.dev.responses.tsv").read_text().splitlines()[1:]
    assert len(decoded) == 2
    contexts = [line.split("\t")[1] for line in lines[1:] if line.startswith("HAMLET\t")]
    picked = [contexts.index(line.split("\t")[1]) for line in decoded]
    assert picked == sorted(picked)
    # (--nodecode: tests/study/test_runner.py, the study's evaluate_extra step.)


def _check_shuffled_inputs(metrics, trained, data):
    """The input-dependence perplexity is the model's perplexity of the shuffled rows."""
    from mtask_tf.data import records
    from mtask_tf.evaluation import responses as responses_lib
    from mtask_tf.workflows import systems as workflow_systems

    rows, _ = records.read_triples(data / "dev.tsv")
    system = workflow_systems.load_system("mtask_m", trained / "mtask_m")
    shuffled, _ = workflow_systems.perplexity(
        system, responses_lib.shuffled_inputs(rows), "dev.tsv"
    )
    result = metrics["mtask_m"]
    assert set(result["perplexity_shuffled_inputs"]) == {"dev", "test"}
    # (The tiny test models hardly use their input, so this is close to the
    # real perplexity; tests/evaluation/test_responses.py checks the shuffling.)
    assert result["perplexity_shuffled_inputs"]["dev"] == pytest.approx(shuffled, rel=1e-4)


def _share_attributed(classifier, texts, speakers):
    """The share of texts the classifier attributes to their speaker, counted here."""
    predicted = classifier.predict(texts)
    return sum(p == s for p, s in zip(predicted, speakers)) / len(texts)


def _check_diversity_and_speaker_accuracy(metrics, table, stderr, output_dir, data):
    """The new measures are in metrics.json and metrics.md, and recomputable here."""
    from mtask_tf.data import records
    from mtask_tf.data import tokenizer as tokenizer_lib
    from mtask_tf.evaluation import responses as responses_lib
    from mtask_tf.evaluation import speaker_classifier

    monologue, _ = records.read_monologue(data / "monologue.tsv")
    classifier = speaker_classifier.SpeakerClassifier.fit(
        tokenizer_lib.split_texts([m.text for m in monologue]), [m.speaker for m in monologue]
    )
    references, _ = records.read_triples(data / "test.tsv")
    ceiling = _share_attributed(
        classifier, responses_lib.references(references), [r.speaker for r in references]
    )
    for system in ("baseline", "mtask_m"):
        result = metrics[system]
        assert 0 < result["distinct_responses"] <= 1 and result["ent_4"] >= 0
        assert set(result["speaker_accuracy"]) == {"dev", "test"}
        assert result["speaker_accuracy_chance"] == 0.5
        # The ceiling is the classifier on the real responses, the same for each system.
        assert result["speaker_accuracy_ceiling"]["test"] == pytest.approx(ceiling)
        rows = [
            line.split("\t")
            for line in (output_dir / f"{system}.test.responses.tsv").read_text().splitlines()[1:]
        ]
        texts, speakers = [r[4] for r in rows], [r[0] for r in rows]
        assert result["distinct_responses"] == pytest.approx(len(set(texts)) / len(texts))
        assert result["speaker_accuracy"]["test"] == pytest.approx(
            _share_attributed(classifier, texts, speakers)
        )
        # Balanced: the mean over targets of each target's own share.
        per_target = [
            _share_attributed(
                classifier,
                [t for t, s in zip(texts, speakers) if s == target],
                [target] * speakers.count(target),
            )
            for target in sorted(set(speakers))
        ]
        assert result["speaker_accuracy_balanced"]["test"] == pytest.approx(
            sum(per_target) / len(per_target)
        )
    assert "speaker accuracy: classifier trained on 60 monologue lines of HAMLET, IAGO" in stderr, (
        stderr
    )
    for label in (
        "Ent-4",
        "distinct responses",
        "Speaker accuracy dev",
        "Speaker accuracy test",
        "Speaker accuracy test, balanced",
        "Speaker accuracy test, real responses",
    ):
        assert f"| {label} |" in table
    assert "| Speaker accuracy, chance | 50.00 % | 50.00 % |" in table
    _check_degeneration_style_and_intervals(metrics, table, stderr, output_dir, data)


def _check_degeneration_style_and_intervals(metrics, table, stderr, output_dir, data):
    """Length, repetition, style score and intervals: in metrics.json and metrics.md, recomputed."""
    from mtask_tf.data import records
    from mtask_tf.data import tokenizer as tokenizer_lib
    from mtask_tf.evaluation import metrics as metrics_lib
    from mtask_tf.evaluation import responses as responses_lib
    from mtask_tf.evaluation import style_classifier

    monologue, _ = records.read_monologue(data / "monologue.tsv")
    general, _ = records.read_triples(data / "train.tsv")
    classifier = style_classifier.StyleClassifier.fit(
        tokenizer_lib.split_texts([m.text for m in monologue]),
        [m.speaker for m in monologue],
        tokenizer_lib.split_texts([r.response for r in general]),
    )
    references, _ = records.read_triples(data / "test.tsv")
    ceiling = style_classifier.style_score(
        classifier, responses_lib.references(references), [r.speaker for r in references]
    )
    for system in ("baseline", "mtask_m"):
        result = metrics[system]
        rows = [
            line.split("\t")
            for line in (output_dir / f"{system}.test.responses.tsv").read_text().splitlines()[1:]
        ]
        responses, speakers = [r[4] for r in rows], [r[0] for r in rows]
        # max_length 5: at most 4 words; the tiny models' responses are tokens as decoded.
        lengths = [len(r.split()) for r in responses]
        assert result["mean_length"] == pytest.approx(sum(lengths) / len(lengths))
        assert result["length_cap_share"] == pytest.approx(lengths.count(4) / len(lengths))
        assert result["repetition_share"] == pytest.approx(metrics_lib.repetition_share(responses))
        assert result["style_score"]["test"] == pytest.approx(
            style_classifier.style_score(classifier, responses, speakers)
        )
        assert result["style_score_ceiling"]["test"] == pytest.approx(ceiling)
        for key in ("speaker_accuracy", "speaker_accuracy_balanced", "style_score"):
            low, high = result[f"{key}_interval"]["test"]
            assert low <= result[key]["test"] <= high, (key, result)
        # (The interval averages weights 1 / count: equal to the share up to rounding.)
        low, high = result["distinct_responses_interval"]
        assert low - 1e-12 <= result["distinct_responses"] <= high + 1e-12
        assert result["bootstrap"] == {"resamples": 1000, "level": 0.95, "seed": 0}
    assert f"against 200 responses of speakers who are no target from {data / 'train.tsv'}" in (
        stderr
    )
    for label in (
        "Mean length (words)",
        "At the length cap",
        "A word three times in a row",
        "Style score dev",
        "Style score test",
        "Style score test, real responses",
    ):
        assert f"| {label} |" in table
    assert re.search(r"\| Speaker accuracy test \| [0-9.]+ % \[[0-9.]+, [0-9.]+\] \|", table)


def test_attention_models_draw_their_attention(trained, tmp_path):
    # (evaluate with the attention model: test_evaluate_writes_metrics_table_and_plot.)
    # The same run writes the one-best JSONL.
    forward, reverse = trained / "attention", trained / "reverse"
    data = trained / "data"
    plots = tmp_path / "plots"
    result = run_module(
        "mtask_tf.decode",
        f"--model_dir={forward}",
        f"--reverse_model_dir={reverse}",
        f"--input={data / 'test.tsv'}",
        f"--output={tmp_path / 'o.jsonl'}",
        "--beam_size=3",
        "--max_length=5",
        "--responses=1",
        f"--attention_plots={plots}",
        "--attention_plots_max=2",
        check=True,
    )
    assert sorted(p.name for p in plots.iterdir()) == ["0001.png", "0002.png"]
    assert (plots / "0001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote 2 heatmaps" in result.stderr and "--attention_plots_max" in result.stderr
    _check_one_best_jsonl(tmp_path / "o.jsonl")
    plain = run_module(
        "mtask_tf.decode",
        f"--model_dir={trained / 'mtask_m'}",
        f"--input={data / 'test.tsv'}",
        f"--output={tmp_path / 'p.tsv'}",
        f"--attention_plots={tmp_path / 'none'}",
    )
    assert plain.returncode == 1 and "has no attention" in plain.stderr, plain.stderr
    assert "Traceback" not in plain.stderr


def test_attention_weights_of_a_response_sum_to_one_over_its_input(tmp_path):
    from mtask_tf.decoding import responder as responder_lib
    from tests.helpers import decode_config
    from tests.helpers import random_pair

    forward, _ = random_pair(tmp_path, attention="luong")
    responder = responder_lib.Responder(forward, None, decode_config())
    out = responder.attention(
        ["", "good"], ["sweet", "my lord sir"], ["HAMLET", "IAGO"], ["prince", "good sir lord"]
    )
    assert [t.decode() for t in out["source"][0].numpy()] == ["</s>", "sweet", "", "", ""]
    assert [t.decode() for t in out["source"][1].numpy()] == ["good", "</s>", "my", "lord", "sir"]
    assert [t.decode() for t in out["response"][1].numpy()] == ["good", "sir", "lord", "</s>"]
    weights = out["weights"].numpy()  # [2, 4, 5]
    np.testing.assert_allclose(weights[0, :2].sum(-1), 1.0, rtol=1e-5)  # prince </s>
    np.testing.assert_allclose(weights[1].sum(-1), 1.0, rtol=1e-5)
    assert (weights[0, :, 2:] == 0).all() and (weights[0, :, :2] > 0).all()
