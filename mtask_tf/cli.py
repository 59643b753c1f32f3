"""Start-up checks and error reporting shared by the command-line modules.

The CLIs (mtask_tf.prepare, train, decode, tune_mmi, evaluate, export) define and
read their own flags; these helpers only look at the flag holders or flag names
handed to them. A wrong command line raises absl's `app.UsageError` (usage text,
exit status 1); a known user error (bad data, missing model directory, ...)
becomes one line `error: <message>` on stderr and exit status 1, no traceback.
"""

import contextlib
import dataclasses
import math
import sys

from absl import app
from absl import flags


def no_positional_arguments(argv):
    """Rejects anything after the program name: `unexpected arguments: ...`."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def require(*flag_holders):
    """Rejects the first flag holder without a value (None, "" or []): `--NAME is required`."""
    for holder in flag_holders:
        if not holder.value:
            raise app.UsageError(f"--{holder.name} is required")


def require_positive(*names, show_value=False, flag_values=flags.FLAGS):
    """Rejects the first named flag whose value is 0 or less: `--NAME must be positive`.

    show_value=True appends the value given (`--NAME must be positive, got 0`).
    """
    for name in names:
        value = flag_values[name].value
        if value <= 0:
            suffix = f", got {value}" if show_value else ""
            raise app.UsageError(f"--{name} must be positive{suffix}")


@contextlib.contextmanager
def user_errors(*error_types, prefix=""):
    """Turns a user error raised in the block into `error: PREFIX<error>`.

    User errors are `mtask_tf.errors.UserError` (every error of bad input) unless
    `error_types` names others (e.g. OSError with a prefix). The message goes to
    stderr with exit status 1 (SystemExit with a string) and no traceback; other
    exceptions, bugs, keep their traceback. Nest two of these for two prefixes.
    """
    from mtask_tf import errors

    caught = tuple(error_types) or (errors.UserError,)
    try:
        yield
    except caught as error:
        raise SystemExit(f"error: {prefix}{error}") from None


# --- Decoding flags: one definition for decode, tune_mmi, evaluate and export ---

_DECODING_HELP = {
    "beam_size": "Beam width B: live hypotheses per input at each step (paper: 50).",
    "max_length": "Most tokens of a response, EOS included (paper: 20).",
    "candidates": "Finished hypotheses kept per input for MMI reranking. 0: every "
    "hypothesis that ends with EOS, up to beam_size x max_length (the "
    "paper's N-best list); N: only the N best by forward score (cheaper "
    "reranking). MMI weights must be tuned with the same value.",
    "responses": "Reranked responses returned per input, best first (0: all candidates). "
    "decode writes them, evaluate writes them to NAME.SPLIT.nbest.jsonl, an "
    "export returns them per request; tune_mmi reranks every candidate and "
    "does not use it.",
    "decode_dtype": "float32, or bf16: the beam search runs its matmuls in bfloat16 "
    "(faster on CPUs with AVX-512 BF16 or AMX; slower elsewhere) and the N-best list "
    "is rescored in float32, so every score is still the float32 log-probability; "
    "only which candidates the search finds can differ.",
    "batch_size": "Inputs decoded together by decode, tune_mmi and evaluate (an export "
    "takes the batch each request brings); memory grows with batch_size x "
    "candidates.",
    "no_repeat_ngram_size": "Loop guard: N > 0 keeps any candidate from repeating one of "
    "its own N-grams (3: no 'i am not i am not'); 0: off. Beam search, greedy and "
    "sampling. MMI weights must be tuned with the same value.",
    "length_penalty": "A >= 0: rerank with the forward and reverse log-probabilities "
    "divided by (tokens incl. EOS)^A, response and message tokens respectively; 0: "
    "the paper's eq. 4, 1: per-token means. tune_mmi tunes lambda and gamma on these "
    "scores, so weights must be tuned with the same value.",
    "num_samples": "Sample-and-rerank: N > 0 draws N responses per input by seeded sampling "
    "(distinct ones kept) and MMI-reranks them instead of the beam's list; --beam_size "
    "is then unused. 0: beam search.",
    "sampling_topk": "With --num_samples: draw each word from the K most probable only "
    "(0: the whole vocabulary).",
    "sampling_topp": "With --num_samples: draw each word from the fewest most probable "
    "words holding probability P (nucleus sampling; 1.0: off). Sorts the vocabulary "
    "every step unless --sampling_topk bounds it.",
    "sampling_temperature": "With --num_samples: divide the logits by T before drawing "
    "(below 1: safer, above 1: more varied). Scores stay the model's log-probabilities.",
    "sampling_seed": "With --num_samples: the seed; an input's samples depend only on the "
    "seed and the input. An export's generate signature draws with it; its "
    "generate_seeded signature takes a seed per input.",
}


class DecodingFlags:
    """The decoding flags every decoding CLI defines, with the same names, defaults and help.

    Create one at module level in the CLI (absl flags are defined at import), then
    call `validate()` in `main` and read the settings from it. `reads_mmi` adds
    --strict_mmi, for the CLIs that rerank with an MMI weights file.
    """

    def __init__(self, reads_mmi=True, flag_values=flags.FLAGS):
        h = _DECODING_HELP
        self._flag_values = flag_values
        self._beam_size = flags.DEFINE_integer(
            "beam_size", 50, h["beam_size"], flag_values=flag_values
        )
        self._max_length = flags.DEFINE_integer(
            "max_length", 20, h["max_length"], flag_values=flag_values
        )
        self._candidates = flags.DEFINE_integer(
            "candidates", 0, h["candidates"], flag_values=flag_values
        )
        self._responses = flags.DEFINE_integer(
            "responses", 5, h["responses"], flag_values=flag_values
        )
        self._batch_size = flags.DEFINE_integer(
            "batch_size", 16, h["batch_size"], flag_values=flag_values
        )
        self._decode_dtype = flags.DEFINE_enum(
            "decode_dtype",
            "float32",
            ["float32", "bf16"],
            h["decode_dtype"],
            flag_values=flag_values,
        )
        self._define_options(flag_values)
        self._strict_mmi = (
            flags.DEFINE_boolean(
                "strict_mmi",
                False,
                "Refuse (instead of warning) to rerank with MMI weights tuned with "
                "other decoding settings (--beam_size, --max_length, --candidates, "
                "--no_repeat_ngram_size, --length_penalty or the sampling flags).",
                flag_values=flag_values,
            )
            if reads_mmi
            else None
        )

    def _define_options(self, flag_values):
        h = _DECODING_HELP
        integer, real = flags.DEFINE_integer, flags.DEFINE_float
        self._options = {
            name: define(name, default, h[name], flag_values=flag_values)
            for name, define, default in (
                ("no_repeat_ngram_size", integer, 0),
                ("length_penalty", real, 0.0),
                ("num_samples", integer, 0),
                ("sampling_topk", integer, 0),
                ("sampling_topp", real, 1.0),
                ("sampling_temperature", real, 1.0),
                ("sampling_seed", integer, 0),
            )
        }

    def validate(self):
        require_positive(
            "beam_size", "max_length", "batch_size", show_value=True, flag_values=self._flag_values
        )
        for holder in (self._candidates, self._responses):
            if holder.value < 0:
                raise app.UsageError(
                    f"--{holder.name} must be 0 (all) or positive, got {holder.value}"
                )
        self._validate_options()
        if self._decode_dtype.value == "bf16":
            from mtask_tf.decoding import low_precision

            if not low_precision.cpu_has_bfloat16():
                print(
                    "warning: --decode_dtype=bf16 on a CPU without bfloat16 instructions "
                    "(avx512_bf16, amx_bf16): decoding will be slower than float32",
                    file=sys.stderr,
                    flush=True,
                )

    def _validate_options(self):
        o = {name: holder.value for name, holder in self._options.items()}
        for name in ("no_repeat_ngram_size", "num_samples", "sampling_topk"):
            if o[name] < 0:
                raise app.UsageError(f"--{name} must be 0 (off) or positive, got {o[name]}")
        if not 0.0 <= o["length_penalty"] < math.inf:
            raise app.UsageError(
                f"--length_penalty must be 0 (off) or positive, got {o['length_penalty']} "
                "(1: per-token mean log-probabilities)"
            )
        if not 0.0 < o["sampling_topp"] <= 1.0:
            raise app.UsageError(
                f"--sampling_topp must be in (0, 1], got {o['sampling_topp']} (1.0: off)"
            )
        if not 0.0 < o["sampling_temperature"] < math.inf:
            raise app.UsageError(
                f"--sampling_temperature must be positive, got {o['sampling_temperature']} "
                "(1.0: the model's distribution)"
            )
        if not o["num_samples"]:
            for name in ("sampling_topk", "sampling_topp", "sampling_temperature", "sampling_seed"):
                if self._options[name].value != self._options[name].default:
                    raise app.UsageError(
                        f"--{name} applies only to sample-and-rerank: give --num_samples=N "
                        f"(e.g. 50) too, or drop --{name} to decode with beam search"
                    )

    @property
    def batch_size(self):
        return self._batch_size.value

    def search_settings(self):
        """The `mmi.SearchSettings` these flags decode with."""
        from mtask_tf.decoding import mmi

        o = {name: holder.value for name, holder in self._options.items()}
        return mmi.SearchSettings(
            self._beam_size.value,
            self._max_length.value,
            self._candidates.value or None,
            no_repeat_ngram_size=o["no_repeat_ngram_size"],
            length_penalty=o["length_penalty"],
            num_samples=o["num_samples"],
            sampling_topk=o["sampling_topk"],
            sampling_topp=o["sampling_topp"],
            sampling_temperature=o["sampling_temperature"],
        )

    def decode_config(self, weights=None, responses=...):
        """A `DecodeConfig` with these settings and `mmi.MmiWeights` (None: lambda = gamma = 0).

        responses: overrides --responses (None: return every candidate).
        """
        from mtask_tf.decoding import responder

        if responses is ...:
            responses = self._responses.value or None
        settings = dataclasses.asdict(self.search_settings())
        return responder.DecodeConfig(
            **settings,
            responses=responses,
            mmi_lambda=weights.mmi_lambda if weights else 0.0,
            mmi_gamma=weights.mmi_gamma if weights else 0.0,
            decode_dtype=self._decode_dtype.value,
            sampling_seed=self._options["sampling_seed"].value,
        )

    def load_mmi(self, path, stream=None):
        """Reads an MMI weights file and checks it was tuned with these settings.

        A mismatch is a warning on `stream` (stderr), or with --strict_mmi an
        `mmi.MmiFileError`. None for no file.
        """

        from mtask_tf.decoding import mmi

        if not path:
            return None
        weights = mmi.MmiWeights.load(path)
        problem = mmi.settings_mismatch(weights, self.search_settings(), path)
        if problem and self._strict_mmi is not None and self._strict_mmi.value:
            raise mmi.MmiFileError(problem + " (--strict_mmi)")
        if problem:
            print(
                f"warning: {problem} (--strict_mmi makes this an error)",
                file=stream or sys.stderr,
                flush=True,
            )
        return weights


class SampleFlags:
    """--max_examples and --sample_seed: a seeded sample of the rows a CLI decodes.

    The same names, default and seed for every CLI that decodes a subset
    (tune_mmi, evaluate), so the same two flags pick the same rows in both.
    `what` is the help text of --max_examples.
    """

    def __init__(self, what, flag_values=flags.FLAGS):
        self._max_examples = flags.DEFINE_integer("max_examples", 0, what, flag_values=flag_values)
        self._seed = flags.DEFINE_integer(
            "sample_seed", 0, "Seed of the --max_examples sample.", flag_values=flag_values
        )

    @property
    def size(self):
        """--max_examples: rows in the sample, 0 for every row."""
        return self._max_examples.value

    def validate(self):
        if self._max_examples.value < 0:
            raise app.UsageError(
                f"--max_examples must be 0 (every row) or positive, got {self._max_examples.value}"
            )

    def sample(self, rows):
        """`evaluation.responses.sample_rows` of `rows` with these flags' size and seed."""
        from mtask_tf.evaluation import responses as responses_lib

        return responses_lib.sample_rows(rows, self._max_examples.value, self._seed.value)
