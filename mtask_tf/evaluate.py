r"""Evaluates systems side by side: perplexity, BLEU after MMI reranking, distinct-1/2.

    python -m mtask_tf.evaluate \
        --systems=baseline=runs/demo/baseline,mtask_m=runs/demo/mtask_m:runs/demo/mmi.json \
        --reverse_model_dir=runs/demo/reverse \
        --data=data/shakespeare/dev.tsv,data/shakespeare/test.tsv --output_dir=runs/demo/eval

The first system is the baseline of the relative changes. Writes metrics.json,
metrics.md (the paper's Tables 1-2) and perplexity_by_speaker.png (Fig. 4).
"""

import json
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli

_SYSTEMS = flags.DEFINE_list(
    "systems", None, "NAME=MODEL_DIR[:MMI_FILE],... ; the first is the baseline. A "
    "MODEL_DIR holding one model per target (MTASK-S) serves each speaker by its model.")
_REVERSE_MODEL_DIR = flags.DEFINE_string(
    "reverse_model_dir", None, "Reverse model for MMI reranking of every system.")
_DATA = flags.DEFINE_list("data", None, "Triples files; each is a split named by its "
                          "file name (dev.tsv -> dev).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where results go.")
_BEAM_SIZE = flags.DEFINE_integer("beam_size", 50, "Beam width B (paper: 50).")
_MAX_LENGTH = flags.DEFINE_integer("max_length", 20, "Most tokens of a response, EOS "
                                   "included (paper: 20).")
_NBEST = flags.DEFINE_integer("nbest", 0, "N-best list size reranked; 0: the beam size.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Inputs decoded together.")
_MAX_EXAMPLES = flags.DEFINE_integer("max_examples", 0, "Decode only the first N rows "
                                     "of each file for BLEU/distinct (0: all); perplexity "
                                     "always uses every row.")


def _parse_systems(specs):
    systems = []
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise app.UsageError(f"--systems entry {spec!r} is not NAME=MODEL_DIR[:MMI_FILE]")
        model_dir, _, mmi_path = rest.partition(":")
        systems.append((name, model_dir, mmi_path or None))
    if len({n for n, _, _ in systems}) != len(systems):
        raise app.UsageError("--systems names must be different")
    return systems


def _validate():
    cli.require(_SYSTEMS, _DATA, _OUTPUT_DIR)
    cli.require_positive("beam_size", "max_length", "batch_size")
    systems = _parse_systems(_SYSTEMS.value)
    if any(mmi for _, _, mmi in systems) and not _REVERSE_MODEL_DIR.value:
        raise app.UsageError("an MMI file needs --reverse_model_dir")
    return systems


def _evaluate_system(system, splits, reverse, log):
    from mtask_tf.decoding import mmi
    from mtask_tf.decoding import responder
    from mtask_tf.decoding import runner
    from mtask_tf.evaluation import systems as systems_lib

    weights = (mmi.MmiWeights.load(system.mmi_path) if system.mmi_path
               else mmi.MmiWeights(0.0, 0.0))
    config = responder.DecodeConfig(
        beam_size=_BEAM_SIZE.value, max_length=_MAX_LENGTH.value,
        nbest=_NBEST.value or _BEAM_SIZE.value, mmi_lambda=weights.mmi_lambda,
        mmi_gamma=weights.mmi_gamma)
    result = {"perplexity": {}, "perplexity_by_speaker": {}, "bleu": {}, "mmi": {
        "lambda": weights.mmi_lambda, "gamma": weights.mmi_gamma}}
    for split, (path, rows) in splits.items():
        ppl, by_speaker = systems_lib.perplexity(system, rows, path)
        result["perplexity"][split] = ppl
        result["perplexity_by_speaker"][split] = by_speaker
        log(f"{system.name} {split}: perplexity {ppl:.2f}")
        decoded_rows = rows[:_MAX_EXAMPLES.value or None]
        nbest = systems_lib.decode(system, decoded_rows, path, reverse, config,
                                   _BATCH_SIZE.value,
                                   runner.progress_printer(f"{system.name} {split}", sys.stderr))
        hypotheses = [h[0].response if h else "" for h in nbest]
        generation = systems_lib.generation_metrics(hypotheses,
                                                    systems_lib.references(decoded_rows))
        result["bleu"][split] = generation["bleu"]
        # distinct-n is reported once per system, on the last split (test).
        result["distinct_1"], result["distinct_2"] = (generation["distinct_1"],
                                                      generation["distinct_2"])
        result.setdefault("responses", {})[split] = hypotheses
        log(f"{system.name} {split}: BLEU {generation['bleu']:.2f}, distinct-1 "
            f"{100 * generation['distinct_1']:.2f} %, distinct-2 "
            f"{100 * generation['distinct_2']:.2f} %")
    return result


def _write(output_dir, results, baseline, splits):
    from mtask_tf.evaluation import report

    output_dir.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        for split, hypotheses in result.pop("responses").items():
            rows = splits[split][1]
            with open(output_dir / f"{name}.{split}.responses.tsv", "w", encoding="utf-8") as f:
                f.write("speaker\tcontext\tmessage\treference\tresponse\n")
                for row, hypothesis in zip(rows, hypotheses):
                    f.write(f"{row.speaker}\t{row.context}\t{row.message}\t{row.response}\t"
                            f"{hypothesis}\n")
    (output_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report.metrics_table(results, baseline)
    (output_dir / "metrics.md").write_text(table + "\n")
    split = "test" if "test" in splits else next(iter(splits))
    report.plot_perplexity_by_speaker(results, output_dir / "perplexity_by_speaker.png", split)
    return table


def main(argv):
    cli.no_positional_arguments(argv)
    specs = _validate()
    logging.set_verbosity(logging.WARNING)
    from mtask_tf.data import records
    from mtask_tf.decoding import mmi
    from mtask_tf.decoding import responder
    from mtask_tf.evaluation import systems as systems_lib
    from mtask_tf.training import model_dir as model_dir_lib

    log = lambda message: print(message, file=sys.stderr, flush=True)
    with cli.user_errors(records.DataError, model_dir_lib.ModelDirError, mmi.MmiFileError,
                         ValueError):
        splits = {}
        for path in _DATA.value:
            rows, _ = records.read_triples(path)
            if not rows:
                raise records.DataError("no triples to evaluate", path)
            splits[pathlib.Path(path).name.split(".")[0]] = (path, rows)
        reverse = (model_dir_lib.load_trained(_REVERSE_MODEL_DIR.value,
                                              name_prefix=responder.REVERSE_PREFIX)
                   if _REVERSE_MODEL_DIR.value else None)
        results = {}
        for name, model_dir, mmi_path in specs:
            system = systems_lib.load_system(name, model_dir, mmi_path)
            results[name] = _evaluate_system(system, splits, reverse, log)
    table = _write(pathlib.Path(_OUTPUT_DIR.value), results, specs[0][0], splits)
    print(table)
    print(f"\nwrote metrics.json, metrics.md and perplexity_by_speaker.png to "
          f"{_OUTPUT_DIR.value}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
