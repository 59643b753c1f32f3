"""The MMI reranking weights file written by `mtask_tf.tune_mmi` and read by decode/export.

Besides lambda and gamma the file records the search the weights were tuned
on (beam size, maximum length, candidates kept): weights tuned on one N-best
list are not meant for another, so the readers compare it with their own.
"""

import dataclasses
import json
import pathlib

from mtask_tf import errors


class MmiFileError(errors.UserError):
    """An MMI weights file that cannot be used; the message names the file and problem."""


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """What decides the N-best list that is reranked.

    candidates: finished hypotheses kept per input; None: all of them (up to
    beam_size * max_length, the paper's list).
    """

    beam_size: int
    max_length: int
    candidates: int | None = None

    def describe(self):
        kept = "every candidate" if self.candidates is None else f"{self.candidates} candidates"
        return f"beam {self.beam_size}, max_length {self.max_length}, {kept}"

    def to_json(self):
        return {
            "beam_size": self.beam_size,
            "max_length": self.max_length,
            "candidates": "all" if self.candidates is None else self.candidates,
        }

    @classmethod
    def from_json(cls, record, path):
        try:
            candidates = record["candidates"]
            settings = cls(
                int(record["beam_size"]),
                int(record["max_length"]),
                None if candidates == "all" else int(candidates),
            )
        except (KeyError, TypeError, ValueError):
            raise MmiFileError(
                f"{path}: field 'decoding' must hold beam_size, max_length and candidates "
                f'(a number or "all"), found {record!r}'
            ) from None
        return settings


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
    if weights.tuned_with != settings:
        return (
            f"the MMI weights in {path} were tuned with {weights.tuned_with.describe()}, "
            f"but this run decodes with {settings.describe()}: the reranked lists differ "
            "from those MERT saw. Use the same --beam_size, --max_length and "
            "--candidates, or re-tune."
        )
    return None
