"""`python -m mtask_tf.export`: SavedModels that load without mtask_tf and match decode."""

import json
import pathlib
import subprocess
import sys
import typing

import pytest

from mtask_tf.data import detokenizer
from tests.conftest import run_module

pytestmark = pytest.mark.slow

INPUTS = {
    "context": ["the night", ""],
    "message": ["good sir", "my lord is it"],
    "speaker": ["HAMLET", "IAGO"],
}

# Runs in a fresh interpreter that imports only tensorflow.
_STANDALONE = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
inputs = json.loads(sys.argv[2])
out = {}
for name in ("generate", "score", "reverse_score"):
    fn = model.signatures[name]
    args = {k: tf.constant(inputs[name][k]) for k in fn.structured_input_signature[1]}
    out[name] = {k: v.numpy().tolist() for k, v in fn(**args).items()}
try:
    model.signatures["generate"](context=tf.constant([""]), message=tf.constant(["hi"]),
                                 speaker=tf.constant(["NOBODY"]))
    out["unknown"] = "no error"
except tf.errors.InvalidArgumentError as error:
    out["unknown"] = error.message
print(json.dumps(out, default=lambda b: b.decode()))
"""


DECODING = ("--beam_size=6", "--max_length=6", "--responses=3", "--no_repeat_ngram_size=2")


class Exported(typing.NamedTuple):
    root: pathlib.Path  # mmi.json, models.config and the export base ROOT/model
    forward: str
    reverse: str

    @property
    def version(self):
        return self.root / "model" / "1"


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    # The attention models' export is matched with decode by tests/serving/test_end_to_end.py
    # and audited by the bf16 test below.
    forward, reverse = "mtask_m", "reverse"
    root = tmp_path_factory.mktemp("export")
    config = root / "models.config"
    # Weights as tune_mmi writes them, tuned with the settings used here.
    (root / "mmi.json").write_text(
        json.dumps(
            {
                "lambda": 0.8,
                "gamma": 0.6,
                "decoding": {
                    "beam_size": 6,
                    "max_length": 6,
                    "candidates": "all",
                    "no_repeat_ngram_size": 2,
                },
            }
        )
    )
    run_module(
        "mtask_tf.export",
        f"--model_dir={trained / forward}",
        f"--reverse_model_dir={trained / reverse}",
        f"--mmi={root / 'mmi.json'}",
        f"--export_base={root / 'model'}",
        *DECODING,
        f"--models_config={config}",
        "--strict_mmi",
        check=True,
    )
    return Exported(root, forward, reverse)


def test_saved_model_cli_shows_three_predict_signatures_and_runs_generate(exported):
    path = exported.version
    show = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "show",
            "--all",
            "--dir",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert show.returncode == 0, show.stderr
    for name in ("generate", "serving_default", "score", "reverse_score"):
        assert f"signature_def['{name}']" in show.stdout
    assert show.stdout.count("Method name is: tensorflow/serving/predict") == 4
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "generate",
            "--input_exprs",
            'context=["the night"];message=["good sir"];speaker=["HAMLET"]',
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Result for output key responses" in run.stdout


def test_fresh_process_matches_decode_and_reports_bad_input(exported, trained, tmp_path):
    path = exported.version
    inputs = {
        "generate": INPUTS,
        "score": {**INPUTS, "response": ["good night", "my lord"]},
        "reverse_score": {"message": INPUTS["message"], "response": ["a", "b c"]},
    }
    result = subprocess.run(
        [sys.executable, "-c", _STANDALONE, str(path), json.dumps(inputs)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    generate = out["generate"]
    assert set(generate) == {
        "responses",
        "display",
        "scores",
        "forward_log_prob",
        "reverse_log_prob",
        "lengths",
    }
    assert len(generate["responses"]) == 2 and len(generate["responses"][0]) == 3
    # The readable text, computed in the graph, is the Python detokenizer's.
    assert generate["display"] == [
        [detokenizer.detokenize(r) for r in row] for row in generate["responses"]
    ]
    assert generate["display"] != generate["responses"]
    assert "unknown speaker(s):] [NOBODY]" in out["unknown"]
    assert out["score"]["num_tokens"] == [3, 3]
    assert all(v < 0 for v in out["reverse_score"]["log_prob"])

    queries = tmp_path / "queries.tsv"
    queries.write_text(
        "speaker\tcontext\tmessage\n"
        + "".join(
            f"{s}\t{c}\t{m}\n"
            for s, c, m in zip(INPUTS["speaker"], INPUTS["context"], INPUTS["message"])
        )
    )
    decoded = tmp_path / "decoded.jsonl"
    run_module(
        "mtask_tf.decode",
        f"--model_dir={trained / exported.forward}",
        f"--reverse_model_dir={trained / exported.reverse}",
        f"--mmi={exported.root / 'mmi.json'}",
        f"--input={queries}",
        f"--output={decoded}",
        *DECODING,
        "--strict_mmi",
        check=True,
    )
    # The same reranked list: responses, every score part and the lengths.
    for row, line in enumerate(decoded.read_text().splitlines()):
        nbest = json.loads(line)["nbest"]
        assert [h["response"] for h in nbest] == generate["responses"][row]
        assert [h["display"] for h in nbest] == generate["display"][row]
        for part in ("score", "forward_log_prob", "reverse_log_prob"):
            served = generate["scores" if part == "score" else part][row]
            assert [h[part] for h in nbest] == pytest.approx(served, abs=1e-4), part
        assert [h["length"] for h in nbest] == generate["lengths"][row]
    # The export reranks with the file's weights (eq. 4).
    for row in range(2):
        expected = [
            f + 0.8 * r + 0.6 * (n - 1)
            for f, r, n in zip(
                generate["forward_log_prob"][row],
                generate["reverse_log_prob"][row],
                generate["lengths"][row],
            )
        ]
        assert generate["scores"][row] == pytest.approx(expected, abs=1e-4)


def test_versions_increase_and_mtask_s_exports_one_model_per_target(trained, tmp_path):
    config = tmp_path / "models.config"
    for _ in range(2):
        run_module(
            "mtask_tf.export",
            f"--model_dir={trained / 'baseline'}",
            f"--export_base={tmp_path / 'baseline'}",
            "--beam_size=2",
            "--max_length=4",
            "--responses=1",
            f"--models_config={config}",
            check=True,
        )
    assert sorted(p.name for p in (tmp_path / "baseline").iterdir()) == ["1", "2"]
    run_module(
        "mtask_tf.export",
        f"--model_dir={trained / 'mtask_s'}",
        f"--export_base={tmp_path / 'mtask_s'}",
        "--beam_size=2",
        "--max_length=4",
        "--responses=1",
        f"--models_config={config}",
        "--config_base_path_prefix=/models",
        check=True,
    )
    text = config.read_text()
    for name in ("baseline", "mtask_s_HAMLET", "mtask_s_IAGO"):
        assert f'name: "{name}"' in text and f'base_path: "/models/{name}"' in text
    assert (tmp_path / "mtask_s_HAMLET" / "1" / "saved_model.pb").exists()
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    parsed = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    assert len(parsed.model_config_list.config) == 3


def _graph_def(path):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    return saved_model.meta_graphs[0].graph_def


def test_export_needs_no_xla_so_the_stock_model_server_runs_every_signature(exported):
    _assert_core_ops_only(_graph_def(exported.version))


def _assert_core_ops_only(graph):
    # tensorflow_model_server keeps XLA:CPU JIT off unless started with
    # --xla_cpu_compilation_enabled: a function marked _XlaMustCompile fails there.
    from tensorflow.python.framework import op_def_registry

    functions = {function.signature.name for function in graph.library.function}
    nodes = list(graph.node) + [
        node for function in graph.library.function for node in function.node_def
    ]
    assert len(nodes) > 100
    assert [
        node.name for node in nodes if node.attr["_XlaMustCompile"].b or node.op.startswith("Xla")
    ] == []
    assert {
        node.op
        for node in nodes
        if node.op not in functions and op_def_registry.get(node.op) is None
    } == set()


# Generates the full list, then scores every returned response with `score`.
_RESCORED = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
inputs = {k: tf.constant(v) for k, v in json.loads(sys.argv[2]).items()}
out = model.signatures["generate"](**inputs)
rows = []
for row in range(len(json.loads(sys.argv[2])["message"])):
    filled = out["lengths"][row].numpy() > 0
    responses = tf.boolean_mask(out["responses"][row], filled)
    same = {k: tf.repeat(v[row : row + 1], tf.size(responses)) for k, v in inputs.items()}
    scored = model.signatures["score"](response=responses, **same)["log_prob"]
    rows.append([tf.boolean_mask(out["forward_log_prob"][row], filled).numpy().tolist(),
                 scored.numpy().tolist()])
dtypes = sorted({v.dtype.name for v in model.signatures["generate"].variables})
print(json.dumps({"rows": rows, "dtypes": dtypes}))
"""


def test_bf16_export_returns_the_float32_scores_of_the_score_signature(trained, tmp_path):
    # The attention model: its bf16 search and prefix-walk rescoring carry the attention
    # memory (the paper's model's are tested in process, tests/decoding/test_low_precision.py).
    forward = "attention"
    run_module(
        "mtask_tf.export",
        f"--model_dir={trained / forward}",
        f"--export_base={tmp_path / 'bf16'}",
        "--beam_size=6",
        "--max_length=6",
        "--responses=0",
        "--decode_dtype=bf16",
        check=True,
    )
    path = tmp_path / "bf16" / "1"
    run = subprocess.run(
        [sys.executable, "-c", _RESCORED, str(path), json.dumps(INPUTS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["dtypes"] == ["bfloat16", "float32"]  # the search's copy and the weights
    for returned, scored in result["rows"]:
        assert len(returned) >= 6  # a whole beam at least: the full list
        assert returned == pytest.approx(scored, rel=1e-5, abs=1e-4)
    graph = _graph_def(path)
    _assert_core_ops_only(graph)
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    bfloat16 = 14  # DataType DT_BFLOAT16 in tensorflow/core/framework/types.proto
    assert any(n.attr["T"].type == bfloat16 for n in nodes if n.op == "MatMul")


# generate, then generate_seeded with the export's seed and with another one.
_SEEDED = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
inputs = {k: tf.constant(v) for k, v in json.loads(sys.argv[2]).items()}
seed = lambda s: tf.fill(tf.shape(inputs["message"]), tf.constant(s, tf.int64))
out = {"generate": model.signatures["generate"](**inputs)}
for name, s in (("same", 4), ("other", 5)):
    out[name] = model.signatures["generate_seeded"](seed=seed(s), **inputs)
out = {k: {n: v.numpy().tolist() for n, v in o.items()} for k, o in out.items()}
print(json.dumps(out, default=lambda b: b.decode()))
"""

OPTIONS = (
    "--num_samples=12",
    "--sampling_topk=8",
    "--sampling_topp=0.95",
    "--sampling_temperature=1.3",
    "--sampling_seed=4",
    "--no_repeat_ngram_size=2",
    "--length_penalty=1",
    "--max_length=6",
    "--responses=4",
)


# Sampling with the guard and the length penalty, on the attention models; the
# `exported` fixture decodes with the beam and the guard.
@pytest.mark.parametrize("options, forward, reverse", [(OPTIONS, "attention", "reverse")])
def test_export_with_the_decoding_options_matches_decode(
    trained, tmp_path, options, forward, reverse
):
    # Weights tuned with these options, as tune_mmi records them.
    from mtask_tf.decoding import mmi

    flag = {a.split("=")[0][2:]: a.split("=")[1] for a in options}
    settings = mmi.SearchSettings(
        int(flag.get("beam_size", 50)),
        int(flag["max_length"]),
        None,
        int(flag["no_repeat_ngram_size"]),
        float(flag["length_penalty"]),
        int(flag.get("num_samples", 0)),
        int(flag.get("sampling_topk", 0)),
        float(flag.get("sampling_topp", 1.0)),
        float(flag.get("sampling_temperature", 1.0)),
    )
    mmi.MmiWeights(0.8, 0.6, settings).save(tmp_path / "mmi.json")
    common = (
        f"--model_dir={trained / forward}",
        f"--reverse_model_dir={trained / reverse}",
        f"--mmi={tmp_path / 'mmi.json'}",
        *options,
        "--strict_mmi",
    )
    run_module(
        "mtask_tf.export",
        *common,
        f"--export_base={tmp_path / 'options'}",
        f"--models_config={tmp_path / 'models.config'}",
        check=True,
    )
    path = tmp_path / "options" / "1"
    sampled = "--num_samples=12" in options
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _SEEDED if sampled else _GENERATE_ONLY,
            str(path),
            json.dumps(INPUTS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.splitlines()[-1])
    generate = out["generate"]
    if sampled:
        assert out["same"]["responses"] == generate["responses"]
        assert out["other"]["responses"] != generate["responses"]
    queries = tmp_path / "queries.tsv"
    queries.write_text(
        "speaker\tcontext\tmessage\n"
        + "".join(
            f"{s}\t{c}\t{m}\n"
            for s, c, m in zip(*(INPUTS[k] for k in ("speaker", "context", "message")))
        )
    )
    decoded = tmp_path / "decoded.jsonl"
    run_module("mtask_tf.decode", *common, f"--input={queries}", f"--output={decoded}", check=True)
    for row, line in enumerate(decoded.read_text().splitlines()):
        nbest = json.loads(line)["nbest"]
        assert [h["response"] for h in nbest] == generate["responses"][row]
        assert [h["score"] for h in nbest] == pytest.approx(generate["scores"][row], abs=1e-4)
        # The length penalty's eq. 4, from the served parts.
        a = float(flag["length_penalty"])
        expected = [
            f / n**a + 0.8 * r / h["message_length"] ** a + 0.6 * (n - 1)
            for f, r, n, h in zip(
                generate["forward_log_prob"][row],
                generate["reverse_log_prob"][row],
                generate["lengths"][row],
                nbest,
            )
        ]
        assert generate["scores"][row] == pytest.approx(expected, abs=1e-4)
        words = [h["response"].split() for h in nbest]
        n = int(flag["no_repeat_ngram_size"])
        for w in words:
            grams = [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
            assert len(grams) == len(set(grams)), w


_GENERATE_ONLY = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
inputs = {k: tf.constant(v) for k, v in json.loads(sys.argv[2]).items()}
assert "generate_seeded" not in model.signatures  # beam search: nothing to seed
out = {"generate": model.signatures["generate"](**inputs)}
out = {k: {n: v.numpy().tolist() for n, v in o.items()} for k, o in out.items()}
print(json.dumps(out, default=lambda b: b.decode()))
"""
