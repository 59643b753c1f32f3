"""`python -m mtask_tf.export`: SavedModels that load without mtask_tf and match decode."""

import json
import subprocess
import sys

import pytest

from mtask_tf.data import detokenizer
from tests.conftest import run_module
from tests.export import shared
from tests.export.shared import INPUTS

pytestmark = pytest.mark.slow

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
out["mtask_tf_modules"] = sorted(m for m in sys.modules if m.startswith("mtask_tf"))
print(json.dumps(out, default=lambda b: b.decode()))
"""


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    # MTASK-M reranked with the reverse model, its MMI weights and the n-gram guard; built
    # once per run and also served by tests/serving/test_end_to_end.py. The attention
    # models' export, sampling in bfloat16, is matched with decode and audited by the
    # bf16 test below.
    return shared.mtask_m_export(trained, tmp_path_factory)


def test_saved_model_cli_shows_three_predict_signatures_and_runs_generate(exported):
    # The stock tool, through the test zygote (tests/zygote.py): TensorFlow's own CLI
    # loads the export with the TF1 session loader the stock model server uses. (Not
    # `show --all`: its listing of the concrete functions loads the object graph, which
    # test_fresh_process_matches_decode_and_reports_bad_input does.)
    path = exported.version
    cli = "tensorflow.python.tools.saved_model_cli"
    show = run_module(cli, "show", "--dir", path, "--tag_set", "serve", timeout=120)
    assert show.returncode == 0, show.stderr
    keys = [line.split('"')[1] for line in show.stdout.splitlines() if "SignatureDef key" in line]
    keys.remove("__saved_model_init_op")  # the tables' initialiser, not a signature to call
    assert sorted(keys) == ["generate", "reverse_score", "score", "serving_default"]
    # Each one's method name, as `show --signature_def KEY` prints it from saved_model.pb.
    signatures = _meta_graph(path).signature_def
    assert {key: signatures[key].method_name for key in keys} == dict.fromkeys(
        keys, "tensorflow/serving/predict"
    )
    run = run_module(
        cli,
        "run",
        "--dir",
        path,
        "--tag_set",
        "serve",
        "--signature_def",
        "generate",
        "--input_exprs",
        'context=["the night"];message=["good sir"];speaker=["HAMLET"]',
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Result for output key responses" in run.stdout


def test_fresh_process_matches_decode_and_reports_bad_input(exported, tmp_path):
    # The one run in a truly fresh interpreter (python -c, not the test zygote): the
    # export loads and runs with nothing but TensorFlow imported.
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
    assert out["mtask_tf_modules"] == []
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

    # The same reranked list as decode with the same models, weights and settings:
    # responses, every score part and the lengths.
    decoded = exported.decoded()
    assert len(decoded) == 2
    for row, nbest in enumerate(decoded):
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


def _meta_graph(path):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    return saved_model.meta_graphs[0]


def _graph_def(path):
    return _meta_graph(path).graph_def


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


def _standalone(path, inputs=INPUTS):
    """tests/export/standalone.py on the export, through the test zygote: its JSON."""
    run = run_module("tests.export.standalone", path, json.dumps(inputs), check=True)
    out = json.loads(run.stdout.splitlines()[-1])
    assert out.pop("mtask_tf_modules") == []  # the export runs with TensorFlow alone
    return out


def _fake_version(base, number):
    (base / str(number)).mkdir(parents=True)
    (base / str(number) / "saved_model.pb").write_bytes(b"")


# Sampling with the guard and the length penalty, searched in bfloat16, every sample
# returned. The `exported` fixture decodes with the beam and the guard in float32 (its
# beam search has no generate_seeded: test_saved_model_cli_... counts its four signatures).
OPTIONS = (
    "--num_samples=12",
    "--sampling_topk=8",
    "--sampling_topp=0.95",
    "--sampling_temperature=1.3",
    "--sampling_seed=4",
    "--no_repeat_ngram_size=2",
    "--length_penalty=1",
    "--max_length=6",
    "--responses=0",
    "--decode_dtype=bf16",
)
FLAG = {a.split("=")[0][2:]: a.split("=")[1] for a in OPTIONS}


def _options_flags(trained, tmp_path):
    """The attention models with weights tuned with OPTIONS, as tune_mmi records them."""
    from mtask_tf.decoding import mmi

    settings = mmi.SearchSettings(
        50,
        int(FLAG["max_length"]),
        None,
        int(FLAG["no_repeat_ngram_size"]),
        float(FLAG["length_penalty"]),
        int(FLAG["num_samples"]),
        int(FLAG["sampling_topk"]),
        float(FLAG["sampling_topp"]),
        float(FLAG["sampling_temperature"]),
    )
    mmi.MmiWeights(0.8, 0.6, settings).save(tmp_path / "mmi.json")
    return (
        f"--model_dir={trained / 'attention'}",
        f"--reverse_model_dir={trained / 'reverse'}",
        f"--mmi={tmp_path / 'mmi.json'}",
        *OPTIONS,
        "--strict_mmi",
    )


def test_bf16_sampling_export_matches_decode_and_becomes_the_next_listed_version(trained, tmp_path):
    # The attention model: its bf16 search and prefix-walk rescoring carry the attention
    # memory (the paper's model's bf16 beam search is tested in process,
    # tests/decoding/test_low_precision.py). An earlier version of this model and another
    # model under the same root: the export is version 2, and models.config lists both
    # (the numbering and the config text are unit-tested in tests/export/test_layout.py;
    # an MTASK-S directory's one export per target in tests/training/test_train_cli.py).
    _fake_version(tmp_path / "bf16", 1)
    _fake_version(tmp_path / "other", 3)
    common = _options_flags(trained, tmp_path)
    run_module(
        "mtask_tf.export",
        *common,
        f"--export_base={tmp_path / 'bf16'}",
        f"--models_config={tmp_path / 'models.config'}",
        "--config_base_path_prefix=/models",
        check=True,
    )
    assert sorted(p.name for p in (tmp_path / "bf16").iterdir()) == ["1", "2"]
    _assert_listed(tmp_path / "models.config")
    out = _standalone(tmp_path / "bf16" / "2")
    _assert_bf16_search_float32_scores(tmp_path / "bf16" / "2", out)
    generate = out["generate"]
    assert out["same"]["responses"] == generate["responses"]
    assert out["other"]["responses"] != generate["responses"]
    queries = shared.queries_file(tmp_path / "queries.tsv")
    decoded = tmp_path / "decoded.jsonl"
    run_module("mtask_tf.decode", *common, f"--input={queries}", f"--output={decoded}", check=True)
    for row, line in enumerate(decoded.read_text().splitlines()):
        _assert_matches_decode(json.loads(line)["nbest"], generate, row)


def _assert_listed(config):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    parsed = text_format.Parse(config.read_text(), model_server_config_pb2.ModelServerConfig())
    assert [(c.name, c.base_path, c.model_platform) for c in parsed.model_config_list.config] == [
        ("bf16", "/models/bf16", "tensorflow"),
        ("other", "/models/other", "tensorflow"),
    ]


def _assert_bf16_search_float32_scores(path, out):
    assert out["dtypes"] == ["bfloat16", "float32"]  # the search's copy and the weights
    for returned, scored in out["rescored"]:
        assert len(returned) > 6  # more than --responses would keep: the full list
        assert returned == pytest.approx(scored, rel=1e-5, abs=1e-4)
    graph = _graph_def(path)
    _assert_core_ops_only(graph)
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    bfloat16 = 14  # DataType DT_BFLOAT16 in tensorflow/core/framework/types.proto
    assert any(n.attr["T"].type == bfloat16 for n in nodes if n.op == "MatMul")


def _assert_matches_decode(nbest, generate, row):
    assert [h["response"] for h in nbest] == generate["responses"][row]
    assert [h["score"] for h in nbest] == pytest.approx(generate["scores"][row], abs=1e-4)
    # The length penalty's eq. 4, from the served parts.
    a = float(FLAG["length_penalty"])
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
    n = int(FLAG["no_repeat_ngram_size"])
    for words in (h["response"].split() for h in nbest):
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        assert len(grams) == len(set(grams)), words
