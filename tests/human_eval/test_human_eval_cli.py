"""python -m mtask_tf.human_eval: prepare -> export_csv -> import_csv -> analyze, and its errors."""

from mtask_tf.data import records
from tests.conftest import run_module


def _responses(path, tag, inputs=20):
    lines = ["speaker\tcontext\tmessage\treference\tresponse"]
    lines += [f"{('HAMLET', 'IAGO')[i % 2]}\tc {i}\tm {i}\tref\t{tag} {i}" for i in range(inputs)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_prepare_crowdsource_and_analyze_from_the_command_line(tmp_path):
    base, mtask = _responses(tmp_path / "b.tsv", "base"), _responses(tmp_path / "m.tsv", "mtask")
    mono = tmp_path / "mono.tsv"
    records.write_monologue(
        mono, [records.Monologue(s, f"{s} {i}") for s in ("HAMLET", "IAGO") for i in range(6)]
    )
    task = tmp_path / "task.json"
    result = run_module(
        "mtask_tf.human_eval",
        "prepare",
        f"--systems=baseline={base},mtask_m={mtask}",
        f"--monologue={mono}",
        f"--output={task}",
        "--judges_per_item=3",
        check=True,
    )
    assert f"wrote {task}: 20 items, 3 judges each" in result.stdout
    run_module(
        "mtask_tf.human_eval",
        "export_csv",
        f"--task={task}",
        f"--output={tmp_path / 'task.csv'}",
        check=True,
    )
    rows = (tmp_path / "task.csv").read_text().splitlines()[1:]
    # Three workers prefer whichever response says "Mtask" (left or right): the
    # CSV shows responses as readable text, the tokens "mtask 3" as "Mtask 3".
    results = ["WorkerId,Input.item_id,Answer.rating"]
    for row in rows:
        item, *_, left, right = row.split(",")
        assert {left.split()[0], right.split()[0]} == {"Mtask", "Base"}
        results += [f"w{w},{item},{1 if left.startswith('Mtask') else 5}" for w in range(3)]
    (tmp_path / "results.csv").write_text("\n".join(results) + "\n")
    imported = run_module(
        "mtask_tf.human_eval",
        "import_csv",
        f"--task={task}",
        f"--results={tmp_path / 'results.csv'}",
        check=True,
    )
    assert "60 answers, 60 new" in imported.stdout
    analyzed = run_module(
        "mtask_tf.human_eval",
        "analyze",
        f"--task={task}",
        f"--output_dir={tmp_path / 'report'}",
        check=True,
    )
    assert "mtask_m vs baseline: preference 1.000" in analyzed.stdout
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| mtask_m | baseline | 0.000 | 1.000 |" in report
    assert (tmp_path / "report" / "agreement_mtask_m_vs_baseline.png").is_file()


def test_errors_are_one_line_and_name_the_problem(tmp_path):
    result = run_module(
        "mtask_tf.human_eval",
        "prepare",
        f"--systems=baseline={tmp_path / 'x'}",
        f"--monologue={tmp_path / 'm'}",
        f"--output={tmp_path / 't'}",
    )
    assert result.returncode == 1 and "--systems needs at least two systems" in result.stderr
    missing = run_module(
        "mtask_tf.human_eval",
        "analyze",
        f"--task={tmp_path / 'no.json'}",
        f"--output_dir={tmp_path}",
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "cannot read the task file" in missing.stderr and "Traceback" not in missing.stderr
    unknown = run_module("mtask_tf.human_eval", "judge")
    assert unknown.returncode == 1 and "prepare | serve | analyze" in unknown.stderr
