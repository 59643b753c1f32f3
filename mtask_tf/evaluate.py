r"""Evaluates systems side by side: perplexity, BLEU, diversity and speaker accuracy.

    python -m mtask_tf.evaluate \
        --systems=baseline=runs/demo/baseline,mtask_m=runs/demo/mtask_m:runs/demo/mmi.json \
        --reverse_model_dir=runs/demo/reverse \
        --data=data/shakespeare/dev.tsv,data/shakespeare/test.tsv --output_dir=runs/demo/eval

The first system is the baseline of the relative changes. Diversity is the
paper's distinct-1/2, Ent-4 and the share of distinct responses; degeneration
the mean length, the share of responses at the length cap (--max_length - 1
words) and the share saying a word three times in a row; speaker accuracy is
the share of responses a classifier trained on the targets' monologue
(--monologue, default: monologue.tsv next to the first --data file) attributes
to the speaker they were made for; the style score the share that a classifier
of each target's monologue against general responses (--general_responses,
default: train.tsv next to the first --data file) reads as the target's. Speaker
accuracy, the style score and the share of distinct responses come with 95 %
bootstrap intervals over the inputs. Writes metrics.json, metrics.md (the
paper's Tables 1-2 and these rows) and perplexity_by_speaker.png (Fig. 4).
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
    "systems",
    None,
    "NAME=MODEL_DIR[:MMI_FILE],... ; the first is the baseline. A "
    "MODEL_DIR holding one model per target (MTASK-S) serves each speaker by its model.",
)
_REVERSE_MODEL_DIR = flags.DEFINE_string(
    "reverse_model_dir", None, "Reverse model for MMI reranking of every system."
)
_DATA = flags.DEFINE_list(
    "data", None, "Triples files; each is a split named by its file name (dev.tsv -> dev)."
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where results go.")
_DECODING = cli.DecodingFlags()
_SAMPLE = cli.SampleFlags(
    "Decode only N rows of each file, a seeded random sample kept in "
    "file order (--sample_seed), for the decoding-based measures (0: every row); "
    "perplexity always uses every row."
)
flags.adopt_module_key_flags(cli)
_DECODE = flags.DEFINE_boolean(
    "decode",
    True,
    "Decode and compute BLEU, diversity and speaker accuracy; --nodecode reports perplexity only.",
)
_MONOLOGUE = flags.DEFINE_string(
    "monologue",
    None,
    "Monologue TSV (speaker, text) that the speaker classifier of "
    "speaker accuracy learns the targets from; default: monologue.tsv next to the first "
    "--data file, if there is one.",
)
_GENERAL_RESPONSES = flags.DEFINE_string(
    "general_responses",
    None,
    "Triples file whose responses by speakers who are no target are the general "
    "population the style score's classifiers set each target's monologue against; "
    "not one of the --data files. Default: train.tsv next to the first --data file, "
    "if there is one.",
)


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
    _DECODING.validate()
    _SAMPLE.validate()
    systems = _parse_systems(_SYSTEMS.value)
    if any(mmi for _, _, mmi in systems) and not _REVERSE_MODEL_DIR.value:
        raise app.UsageError("an MMI file needs --reverse_model_dir")
    if _GENERAL_RESPONSES.value and _is_data(_GENERAL_RESPONSES.value):
        raise app.UsageError(
            f"--general_responses={_GENERAL_RESPONSES.value} is also one of the --data files: "
            "the style classifier must not learn from the rows it scores; give the training split"
        )
    return systems


def _is_data(path):
    return any(pathlib.Path(path).resolve() == pathlib.Path(p).resolve() for p in _DATA.value)


def _classifiers(splits, log):
    """(speaker classifier, style classifier) trained on the evaluated targets' monologue.

    Each is None, after a one-line note saying why, when it cannot be trained.
    """
    targets = sorted({row.speaker for _, rows in splits.values() for row in rows})
    monologue = _monologue(targets, log)
    if monologue is None:
        return None, None
    return _speaker_classifier(targets, *monologue, log), _style_classifier(
        targets, *monologue, log
    )


def _monologue(targets, log):
    """(path, the targets' monologue lines, every speaker of the file), or None after a note."""
    from mtask_tf.data import records

    path = pathlib.Path(_MONOLOGUE.value or pathlib.Path(_DATA.value[0]).parent / "monologue.tsv")
    if not _MONOLOGUE.value and not path.exists():
        log(
            f"note: no speaker accuracy or style score: there is no {path} (name the "
            "targets' monologue with --monologue)"
        )
        return None
    every_line = records.read_monologue(path)[0]
    # Only the evaluated targets: a speaker no row belongs to could only draw
    # attributions away from the right one.
    lines = [m for m in every_line if m.speaker in targets]
    missing = sorted(set(targets) - {m.speaker for m in lines})
    if missing:
        log(
            f"note: no speaker accuracy or style score: {path} has no monologue of "
            f"{', '.join(missing)}"
        )
        return None
    return path, lines, {m.speaker for m in every_line}


def _speaker_classifier(targets, path, lines, _, log):
    """The classifier behind speaker accuracy; None with fewer than two targets."""
    from mtask_tf.data import tokenizer as tokenizer_lib
    from mtask_tf.evaluation import speaker_classifier

    if len(targets) < 2:
        log(
            f"note: no speaker accuracy: the data has one target ({targets[0]}), and the "
            "classifier needs at least two to tell apart"
        )
        return None
    log(
        f"speaker accuracy: classifier trained on {len(lines)} monologue lines of "
        f"{', '.join(targets)} from {path}"
    )
    return speaker_classifier.SpeakerClassifier.fit(
        tokenizer_lib.split_texts([m.text for m in lines]), [m.speaker for m in lines]
    )


def _style_classifier(targets, path, lines, monologue_speakers, log):
    """The classifiers behind the style score, or None after a note saying why."""
    from mtask_tf.data import records
    from mtask_tf.data import tokenizer as tokenizer_lib
    from mtask_tf.evaluation import style_classifier

    general_path = pathlib.Path(
        _GENERAL_RESPONSES.value or pathlib.Path(_DATA.value[0]).parent / "train.tsv"
    )
    if not _GENERAL_RESPONSES.value and (not general_path.exists() or _is_data(general_path)):
        problem = "is one of the --data files" if general_path.exists() else "does not exist"
        log(
            f"note: no style score: {general_path} {problem} (name the training split's "
            "triples with --general_responses)"
        )
        return None
    # Anybody with monologue counts as a target, evaluated or not.
    excluded = set(targets) | monologue_speakers
    general = [
        r.response for r in records.read_triples(general_path)[0] if r.speaker not in excluded
    ]
    if not general:
        log(f"note: no style score: {general_path} has no responses of speakers who are no target")
        return None
    log(
        f"style score: one classifier per target, its monologue lines from {path} "
        f"against {len(general)} responses of speakers who are no target from {general_path}"
    )
    return style_classifier.StyleClassifier.fit(
        tokenizer_lib.split_texts([m.text for m in lines]),
        [m.speaker for m in lines],
        tokenizer_lib.split_texts(general),
    )


def _with_interval(result, key, split, values, groups=None):
    """Stores a mean over inputs under result[key][split] and its interval beside it."""
    from mtask_tf.evaluation import metrics as metrics_lib

    estimate, interval = metrics_lib.mean_with_interval(values, groups, **metrics_lib.BOOTSTRAP)
    result.setdefault(key, {})[split] = estimate
    result.setdefault(f"{key}_interval", {})[split] = list(interval)
    return estimate


def _interval_text(result, key, split):
    low, high = result[f"{key}_interval"][split]
    return f"[{100 * low:.2f}, {100 * high:.2f}]"


def _speaker_accuracy(result, split, classifier, hypotheses, refs, rows):
    """Adds speaker accuracy of the 1-best, its ceiling (the references) and chance."""
    from mtask_tf.evaluation import speaker_classifier

    speakers = [row.speaker for row in rows]
    hits = speaker_classifier.attribution_hits(classifier, hypotheses, speakers)
    accuracy = _with_interval(result, "speaker_accuracy", split, hits)
    # Averaged over the targets, so a system that sounds like one target for
    # everybody scores chance however the rows are spread over the targets.
    balanced = _with_interval(result, "speaker_accuracy_balanced", split, hits, speakers)
    ceiling = speaker_classifier.attribution_accuracy(classifier, refs, speakers)
    # The same for every system; kept in each so metrics.json stays keyed by system.
    result.setdefault("speaker_accuracy_ceiling", {})[split] = ceiling
    result["speaker_accuracy_chance"] = classifier.chance
    return (
        f"speaker accuracy {100 * accuracy:.2f} % "
        f"{_interval_text(result, 'speaker_accuracy', split)} (balanced over targets "
        f"{100 * balanced:.2f} %; real responses {100 * ceiling:.2f} %, chance "
        f"{100 * classifier.chance:.2f} %)"
    )


def _style_score(result, split, classifier, hypotheses, refs, rows):
    """Adds the style score of the 1-best and of the references (its ceiling)."""
    targets = [row.speaker for row in rows]
    score = _with_interval(
        result, "style_score", split, classifier.reads_as_target(hypotheses, targets), targets
    )
    # The same for every system, like the speaker accuracy's ceiling.
    ceiling = _with_interval(
        result, "style_score_ceiling", split, classifier.reads_as_target(refs, targets), targets
    )
    return (
        f"style score {100 * score:.2f} % {_interval_text(result, 'style_score', split)} "
        f"(real responses {100 * ceiling:.2f} % "
        f"{_interval_text(result, 'style_score_ceiling', split)})"
    )


def _evaluate_system(system, splits, reverse, log, classifiers=(None, None)):
    from mtask_tf.decoding import mmi
    from mtask_tf.evaluation import metrics as metrics_lib
    from mtask_tf.evaluation import responses as responses_lib
    from mtask_tf.workflows import systems as workflow_systems

    weights = _DECODING.load_mmi(system.mmi_path) or mmi.MmiWeights(0.0, 0.0)
    config = _DECODING.decode_config(weights)
    result = {
        "perplexity": {},
        "perplexity_by_speaker": {},
        "perplexity_shuffled_inputs": {},
        "bleu": {},
        "mmi": {"lambda": weights.mmi_lambda, "gamma": weights.mmi_gamma},
        "decoding": _DECODING.search_settings().to_json(),
    }
    for split, (path, rows) in splits.items():
        ppl, by_speaker = workflow_systems.perplexity(system, rows, path)
        result["perplexity"][split] = ppl
        result["perplexity_by_speaker"][split] = by_speaker
        shuffled, _ = workflow_systems.perplexity(system, responses_lib.shuffled_inputs(rows), path)
        result["perplexity_shuffled_inputs"][split] = shuffled
        change = 100 * metrics_lib.relative_change(shuffled, ppl)
        log(
            f"{system.name} {split}: perplexity {ppl:.2f}; {shuffled:.2f} ({change:+.1f} %) "
            "with the inputs shuffled among the rows (how much the responses depend on their input)"
        )
        if _DECODE.value:
            decoded_rows = _SAMPLE.sample(rows)
            _generation(
                result, system, split, path, decoded_rows, reverse, config, log, classifiers
            )
    return result


def _generation(result, system, split, path, rows, reverse, config, log, classifiers):
    """Decodes rows and adds BLEU, diversity, degeneration, speaker accuracy and style."""
    from mtask_tf.decoding import runner
    from mtask_tf.evaluation import metrics as metrics_lib
    from mtask_tf.evaluation import responses as responses_lib
    from mtask_tf.workflows import systems as workflow_systems

    nbest = workflow_systems.decode(
        system,
        rows,
        path,
        reverse,
        config,
        _DECODING.batch_size,
        runner.progress_printer(f"{system.name} {split}", sys.stderr),
    )
    hypotheses = [h[0].response if h else "" for h in nbest]
    # Words from the decoder's own count, so the cap is exact: EOS is one of its tokens.
    lengths = [h[0].length - 1 if h else 0 for h in nbest]
    refs = responses_lib.references(rows)
    generation = responses_lib.generation_metrics(hypotheses, refs, lengths, config.max_length)
    result["bleu"][split] = generation["bleu"]
    # The diversity and degeneration measures are reported once per system, on
    # the last split (test).
    for key in set(generation) - {"bleu"}:
        result[key] = generation[key]
    result["bootstrap"] = dict(metrics_lib.BOOTSTRAP)
    result.setdefault("responses", {})[split] = (rows, nbest)
    low, high = generation["distinct_responses_interval"]
    log(
        f"{system.name} {split}: BLEU {generation['bleu']:.2f}, distinct-1 "
        f"{100 * generation['distinct_1']:.2f} %, distinct-2 "
        f"{100 * generation['distinct_2']:.2f} %, Ent-4 {generation['ent_4']:.2f}, "
        f"distinct responses {100 * generation['distinct_responses']:.2f} % "
        f"[{100 * low:.2f}, {100 * high:.2f}]; mean length {generation['mean_length']:.2f} "
        f"words, {100 * generation['length_cap_share']:.2f} % at the cap of "
        f"{config.max_length - 1}, {100 * generation['repetition_share']:.2f} % repeat a "
        "word three times"
    )
    speaker, style = classifiers
    if speaker:
        log(
            f"{system.name} {split}: "
            + _speaker_accuracy(result, split, speaker, hypotheses, refs, rows)
        )
    if style:
        log(f"{system.name} {split}: " + _style_score(result, split, style, hypotheses, refs, rows))


def _write_responses(output_dir, stem, rows, nbest):
    """STEM.responses.tsv (the 1-best of each row) and STEM.nbest.jsonl (--responses best)."""
    from mtask_tf.data import records

    records.write_responses(
        output_dir / f"{stem}.responses.tsv",
        (
            records.Response(
                row.speaker,
                row.context,
                row.message,
                row.response,
                hypotheses[0].response if hypotheses else "",
            )
            for row, hypotheses in zip(rows, nbest)
        ),
    )
    with open(output_dir / f"{stem}.nbest.jsonl", "w", encoding="utf-8") as f:
        for row, hypotheses in zip(rows, nbest):
            record = {
                "speaker": row.speaker,
                "context": row.context,
                "message": row.message,
                "reference": row.response,
                "nbest": [h.__dict__ for h in hypotheses],
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write(output_dir, results, baseline, splits):
    from mtask_tf.evaluation import report

    output_dir.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        for split, (rows, nbest) in result.pop("responses", {}).items():
            _write_responses(output_dir, f"{name}.{split}", rows, nbest)
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
    from mtask_tf.decoding import responder
    from mtask_tf.model import model_dir as model_dir_lib
    from mtask_tf.workflows import systems as workflow_systems

    log = lambda message: print(message, file=sys.stderr, flush=True)
    with cli.user_errors():
        splits = {}
        for path in _DATA.value:
            rows, _ = records.read_triples(path)
            if not rows:
                raise records.DataError("no triples to evaluate", path)
            splits[pathlib.Path(path).name.split(".")[0]] = (path, rows)
        classifiers = _classifiers(splits, log) if _DECODE.value else (None, None)
        reverse = (
            model_dir_lib.load_trained(
                _REVERSE_MODEL_DIR.value, name_prefix=responder.REVERSE_PREFIX
            )
            if _REVERSE_MODEL_DIR.value
            else None
        )
        results = {}
        for name, model_dir, mmi_path in specs:
            system = workflow_systems.load_system(name, model_dir, mmi_path)
            results[name] = _evaluate_system(system, splits, reverse, log, classifiers)
    table = _write(pathlib.Path(_OUTPUT_DIR.value), results, specs[0][0], splits)
    print(table)
    print(
        f"\nwrote metrics.json, metrics.md and perplexity_by_speaker.png to {_OUTPUT_DIR.value}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    app.run(main)
