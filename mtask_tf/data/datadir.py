"""Loads a prepared data directory (see `mtask_tf.prepare`) for training."""

import dataclasses
import pathlib

from mtask_tf.data import records

SPLITS = ("train", "monologue", "dev", "test")


@dataclasses.dataclass
class DataDir:
    """The records of a data directory, narrowed to the chosen target speakers.

    `train` holds the general population's triples, `monologue` the targets'
    non-conversational text, `dev`/`test` the targets' triples. `all_monologue`
    keeps every target's text: with `train` it is what the vocabulary is built
    from, so every model of one data directory shares a vocabulary.
    """

    path: pathlib.Path
    targets: list
    train: list
    monologue: list
    dev: list
    test: list
    reports: list
    all_monologue: list

    def speakers(self):
        """Every speaker a model of this data knows: responders of train, and targets."""
        return sorted({t.speaker for t in self.train} | set(self.targets))

    def for_target(self, target):
        """The same data narrowed to one target speaker (MTASK-S trains one model each)."""
        return dataclasses.replace(
            self,
            targets=[target],
            monologue=[m for m in self.monologue if m.speaker == target],
            dev=[t for t in self.dev if t.speaker == target],
            test=[t for t in self.test if t.speaker == target],
        )


def _read(path, name, skip_bad_lines):
    file = path / f"{name}.tsv"
    reader = records.read_monologue if name == "monologue" else records.read_triples
    return reader(file, skip_bad_lines=skip_bad_lines)


def load(path, targets=None, skip_bad_lines=False, splits=SPLITS):
    """Reads the splits of a data directory and narrows them to `targets`.

    Args:
        path: the data directory.
        targets: target speaker names; None takes every speaker of monologue.tsv.
        skip_bad_lines: skip (and report) malformed lines instead of failing.
        splits: which files to read; the others stay empty.
    Raises:
        records.DataError: a file is missing or malformed, a target is unknown or
            has no monologue or dev data.
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        raise records.DataError(
            "data directory not found; create one with python -m mtask_tf.prepare", path
        )
    rows, reports = {}, []
    for name in SPLITS:
        rows[name] = []
        if name in splits:
            rows[name], report = _read(path, name, skip_bad_lines)
            reports.append(report)
    available = sorted({m.speaker for m in rows["monologue"]})
    targets = _check_targets(path, targets, available, "monologue" in splits)
    data = DataDir(
        path,
        targets,
        rows["train"],
        rows["monologue"],
        rows["dev"],
        rows["test"],
        reports,
        rows["monologue"],
    )
    if targets != available:
        data = dataclasses.replace(
            data,
            monologue=[m for m in data.monologue if m.speaker in targets],
            dev=[t for t in data.dev if t.speaker in targets],
            test=[t for t in data.test if t.speaker in targets],
        )
    _check_dev(data, "dev" in splits)
    return data


def _check_targets(path, targets, available, have_monologue):
    if not have_monologue:
        return list(targets or [])
    if not available:
        raise records.DataError(
            "no target speakers: monologue.tsv has no rows", path / "monologue.tsv"
        )
    if not targets:
        return available
    unknown = [t for t in targets if t not in available]
    if unknown:
        raise records.DataError(
            f"target speaker(s) {', '.join(map(repr, unknown))} have no monologue rows; "
            f"the targets of this data directory are: {', '.join(available)}",
            path / "monologue.tsv",
        )
    return list(targets)


def _check_dev(data, have_dev):
    if not have_dev:
        return
    with_dev = {t.speaker for t in data.dev}
    missing = [t for t in data.targets if t not in with_dev]
    if missing:
        raise records.DataError(
            f"target speaker(s) {', '.join(map(repr, missing))} have no dev triples, so "
            "their dev perplexity cannot be measured",
            data.path / "dev.tsv",
        )
