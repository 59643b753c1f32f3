"""Prints the best dev perplexities of trained model directories side by side.

    python -m mtask_tf.compare runs/demo/baseline runs/demo/mtask_m

The first directory is the baseline that relative changes refer to.
"""

import json
import pathlib

from absl import app

from mtask_tf.training import loop


def _record(model_dir):
    path = pathlib.Path(model_dir) / loop.BEST_RECORD
    if not path.is_file():
        raise app.UsageError(f"{path}: not found; has training in {model_dir} "
                             "evaluated at least once?")
    return json.loads(path.read_text())


def table(model_dirs):
    """A Markdown table: rows are overall and per-speaker dev perplexity, columns systems."""
    records = [_record(d) for d in model_dirs]
    names = [pathlib.Path(d).name for d in model_dirs]
    speakers = sorted({s for r in records for s in r["dev"]["perplexity_by_speaker"]})
    rows = [("dev perplexity", [r["dev"]["perplexity"] for r in records])]
    rows += [(f"  {s}", [r["dev"]["perplexity_by_speaker"].get(s) for r in records])
             for s in speakers]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, values in rows:
        cells = [_cell(v, values[0], i) for i, v in enumerate(values)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| best step | " + " | ".join(str(r["step"]) for r in records) + " |")
    return "\n".join(lines)


def _cell(value, baseline, column):
    if value is None:
        return "-"
    if column == 0 or not baseline:
        return f"{value:.2f}"
    return f"{value:.2f} ({100 * (value - baseline) / baseline:+.1f} %)"


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("give one or more model directories, the baseline first")
    print(table(argv[1:]))


if __name__ == "__main__":
    app.run(main)
