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
    models/<system>/mmi.<decoding>.json, eval/<decoding>_test/
                              each [[decoding]]: tuned and evaluated again on test
    models/enrolled/<newcomer>_<adapt>/  each [data] newcomer enrolled into
                              models/mtask_m from their texts alone (enroll
                              --adapt=speaker and --adapt=decoder)
    eval/newcomers/           evaluate --nodecode on data/newcomers/test.tsv:
                              the baseline and every enrolled model
    ablation/<configuration>/ each [[ablation]] configuration: models/ (baseline,
                              persona, mtask_m, control, mtask_s), eval/extra
                              (perplexity of all four); when `decoded`, also the
                              tuning and eval/main_test, eval/<decoding>_test

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


ENROL_MODES = ("speaker", "decoder")


def enrolled_name(newcomer, adapt):
    """The enrolled model's system name: `ds9:SISKO`, speaker -> `ds9_SISKO_speaker`."""
    return re.sub(r"[^A-Za-z0-9]+", "_", newcomer).strip("_") + "_" + adapt


def steps_run(model_dir):
    """Training steps a model directory's run has taken (its last checkpoint's number)."""
    state = pathlib.Path(model_dir) / "checkpoints" / "checkpoint"
    if not state.is_file():
        return 0
    found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
    return int(found.group(1)) if found else 0


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where one configuration's steps write, and how its steps are named.

    The main configuration ([train]) writes into the work directory itself;
    an ablation configuration under ablation/<name>/, its steps named
    "<name>.<step>". Both read the work directory's data/ and reverse model.
    """

    prefix: str
    models: pathlib.Path
    eval: pathlib.Path

    def step(self, name):
        return self.prefix + name

    def mmi(self, system, decoding=None):
        """The MMI weights of a system tuned with a decoding (None: [decode]'s)."""
        return self.models / system / (f"mmi.{decoding}.json" if decoding else "mmi.json")

    def evaluation(self, split, decoding=None):
        return self.eval / (f"{decoding}_{split}" if decoding else f"main_{split}")


def layout(work_dir, configuration=None):
    """The main configuration's layout (configuration None) or an ablation one's."""
    work_dir = pathlib.Path(work_dir)
    if configuration is None:
        return Layout("", work_dir / "models", work_dir / "eval")
    root = work_dir / "ablation" / configuration
    return Layout(f"{configuration}.", root / "models", root / "eval")


class _Builder:
    """Makes the steps of a protocol; each method returns a list of `Step`."""

    def __init__(self, protocol, work_dir, python):
        self.protocol = protocol
        self.work_dir = pathlib.Path(work_dir)
        self.data = self.work_dir / "data"
        self.reverse = self.work_dir / "models" / "reverse"
        self.python = python

    def module(self, name, *args):
        return [self.python, "-m", name, *map(str, args)]

    def prepare(self):
        p = self.protocol.data
        if p.split == "column":
            split = [
                "--dev_values=" + ",".join(p.dev_values),
                "--test_values=" + ",".join(p.test_values),
            ]
        else:
            split = [f"--heldout_fraction={p.heldout_fraction:g}"]
        return Step(
            "prepare",
            "prepare the data directory",
            self.module(
                "mtask_tf.prepare",
                "--corpus=turns",
                "--turns=" + ",".join(p.turns),
                "--targets=" + ",".join(p.targets),
                f"--split={p.split}",
                f"--split_column={p.split_column}",
                *split,
                *(["--monologue=" + ",".join(p.monologue)] if p.monologue else []),
                *(["--newcomers=" + ",".join(p.newcomers)] if p.newcomers else []),
                *(["--skip_bad_lines"] if p.skip_bad_lines else []),
                f"--output_dir={self.data}",
            ),
            "prepare",
        )

    def _train(
        self, where, flags, name, variant, *args, max_steps_flag, steps, eval_every, patience
    ):
        t = self.protocol.train
        return self.module(
            "mtask_tf.train",
            f"--flagfile=configs/{variant}.flags",
            f"--flagfile={t.size_flags}",
            *flags,
            f"--data_dir={self.data}",
            f"--model_dir={where.models / name}",
            f"--eval_every={eval_every}",
            f"--patience={patience}",
            f"{max_steps_flag}={steps}",
            *args,
        )

    def stage1(self, where, flags, name, variant, *args, steps=None):
        t = self.protocol.train
        steps = steps or t.stage1_max_steps
        argv = self._train(
            where,
            flags,
            name,
            variant,
            *args,
            max_steps_flag="--pretrain_max_steps",
            steps=steps,
            eval_every=t.eval_every,
            patience=t.patience,
        )
        return self._training_step(where, name, "stage 1", argv, steps, ("prepare",))

    def stage2(self, where, flags, name, variant, source, *args):
        t = self.protocol.train
        argv = self._train(
            where,
            flags,
            name,
            variant,
            "--nopretrain",
            f"--init_from={where.models / source}",
            *t.stage2_flags,
            *args,
            max_steps_flag="--max_steps",
            steps=t.stage2_max_steps,
            eval_every=t.stage2_eval,
            patience=t.stage2_wait,
        )
        units = t.stage2_max_steps * (
            len(self.protocol.data.targets) if variant == "mtask_s" else 1
        )
        after = (where.step(f"train_{source}"),)
        return self._training_step(where, name, f"stage 2 from {source}", argv, units, after)

    @staticmethod
    def _training_step(where, name, stage, argv, units, after):
        what = f"train {where.prefix}{name} ({stage})"
        return Step(
            where.step(f"train_{name}"), what, argv, "train", units, (where.models / name,), after
        )

    def control(self, where, flags):
        t = self.protocol.train

        def command():
            return self._train(
                where,
                flags,
                "control",
                "baseline",
                f"--init_from={where.models / 'baseline'}",
                *t.stage2_flags,
                max_steps_flag="--pretrain_max_steps",
                steps=max(steps_run(where.models / "mtask_m"), 1),
                eval_every=t.stage2_eval,
                patience=1_000_000,  # exactly as many updates as MTASK-M's stage 2
            )

        return Step(
            where.step("train_control"),
            f"train the {where.prefix}control (baseline + MTASK-M's stage-2 updates)",
            command,
            "train",
            t.stage2_max_steps,
            (where.models / "control",),
            (where.step("train_baseline"), where.step("train_mtask_m")),
        )

    def training(self, where, flags, main):
        """Every system of a configuration; the main one also trains the reverse model."""
        steps = [
            self.stage1(where, flags, "baseline", "baseline"),
            self.stage1(where, flags, "persona", "mtask_m", "--nomultitask"),
        ]
        if main:  # Early: every tuning and evaluation step waits for it.
            reverse = self.stage1(
                where, flags, "reverse", "reverse", steps=self.protocol.train.reverse_max_steps
            )
            steps.append(reverse)
        steps += [
            self.stage2(where, flags, "mtask_m", "mtask_m", "persona"),
            self.control(where, flags),
            self.stage2(where, flags, "mtask_s", "mtask_s", "baseline"),
        ]
        if main:
            steps += [
                self.stage2(
                    where,
                    flags,
                    fraction_name(f),
                    "mtask_m",
                    "persona",
                    f"--monologue_fraction={f}",
                )
                for f in self.protocol.monologue_fractions
            ]
        return steps

    def _decoding_flags(self, decoding):
        d = self.protocol.decode
        return [
            f"--beam_size={d.beam_size}",
            f"--max_length={d.max_length}",
            f"--candidates={d.candidates}",
            f"--batch_size={d.batch_size}",
            f"--sample_seed={d.sample_seed}",
            *(decoding.flags if decoding else ()),
        ]

    def tuning(self, where, decoding=None):
        d, name = self.protocol.decode, decoding and decoding.name
        suffix = f"_{name}" if name else ""
        return [
            Step(
                where.step(f"tune_{system}{suffix}"),
                f"tune MMI weights of {where.prefix}{system}" + (f" for {name}" if name else ""),
                self.module(
                    "mtask_tf.tune_mmi",
                    f"--model_dir={where.models / system}",
                    f"--reverse_model_dir={self.reverse}",
                    f"--data={self.data / 'dev.tsv'}",
                    f"--output={where.mmi(system, name)}",
                    f"--max_examples={d.tune_examples}",
                    *self._decoding_flags(decoding),
                ),
                "decode",
                d.tune_examples,
                after=(where.step(f"train_{system}"), "train_reverse"),
            )
            for system in MAIN_SYSTEMS
        ]

    def evaluation(self, where, split, decoding=None):
        """evaluate on one split: the main systems, decoded with their tuned weights."""
        d, name = self.protocol.decode, decoding and decoding.name
        suffix = f"_{name}" if name else ""
        systems = ",".join(f"{s}={where.models / s}:{where.mmi(s, name)}" for s in MAIN_SYSTEMS)
        return Step(
            where.step(f"evaluate_main_{split}" if not name else f"evaluate_{name}_{split}"),
            f"evaluate {where.prefix}baseline, MTASK-S and MTASK-M on {split}"
            + (f" ({name})" if name else ""),
            self.module(
                "mtask_tf.evaluate",
                f"--systems={systems}",
                f"--reverse_model_dir={self.reverse}",
                f"--data={self.data / (split + '.tsv')}",
                f"--output_dir={where.evaluation(split, name)}",
                f"--monologue={self.data / 'monologue.tsv'}",
                f"--max_examples={d.eval_examples}",
                "--strict_mmi",
                *self._decoding_flags(decoding),
            ),
            "decode",
            len(MAIN_SYSTEMS) * d.eval_examples,
            after=tuple(where.step(f"tune_{s}{suffix}") for s in MAIN_SYSTEMS),
        )

    def perplexity(self, where, systems, what):
        """evaluate --nodecode: dev and test perplexity, inputs shuffled too."""
        return Step(
            where.step("evaluate_extra"),
            what,
            self.module(
                "mtask_tf.evaluate",
                "--systems=" + ",".join(f"{s}={where.models / s}" for s in systems),
                f"--data={self.data / 'dev.tsv'},{self.data / 'test.tsv'}",
                f"--output_dir={where.eval / 'extra'}",
                "--nodecode",
            ),
            "prepare",
            after=tuple(where.step(f"train_{s}") for s in systems),
        )

    def enrolment(self):
        """Each newcomer enrolled into MTASK-M both ways, then test perplexity."""
        where, newcomers = layout(self.work_dir), self.data / "newcomers"
        steps, enrolled = [], []
        for newcomer in self.protocol.data.newcomers:
            for adapt in ENROL_MODES:
                name = enrolled_name(newcomer, adapt)
                enrolled.append(name)
                steps.append(
                    Step(
                        f"enrol_{name}",
                        f"enrol {newcomer} into MTASK-M from their texts (--adapt={adapt})",
                        self.module(
                            "mtask_tf.enroll",
                            f"--model_dir={where.models / 'mtask_m'}",
                            f"--speaker={newcomer}",
                            f"--text={newcomers / 'monologue.tsv'}",
                            f"--dev={newcomers / 'dev.tsv'}",
                            f"--adapt={adapt}",
                            f"--max_steps={self.protocol.enrol.max_steps}",
                            f"--eval_every={self.protocol.enrol.eval_every}",
                            f"--patience={self.protocol.enrol.patience}",
                            *([f"--data_dir={self.data}"] if adapt == "decoder" else []),
                            f"--output_dir={where.models / 'enrolled' / name}",
                        ),
                        "train",
                        self.protocol.enrol.max_steps,
                        after=(where.step("train_mtask_m"),),
                    )
                )
        if not steps:
            return []
        systems = [f"baseline={where.models / 'baseline'}"] + [
            f"{name}={where.models / 'enrolled' / name}" for name in enrolled
        ]
        evaluate = Step(
            "evaluate_newcomers",
            "perplexity of the enrolled newcomers on their test triples",
            self.module(
                "mtask_tf.evaluate",
                "--systems=" + ",".join(systems),
                f"--data={newcomers / 'test.tsv'}",
                f"--output_dir={where.eval / 'newcomers'}",
                "--nodecode",
            ),
            "prepare",
            after=(where.step("train_baseline"), *(s.name for s in steps)),
        )
        return [*steps, evaluate]

    def attention_plots(self, where):
        """MTASK-M's attention heatmaps on a seeded sample of test inputs ([report])."""
        count = self.protocol.report.attention_plots
        if not count:
            return []
        return [
            Step(
                "attention_mtask_m",
                f"MTASK-M's attention on {count} seeded test inputs, as heatmaps",
                self.module(
                    "mtask_tf.decode",
                    f"--model_dir={where.models / 'mtask_m'}",
                    f"--reverse_model_dir={self.reverse}",
                    f"--mmi={where.mmi('mtask_m', None)}",
                    f"--input={self.data / 'test.tsv'}",
                    f"--max_examples={count}",
                    f"--output={where.eval / 'attention' / 'mtask_m.tsv'}",
                    f"--attention_plots={where.eval / 'attention' / 'mtask_m'}",
                    "--attention_plots_max=0",
                    *self._decoding_flags(None),
                ),
                "decode",
                count,
                after=(where.step("tune_mtask_m"),),
            )
        ]

    def main_evaluation(self):
        """The main configuration's tuning and evaluation, with every decoding."""
        where = layout(self.work_dir)
        steps = [*self.tuning(where), *(self.evaluation(where, s) for s in ("dev", "test"))]
        steps += self.attention_plots(where)
        fractions = map(fraction_name, self.protocol.monologue_fractions)
        systems = ["baseline", "mtask_m", "control", *fractions]
        steps.append(
            self.perplexity(where, systems, "perplexity of the control and scarcity systems")
        )
        for decoding in self.protocol.decodings:
            steps += [*self.tuning(where, decoding), self.evaluation(where, "test", decoding)]
        return steps

    def ablation_training(self, configuration):
        where = layout(self.work_dir, configuration.name)
        systems = ["baseline", "mtask_s", "mtask_m", "control"]
        what = f"perplexity of the {configuration.name} systems"
        return [
            *self.training(where, configuration.flags, main=False),
            self.perplexity(where, systems, what),
        ]

    def ablation_decoding(self, configuration):
        where = layout(self.work_dir, configuration.name)
        steps = []
        for decoding in (None, *self.protocol.decodings):
            steps += [*self.tuning(where, decoding), self.evaluation(where, "test", decoding)]
        return steps


def build(protocol, work_dir, python=sys.executable):
    """The study's steps in the order they run: every configuration's training, then decoding.

    Training first, so that a study stopped half-way already compares the
    configurations' perplexities.
    """
    builder = _Builder(protocol, work_dir, python)
    steps = [builder.prepare(), *builder.training(layout(work_dir), protocol.train.flags, True)]
    for configuration in protocol.ablation:
        steps += builder.ablation_training(configuration)
    steps += builder.enrolment()
    steps += builder.main_evaluation()
    for configuration in protocol.ablation:
        if configuration.decoded:
            steps += builder.ablation_decoding(configuration)
    return steps


def record_steps_run(model_dir):
    """Writes steps_run.json beside best.json in each model directory (MTASK-S: per target)."""
    for directory in model_dir_lib.model_dirs(model_dir):
        total = steps_run(directory)
        second = model_dir_lib.load_experiment(directory).multitask
        record = {"stage1": 0 if second else total, "stage2": total if second else 0}
        (directory / "steps_run.json").write_text(json.dumps(record) + "\n")
