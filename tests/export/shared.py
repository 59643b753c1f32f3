"""The MTASK-M export that tests/export and tests/serving share, and what decode says of it.

Exporting a trained model and decoding with it take tens of seconds each. The
export's tests (a fresh process, saved_model_cli, the graph's ops) and the
server's end-to-end test only read the export, so it is built once per test
run and shared by the xdist workers, like conftest's `trained`: the first
worker to need it builds it, the others wait on a file lock.
"""

import fcntl
import json
import os
import pathlib
import shutil
import typing

from tests.conftest import run_module

INPUTS = {
    "context": ["the night", ""],
    "message": ["good sir", "my lord is it"],
    "speaker": ["HAMLET", "IAGO"],
}
DECODING = ("--beam_size=6", "--max_length=6", "--responses=3", "--no_repeat_ngram_size=2")
# The weights as tune_mmi writes them, tuned with the settings above.
MMI = {
    "lambda": 0.8,
    "gamma": 0.6,
    "decoding": {"beam_size": 6, "max_length": 6, "candidates": "all", "no_repeat_ngram_size": 2},
}


def built_once(tmp_path_factory, name, build):
    """The directory `build(path)` makes, built once per test run and shared by the workers."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, above each worker's own
    root, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if root.exists():
                shutil.rmtree(root)  # a build that failed half-way
            root.mkdir()
            build(root)
            done.touch()
    return root


def queries_file(path, inputs=INPUTS):
    """Writes `inputs` as decode's --input file; returns its path."""
    rows = zip(inputs["speaker"], inputs["context"], inputs["message"])
    path.write_text("speaker\tcontext\tmessage\n" + "".join(f"{s}\t{c}\t{m}\n" for s, c, m in rows))
    return path


class Exported(typing.NamedTuple):
    """ROOT/mmi.json, ROOT/models.config, the export ROOT/mtask_m/1 and ROOT/decoded.jsonl."""

    root: pathlib.Path
    forward: str = "mtask_m"
    reverse: str = "reverse"

    @property
    def version(self):
        return self.root / self.forward / "1"

    @property
    def models_config(self):
        return self.root / "models.config"

    def decoded(self):
        """decode's n-best list for each row of INPUTS, with the export's models and settings."""
        return [json.loads(line)["nbest"] for line in (self.root / "decoded.jsonl").open()]


def _build(trained, root):
    exported = Exported(root)
    (root / "mmi.json").write_text(json.dumps(MMI))
    common = (
        f"--model_dir={trained / exported.forward}",
        f"--reverse_model_dir={trained / exported.reverse}",
        f"--mmi={root / 'mmi.json'}",
        *DECODING,
        "--strict_mmi",
    )
    run_module(
        "mtask_tf.export",
        *common,
        f"--export_base={root / exported.forward}",
        f"--models_config={exported.models_config}",
        check=True,
    )
    run_module(
        "mtask_tf.decode",
        *common,
        f"--input={queries_file(root / 'queries.tsv')}",
        f"--output={root / 'decoded.jsonl'}",
        check=True,
    )


def mtask_m_export(trained, tmp_path_factory):
    """MTASK-M reranked with the reverse model (MMI weights, n-gram guard), as Exported."""
    return Exported(built_once(tmp_path_factory, "export-mtask_m", lambda r: _build(trained, r)))
