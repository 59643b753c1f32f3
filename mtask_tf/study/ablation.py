"""The report's ablation section: what each model configuration and each decoding did.

Two tables from `artifacts.configurations`: test perplexity and how much it
rises when the inputs are shuffled, for every configuration; and the
decoding-based measures on test for every decoded configuration and decoding.
Then the targets a recommended configuration must reach (issue #24), checked on
the main configuration with each decoding.
"""

from mtask_tf.evaluation import report as eval_report
from mtask_tf.study import artifacts as artifacts_lib
from mtask_tf.study import markdown

get = artifacts_lib.get
_PERPLEXITY_SYSTEMS = (*artifacts_lib.SYSTEMS, ("control", "Control"))
# (label, keys into a system's test metrics, kind for markdown.cell)
_DECODING_MEASURES = (
    ("BLEU", ("bleu", "test"), "plain"),
    ("distinct responses", ("distinct_responses",), "percent"),
    ("distinct-1", ("distinct_1",), "percent"),
    ("distinct-2", ("distinct_2",), "percent"),
    ("at the length cap", ("length_cap_share",), "percent"),
    ("a word three times in a row", ("repetition_share",), "percent"),
    ("speaker accuracy, balanced", ("speaker_accuracy_balanced", "test"), "percent"),
    ("style score", ("style_score", "test"), "percent"),
)


def input_dependence(metrics, system, split="test"):
    """How much a system's perplexity rises with the inputs shuffled (0.012: +1.2 %), or None."""
    plain = get(metrics, system, "perplexity", split)
    shuffled = get(metrics, system, "perplexity_shuffled_inputs", split)
    return None if plain is None or shuffled is None else shuffled / plain - 1


def _rise(value):
    return markdown.MISSING if value is None else f"{100 * value:+.1f} %"


def _name(configuration):
    if configuration.label:
        return configuration.label
    return (
        "the study's configuration ([train])"
        if configuration.name == "main"
        else configuration.name
    )


def _perplexity_rows(configurations):
    rows = []
    for configuration in configurations:
        metrics = configuration.perplexity
        base = get(metrics, "baseline", "perplexity", "test")
        cells = [
            markdown.cell(
                get(metrics, system, "perplexity", "test"), base if system != "baseline" else None
            )
            for system, _ in _PERPLEXITY_SYSTEMS
        ]
        rises = [_rise(input_dependence(metrics, system)) for system, _ in artifacts_lib.SYSTEMS]
        rows.append([_name(configuration), *cells, *rises])
    return rows


def _decoding_name(protocol, name):
    if not name:
        d = protocol.decode
        return f"beam {d.beam_size}, MMI ([decode])"
    decoding = next(d for d in protocol.decodings if d.name == name)
    return decoding.label or name


def _decoding_rows(protocol, configurations):
    rows = []
    for configuration in configurations:
        for name, metrics in configuration.decoded.items():
            for system, label in artifacts_lib.SYSTEMS:
                values = (metrics or {}).get(system) or {}
                cells = [
                    markdown.cell(
                        get(values, *keys), kind=kind, bounds=eval_report.interval(values, keys)
                    )
                    for _, keys, kind in _DECODING_MEASURES
                ]
                rows.append([_name(configuration), _decoding_name(protocol, name), label, *cells])
    return rows


def section(protocol, configurations):
    """The ablation section's Markdown; '' for a protocol without [[ablation]] or [[decoding]]."""
    if not protocol.ablation and not protocol.decodings:
        return ""
    systems = [label for _, label in _PERPLEXITY_SYSTEMS]
    rises = [f"{label}: inputs shuffled" for _, label in artifacts_lib.SYSTEMS]
    parts = [
        "## The ablation: what each lever does",
        "",
        "Each configuration trained through the same stages on the same data, with its "
        "own control; all rerank with the same reverse model. Test perplexity (change "
        "against the configuration's baseline), and how much it rises when each row gets "
        "another row's input (one seeded shuffle): the more a model uses its input, the "
        "more it loses.",
        "",
        markdown.table(["Configuration", *systems, *rises], _perplexity_rows(configurations)),
    ]
    decoded = _decoding_rows(protocol, configurations)
    if decoded:
        header = ["Configuration", "Decoding", "System", *(m[0] for m in _DECODING_MEASURES)]
        parts += [
            "",
            f"Decoding-based measures on {protocol.decode.eval_examples} seeded test inputs, the "
            "1-best of each; MMI weights tuned by MERT for each system and decoding. "
            "Speaker accuracy and style score with their 95 % intervals.",
            "",
            markdown.table(header, decoded),
        ]
    return "\n".join([*parts, "", targets(protocol, configurations)])


# (target, keys, lowest or None, highest or None): every system's value must lie in range.
_RANGE_TARGETS = (
    ("distinct responses at least 50 %", ("distinct_responses",), 0.5, None),
    ("distinct-1 at least 1.7 %", ("distinct_1",), 0.017, None),
    ("distinct-2 at least 6.5 %", ("distinct_2",), 0.065, None),
    ("at most 5 % at the length cap", ("length_cap_share",), None, 0.05),
    ("at most 1 % with a word three times in a row", ("repetition_share",), None, 0.01),
)
INPUT_DEPENDENCE_FACTOR = 2.5


def _verdict(ok):
    return markdown.MISSING if ok is None else ("met" if ok else "**not met**")


def _in_range(value, low, high):
    if value is None:
        return None
    return (low is None or value >= low) and (high is None or value <= high)


def _range_row(metrics, keys, low, high):
    values = [get((metrics or {}).get(system) or {}, *keys) for system, _ in artifacts_lib.SYSTEMS]
    checks = [_in_range(v, low, high) for v in values]
    shown = ", ".join(markdown.cell(v, kind="percent") for v in values)
    return shown, None if None in checks else all(checks)


def _above_baseline(metrics, keys):
    """MTASK-M above the baseline with 95 % intervals apart, or None without both."""
    baseline, mtask_m = ((metrics or {}).get(s) or {} for s in ("baseline", "mtask_m"))
    low, high = eval_report.interval(mtask_m, keys), eval_report.interval(baseline, keys)
    shown = " vs ".join(
        markdown.cell(get(m, *keys), kind="percent", bounds=eval_report.interval(m, keys))
        for m in (mtask_m, baseline)
    )
    return shown, None if low is None or high is None else low[0] > high[1]


def _input_dependence_row(main, reference):
    mine = input_dependence(main.perplexity, "mtask_m")
    theirs = reference and input_dependence(reference.perplexity, "mtask_m")
    shown = f"{_rise(mine)} vs {_rise(theirs)} ({reference.name if reference else 'no reference'})"
    ok = None if mine is None or theirs is None else mine >= INPUT_DEPENDENCE_FACTOR * theirs
    return shown, ok


def _effect_row(main):
    metrics = main.perplexity or {}
    value = lambda system: get(metrics, system, "perplexity", "test")
    values = [value(s) for s in ("mtask_m", "mtask_s", "baseline", "control")]
    shown = " / ".join(markdown.cell(v) for v in values)
    if None in values:
        return shown, None
    return shown, max(values[:2]) < min(values[2:])


def targets(protocol, configurations):
    """The targets checked on the main configuration: Markdown, '' without decodings run."""
    main = configurations[0]
    reference = next((c for c in configurations if c.name == protocol.report.reference), None)
    rows = [
        [
            f"MTASK-M's rise with shuffled inputs at least {INPUT_DEPENDENCE_FACTOR}x the "
            "reference configuration's",
            *_input_dependence_row(main, reference),
        ],
        [
            "MTASK-M and MTASK-S below the baseline and the control (test perplexity)",
            *_effect_row(main),
        ],
    ]
    for name, metrics in main.decoded.items():
        decoding = _decoding_name(protocol, name)
        for label, keys, low, high in _RANGE_TARGETS:
            rows.append([f"{label}: {decoding}", *_range_row(metrics, keys, low, high)])
        for label, keys in (
            ("balanced speaker accuracy", ("speaker_accuracy_balanced", "test")),
            ("style score", ("style_score", "test")),
        ):
            rows.append(
                [
                    f"MTASK-M's {label} above the baseline's, intervals apart: {decoding}",
                    *_above_baseline(metrics, keys),
                ]
            )
    rows = [[target, shown, _verdict(ok)] for target, shown, ok in rows]
    return "\n".join(
        [
            f"The targets a recommended configuration must reach, checked on {_name(main)} "
            "(test split; diversity and "
            "degeneration for Baseline, MTASK-S, MTASK-M in that order; perplexities "
            "MTASK-M / MTASK-S / Baseline / Control):",
            "",
            markdown.table(["Target", "Measured", "Verdict"], rows),
        ]
    )
