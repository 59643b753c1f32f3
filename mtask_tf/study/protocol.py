"""The study protocol: one TOML file under configs/study/ says what the study runs.

Read once into frozen dataclasses; every error names the file and the field.
Relative paths (turn files, the size flag file) are taken from the directory
the runner is started in, the repository root for `make reproduce`.
"""

import dataclasses
import pathlib
import re

from mtask_tf import errors

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class ProtocolError(errors.UserError):
    """A protocol file that cannot be run; the message names the file and field."""


@dataclasses.dataclass(frozen=True)
class DataProtocol:
    """Which conversations, which targets, and how dev and test are held out."""

    turns: tuple[str, ...]
    targets: tuple[str, ...]
    split_column: str
    dev_values: tuple[str, ...] = ()  # split "column": the values held out for dev
    test_values: tuple[str, ...] = ()  # ... and for test
    # "column" (by dev_values/test_values) or "hash" (heldout_fraction of the
    # groups of conversations sharing split_column's value, half for test).
    split: str = "column"
    heldout_fraction: float = 0.2
    # The targets' own texts (prepare --monologue) instead of their turns.
    monologue: tuple[str, ...] = ()
    # Speakers kept out of training, to enrol later (prepare --newcomers).
    newcomers: tuple[str, ...] = ()
    skip_bad_lines: bool = False


@dataclasses.dataclass(frozen=True)
class TrainProtocol:
    """Model size (a size flag file plus flags) and how long each stage may run."""

    size_flags: str
    flags: tuple[str, ...] = ()
    stage1_max_steps: int = 8000
    stage2_max_steps: int = 2000
    reverse_max_steps: int = 6000
    eval_every: int = 500
    patience: int = 3
    stage2_eval_every: int = 0  # 0: eval_every; stage 2 is short, so it may look more often
    stage2_patience: int = 0  # 0: patience
    # Appended to the stage-2 runs and to the control, e.g. a lower learning rate.
    stage2_flags: tuple[str, ...] = ()
    # What the report calls the configuration `flags` train (e.g. "+ dropout + attention").
    label: str = ""

    @property
    def stage2_eval(self):
        return self.stage2_eval_every or self.eval_every

    @property
    def stage2_wait(self):
        """Stage 2's patience: stage2_patience, or patience for 0."""
        return self.stage2_patience or self.patience


@dataclasses.dataclass(frozen=True)
class DecodeProtocol:
    """The one decoding every system gets (paper 6.4) and the decoded subsets."""

    beam_size: int = 50
    max_length: int = 20
    candidates: int = 0
    batch_size: int = 16
    tune_examples: int = 1000
    eval_examples: int = 1000
    sample_seed: int = 1


@dataclasses.dataclass(frozen=True)
class EnrolProtocol:
    """How each newcomer's enrolment trains ([data] newcomers; `mtask_tf.enroll` flags)."""

    max_steps: int = 1000
    eval_every: int = 50
    patience: int = 3


@dataclasses.dataclass(frozen=True)
class Configuration:
    """A model configuration of the ablation, trained beside the main one ([[ablation]]).

    It goes through the main configuration's stages on the same data, with its
    own control, and shares the reverse model. `flags` replace [train] flags
    (the size file, step limits and stage-2 flags stay). `decoded`: it also
    gets the decoding-based measures (tuning, and the test split with every
    decoding).
    """

    name: str
    flags: tuple[str, ...]
    label: str = ""
    decoded: bool = False


@dataclasses.dataclass(frozen=True)
class Decoding:
    """A decoding beside [decode]'s ([[decoding]]): its flags are added to [decode]'s.

    Every decoded configuration tunes its MMI weights again with it and
    evaluates the test split with it.
    """

    name: str
    flags: tuple[str, ...]
    label: str = ""


@dataclasses.dataclass(frozen=True)
class ReportProtocol:
    """What the report shows besides the tables."""

    example_targets: tuple[str, ...] = ()
    examples: int = 3
    # The [[ablation]] configuration the main one's input dependence is compared with.
    reference: str = "paper"
    # Heatmaps of MTASK-M's attention on this many seeded test inputs (0: none);
    # the main configuration must have attention (--attention=luong).
    attention_plots: int = 0


@dataclasses.dataclass(frozen=True)
class Protocol:
    path: pathlib.Path
    name: str
    description: str
    data: DataProtocol
    train: TrainProtocol
    decode: DecodeProtocol
    report: ReportProtocol
    enrol: EnrolProtocol = EnrolProtocol()
    monologue_fractions: tuple[float, ...] = ()
    ablation: tuple[Configuration, ...] = ()
    decodings: tuple[Decoding, ...] = ()

    def with_turns(self, turns):
        """The same protocol on other turn files (e.g. a generated corpus in tests)."""
        return dataclasses.replace(self, data=dataclasses.replace(self.data, turns=tuple(turns)))

    def with_monologue(self, monologue):
        """The same protocol with other monologue files (prepare --monologue)."""
        data = dataclasses.replace(self.data, monologue=tuple(monologue))
        return dataclasses.replace(self, data=data)


def _section(record, name, cls, path, table=None):
    table = record.get(name, {}) if table is None else table
    if not isinstance(table, dict):
        raise ProtocolError(f"{path}: [{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ProtocolError(
            f"{path}: [{name}] has unknown field(s) {', '.join(unknown)}; "
            f"known: {', '.join(fields)}"
        )
    values = {}
    for key, field in fields.items():
        if key not in table:
            if field.default is dataclasses.MISSING:
                raise ProtocolError(f"{path}: [{name}] needs the field {key!r}")
            continue
        values[key] = _typed(table[key], field.type, f"{path}: [{name}] {key}")
    return cls(**values)


def _typed(value, kind, where):
    """Checks a TOML value against a dataclass field's type; lists become tuples."""
    kind = kind.__name__ if isinstance(kind, type) else str(kind)
    if kind.startswith("tuple"):
        item = float if "float" in kind else str
        if not isinstance(value, list) or not all(
            isinstance(v, item) or (item is float and isinstance(v, int)) for v in value
        ):
            raise ProtocolError(f"{where}: expected a list of {item.__name__}s, got {value!r}")
        return tuple(item(v) for v in value)
    expected = {"int": int, "str": str, "float": float, "bool": bool}[kind]
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise ProtocolError(f"{where}: expected {kind}, got {value!r}")
    return value


def _entries(record, name, cls, path):
    """An array of tables ([[name]]) as `cls` records with unique, file-name-safe names."""
    tables = record.get(name, [])
    if not isinstance(tables, list):
        raise ProtocolError(f"{path}: {name} must be an array of tables ([[{name}]])")
    entries = tuple(
        _section(record, f"{name} {number}", cls, path, table)
        for number, table in enumerate(tables, start=1)
    )
    names = [entry.name for entry in entries]
    for entry in entries:
        if not re.fullmatch(r"[a-z0-9_]+", entry.name) or entry.name == "main":
            raise ProtocolError(
                f"{path}: [[{name}]] name {entry.name!r} must be lower-case letters, digits "
                "and _ (it names directories), and not 'main'"
            )
        if names.count(entry.name) > 1:
            raise ProtocolError(f"{path}: [[{name}]] name {entry.name!r} is used twice")
    return entries


def _check(protocol):
    where = protocol.path
    data = protocol.data
    if not data.turns or not data.targets:
        raise ProtocolError(f"{where}: [data] needs at least one turn file and one target")
    if data.split not in ("column", "hash"):
        raise ProtocolError(f'{where}: [data] split must be "column" or "hash", got {data.split!r}')
    if (data.split == "column") != bool(data.dev_values and data.test_values):
        raise ProtocolError(
            f'{where}: [data] split "column" needs dev_values and test_values; '
            'split "hash" takes heldout_fraction instead'
        )
    if not 0 < data.heldout_fraction < 1:
        raise ProtocolError(f"{where}: [data] heldout_fraction must lie in (0, 1)")
    for name in (
        "stage1_max_steps",
        "stage2_max_steps",
        "reverse_max_steps",
        "eval_every",
        "patience",
    ):
        if getattr(protocol.train, name) < 1:
            raise ProtocolError(f"{where}: [train] {name} must be positive")
    if protocol.train.stage2_patience < 0:
        raise ProtocolError(f"{where}: [train] stage2_patience must be positive, or 0 for patience")
    if protocol.train.stage2_eval_every < 0:
        raise ProtocolError(
            f"{where}: [train] stage2_eval_every must be positive, or 0 for eval_every"
        )
    for name in ("max_steps", "eval_every", "patience"):
        if getattr(protocol.enrol, name) < 1:
            raise ProtocolError(f"{where}: [enrol] {name} must be positive")
    for name in ("beam_size", "max_length", "batch_size"):
        if getattr(protocol.decode, name) < 1:
            raise ProtocolError(f"{where}: [decode] {name} must be positive")
    bad = [f for f in protocol.monologue_fractions if not 0 < f < 1]
    if bad:
        raise ProtocolError(
            f"{where}: [scarcity] monologue_fractions must lie in (0, 1), got {bad}"
        )
    if protocol.report.attention_plots < 0:
        raise ProtocolError(f"{where}: [report] attention_plots must be 0 (none) or positive")
    missing = [t for t in protocol.report.example_targets if t not in protocol.data.targets]
    if missing:
        raise ProtocolError(f"{where}: [report] example_targets {missing} are not targets")


def load(path):
    """Reads and checks a protocol file. Raises ProtocolError naming the problem."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: protocol file not found (see configs/study/)")
    try:
        record = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(f"{path}: not valid TOML ({error})") from None
    known = {"name", "description", "data", "train", "decode", "report", "scarcity"}
    known |= {"ablation", "decoding", "enrol"}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ProtocolError(f"{path}: unknown top-level field(s) {', '.join(unknown)}")
    scarcity = record.get("scarcity", {})
    fractions = _typed(
        scarcity.get("monologue_fractions", []),
        "tuple[float, ...]",
        f"{path}: [scarcity] monologue_fractions",
    )
    protocol = Protocol(
        path=path,
        name=_typed(record.get("name", path.stem), "str", f"{path}: name"),
        description=_typed(record.get("description", ""), "str", f"{path}: description"),
        data=_section(record, "data", DataProtocol, path),
        train=_section(record, "train", TrainProtocol, path),
        decode=_section(record, "decode", DecodeProtocol, path),
        report=_section(record, "report", ReportProtocol, path),
        enrol=_section(record, "enrol", EnrolProtocol, path),
        monologue_fractions=fractions,
        ablation=_entries(record, "ablation", Configuration, path),
        decodings=_entries(record, "decoding", Decoding, path),
    )
    _check(protocol)
    return protocol
