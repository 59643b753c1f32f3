"""Prints trained models side by side: best dev perplexities, and what they answer.

    python -m mtask_tf.compare runs/demo/baseline runs/demo/mtask_m
    python -m mtask_tf.compare runs/demo/baseline runs/demo/mtask_m \
        --samples=data/shakespeare/test.tsv --sample_targets=HAMLET,FALSTAFF --beam_size=10

The first directory is the baseline that relative changes refer to. With
--samples, each model answers the first --samples_per_target inputs of each
target (beam search, forward score; no MMI reranking).
"""

import pathlib

from absl import app
from absl import flags

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli
from mtask_tf.evaluation import report as eval_report
from mtask_tf.model import model_dir as model_dir_lib

_SAMPLES = flags.DEFINE_string(
    "samples",
    None,
    "Triples file whose inputs the models answer side by side, e.g. data/shakespeare/test.tsv.",
)
_SAMPLE_TARGETS = flags.DEFINE_list(
    "sample_targets", None, "Targets whose inputs are shown; default: every speaker of --samples."
)
_SAMPLES_PER_TARGET = flags.DEFINE_integer("samples_per_target", 3, "Inputs per target.")
_DECODING = cli.DecodingFlags(reads_mmi=False)
flags.adopt_module_key_flags(cli)


def _record(model_dir):
    try:
        return model_dir_lib.BestRecord.load(model_dir)
    except model_dir_lib.ModelDirError as error:
        raise app.UsageError(str(error)) from None


def table(model_dirs):
    """A Markdown table: rows are overall and per-speaker dev perplexity, columns systems."""
    records = [_record(d) for d in model_dirs]
    names = [pathlib.Path(d).name for d in model_dirs]
    speakers = sorted({s for r in records for s in r.perplexity_by_speaker})
    rows = [("dev perplexity", [r.perplexity for r in records])]
    rows += [(f"  {s}", [r.perplexity_by_speaker.get(s) for r in records]) for s in speakers]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, values in rows:
        cells = [_cell(v, values[0], i) for i, v in enumerate(values)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| best step | " + " | ".join(str(r.step) for r in records) + " |")
    return "\n".join(lines)


def _cell(value, baseline, column):
    if value is None:
        return "-"
    return eval_report.value_cell(value, baseline if column else None)


def _sample_rows(path, targets, count):
    from mtask_tf.data import records

    rows, _ = records.read_triples(path)
    targets = targets or sorted({r.speaker for r in rows})
    missing = [t for t in targets if not any(r.speaker == t for r in rows)]
    if missing:
        raise records.DataError(f"no rows of {', '.join(missing)}", path)
    return [r for t in targets for r in [r for r in rows if r.speaker == t][:count]]


def _short(text, limit=80):
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def samples(model_dirs, rows, config, batch_size):
    """Each model's best response to each row, as text lines grouped by input."""
    from mtask_tf.decoding import responder as responder_lib
    from mtask_tf.decoding import runner

    answers = []
    for model_dir in model_dirs:
        responder = responder_lib.load(model_dir, None, config)
        answers.append(
            [h[0].display if h else "" for h in runner.decode(responder, rows, batch_size)]
        )
    width = max(len(pathlib.Path(d).name) for d in model_dirs)
    lines = []
    for index, row in enumerate(rows):
        lines += [
            "",
            f"{row.speaker} is told: {_short(row.context)} / {_short(row.message)}",
            f"  {'(real)':<{width}}  {_short(row.response)}",
        ]
        lines += [
            f"  {pathlib.Path(d).name:<{width}}  {a[index]}" for d, a in zip(model_dirs, answers)
        ]
    return lines


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("give one or more model directories, the baseline first")
    _DECODING.validate()
    print(table(argv[1:]))
    if not _SAMPLES.value:
        return

    with cli.user_errors():
        rows = _sample_rows(_SAMPLES.value, _SAMPLE_TARGETS.value, _SAMPLES_PER_TARGET.value)
        lines = samples(argv[1:], rows, _DECODING.decode_config(responses=1), _DECODING.batch_size)
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
