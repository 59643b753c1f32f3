"""Turns to a data directory: general triples, target monologue, dev and test.

A triple is (context, message, response) = turns (i-2, i-1, i) of one
conversation, for i >= 2, with the responder (speaker of turn i) as speaker.
Conversations are either held out or not, deterministically for a seed:

* not held out: triples whose responder is not a target go to `train.tsv`
  (general conversation data); each target's turns go to `monologue.tsv`
  (their non-conversational data; the context is dropped).
* held out: only the targets' triples, to `dev.tsv` or `test.tsv` by
  conversation. Nothing of a held-out conversation reaches `train.tsv` or
  `monologue.tsv`.

With texts of their own (`corpora.MonologueSource`, `prepare --monologue`:
e.g. someone's posts, a diary, log entries), `monologue.tsv` holds the
targets' texts from there instead, and the targets' turns outside dev and
test are neither general data nor monologue: they are dropped and counted in
summary.json, so that training never sees a target in conversation, as in the
paper. The texts of speakers who are not targets are dropped and counted too.

Newcomers (`prepare --newcomers`, with texts of their own) are speakers kept
out of training entirely, to be enrolled into a trained model later
(`mtask_tf.enroll`): every conversation they speak in is held out (with a
`column` group under the hash rule, its whole group), their triples there go
to `newcomers/dev.tsv` or `newcomers/test.tsv` and their texts to
`newcomers/monologue.tsv`, never to the files training reads.

Split rules: `hash` holds out `heldout_fraction` of the conversations in which
each target speaks (ranked by a hash of the conversation id and the seed), or,
with `column`, of the groups of conversations that share its value (e.g.
"show,episode": whole episodes, so that no scene of a held-out episode is
trained on);
`column` holds out the conversations whose `column` value is one of
`heldout_values` (e.g. seasons 9 and 10). Either way `test_fraction` of each
target's held-out conversations (again by hash) go to test, the rest to dev;
or, with `dev_values` and `test_values` instead of `heldout_values`, the value
decides (e.g. season 9 for dev, season 10 for test). `column` may name several
columns ("show,season"); a value then joins theirs with "/" ("friends/9").
"""

import collections
import dataclasses
import difflib
import hashlib
import json
import os

from mtask_tf.data import records
from mtask_tf.data.corpora import MonologueSource
from mtask_tf.data.corpora import TurnCorpus
from mtask_tf.data.records import DataError
from mtask_tf.data.records import Monologue
from mtask_tf.data.records import Triple
from mtask_tf.data.records import Turn

SPLIT_RULES = ("hash", "column")
DATA_FILES = ("train.tsv", "monologue.tsv", "dev.tsv", "test.tsv", "summary.json", "README")
NEWCOMER_FILES = ("newcomers/dev.tsv", "newcomers/test.tsv", "newcomers/monologue.tsv")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How conversations are held out and split into dev and test.

    Attributes:
      rule: "hash" or "column".
      heldout_fraction: for "hash": the fraction of each target's
        conversations held out.
      test_fraction: the fraction of each target's held-out conversations
        that go to test (rounded down); the rest go to dev.
      column: for "column": the conversation column to look at, e.g. "season",
        or several, comma-separated ("show,season"; values "friends/9"). For
        "hash": optional, conversations sharing its value go together.
      heldout_values: for "column": the values of `column` that are held out
        (dev and test then split by `test_fraction`).
      dev_values, test_values: for "column", instead of `heldout_values`:
        the values held out for dev and for test.
      seed: seeds the conversation hash.
    """

    rule: str = "hash"
    heldout_fraction: float = 0.2
    test_fraction: float = 0.5
    column: str | None = None
    heldout_values: tuple[str, ...] = ()
    seed: int = 0
    dev_values: tuple[str, ...] = ()
    test_values: tuple[str, ...] = ()

    def __post_init__(self):
        if self.rule not in SPLIT_RULES:
            raise ValueError(f"split rule must be one of {SPLIT_RULES}, got {self.rule!r}")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(
                f"heldout_fraction must be between 0 and 1 (exclusive), got {self.heldout_fraction}"
            )
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        by_value = bool(self.dev_values or self.test_values)
        if self.rule == "hash" and (self.heldout_values or by_value):
            raise ValueError("held-out values apply to the column rule, not to the hash rule")
        if self.rule == "column" and not (self.column and (self.heldout_values or by_value)):
            raise ValueError(
                "the column rule needs a column and heldout "
                "values (--split_column, --heldout_values or "
                "--dev_values and --test_values)"
            )
        if by_value and (self.heldout_values or not (self.dev_values and self.test_values)):
            raise ValueError(
                "give --dev_values and --test_values together, instead of --heldout_values"
            )
        if set(self.dev_values) & set(self.test_values):
            raise ValueError(
                "--dev_values and --test_values share "
                f"{sorted(set(self.dev_values) & set(self.test_values))}"
            )


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """The four record lists of a data directory, plus conversation counts."""

    train: list[Triple]
    monologue: list[Monologue]
    dev: list[Triple]
    test: list[Triple]
    conversations: dict[str, int]
    target_conversations: dict[str, dict[str, int]]
    # With a monologue source: per speaker, the targets' turns dropped
    # (outside dev and test) and the source's texts of other speakers.
    target_turns_dropped: dict[str, int] | None = None
    other_monologue_speakers: dict[str, int] | None = None
    # Speakers kept out of training for enrolment: their triples and texts.
    newcomer_dev: list[Triple] = dataclasses.field(default_factory=list)
    newcomer_test: list[Triple] = dataclasses.field(default_factory=list)
    newcomer_monologue: list[Monologue] = dataclasses.field(default_factory=list)
    newcomer_conversations: dict[str, int] = dataclasses.field(default_factory=dict)


def conversation_runs(turns: list[Turn]) -> list[list[Turn]]:
    """Splits turns into runs of consecutive turns of one conversation."""
    runs = []
    for turn in turns:
        if runs and runs[-1][0].conversation == turn.conversation:
            runs[-1].append(turn)
        else:
            runs.append([turn])
    return runs


def make_triples(run: list[Turn]) -> list[Triple]:
    """The triples (turn i-2, turn i-1, turn i) of one conversation run."""
    return [
        Triple(run[i].speaker, run[i - 2].text, run[i - 1].text, run[i].text)
        for i in range(2, len(run))
    ]


def check_targets(targets, turns: list[Turn]) -> None:
    """Raises `DataError` for a target who never speaks, with close matches."""
    speakers = {t.speaker for t in turns}
    by_lower = collections.defaultdict(list)
    for speaker in sorted(speakers):
        by_lower[speaker.lower()].append(speaker)
    for target in targets:
        if target in speakers:
            continue
        lower = target.lower()
        # Best first: same name in other case, then longer names, then others.
        containing = sorted(
            (key for key in by_lower if lower in key),
            key=lambda key: (key != lower, not key.startswith(lower), len(key), key),
        )
        close = [s for key in containing for s in by_lower[key]]
        close += [
            s
            for key in difflib.get_close_matches(lower, by_lower, n=5)
            for s in by_lower[key]
            if s not in close
        ]
        hint = (
            f"; close matches: {', '.join(repr(s) for s in close[:8])}"
            if close
            else "; no speaker has a similar name"
        )
        raise DataError(
            f"target speaker {target!r} has no turns in the corpus ({len(speakers)} speakers){hint}"
        )


def conversation_hash(conversation: tuple[str, ...], seed: int, purpose: str) -> bytes:
    """A hash of a conversation id that is stable across runs and machines."""
    key = json.dumps([seed, purpose, list(conversation)], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).digest()


def _pick_per_target(
    groups: dict[str, list], fraction: float, seed: int, purpose: str, round_half_up: bool
) -> set:
    """Picks `fraction` of each group's conversations, lowest hash first.

    Conversations picked for one target count towards the others' shares,
    so shared conversations are not picked twice over.
    """
    picked = set()
    for target in sorted(groups):
        ranked = sorted(groups[target], key=lambda c: conversation_hash(c, seed, purpose))
        want = int(fraction * len(ranked) + (0.5 if round_half_up else 0))
        have = sum(c in picked for c in ranked)
        for conversation in ranked:
            if have >= want:
                break
            if conversation not in picked:
                picked.add(conversation)
                have += 1
    return picked


def _target_conversations(turns: list[Turn], targets) -> dict[str, list]:
    """For each target, the ids of the conversations they speak in, in order."""
    found = {target: {} for target in targets}
    for turn in turns:
        if turn.speaker in found:
            found[turn.speaker][turn.conversation] = None
    return {target: list(ids) for target, ids in found.items()}


def _column_values(turns: list[Turn], columns: tuple[str, ...], config: SplitConfig) -> dict:
    """{conversation id: its value of the split column(s)}, values checked."""
    names = [c.strip() for c in config.column.split(",")]
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise DataError(
            f"split column {unknown[0]!r} does not identify "
            f"conversations here; choose --split_column from: "
            f"{', '.join(columns)}"
        )
    indices = [columns.index(n) for n in names]
    values = {t.conversation: "/".join(t.conversation[i] for i in indices) for t in turns}
    present = set(values.values())
    for flag in ("heldout_values", "dev_values", "test_values"):
        missing = [v for v in getattr(config, flag) if v not in present]
        if missing:
            ordered = sorted(
                present, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v)
            )
            shown = ", ".join(repr(v) for v in ordered[:20])
            raise DataError(
                f"--{flag} {', '.join(missing)} never occur "
                f"in column {config.column!r} (values: {shown}"
                f"{', ...' if len(present) > 20 else ''})"
            )
    return values


def _heldout_groups(corpus: TurnCorpus, config: SplitConfig, spoken_in: dict[str, list]):
    """The hash rule over groups of conversations (those sharing `config.column`'s value)."""
    group_of = _column_values(corpus.turns, corpus.conversation_columns, config)
    groups = {
        target: [(g,) for g in dict.fromkeys(group_of[c] for c in ids)]
        for target, ids in spoken_in.items()
    }
    held = _pick_per_target(groups, config.heldout_fraction, config.seed, "heldout", True)
    held_by_target = {target: [g for g in ids if g in held] for target, ids in groups.items()}
    test = _pick_per_target(held_by_target, config.test_fraction, config.seed, "test", False)
    heldout = {c for c, g in group_of.items() if (g,) in held}
    return heldout, {c for c in heldout if (group_of[c],) in test}


def heldout_conversations(
    corpus: TurnCorpus, targets, config: SplitConfig, spoken_in: dict[str, list]
) -> tuple[set, set]:
    """Returns (held-out conversation ids, those of them that go to test).

    `spoken_in` maps each target to the conversations they speak in.
    """
    if config.rule == "hash" and config.column:
        return _heldout_groups(corpus, config, spoken_in)
    if config.rule == "column":
        values = _column_values(corpus.turns, corpus.conversation_columns, config)
        if config.dev_values:
            pick = lambda chosen: {c for c, v in values.items() if v in chosen}
            test = pick(config.test_values)
            return pick(config.dev_values) | test, test
        heldout = {c for c, v in values.items() if v in config.heldout_values}
    else:
        heldout = _pick_per_target(spoken_in, config.heldout_fraction, config.seed, "heldout", True)
    heldout_by_target = {
        target: [c for c in ids if c in heldout] for target, ids in spoken_in.items()
    }
    test = _pick_per_target(heldout_by_target, config.test_fraction, config.seed, "test", False)
    return heldout, test


def _texts_of(source: MonologueSource, targets, newcomers=()) -> tuple[list, list, dict]:
    """(the targets' texts, the newcomers' texts, {other speaker: texts}) of a source."""
    own = [m for m in source.rows if m.speaker in targets]
    new = [m for m in source.rows if m.speaker in newcomers]
    known = set(targets) | set(newcomers)
    others = collections.Counter(m.speaker for m in source.rows if m.speaker not in known)
    return own, new, dict(sorted(others.items()))


def _newcomer_conversations(corpus, config, spoken_in, heldout, test_ids):
    """Every conversation a newcomer speaks in, held out; returns (held out, test).

    `spoken_in` maps each newcomer to the conversations they speak in. Under
    the hash rule with a column, whole groups are held out. Conversations
    already held out keep their dev or test; `test_fraction` of the others'
    groups (by hash) go to test.
    """
    grouped = config.rule == "hash" and config.column
    group_of = _column_values(corpus.turns, corpus.conversation_columns, config) if grouped else {}
    key = lambda c: (group_of[c],) if grouped else c
    keys = {key(c) for ids in spoken_in.values() for c in ids}
    new = {t.conversation for t in corpus.turns if key(t.conversation) in keys} - heldout
    open_keys = sorted({key(c) for c in new})
    test_keys = _pick_per_target(
        {"": open_keys}, config.test_fraction, config.seed, "newcomer", False
    )
    return heldout | new, test_ids | {c for c in new if key(c) in test_keys}


def split_corpus(
    corpus: TurnCorpus,
    targets,
    config: SplitConfig,
    source: MonologueSource | None = None,
    newcomers=(),
) -> PreparedData:
    """Builds train, monologue, dev and test records from a corpus (and a monologue source).

    `newcomers`: speakers kept out of training (see the module docstring); they
    need a `source` with their texts.
    """
    targets, newcomers = set(targets), set(newcomers)
    check_targets(sorted(targets), corpus.turns)
    _check_newcomers(newcomers, targets, corpus, source)
    spoken_in = _target_conversations(corpus.turns, targets)
    heldout, test_ids = heldout_conversations(corpus, targets, config, spoken_in)
    targets_heldout = heldout
    newcomers_in = _target_conversations(corpus.turns, newcomers)
    if newcomers:
        heldout, test_ids = _newcomer_conversations(corpus, config, newcomers_in, heldout, test_ids)
    train, monologue, dev, test, new_dev, new_test = [], [], [], [], [], []
    for run in conversation_runs(corpus.turns):
        conversation = run[0].conversation
        triples = make_triples(run)
        if conversation in heldout:
            in_test = conversation in test_ids
            (test if in_test else dev).extend(t for t in triples if t.speaker in targets)
            (new_test if in_test else new_dev).extend(t for t in triples if t.speaker in newcomers)
        else:
            train.extend(t for t in triples if t.speaker not in targets)
            monologue.extend(Monologue(t.speaker, t.text) for t in run if t.speaker in targets)
    # dev and test count the held-out conversations in which targets speak.
    with_targets = {c for ids in spoken_in.values() for c in ids}
    counts = {
        "total": len({t.conversation for t in corpus.turns}),
        "heldout": len(heldout),
        "test": len(test_ids & with_targets),
        "dev": len((heldout & with_targets) - test_ids),
    }
    per_target = {
        target: {
            "total": len(ids),
            "heldout": sum(c in heldout for c in ids),
            "test": sum(c in test_ids for c in ids),
            "dev": sum(c in heldout and c not in test_ids for c in ids),
        }
        for target, ids in sorted(spoken_in.items())
    }
    if source is None:
        return PreparedData(train, monologue, dev, test, counts, per_target)
    own, new, others = _texts_of(source, targets, newcomers)
    turns = count_by_speaker(monologue)
    dropped = {target: turns.get(target, 0) for target in sorted(targets)}
    newcomer_counts = {
        n: len(set(ids) - targets_heldout) for n, ids in sorted(newcomers_in.items())
    }
    return PreparedData(
        train, own, dev, test, counts, per_target, dropped, others,
        new_dev, new_test, new, newcomer_counts,
    )  # fmt: skip


def _check_newcomers(newcomers, targets, corpus, source) -> None:
    if not newcomers:
        return
    if newcomers & targets:
        raise DataError(f"{sorted(newcomers & targets)} given as targets and as newcomers")
    if source is None:
        raise DataError(
            "newcomers are kept out of training and enrolled from texts of their own: "
            "give --monologue files with their texts"
        )
    try:
        check_targets(sorted(newcomers), corpus.turns)
    except DataError as e:
        raise DataError(str(e).replace("target speaker", "newcomer", 1)) from None


def drop_long_records(
    data: PreparedData, max_line_chars: int
) -> tuple[PreparedData, dict[str, int]]:
    """Drops records whose line would exceed `max_line_chars`.

    The readers reject such lines, so without this a data directory could
    be written that does not read back. Returns the data and the number of
    records dropped per file.
    """

    def fits(row) -> bool:
        fields = [records.fold_whitespace(f) for f in dataclasses.astuple(row)]
        return len("\t".join(fields)) <= max_line_chars

    kept, dropped = {}, {}
    newcomers = _NEWCOMER_FIELDS if data.newcomer_conversations else ()
    for name in ("train", "monologue", "dev", "test", *newcomers):
        rows = getattr(data, name)
        kept[name] = [row for row in rows if fits(row)]
        dropped[name] = len(rows) - len(kept[name])
    return dataclasses.replace(data, **kept), dropped


_NEWCOMER_FIELDS = ("newcomer_dev", "newcomer_test", "newcomer_monologue")


def _fix_hint(config: SplitConfig) -> str:
    if config.rule == "column":
        return (
            f"choose --heldout_values (column {config.column!r}) that "
            "hold some but not all of their conversations"
        )
    return "change --heldout_fraction or --test_fraction, or try another --seed"


def check_prepared(data: PreparedData, targets, config: SplitConfig) -> None:
    """Raises `DataError` if train is empty or a target lacks data."""
    if not data.train:
        raise DataError(
            "no general triples for train.tsv: every "
            "conversation is held out or answered by targets"
        )
    monologue = collections.Counter(m.speaker for m in data.monologue)
    dev = collections.Counter(t.speaker for t in data.dev)
    for target in sorted(targets):
        n = data.target_conversations[target]
        where = (
            f"they speak in {n['total']} conversations: {n['heldout']} "
            f"held out, {n['dev']} of them for dev"
        )
        if not monologue[target] and data.other_monologue_speakers is not None:
            others = ", ".join(repr(s) for s in list(data.other_monologue_speakers)[:20])
            raise DataError(
                f"target {target!r} has no text in the --monologue files (speakers there "
                f"besides the targets: {others or 'none'}); give a file with their texts, "
                "or drop the target"
            )
        if not monologue[target]:
            raise DataError(
                f"target {target!r} has no monologue rows ({where}); {_fix_hint(config)}"
            )
        if not dev[target]:
            raise DataError(
                f"target {target!r} has no dev triples ({where}; "
                "a triple needs two turns before theirs); " + _fix_hint(config)
            )


def check_newcomers_data(data: PreparedData) -> None:
    """Raises `DataError` if a newcomer lacks texts, dev or test triples."""
    have = {
        what: collections.Counter(r.speaker for r in getattr(data, f"newcomer_{what}"))
        for what in ("monologue", "dev", "test")
    }
    for name, conversations in data.newcomer_conversations.items():
        if not have["monologue"][name]:
            raise DataError(f"newcomer {name!r} has no text in the --monologue files")
        for split in ("dev", "test"):
            if not have[split][name]:
                raise DataError(
                    f"newcomer {name!r} has no {split} triples (they speak in "
                    f"{conversations} conversations besides the targets' held-out ones; "
                    "a triple needs two turns before theirs)"
                )


def count_by_speaker(rows) -> dict[str, int]:
    return dict(sorted(collections.Counter(r.speaker for r in rows).items()))


def _monologue_summary(data: PreparedData, source: MonologueSource | None) -> dict | None:
    if source is None:
        return None
    return {
        "files": [
            {"path": r.path, "texts": r.rows, "skipped_lines": len(r.skipped)}
            for r in source.reports
        ],
        "other_speakers": data.other_monologue_speakers,
        "target_turns_dropped": data.target_turns_dropped,
    }


def summarize(
    data: PreparedData,
    corpus: TurnCorpus,
    targets,
    config: SplitConfig,
    arguments: dict,
    dropped_long: dict[str, int],
    source: MonologueSource | None = None,
) -> dict:
    """The content of summary.json: counts, arguments, sources, skipped.

    `monologue_source` is null, or (with --monologue) its files, the texts of
    speakers who are not targets and the targets' turns dropped, per speaker.
    """
    splits = {"train": data.train, "monologue": data.monologue, "dev": data.dev, "test": data.test}
    reports = corpus.reports + (source.reports if source else [])
    return {
        "arguments": arguments,
        "seed": config.seed,
        "split": {
            **dataclasses.asdict(config),
            **{
                k: list(getattr(config, k)) for k in ("heldout_values", "dev_values", "test_values")
            },
        },
        "targets": sorted(targets),
        "conversation_columns": list(corpus.conversation_columns),
        "sources": [
            {"path": r.path, "turns": r.rows, "skipped_lines": len(r.skipped)}
            for r in corpus.reports
        ],
        "skipped": {r.path: r.skipped for r in reports if r.skipped},
        "monologue_source": _monologue_summary(data, source),
        "dropped_long_records": dropped_long,
        "conversations": data.conversations,
        "target_conversations": data.target_conversations,
        "counts": {
            name: {"total": len(rows), "by_speaker": count_by_speaker(rows)}
            for name, rows in splits.items()
        },
        "newcomers": {
            name: {
                "conversations": conversations,
                **{
                    what: sum(r.speaker == name for r in getattr(data, f"newcomer_{what}"))
                    for what in ("dev", "test", "monologue")
                },
            }
            for name, conversations in data.newcomer_conversations.items()
        },
    }


def readme_text(summary: dict) -> str:
    """A short description of the data directory for people."""
    counts = summary["counts"]
    lines = [
        "Prepared by `python -m mtask_tf.prepare`; see summary.json for the",
        "arguments, sources, skipped input lines and all counts.",
        "",
        "train.tsv      speaker context message response: general triples (responder is no target)",
        "monologue.tsv  speaker text: "
        + (
            "the targets' texts from --monologue (their turns outside dev/test dropped)"
            if summary.get("monologue_source")
            else "the targets' turns, context dropped"
        ),
        "dev.tsv        speaker context message response: targets' triples, held-out conversations",
        "test.tsv       the same, other held-out conversations",
        "",
        f"Conversations: {summary['conversations']['total']}, "
        f"{summary['conversations']['heldout']} held out; targets speak in "
        f"{summary['conversations']['dev']} dev and "
        f"{summary['conversations']['test']} test conversations.",
        f"Train: {counts['train']['total']} triples from "
        f"{len(counts['train']['by_speaker'])} speakers.",
        "",
    ]
    return "\n".join(lines) + "\n" + target_table(summary)


def target_table(summary: dict) -> str:
    """Monologue rows, dev and test triples per target, as a text table."""
    counts = summary["counts"]
    width = max(len("target"), *(len(t) for t in summary["targets"]))
    lines = [f"{'target':<{width}}  {'monologue':>9}  {'dev':>6}  {'test':>6}"]
    for target in summary["targets"]:
        row = [counts[s]["by_speaker"].get(target, 0) for s in ("monologue", "dev", "test")]
        lines.append(f"{target:<{width}}  {row[0]:>9}  {row[1]:>6}  {row[2]:>6}")
    return "\n".join(lines) + "\n"


def write_data_dir(output_dir: str, data: PreparedData, summary: dict) -> None:
    """Writes the record files, summary.json and README into `output_dir`."""
    os.makedirs(output_dir, exist_ok=True)
    join = lambda name: os.path.join(output_dir, name)
    records.write_triples(join("train.tsv"), data.train)
    records.write_monologue(join("monologue.tsv"), data.monologue)
    records.write_triples(join("dev.tsv"), data.dev)
    records.write_triples(join("test.tsv"), data.test)
    if data.newcomer_conversations:
        os.makedirs(join("newcomers"), exist_ok=True)
        records.write_triples(join(NEWCOMER_FILES[0]), data.newcomer_dev)
        records.write_triples(join(NEWCOMER_FILES[1]), data.newcomer_test)
        records.write_monologue(join(NEWCOMER_FILES[2]), data.newcomer_monologue)
    with open(join("summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    with open(join("README"), "w", encoding="utf-8") as f:
        f.write(readme_text(summary))


def prepare(
    corpus: TurnCorpus,
    targets,
    output_dir: str,
    config: SplitConfig = SplitConfig(),
    arguments: dict | None = None,
    max_line_chars: int = records.DEFAULT_MAX_LINE_CHARS,
    source: MonologueSource | None = None,
    newcomers=(),
) -> dict:
    """Splits `corpus` for `targets` and writes the data directory.

    Args:
      corpus: the turns, e.g. from `corpora.read_shakespeare()`.
      targets: target speaker names, exactly as in the corpus.
      output_dir: created if needed; the files in `DATA_FILES` are replaced.
      config: the split rule.
      arguments: recorded in summary.json (the CLI passes its flags).
      max_line_chars: longer records are dropped (and counted in summary.json)
        so that the files read back with this limit.
      source: the targets' texts from files of their own (see the module
        docstring), or None for their turns.
      newcomers: speakers kept out of training for enrolment (needs `source`).

    Returns:
      The summary written to summary.json.
    """
    if not targets:
        raise DataError("no target speakers given")
    data = split_corpus(corpus, targets, config, source, newcomers)
    data, dropped_long = drop_long_records(data, max_line_chars)
    check_prepared(data, targets, config)
    check_newcomers_data(data)
    summary = summarize(data, corpus, targets, config, arguments or {}, dropped_long, source)
    write_data_dir(output_dir, data, summary)
    return summary
