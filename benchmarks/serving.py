"""Serving: an exported model behind `python -m serving.server`, gRPC Predict under load.

The model directory comes from the real training CLI (demo sizes, one step; smoke
sizes with --quick) on a generated data directory, and is exported with
`python -m mtask_tf.export` (beam 50, 20 tokens). Weights barely trained: the
speed is that of a served demo model, not its answers.
"""

import concurrent.futures
import pathlib
import random
import re
import subprocess
import sys
import tempfile
import time

from benchmarks import memory
from benchmarks import stats

REPO = pathlib.Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MODEL = "bench"
CONCURRENCY = (1, 8, 32)
TARGETS = ("HAMLET", "IAGO")


def _sentence(rng, words):
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))


def make_data_dir(path, words, rows, seed=1):
    """A data directory whose text uses about `words` distinct words, so the vocabulary fills."""
    from mtask_tf.data import records

    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(words)]
    triple = lambda speaker: records.Triple(
        speaker, _sentence(rng, vocab), _sentence(rng, vocab), _sentence(rng, vocab)
    )
    path.mkdir(parents=True)
    records.write_triples(path / "train.tsv", [triple(f"S{i % 20}") for i in range(rows)])
    for split in ("dev", "test"):
        records.write_triples(path / f"{split}.tsv", [triple(TARGETS[i % 2]) for i in range(20)])
    records.write_monologue(
        path / "monologue.tsv",
        [records.Monologue(TARGETS[i % 2], _sentence(rng, vocab)) for i in range(rows // 10)],
    )


def _run(*command):
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"{' '.join(command[:1])} failed:\n{result.stderr[-3000:]}")


def export_model(work, quick, decode_dtype="float32"):
    """Trains one step into a model directory (once) and exports it; returns the export base."""
    size = "smoke" if quick else "demo"
    data = work / "data"
    base = work / "export" / (MODEL if decode_dtype == "float32" else f"{MODEL}_{decode_dtype}")
    if data.exists():
        _export(work, base, decode_dtype)
        return base
    make_data_dir(data, words=400 if quick else 10_000, rows=400 if quick else 4000)
    _run(
        "mtask_tf.train",
        "--flagfile=configs/baseline.flags",
        f"--flagfile=configs/{size}.flags",
        f"--data_dir={data}",
        f"--model_dir={work / 'model'}",
        "--pretrain_max_steps=1",
        "--eval_every=1",
        "--checkpoint_every=1",
        "--log_every=1",
    )
    _export(work, base, decode_dtype)
    return base


def _export(work, base, decode_dtype):
    _run(
        "mtask_tf.export",
        f"--model_dir={work / 'model'}",
        f"--export_base={base}",
        f"--models_config={work / 'models.config'}",
        f"--decode_dtype={decode_dtype}",
    )


class Server:
    """`python -m serving.server` on a loopback port, until `stop()`."""

    def __init__(self, base, log_path, timeout=300):
        command = [
            sys.executable,
            "-m",
            "serving.server",
            f"--host={HOST}",
            "--port=0",
            f"--model_name={MODEL}",
            f"--model_base_path={base}",
            "--file_system_poll_wait_seconds=0",
        ]
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "\nready\n" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"serving.server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        self.port = int(re.search(r"gRPC API on [^\s]+:(\d+)", self.log()).group(1))

    def log(self):
        return pathlib.Path(self.log_path).read_text()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(60)


def _load(stub, requests, concurrency):
    """Sends `requests` Predict calls from `concurrency` threads; latencies and errors."""
    import grpc

    def call(request):
        start = time.perf_counter()
        try:
            stub.Predict(request, timeout=300)
            return time.perf_counter() - start, None
        except grpc.RpcError as error:
            return time.perf_counter() - start, error.code().name

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(call, requests))
    wall = time.perf_counter() - start
    latencies = [seconds for seconds, error in results if error is None]
    errors = [error for _, error in results if error is not None]
    return {
        "requests": len(requests),
        "concurrency": concurrency,
        "requests_per_s": len(latencies) / wall,
        "p50_s": stats.percentile(latencies, 50) if latencies else None,
        "p99_s": stats.percentile(latencies, 99) if latencies else None,
        "errors": len(errors),
        "error_codes": sorted(set(errors)),
    }


def _requests(count, seed):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(400)]
    requests = []
    for _ in range(count):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.model_spec.signature_name = "generate"
        turn = {
            "context": _sentence(rng, vocab),
            "message": _sentence(rng, vocab),
            "speaker": TARGETS[0],
        }
        for name, text in turn.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto([text]))
        requests.append(request)
    return requests


def run(quick, bf16=False):
    """Serving figures of the float32 export; with `bf16`, the bf16 export's at c32 too."""
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        result = _serve(export_model(work, quick), work, quick, CONCURRENCY)
        if bf16:
            result["bf16"] = _serve(export_model(work, quick, "bf16"), work, quick, (32,))
    result["batching_limit"] = result["c1"]["p50_s"] / result["in_process"]["batch32_per_request_s"]
    c32 = result["c32"]
    # The ceiling: the requests/s of the model answering 32 requests as one batch.
    result["c32_fraction_of_ceiling"] = (
        c32["requests_per_s"] * result["in_process"]["batch32_per_request_s"]
    )
    result["c32_p99_over_p50"] = c32["p99_s"] / c32["p50_s"] if c32["p50_s"] else None
    if bf16:
        result["bf16_over_fp32"] = result["bf16"]["c32"]["requests_per_s"] / c32["requests_per_s"]
    return result


def _serve(base, work, quick, concurrencies):
    """The server on `base` under load at each concurrency, then the in-process figures."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    per_thread = 2 if quick else 4
    server = Server(base, work / f"{base.name}.log")
    try:
        with grpc.insecure_channel(f"{HOST}:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            _load(stub, _requests(4, 0), 2)  # warm-up
            result = {
                f"c{c}": _load(stub, _requests(max(4, c) * per_thread, c), c) for c in concurrencies
            }
        result["peak_rss_mb"] = memory.peak_rss_mb(server.process.pid)
    finally:
        server.stop()
    result["in_process"] = _in_process(base, quick)
    return result


def _in_process(base, quick, batch=32):
    """The exported `generate` called directly, one request and 32 at once, server stopped.

    No server can answer 32 concurrent requests faster than the model answers
    them in one batch, so c1 latency / (batch-32 time per request) bounds what
    server-side batching can gain: `batching_limit`, the ceiling of c32 / c1.
    """
    import tensorflow as tf

    version = max((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    generate = tf.saved_model.load(str(version)).signatures["generate"]
    columns = lambda requests: {
        name: tf.constant([r.inputs[name].string_val[0] for r in requests])
        for name in ("context", "message", "speaker")
    }
    one, many = columns(_requests(1, 101)), columns(_requests(batch, 102))
    reps = 3 if quick else 8
    single = stats.time_calls(lambda: generate(**one)["scores"].numpy(), reps)
    batched = stats.time_calls(lambda: generate(**many)["scores"].numpy(), reps)
    return {
        "batch1_s": stats.percentile(single, 50),
        "batch32_per_request_s": stats.percentile(batched, 50) / batch,
    }
