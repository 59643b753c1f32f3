"""The study runner end to end on a generated corpus with the smoke protocol."""

import json
import random

import pytest

from mtask_tf.study import protocol as protocol_lib
from mtask_tf.study import steps as steps_lib
from tests.conftest import WORDS
from tests.conftest import run_module

SPEAKERS = ("ALICE", "BOB", "CAROL", "HAMLET", "IAGO")
TARGETS = ("HAMLET", "IAGO")


def _words(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))


def write_turns(path, seed=0, scenes=12, newcomer=None):
    """Turn files as the sitcom ones: show season episode scene turn speaker text.

    A `newcomer` speaks every other turn of each season's first scene only, so
    holding out their conversations leaves the rest for training.
    """
    rng = random.Random(seed)
    lines = ["show\tseason\tepisode\tscene\tturn\tspeaker\ttext"]
    for season in (1, 2, 3):
        for scene in range(scenes):
            for turn in range(rng.randint(4, 8)):
                speaker = rng.choice(SPEAKERS)
                if newcomer and scene == 0 and turn % 2:
                    speaker = newcomer
                lines.append(f"play\t{season}\t1\t{scene}\t{turn}\t{speaker}\t{_words(rng)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_texts(path, speakers, lines_each=20, seed=0):
    """A monologue file as the Star Trek logs: a TSV with speaker, text and other columns."""
    rng = random.Random(seed)
    rows = ["series\tspeaker\tstardate\ttext"]
    for speaker in speakers:
        rows += [f"play\t{speaker}\t{n}.5\t{_words(rng)}" for n in range(lines_each)]
    path.write_text("\n".join(rows) + "\n")
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
    turns = write_turns(tmp_path / "turns.tsv", newcomer="OPHELIA")
    texts = write_texts(tmp_path / "texts.tsv", ("HAMLET", "IAGO", "OPHELIA"))
    work, report = tmp_path / "work", tmp_path / "report" / "results.md"
    args = (
        "mtask_tf.study",
        "--protocol=configs/study/smoke.toml",
        f"--work_dir={work}",
        f"--report={report}",
        f"--turns={turns}",
        f"--monologue={texts}",
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
    _check_monologue_and_newcomer(work)
    text = report.read_text()
    assert "Table 1" in text and "python -m mtask_tf.study" in text
    enrolment = text.split("## Enrolment", 1)[1].split("\n## ", 1)[0]
    assert "| OPHELIA | their speaker vector only (--adapt=speaker) | 20 (20 trained on) |" in (
        enrolment
    )
    assert "Baseline (never saw them)" in enrolment and "not run" not in enrolment
    attention = text.split("## What MTASK-M attends to", 1)[1].split("\n## ", 1)[0]
    assert attention.count("![MTASK-M's attention") == 2 and "not run" not in attention
    assert len(list((report.parent / "results_figures").glob("attention_*.png"))) == 2
    again = run_module(*args, timeout=300, check=True)
    assert "[study 1/" not in again.stdout and "done before" in again.stdout


def _check_monologue_and_newcomer(work):
    """The targets' texts came from --monologue; OPHELIA was kept out, then enrolled."""
    summary = json.loads((work / "data/summary.json").read_text())
    assert summary["monologue_source"]["files"][0]["texts"] == 60
    assert all(summary["monologue_source"]["target_turns_dropped"][t] > 0 for t in TARGETS)
    assert summary["newcomers"]["OPHELIA"]["monologue"] == 20
    responders = {line.split("\t")[0] for line in (work / "data/train.tsv").open()}
    assert not responders & {"OPHELIA", *TARGETS}
    texts = set((work / "data/monologue.tsv").read_text().splitlines()[1:])
    assert texts == {"\t".join(row.split("\t")[1::2]) for row in _texts_of(work, TARGETS)}
    for adapt in ("speaker", "decoder"):
        record = json.loads((work / f"models/enrolled/OPHELIA_{adapt}/enroll.json").read_text())
        assert record["adapt"] == adapt and record["steps"] <= 4 and record["dev"]["triples"] > 0
    metrics = json.loads((work / "eval/newcomers/metrics.json").read_text())
    assert set(metrics) == {"baseline", "OPHELIA_speaker", "OPHELIA_decoder"}
    assert all(m["perplexity"]["test"] > 1 for m in metrics.values())


def _texts_of(work, speakers):
    rows = (work.parent / "texts.tsv").read_text().splitlines()[1:]
    return [row for row in rows if row.split("\t")[1] in speakers]


def _check_perplexity_only(output_dir):
    """evaluate --nodecode (the control and scarcity systems): perplexity, no responses."""
    extra = json.loads((output_dir / "metrics.json").read_text())
    assert {"control", "mtask_m_monologue_0.5"} <= set(extra)
    for result in extra.values():
        assert result["perplexity"]["dev"] > 1 and not result["bleu"]
    assert not list(output_dir.glob("*.responses.tsv"))
