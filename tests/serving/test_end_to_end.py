"""A real exported mtask_tf model behind serving.server: gRPC, REST, the client, errors."""

import grpc
import pytest

from mtask_tf.data import detokenizer
from tests.conftest import run_module
from tests.export import shared
from tests.serving.conftest import Server
from tests.serving.conftest import outputs

pytestmark = pytest.mark.slow

QUERY = shared.INPUTS


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    # MTASK-M reranked with the reverse model (MMI weights, n-gram guard), the export that
    # tests/export/test_export.py checks too, built once per run; with decode's answers.
    # (The attention model's export is matched with decode in tests/export/test_export.py.)
    return shared.mtask_m_export(trained, tmp_path_factory)


def test_served_export_matches_decode_over_grpc_rest_and_the_client(exported, tmp_path):
    # One test, so that one server starts even when xdist spreads a module's tests over
    # its workers. The models.config the export wrote names the model and its base path.
    server = Server(
        tmp_path / "server.log",
        f"--model_config_file={exported.models_config}",
        "--batch_timeout_micros=2000",
    ).wait_ready(timeout=120)
    try:
        _grpc_generate_matches_decode(server, exported)
        _rest_predict_status_and_errors(server)
        _client_cli(server)
    finally:
        server.stop()


def _grpc_generate_matches_decode(server, exported):
    result = outputs(server.predict(exported.forward, QUERY, signature="generate"))
    assert result["responses"].shape == (2, 3)
    assert (result["scores"][:, :-1] >= result["scores"][:, 1:]).all()
    decoded = exported.decoded()
    assert len(decoded) == 2
    for row, nbest in enumerate(decoded):
        responses = [h["response"] for h in nbest]
        assert responses == [r.decode() for r in result["responses"][row]]
        assert [h["score"] for h in nbest] == pytest.approx(result["scores"][row], abs=1e-4)
        # The readable text comes through the server as computed in the graph.
        shown = [detokenizer.detokenize(r) for r in responses]
        assert [d.decode() for d in result["display"][row]] == shown


def _rest_predict_status_and_errors(server):
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


def _client_cli(server):
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
