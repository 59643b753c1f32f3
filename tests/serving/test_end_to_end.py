"""A real exported mtask_tf model behind serving.server: gRPC, REST, the client, errors."""

import json

import grpc
import pytest

from mtask_tf.data import detokenizer
from tests.conftest import run_module
from tests.serving.conftest import Server
from tests.serving.conftest import outputs

pytestmark = pytest.mark.slow

QUERY = {
    "context": ["the night", ""],
    "message": ["good sir", "my lord is it"],
    "speaker": ["HAMLET", "IAGO"],
}


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    # (The attention model's export is matched with decode in tests/export/test_export.py.)
    for forward, reverse in (("mtask_m", "reverse"),):
        run_module(
            "mtask_tf.export",
            f"--model_dir={trained / forward}",
            f"--reverse_model_dir={trained / reverse}",
            f"--export_base={root / forward}",
            "--beam_size=6",
            "--max_length=6",
            "--responses=3",
            f"--models_config={root / 'models.config'}",
            check=True,
        )
    running = Server(
        root / "server.log",
        f"--model_config_file={root / 'models.config'}",
        "--batch_timeout_micros=2000",
    ).wait_ready(timeout=120)
    yield running
    running.stop()


def test_grpc_generate_matches_decode(server, trained, tmp_path):
    forward, reverse = "mtask_m", "reverse"
    result = outputs(server.predict(forward, QUERY, signature="generate"))
    assert result["responses"].shape == (2, 3)
    assert (result["scores"][:, :-1] >= result["scores"][:, 1:]).all()
    queries = tmp_path / "q.tsv"
    queries.write_text(
        "speaker\tcontext\tmessage\n"
        + "".join(
            f"{s}\t{c}\t{m}\n"
            for s, c, m in zip(QUERY["speaker"], QUERY["context"], QUERY["message"])
        )
    )
    run_module(
        "mtask_tf.decode",
        f"--model_dir={trained / forward}",
        f"--reverse_model_dir={trained / reverse}",
        f"--input={queries}",
        f"--output={tmp_path / 'd.jsonl'}",
        "--beam_size=6",
        "--max_length=6",
        "--responses=3",
        check=True,
    )
    for row, line in enumerate((tmp_path / "d.jsonl").read_text().splitlines()):
        decoded = [h["response"] for h in json.loads(line)["nbest"]]
        assert decoded == [r.decode() for r in result["responses"][row]]
        # The readable text comes through the server as computed in the graph.
        shown = [detokenizer.detokenize(r) for r in decoded]
        assert [d.decode() for d in result["display"][row]] == shown


def test_rest_predict_status_and_errors(server):
    status, body = server.rest(
        "/v1/models/mtask_m:predict",
        {
            "signature_name": "score",
            "instances": [
                {"context": "", "message": "good sir", "speaker": "HAMLET", "response": "my lord"}
            ],
        },
    )
    assert status == 200 and body["predictions"][0]["num_tokens"] == 3
    status, body = server.rest("/v1/models/mtask_m")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = server.rest(
        "/v1/models/mtask_m:predict",
        {"inputs": {"context": [""], "message": ["hi"], "speaker": ["NOBODY"]}},
    )
    assert status == 400 and "unknown speaker" in body["error"] and "NOBODY" in body["error"]
    with pytest.raises(grpc.RpcError) as error:
        server.predict("mtask_m", {**QUERY, "message": ["good sir", " "]})
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "empty message" in error.value.details()


def test_client_cli_against_the_server(server):
    result = run_module(
        "serving.client",
        f"--server=127.0.0.1:{server.port}",
        "--model_name=mtask_m",
        "--speaker=HAMLET",
        "--context=the night",
        "--message=good sir",
        check=True,
    )
    assert "score" in result.stdout
    # The client prints the readable text: a sentence starts with a capital.
    ranked = [line.split(". ", 1)[1] for line in result.stdout.splitlines() if ". " in line]
    assert ranked and all(not text[:1].islower() for text in ranked)
