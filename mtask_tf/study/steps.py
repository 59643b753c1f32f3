"""The study as a list of steps: each one command of the toolkit's own CLIs.

Every step writes into the study's work directory:

    data/                     python -m mtask_tf.prepare
    models/baseline/          SEQ2SEQ, stage 1 until dev perplexity converges
    models/persona/           the persona model's stage 1 (MTASK-M starts from it)
    models/mtask_m/           MTASK-M: stage 2 from models/persona
    models/control/           the baseline continued for as many SEQ2SEQ updates
                              as MTASK-M's stage 2 ran
    models/mtask_s/<target>/  MTASK-S: stage 2 from models/baseline, per target
    models/reverse/           p(message | response), for MMI reranking
    models/mtask_m_monologue_<f>/  MTASK-M with a share f of the monologue
    models/<system>/mmi.json  MERT weights (baseline, mtask_s, mtask_m)
    eval/main_dev/, main_test/  evaluate (one step per split): baseline, MTASK-S, MTASK-M
    eval/extra/               evaluate --nodecode: control and scarcity systems

A step is done when `steps/<name>.json` exists; every command is itself
resumable (training continues from its last checkpoint), so the runner can be
stopped anywhere and started again.
"""

import dataclasses
import json
import pathlib
import re
import sys
from collections.abc import Callable

from mtask_tf.model import model_dir as model_dir_lib

MAIN_SYSTEMS = ("baseline", "mtask_s", "mtask_m")


@dataclasses.dataclass(frozen=True)
class Step:
    """One command of the study.

    Attributes:
        name: unique, also the file name of its done marker and log.
        what: a few words for the progress line.
        argv: the command, or a function returning it when it depends on
            earlier steps (made when the step starts).
        kind: "prepare", "train", "decode" or "report", for the time estimate.
        units: training steps, or inputs decoded, the estimate scales with.
        model_dirs: model directories whose steps run are recorded afterwards.
        after: names of the steps whose output this one needs.
    """

    name: str
    what: str
    argv: list | Callable[[], list]
    kind: str
    units: int = 0
    model_dirs: tuple = ()
    after: tuple = ()

    def command(self):
        return list(self.argv()) if callable(self.argv) else list(self.argv)


def fraction_name(fraction):
    return f"mtask_m_monologue_{fraction:g}"


def steps_run(model_dir):
    """Training steps a model directory's run has taken (its last checkpoint's number)."""
    state = pathlib.Path(model_dir) / "checkpoints" / "checkpoint"
    if not state.is_file():
        return 0
    found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
    return int(found.group(1)) if found else 0


def build(protocol, work_dir, python=sys.executable):
    """The study's steps, in the order they run."""
    work_dir = pathlib.Path(work_dir)
    data, models = work_dir / "data", work_dir / "models"
    p, t, d = protocol.data, protocol.train, protocol.decode
    module = lambda name, *args: [python, "-m", name, *map(str, args)]

    def train(name, variant, *args, max_steps_flag, steps, eval_every=t.eval_every):
        common = [
            f"--flagfile=configs/{variant}.flags",
            f"--flagfile={t.size_flags}",
            *t.flags,
            f"--data_dir={data}",
            f"--model_dir={models / name}",
            f"--eval_every={eval_every}",
            f"--patience={t.patience}",
            f"{max_steps_flag}={steps}",
            *args,
        ]
        return module("mtask_tf.train", *common)

    stage1 = lambda name, variant, *args, steps=t.stage1_max_steps: Step(
        f"train_{name}",
        f"train {name} (stage 1)",
        train(name, variant, *args, max_steps_flag="--pretrain_max_steps", steps=steps),
        "train",
        steps,
        (models / name,),
        ("prepare",),
    )
    stage2 = lambda name, variant, source, *args: Step(
        f"train_{name}",
        f"train {name} (stage 2 from {source})",
        train(
            name,
            variant,
            "--nopretrain",
            f"--init_from={models / source}",
            *t.stage2_flags,
            *args,
            max_steps_flag="--max_steps",
            steps=t.stage2_max_steps,
            eval_every=t.stage2_eval,
        ),
        "train",
        t.stage2_max_steps * (len(p.targets) if variant == "mtask_s" else 1),
        (models / name,),
        (f"train_{source}",),
    )

    def control():
        extra = steps_run(models / "mtask_m")
        return train(
            "control",
            "baseline",
            f"--init_from={models / 'baseline'}",
            *t.stage2_flags,
            "--patience=1000000",
            max_steps_flag="--pretrain_max_steps",
            steps=max(extra, 1),
            eval_every=t.stage2_eval,
        )

    steps = [
        Step(
            "prepare",
            "prepare the data directory",
            module(
                "mtask_tf.prepare",
                "--corpus=turns",
                "--turns=" + ",".join(p.turns),
                "--targets=" + ",".join(p.targets),
                "--split=column",
                f"--split_column={p.split_column}",
                "--dev_values=" + ",".join(p.dev_values),
                "--test_values=" + ",".join(p.test_values),
                f"--output_dir={data}",
            ),
            "prepare",
        ),
        stage1("baseline", "baseline"),
        stage1("persona", "mtask_m", "--nomultitask"),
        # Early: every tuning and evaluation step waits for it.
        stage1("reverse", "reverse", steps=t.reverse_max_steps),
        stage2("mtask_m", "mtask_m", "persona"),
        Step(
            "train_control",
            "train the control (baseline + MTASK-M's stage-2 updates)",
            control,
            "train",
            t.stage2_max_steps,
            (models / "control",),
            ("train_baseline", "train_mtask_m"),
        ),
        stage2("mtask_s", "mtask_s", "baseline"),
    ]
    steps += [
        stage2(fraction_name(f), "mtask_m", "persona", f"--monologue_fraction={f}")
        for f in protocol.monologue_fractions
    ]
    decoding = [
        f"--beam_size={d.beam_size}",
        f"--max_length={d.max_length}",
        f"--candidates={d.candidates}",
        f"--batch_size={d.batch_size}",
        f"--sample_seed={d.sample_seed}",
    ]
    for system in MAIN_SYSTEMS:
        steps.append(
            Step(
                f"tune_{system}",
                f"tune MMI weights of {system}",
                module(
                    "mtask_tf.tune_mmi",
                    f"--model_dir={models / system}",
                    f"--reverse_model_dir={models / 'reverse'}",
                    f"--data={data / 'dev.tsv'}",
                    f"--output={models / system / 'mmi.json'}",
                    f"--max_examples={d.tune_examples}",
                    *decoding,
                ),
                "decode",
                d.tune_examples,
                after=(f"train_{system}", "train_reverse"),
            )
        )
    main = ",".join(f"{s}={models / s}:{models / s / 'mmi.json'}" for s in MAIN_SYSTEMS)
    # One step per split, so that two can decode at once.
    for split in ("dev", "test"):
        steps.append(
            Step(
                f"evaluate_main_{split}",
                f"evaluate baseline, MTASK-S and MTASK-M on {split}",
                module(
                    "mtask_tf.evaluate",
                    f"--systems={main}",
                    f"--reverse_model_dir={models / 'reverse'}",
                    f"--data={data / (split + '.tsv')}",
                    f"--output_dir={work_dir / 'eval' / ('main_' + split)}",
                    f"--monologue={data / 'monologue.tsv'}",
                    f"--max_examples={d.eval_examples}",
                    "--strict_mmi",
                    *decoding,
                ),
                "decode",
                len(MAIN_SYSTEMS) * d.eval_examples,
                after=tuple(f"tune_{s}" for s in MAIN_SYSTEMS),
            )
        )
    extra = ["baseline", "mtask_m", "control", *map(fraction_name, protocol.monologue_fractions)]
    steps.append(
        Step(
            "evaluate_extra",
            "perplexity of the control and scarcity systems",
            module(
                "mtask_tf.evaluate",
                "--systems=" + ",".join(f"{s}={models / s}" for s in extra),
                f"--data={data / 'dev.tsv'},{data / 'test.tsv'}",
                f"--output_dir={work_dir / 'eval/extra'}",
                "--nodecode",
            ),
            "prepare",
            after=tuple(f"train_{s}" for s in extra),
        )
    )
    return steps


def record_steps_run(model_dir):
    """Writes steps_run.json beside best.json in each model directory (MTASK-S: per target)."""
    for directory in model_dir_lib.model_dirs(model_dir):
        total = steps_run(directory)
        second = model_dir_lib.load_experiment(directory).multitask
        record = {"stage1": 0 if second else total, "stage2": total if second else 0}
        (directory / "steps_run.json").write_text(json.dumps(record) + "\n")
