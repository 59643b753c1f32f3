"""The report's ablation section: what each model configuration and each decoding did.

Two tables from `artifacts.configurations`: test perplexity and how much it
rises when the inputs are shuffled, for every configuration; and the
decoding-based measures on test for every decoded configuration and decoding.
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
    return "\n".join(parts)
