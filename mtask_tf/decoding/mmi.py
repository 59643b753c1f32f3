"""The MMI reranking weights file written by `mtask_tf.tune_mmi` and read by decode/export."""

import dataclasses
import json
import pathlib


class MmiFileError(ValueError):
    """An MMI weights file that cannot be used; the message names the file and problem."""


@dataclasses.dataclass(frozen=True)
class MmiWeights:
    """score(R) = log p(R | M, v) + mmi_lambda * log p(M | R) + mmi_gamma * |R| (paper eq. 4)."""

    mmi_lambda: float
    mmi_gamma: float
    extra: dict = dataclasses.field(default_factory=dict)

    def save(self, path):
        record = {"lambda": self.mmi_lambda, "gamma": self.mmi_gamma, **self.extra}
        pathlib.Path(path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path):
        path = pathlib.Path(path)
        if not path.is_file():
            raise MmiFileError(f"{path}: MMI weights file not found; make one with "
                               "python -m mtask_tf.tune_mmi")
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise MmiFileError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        for key in ("lambda", "gamma"):
            if not isinstance(record.get(key), (int, float)):
                raise MmiFileError(f"{path}: field {key!r} must be a number, found "
                                   f"{record.get(key)!r}")
        extra = {k: v for k, v in record.items() if k not in ("lambda", "gamma")}
        return cls(float(record["lambda"]), float(record["gamma"]), extra)
