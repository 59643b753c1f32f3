r"""Generates responses with a trained model: beam search, then MMI reranking.

    python -m mtask_tf.decode --model_dir=runs/demo/mtask_m \
        --reverse_model_dir=runs/demo/reverse --mmi=runs/demo/mmi.json \
        --input=data/shakespeare/test.tsv --output=runs/demo/test.responses.tsv

    python -m mtask_tf.decode --model_dir=runs/demo/mtask_m --interactive

See docs/decoding.md.
"""

import pathlib
import sys

from absl import app
from absl import flags
from absl import logging

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli

_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Trained forward model directory.")
_REVERSE_MODEL_DIR = flags.DEFINE_string(
    "reverse_model_dir",
    None,
    "Trained reverse model p(message | response) for MMI "
    "reranking; without it responses are ranked by the forward score alone.",
)
_MMI = flags.DEFINE_string(
    "mmi",
    None,
    "MMI weights file (lambda, gamma) from mtask_tf.tune_mmi; default lambda = gamma = 0.",
)
_INPUT = flags.DEFINE_string(
    "input",
    None,
    "TSV with header `speaker context message` "
    "or `speaker context message response` (response = reference).",
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Output file: .jsonl for JSON lines, anything else for TSV."
)
_DECODING = cli.DecodingFlags()
flags.adopt_module_key_flags(cli)
_INTERACTIVE = flags.DEFINE_boolean(
    "interactive", False, "Chat at a prompt instead of reading --input."
)
_SKIP_BAD_LINES = flags.DEFINE_boolean(
    "skip_bad_lines", False, "Skip and count malformed input lines."
)
_SAMPLE = cli.SampleFlags(
    "Decode only N rows of --input, a seeded random sample kept in file order "
    "(--sample_seed; the rows evaluate and tune_mmi pick with the same two flags); "
    "0: every row."
)
_ATTENTION_PLOTS = flags.DEFINE_string(
    "attention_plots",
    None,
    "Directory for PNG heatmaps of what the model attended to while writing each "
    "input's best response (input words x response words); needs a model trained "
    "with --attention=luong.",
)
_ATTENTION_PLOTS_MAX = flags.DEFINE_integer(
    "attention_plots_max", 50, "Heatmaps written at most: the first N inputs (0: all)."
)


def _validate():
    cli.require(_MODEL_DIR)
    if not _INTERACTIVE.value and not (_INPUT.value and _OUTPUT.value):
        raise app.UsageError("give --input=FILE and --output=FILE, or --interactive")
    _DECODING.validate()
    _SAMPLE.validate()
    if _SAMPLE.size and _INTERACTIVE.value:
        raise app.UsageError("--max_examples samples an --input file, not --interactive")
    if _MMI.value and not _REVERSE_MODEL_DIR.value:
        raise app.UsageError("--mmi needs --reverse_model_dir (the model behind lambda)")
    if _ATTENTION_PLOTS.value and _INTERACTIVE.value:
        raise app.UsageError("--attention_plots works with --input, not --interactive")
    if _ATTENTION_PLOTS_MAX.value < 0:
        raise app.UsageError(
            f"--attention_plots_max must be 0 (all) or positive, got {_ATTENTION_PLOTS_MAX.value}"
        )


def _plot_attention(responder, rows, results, directory, limit):
    """One heatmap per input of its best response: DIRECTORY/NNNN.png; returns the count."""
    from mtask_tf.evaluation import attention_plot

    chosen = [(i, row, hyps[0]) for i, (row, hyps) in enumerate(zip(rows, results)) if hyps]
    chosen = chosen[:limit] if limit else chosen
    for start in range(0, len(chosen), 16):
        part = chosen[start : start + 16]
        columns = [[row.context for _, row, _ in part], [row.message for _, row, _ in part]]
        speakers = [row.speaker for _, row, _ in part]
        out = responder.attention(*columns, speakers, [h.response for _, _, h in part])
        for k, (index, row, best) in enumerate(part):
            source = [t.decode() for t in out["source"][k].numpy() if t]
            response = [t.decode() for t in out["response"][k].numpy() if t]
            attention_plot.plot_attention(
                out["weights"][k].numpy(),
                source,
                response,
                pathlib.Path(directory) / f"{index + 1:04d}.png",
                title=f"{row.speaker}: {best.display}",
            )
    return len(chosen)


def _pick_speaker(speakers, default):
    """Asks who answers until a known name (or nothing, for the default) is given."""
    while True:
        name = input(f"Who answers? [{default}] ").strip() or default
        if name in speakers:
            return name
        print(f"unknown speaker {name!r}; known: {', '.join(speakers)}")


# The most characters of one message, as serving.server's --max_input_chars
# default: a longer line is refused (a 100,000-character one took minutes and
# gigabytes to encode), and the prompt comes back.
MAX_MESSAGE_CHARS = 10_000


def _refusal(line):
    """Why a typed line cannot be a message, or None."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"not valid UTF-8 (at character {error.start + 1}); type it again"
    if len(line) > MAX_MESSAGE_CHARS:
        return f"{len(line)} characters, more than the {MAX_MESSAGE_CHARS} a message may have"
    return None


def _interactive(responder, targets):
    from mtask_tf.data import records
    from mtask_tf.decoding import runner

    if hasattr(sys.stdin, "reconfigure"):  # a bad byte reaches _refusal, not a traceback
        sys.stdin.reconfigure(errors="surrogateescape")
    speakers = responder.speaker_names
    if responder.persona:
        print(f"This model knows {len(speakers)} speakers; its targets: {', '.join(targets)}")
    print(
        "Type a message to see reranked responses. ':speaker' picks who answers, "
        "':quit' leaves. Your previous message becomes the context."
    )
    try:
        speaker = _pick_speaker(speakers, targets[0]) if responder.persona else targets[0]
        context = ""
        while True:
            line = input(f"you (to {speaker})> ").strip()
            if line in (":quit", ":q"):
                return
            if line == ":speaker":
                speaker = _pick_speaker(speakers, speaker) if responder.persona else speaker
                continue
            if not line:
                continue
            refusal = _refusal(line)
            if refusal:
                print(f"error: your message is {refusal}")
                continue
            [hypotheses] = runner.decode(responder, [records.Triple(speaker, context, line, "")], 1)
            for rank, h in enumerate(hypotheses, start=1):
                print(
                    f"  {rank}. {h.display}    (score {h.score:.2f} = forward "
                    f"{h.forward_log_prob:.2f}, reverse {h.reverse_log_prob:.2f}, "
                    f"{h.length - 1} words)"
                )
            context = line
    except EOFError:
        print()


def main(argv):
    cli.no_positional_arguments(argv)
    _validate()
    logging.set_verbosity(logging.WARNING)
    from mtask_tf.data import pipeline
    from mtask_tf.data import records
    from mtask_tf.decoding import responder as responder_lib
    from mtask_tf.decoding import runner
    from mtask_tf.model import model_dir as model_dir_lib

    with cli.user_errors():
        weights = _DECODING.load_mmi(_MMI.value)
        responder = responder_lib.load(
            _MODEL_DIR.value, _REVERSE_MODEL_DIR.value, _DECODING.decode_config(weights)
        )
        if _INTERACTIVE.value:
            targets = list(model_dir_lib.load_experiment(_MODEL_DIR.value).targets)
            _interactive(responder, targets)
            return
        if _ATTENTION_PLOTS.value and responder.forward.decoder.attention is None:
            raise model_dir_lib.ModelDirError(
                f"--attention_plots: {_MODEL_DIR.value} has no attention (its model.json); "
                "train with --attention=luong (configs/attention.flags)"
            )
        rows, report = records.read_queries(_INPUT.value, _SKIP_BAD_LINES.value)
        rows = _SAMPLE.sample(rows)
        if responder.persona:
            pipeline.speaker_ids([r.speaker for r in rows], responder.speaker_names, _INPUT.value)
    if report.skipped:
        print(f"skipped {len(report.skipped)} bad lines of {_INPUT.value}", file=sys.stderr)
    try:
        results = runner.decode(
            responder, rows, _DECODING.batch_size, runner.progress_printer("decoding", sys.stderr)
        )
    except Exception as error:  # noqa: BLE001  InvalidArgument carries the row problem.
        message = getattr(error, "message", str(error)).strip().splitlines()[-1]
        raise SystemExit(f"error: {_INPUT.value}: {message}") from None
    records.write_nbest(_OUTPUT.value, rows, results)
    print(f"wrote {len(results)} inputs to {_OUTPUT.value}", file=sys.stderr)
    if _ATTENTION_PLOTS.value:
        count = _plot_attention(
            responder, rows, results, _ATTENTION_PLOTS.value, _ATTENTION_PLOTS_MAX.value
        )
        more = (
            f" (the first {count} of {len(rows)}: --attention_plots_max)"
            if count < len(rows)
            else ""
        )
        print(f"wrote {count} heatmaps to {_ATTENTION_PLOTS.value}{more}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
