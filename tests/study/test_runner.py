"""The study runner end to end on a generated corpus with the smoke protocol."""

import json
import random

import pytest

from mtask_tf.study import protocol as protocol_lib
from mtask_tf.study import steps as steps_lib
from tests.conftest import WORDS
from tests.conftest import run_module

SPEAKERS = ("ALICE", "BOB", "CAROL", "HAMLET", "IAGO")


def write_turns(path, seed=0, scenes=12):
    """Turn files as the sitcom ones: show season episode scene turn speaker text."""
    rng = random.Random(seed)
    lines = ["show\tseason\tepisode\tscene\tturn\tspeaker\ttext"]
    for season in (1, 2, 3):
        for scene in range(scenes):
            for turn in range(rng.randint(4, 8)):
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
                lines.append(f"play\t{season}\t1\t{scene}\t{turn}\t{rng.choice(SPEAKERS)}\t{words}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_protocol_files_load_and_name_their_errors(tmp_path):
    for name in ("friends", "smoke"):
        protocol = protocol_lib.load(f"configs/study/{name}.toml")
        assert protocol.data.targets and protocol.train.stage2_max_steps > 0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[data]\nturns = ["a"]\ntargets = ["X"]\nsplit_column = "s"\n'
        'dev_values = ["1"]\ntest_values = ["2"]\n[train]\nsize_flags = "f"\n'
        'stage2_max_steps = "many"\n'
    )
    with pytest.raises(
        protocol_lib.ProtocolError,
        match=r"bad.toml: \[train\] "
        r"stage2_max_steps: expected int, got 'many'",
    ):
        protocol_lib.load(bad)
    bad.write_text('[data]\nturns = ["a"]\n')
    with pytest.raises(protocol_lib.ProtocolError, match=r"\[data\] needs the field 'targets'"):
        protocol_lib.load(bad)
    bad.write_text("[datta]\n")
    with pytest.raises(protocol_lib.ProtocolError, match="unknown top-level field"):
        protocol_lib.load(bad)


def test_the_steps_follow_the_protocol():
    protocol = protocol_lib.load("configs/study/friends.toml")
    steps = steps_lib.build(protocol, "runs/x", python="python")
    names = [s.name for s in steps]
    assert names[:3] == ["prepare", "train_baseline", "train_persona"]
    assert {
        "train_mtask_m",
        "train_control",
        "train_mtask_s",
        "train_reverse",
        "train_mtask_m_monologue_0.1",
        "train_mtask_m_monologue_0.01",
        "tune_mtask_s",
        "evaluate_main_dev",
        "evaluate_main_test",
        "evaluate_extra",
    } <= set(names)
    by_name = {s.name: s for s in steps}
    mtask_s = by_name["train_mtask_s"].command()
    assert "--nopretrain" in mtask_s and "--init_from=runs/x/models/baseline" in mtask_s
    assert "--flagfile=configs/attention.flags" in mtask_s  # [train] flags
    control = by_name["train_control"].command()
    for stage2 in (mtask_s, control, by_name["train_mtask_m"].command()):
        assert "--learning_rate=0.0005" in stage2  # [train] stage2_flags
    assert "--learning_rate=0.0005" not in by_name["train_baseline"].command()
    evaluate = by_name["evaluate_main_test"].command()
    assert "--beam_size=50" in evaluate and "--candidates=0" in evaluate  # the full N-best list
    assert "--max_examples=1000" in evaluate and "--strict_mmi" in evaluate


@pytest.mark.slow
def test_smoke_study_runs_end_to_end_and_resumes(tmp_path):
    turns = write_turns(tmp_path / "turns.tsv")
    work, report = tmp_path / "work", tmp_path / "report" / "results.md"
    args = (
        "mtask_tf.study",
        "--protocol=configs/study/smoke.toml",
        f"--work_dir={work}",
        f"--report={report}",
        f"--turns={turns}",
    )
    first = run_module(*args, timeout=900, check=True)
    assert "[study 1/" in first.stdout and "ETA" in first.stdout
    protocol = protocol_lib.load("configs/study/smoke.toml")
    for step in steps_lib.build(protocol, work):
        assert (work / "steps" / f"{step.name}.json").is_file(), step.name
    metrics = json.loads((work / "eval/main_test/metrics.json").read_text())
    assert set(metrics) == {"baseline", "mtask_s", "mtask_m"}
    assert "speaker_accuracy" in metrics["mtask_m"] and "ent_4" in metrics["mtask_m"]
    _check_perplexity_only(work / "eval/extra")
    # The control ran as many SEQ2SEQ updates as MTASK-M's stage 2.
    control = json.loads((work / "models/control/steps_run.json").read_text())
    mtask_m = json.loads((work / "models/mtask_m/steps_run.json").read_text())
    assert control["stage1"] == mtask_m["stage2"] > 0
    assert json.loads((work / "models/mtask_m/mmi.json").read_text())["decoding"]["beam_size"] == 3
    text = report.read_text()
    assert "Table 1" in text and "python -m mtask_tf.study" in text
    again = run_module(*args, timeout=300, check=True)
    assert "[study 1/" not in again.stdout and "done before" in again.stdout


def _check_perplexity_only(output_dir):
    """evaluate --nodecode (the control and scarcity systems): perplexity, no responses."""
    extra = json.loads((output_dir / "metrics.json").read_text())
    assert {"control", "mtask_m_monologue_0.5"} <= set(extra)
    for result in extra.values():
        assert result["perplexity"]["dev"] > 1 and not result["bleu"]
    assert not list(output_dir.glob("*.responses.tsv"))
