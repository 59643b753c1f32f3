"""`python -m mtask_tf.compare`: dev perplexities and responses side by side."""

import json

import pytest

from tests.conftest import run_module

pytestmark = pytest.mark.slow


def test_compare_prints_perplexities_and_each_models_responses(trained):
    result = run_module(
        "mtask_tf.compare",
        trained / "baseline",
        trained / "mtask_m",
        f"--samples={trained / 'data' / 'test.tsv'}",
        "--sample_targets=IAGO,HAMLET",
        "--samples_per_target=2",
        "--beam_size=2",
        "--max_length=4",
        check=True,
    )
    out = result.stdout
    best = json.loads((trained / "mtask_m" / "best.json").read_text())
    assert "| dev perplexity | " in out and f"{best['dev']['perplexity']:.2f}" in out
    blocks = [b for b in out.split("\n\n") if " is told: " in b]
    assert [b.split(" is told")[0].strip() for b in blocks] == ["IAGO", "IAGO", "HAMLET", "HAMLET"]
    for block in blocks:
        lines = block.splitlines()
        assert lines[1].lstrip().startswith("(real)")
        assert lines[2].split()[0] == "baseline" and lines[3].split()[0] == "mtask_m"
        assert all(len(line.split(None, 1)) == 2 for line in lines[2:])  # a response each
    missing = run_module(
        "mtask_tf.compare",
        trained / "baseline",
        f"--samples={trained / 'data' / 'test.tsv'}",
        "--sample_targets=NOBODY",
    )
    assert missing.returncode == 1 and "no rows of NOBODY" in missing.stderr
