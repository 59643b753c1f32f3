"""What a study's work directory holds, read once for the report.

The layout is the one `mtask_tf.study.steps` writes. Every reader returns None
for an artifact that does not exist yet (a partly finished study), and raises
`ReportError` naming the file for one that exists but cannot be read.
"""

import dataclasses
import json
import pathlib

from mtask_tf import errors
from mtask_tf.decoding import mmi as mmi_lib
from mtask_tf.model import model_dir as model_dir_lib

SYSTEMS = (("baseline", "Baseline"), ("mtask_s", "MTASK-S"), ("mtask_m", "MTASK-M"))


class ReportError(errors.UserError):
    """An artifact in the work directory that cannot be read; the message names it."""


@dataclasses.dataclass(frozen=True)
class Model:
    """What a model directory tells the report: best.json, steps_run.json, model.json."""

    best: model_dir_lib.BestRecord | None
    steps_run: dict | None
    sizes: dict | None

    @property
    def best_dev(self):
        return None if self.best is None else self.best.perplexity

    @property
    def steps(self):
        return (
            None
            if self.steps_run is None
            else self.steps_run.get("stage1", 0) + self.steps_run.get("stage2", 0)
        )


@dataclasses.dataclass(frozen=True)
class Artifacts:
    """Everything the report shows, read once; None (or absent keys) where not run yet."""

    summary: dict | None
    models: dict  # name (mtask_s targets: "mtask_s/<target>") -> Model
    mmi: dict  # system -> mmi_lib.MmiWeights or None
    main: dict | None  # eval/main/metrics.json
    extra: dict | None  # eval/extra/metrics.json
    responses: dict  # system -> [row dicts] of eval/main/<system>.test.responses.tsv
    fig4: pathlib.Path | None


def fraction_model(fraction):
    """The model name of MTASK-M on a share of the monologue (as the study steps name it)."""
    return f"mtask_m_monologue_{fraction:g}"


def model_names(protocol):
    return [
        "baseline",
        "persona",
        "mtask_m",
        "control",
        "reverse",
        *map(fraction_model, protocol.monologue_fractions),
    ]


def _read_json(path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportError(
            f"{path}:{error.lineno}: not valid JSON ({error.msg}); run the "
            "step that writes it again"
        ) from None


def _read_record(record_class, model_dir, name):
    """A model directory's record (`BestRecord`, `EnrollRecord`); None before it is written."""
    if not (model_dir / name).is_file():
        return None
    try:
        return record_class.load(model_dir)
    except model_dir_lib.ModelDirError as error:
        raise ReportError(f"{error}; run the step that writes it again") from None


def _read_model(model_dir):
    return Model(
        _read_record(model_dir_lib.BestRecord, model_dir, model_dir_lib.BEST_RECORD),
        _read_json(model_dir / "steps_run.json"),
        _read_json(model_dir / model_dir_lib.MODEL_CONFIG),
    )


def _read_mmi(path):
    try:
        return mmi_lib.MmiWeights.load(path) if path.is_file() else None
    except mmi_lib.MmiFileError as error:
        raise ReportError(str(error)) from None


def read_responses(path):
    """The rows of a responses.tsv as dicts keyed by its header, or None without the file."""
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ReportError(
                f"{path}:{number}: expected {len(header)} tab-separated "
                f"fields ({', '.join(header)}), found {len(fields)}"
            )
        rows.append(dict(zip(header, fields)))
    return rows


def _merged(*mappings):
    """Nested dicts merged key by key; later ones win where both hold a value."""
    merged = {}
    for mapping in mappings:
        for key, value in (mapping or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                value = _merged(merged[key], value)
            merged[key] = value
    return merged


def _main_evaluation(work_dir):
    """(metrics, directory of the test responses and plot): eval/main, or main_dev + main_test.

    The study evaluates each split in its own step; the per-split measures of
    both merge, and the test split's per-system measures (diversity) win.
    """
    evaluation = work_dir / "eval"
    parts = [
        _read_json(evaluation / name / "metrics.json") for name in ("main", "main_dev", "main_test")
    ]
    metrics = _merged(*parts) if any(parts) else None
    test_dir = evaluation / ("main_test" if parts[2] else "main")
    return metrics, test_dir


def load(protocol, work_dir):
    models_dir = work_dir / "models"
    main, main_dir = _main_evaluation(work_dir)
    models = {name: _read_model(models_dir / name) for name in model_names(protocol)}
    for target in protocol.data.targets:
        models[f"mtask_s/{target}"] = _read_model(
            models_dir / "mtask_s" / model_dir_lib.target_dir_name(target)
        )
    fig4 = main_dir / "perplexity_by_speaker.png"
    return Artifacts(
        summary=_read_json(work_dir / "data" / "summary.json"),
        models=models,
        mmi={s: _read_mmi(models_dir / s / "mmi.json") for s, _ in SYSTEMS},
        main=main,
        extra=_read_json(work_dir / "eval" / "extra" / "metrics.json"),
        responses={s: read_responses(main_dir / f"{s}.test.responses.tsv") for s, _ in SYSTEMS},
        fig4=fig4 if fig4.is_file() else None,
    )


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One configuration's measures, for the ablation: the main one or an [[ablation]] one.

    perplexity: system -> its evaluate metrics that hold perplexity (dev, test,
        inputs shuffled); None before any evaluation ran.
    decoded: decoding name ("" for [decode]'s) -> eval metrics.json of the test
        split (system -> metrics), None where not run; empty when the
        configuration is not decoded.
    """

    name: str
    label: str
    perplexity: dict | None
    decoded: dict


def _configuration(protocol, work_dir, configuration):
    """The measures of the main configuration (None) or of an [[ablation]] one."""
    from mtask_tf.study import steps as steps_lib

    where = steps_lib.layout(work_dir, configuration and configuration.name)
    extra = _read_json(where.eval / "extra" / "metrics.json")
    read = lambda name: _read_json(where.evaluation("test", name) / "metrics.json")
    decoded = {d.name: read(d.name) for d in protocol.decodings}
    if configuration is None:
        # [decode]'s measures: the merged dev and test evaluation, test's per-system ones.
        main, _ = _main_evaluation(work_dir)
        perplexity = _merged(extra, main) if (extra or main) else None
        return Configuration("main", protocol.train.label, perplexity, {"": main, **decoded})
    if not configuration.decoded:
        return Configuration(configuration.name, configuration.label, extra, {})
    return Configuration(configuration.name, configuration.label, extra, {"": read(""), **decoded})


def configurations(protocol, work_dir):
    """The ablation's `Configuration`s: the main one first, then each [[ablation]] one."""
    work_dir = pathlib.Path(work_dir)
    return [_configuration(protocol, work_dir, c) for c in (None, *protocol.ablation)]


@dataclasses.dataclass(frozen=True)
class Enrolment:
    """One newcomer enrolled one way: its enroll.json (None before the step ran)."""

    newcomer: str
    adapt: str
    system: str  # its name in eval/newcomers/metrics.json
    record: model_dir_lib.EnrollRecord | None


def enrolments(protocol, work_dir):
    """([`Enrolment`] of every [data] newcomer and mode, eval/newcomers/metrics.json or None)."""
    from mtask_tf.study import steps as steps_lib

    where = steps_lib.layout(work_dir)
    enrolled = [
        Enrolment(
            newcomer,
            adapt,
            steps_lib.enrolled_name(newcomer, adapt),
            _read_record(
                model_dir_lib.EnrollRecord,
                where.models / "enrolled" / steps_lib.enrolled_name(newcomer, adapt),
                model_dir_lib.ENROLL_RECORD,
            ),
        )
        for newcomer in protocol.data.newcomers
        for adapt in steps_lib.ENROL_MODES
    ]
    return enrolled, _read_json(where.eval / "newcomers" / "metrics.json")


def get(mapping, *keys):
    """mapping[k1][k2]... as a float, or None where any level is missing."""
    for key in keys:
        if not isinstance(mapping, dict) or mapping.get(key) is None:
            return None
        mapping = mapping[key]
    return float(mapping) if isinstance(mapping, (int, float)) else mapping


def monologue_lines(summary, targets, fraction):
    """Monologue lines MTASK-M trains on with `fraction` of each target's lines.

    The rule of mtask_tf.training.experiment.sample_monologue: round(fraction * n)
    of a target's n lines, at least one.

    Args:
        summary: the content of data/summary.json.
        targets: the target speakers.
        fraction: the share of each target's monologue used, 1.0 for all of it.
    """
    counts = summary["counts"]["monologue"]["by_speaker"]
    return sum(max(1, round(fraction * counts[t])) if counts.get(t) else 0 for t in targets)
