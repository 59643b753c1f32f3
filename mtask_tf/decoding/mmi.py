"""The MMI reranking weights file written by `mtask_tf.tune_mmi` and read by decode/export.

Besides lambda and gamma the file records the search the weights were tuned
on (beam size or sampling, maximum length, candidates kept, loop guard,
length penalty): weights tuned on one kind of N-best list are not meant for
another, so the readers compare it with their own.
"""

import dataclasses
import json
import pathlib

from mtask_tf import errors


class MmiFileError(errors.UserError):
    """An MMI weights file that cannot be used; the message names the file and problem."""


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """What decides the N-best list that is reranked, and its reranking features
    (defaults: the paper's beam of 50 and 20 tokens).

    candidates: finished hypotheses kept per input; None: all of them (up to
    beam_size * max_length, the paper's list). no_repeat_ngram_size: the loop
    guard (0: off). length_penalty: A of `rerank_features` (0: eq. 4 as in
    the paper). num_samples > 0: the list is drawn by sampling (with
    sampling_topk, sampling_topp and sampling_temperature) instead of beam
    search, and beam_size plays no part. The sampling seed is not recorded:
    weights tuned on samples drawn with one seed are meant for any other.
    """

    beam_size: int = 50
    max_length: int = 20
    candidates: int | None = None
    no_repeat_ngram_size: int = 0
    length_penalty: float = 0.0
    num_samples: int = 0
    sampling_topk: int = 0
    sampling_topp: float = 1.0
    sampling_temperature: float = 1.0

    def describe(self):
        kept = "every candidate" if self.candidates is None else f"{self.candidates} candidates"
        if self.num_samples:
            search = (
                f"{self.num_samples} samples (top-k {self.sampling_topk or 'off'}, top-p "
                f"{self.sampling_topp:g}, temperature {self.sampling_temperature:g})"
            )
        else:
            search = f"beam {self.beam_size}"
        parts = [search, f"max_length {self.max_length}", kept]
        if self.no_repeat_ngram_size:
            parts.append(f"no repeated {self.no_repeat_ngram_size}-grams")
        if self.length_penalty:
            parts.append(f"length_penalty {self.length_penalty:g}")
        return ", ".join(parts)

    def compared(self):
        """The fields that shape the reranked list: the sampling ones, or beam_size."""
        record = dataclasses.asdict(self)
        unused = ("beam_size",) if self.num_samples else _SAMPLING_FIELDS[1:]
        return {k: v for k, v in record.items() if k not in unused}

    def to_json(self):
        """The record: the options beyond the paper's decoding only where they are on,
        so the paper's settings write what files written before the options hold."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        record = {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if k not in _OPTIONAL_FIELDS or v != defaults[k]
        }
        return {**record, "candidates": "all" if self.candidates is None else self.candidates}

    @classmethod
    def from_json(cls, record, path):
        # Files written before a field existed were tuned with it at its default.
        try:
            candidates = record["candidates"]
            settings = cls(
                int(record["beam_size"]),
                int(record["max_length"]),
                None if candidates == "all" else int(candidates),
                **{
                    field.name: field.type(record[field.name])
                    for field in dataclasses.fields(cls)[3:]
                    if field.name in record
                },
            )
        except (KeyError, TypeError, ValueError):
            raise MmiFileError(
                f"{path}: field 'decoding' must hold beam_size, max_length and candidates "
                f'(a number or "all"), and numbers for {", ".join(_OPTIONAL_FIELDS)} '
                f"where given, found {record!r}"
            ) from None
        return settings


_SAMPLING_FIELDS = ("num_samples", "sampling_topk", "sampling_topp", "sampling_temperature")
_OPTIONAL_FIELDS = ("no_repeat_ngram_size", "length_penalty", *_SAMPLING_FIELDS)


def rerank_features(
    forward_log_prob, reverse_log_prob, response_tokens, message_tokens, length_penalty
):
    """The three features of eq. 4 that lambda and gamma weigh, with the length penalty.

    score(R) = f + mmi_lambda * r + mmi_gamma * |R|, where with A = length_penalty

        f = log p(R | M, v) / (response_tokens ** A)
        r = log p(M | R) / (message_tokens ** A)
        |R| = response_tokens - 1 (words, EOS not counted)

    response_tokens counts the response's tokens including EOS (what the
    forward score sums over); message_tokens the message's tokens including
    EOS (what the reverse score sums over). A = 0 is the paper's eq. 4; A = 1
    the per-token mean log-probability of Li et al.'s decoder. Arithmetic
    only, so it takes floats, numpy arrays or float tensors alike (decoding
    and MERT compute the same features).

    Returns:
        (f, r, |R|).
    """
    if length_penalty:
        forward_log_prob = forward_log_prob / response_tokens**length_penalty
        reverse_log_prob = reverse_log_prob / message_tokens**length_penalty
    return forward_log_prob, reverse_log_prob, response_tokens - 1


@dataclasses.dataclass(frozen=True)
class MmiWeights:
    """score(R) = log p(R | M, v) + mmi_lambda * log p(M | R) + mmi_gamma * |R| (paper eq. 4).

    tuned_with: the `SearchSettings` of the N-best lists MERT tuned on; None
    for weights given by hand (or files written before it was recorded).
    """

    mmi_lambda: float
    mmi_gamma: float
    tuned_with: SearchSettings | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    def save(self, path):
        record = {"lambda": self.mmi_lambda, "gamma": self.mmi_gamma, **self.extra}
        if self.tuned_with is not None:
            record["decoding"] = self.tuned_with.to_json()
        pathlib.Path(path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path):
        path = pathlib.Path(path)
        if not path.is_file():
            raise MmiFileError(
                f"{path}: MMI weights file not found; make one with python -m mtask_tf.tune_mmi"
            )
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise MmiFileError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise MmiFileError(f"{path}: expected a JSON object with lambda and gamma")
        for key in ("lambda", "gamma"):
            if not isinstance(record.get(key), (int, float)):
                raise MmiFileError(
                    f"{path}: field {key!r} must be a number, found {record.get(key)!r}"
                )
        tuned_with = (
            SearchSettings.from_json(record["decoding"], path) if "decoding" in record else None
        )
        extra = {k: v for k, v in record.items() if k not in ("lambda", "gamma", "decoding")}
        return cls(float(record["lambda"]), float(record["gamma"]), tuned_with, extra)


def settings_mismatch(weights, settings, path):
    """Why `weights` (read from `path`) do not fit decoding with `settings`, or None.

    Decoding with the settings the weights were tuned with is the only way to
    rerank the same kind of list MERT saw.
    """
    if weights.tuned_with is None:
        return (
            f"{path} does not record the decoding settings its weights were tuned "
            f"with; decoding with {settings.describe()}. Re-tune with "
            "python -m mtask_tf.tune_mmi to record them."
        )
    tuned, used = weights.tuned_with.compared(), settings.compared()
    if tuned != used:
        # num_samples is in both: sampling against beam search names it alone.
        differ = sorted(k for k in tuned.keys() & used.keys() if tuned[k] != used[k])
        flags = ", ".join(f"--{k}" for k in differ)
        return (
            f"the MMI weights in {path} were tuned with {weights.tuned_with.describe()}, "
            f"but this run decodes with {settings.describe()}: the reranked lists differ "
            f"from those MERT saw. Use the same {flags} as tune_mmi, or re-tune."
        )
    return None
