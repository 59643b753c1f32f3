"""The results table (paper Tables 1-2) and the per-speaker perplexity plot (Fig. 4).

Both take the same `metrics` dict, keyed by system name; every key inside a
system is optional:

    {
        "Baseline": {
            "perplexity": {"dev": 48.21, "test": 50.07},
            "bleu": {"dev": 0.92, "test": 0.88},        # 0-100, as corpus_bleu gives
            "distinct_1": 0.0121,                        # fraction, as distinct_n gives
            "distinct_2": 0.0474,
            "perplexity_by_speaker": {"dev": {"HAMLET": 40.2, "IAGO": 51.0},
                                      "test": {"HAMLET": 42.9, "IAGO": 49.7}},
            "ent_4": 6.81,                               # nats, as ngram_entropy gives
            "distinct_responses": 0.42,                  # fraction
            "speaker_accuracy": {"dev": 0.55, "test": 0.57},
            # The same classifier on the real responses of those rows (the same
            # for every system) and 1 / number of targets.
            "speaker_accuracy_ceiling": {"dev": 0.71, "test": 0.69},
            "speaker_accuracy_chance": 0.5,
            # Degeneration of the 1-best (last split): mean words, the share at
            # max_length - 1 words and the share saying a word three times in a row.
            "mean_length": 7.9,
            "length_cap_share": 0.12,
            "repetition_share": 0.03,
            # The share of responses each target's style classifier reads as the
            # target's, averaged over targets; the real responses' as its ceiling.
            "style_score": {"dev": 0.31, "test": 0.29},
            "style_score_ceiling": {"dev": 0.52, "test": 0.55},
            # 95 % bootstrap intervals [low, high] beside a measure: KEY_interval.
            "speaker_accuracy_interval": {"dev": [0.52, 0.58], "test": [0.54, 0.60]},
            "style_score_interval": {"dev": [0.28, 0.34], "test": [0.26, 0.32]},
            "distinct_responses_interval": [0.39, 0.45],
        },
        "MTASK-S": {...},
    }
"""

import pathlib

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from mtask_tf.evaluation import metrics as metrics_lib

MISSING = "–"

# (label, keys into a system's metrics, shown as percentage, relative change
# shown, always shown). Like the paper, distinct-n has no relative change: next
# to a percentage it would read as a change in percentage points; the other
# percentages and Ent-4 (a log scale) have none either. The paper's rows are
# always shown; the others only when some system has a value, so a run without
# speaker accuracy does not carry rows of dashes.
_ROWS = (
    ("Perplexity dev", ("perplexity", "dev"), False, True, True),
    ("Perplexity test", ("perplexity", "test"), False, True, True),
    # The same reference responses scored after other rows' inputs; a value
    # close to the real perplexity means the model hardly uses its input.
    ("Perplexity dev, inputs shuffled", ("perplexity_shuffled_inputs", "dev"), False, False, False),
    (
        "Perplexity test, inputs shuffled",
        ("perplexity_shuffled_inputs", "test"),
        False,
        False,
        False,
    ),
    ("BLEU dev", ("bleu", "dev"), False, "bleu", True),
    ("BLEU test", ("bleu", "test"), False, "bleu", True),
    ("distinct-1", ("distinct_1",), True, False, True),
    ("distinct-2", ("distinct_2",), True, False, True),
    ("Ent-4", ("ent_4",), False, False, False),
    ("distinct responses", ("distinct_responses",), True, False, False),
    ("Mean length (words)", ("mean_length",), False, False, False),
    ("At the length cap", ("length_cap_share",), True, False, False),
    ("A word three times in a row", ("repetition_share",), True, False, False),
    ("Speaker accuracy dev", ("speaker_accuracy", "dev"), True, False, False),
    ("Speaker accuracy test", ("speaker_accuracy", "test"), True, False, False),
    ("Speaker accuracy dev, balanced", ("speaker_accuracy_balanced", "dev"), True, False, False),
    ("Speaker accuracy test, balanced", ("speaker_accuracy_balanced", "test"), True, False, False),
    (
        "Speaker accuracy dev, real responses",
        ("speaker_accuracy_ceiling", "dev"),
        True,
        False,
        False,
    ),
    (
        "Speaker accuracy test, real responses",
        ("speaker_accuracy_ceiling", "test"),
        True,
        False,
        False,
    ),
    ("Speaker accuracy, chance", ("speaker_accuracy_chance",), True, False, False),
    ("Style score dev", ("style_score", "dev"), True, False, False),
    ("Style score test", ("style_score", "test"), True, False, False),
    ("Style score dev, real responses", ("style_score_ceiling", "dev"), True, False, False),
    ("Style score test, real responses", ("style_score_ceiling", "test"), True, False, False),
)


def _lookup(system_metrics, keys):
    value = system_metrics
    for key in keys:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return float(value)


def interval(system_metrics, keys):
    """The (low, high) interval stored beside the measure at `keys`, or None.

    A measure's interval is at the same place under its key + "_interval":
    ("style_score", "test") -> system_metrics["style_score_interval"]["test"].
    """
    value = system_metrics.get(f"{keys[0]}_interval")
    for key in keys[1:]:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    return float(value[0]), float(value[1])


def interval_text(bounds, percent):
    """The interval as ' [low, high]' in the measure's unit (percent or not); '' for None."""
    if bounds is None:
        return ""
    scale = 100 if percent else 1
    return f" [{scale * bounds[0]:.2f}, {scale * bounds[1]:.2f}]"


# A corpus BLEU below 1 moves by tens of percent between runs of the same
# system: a relative change against such a baseline is noise, not a finding.
MIN_BLEU_FOR_CHANGE = 1.0


def value_cell(value, baseline=None, kind="perplexity", bounds=None):
    """A table cell: the value, its interval, and its change against `baseline`.

    The one formatter of measures for every table (evaluate's, the study's,
    compare's).

    Args:
        value: the measure, or None (shown as MISSING).
        baseline: the baseline's value; None or 0 shows no change.
        kind: "perplexity" (value and change), "bleu" (the change only from a
            baseline of MIN_BLEU_FOR_CHANGE on), "percent" (a fraction shown in
            percent, no change) or "plain" (the value alone).
        bounds: the measure's (low, high) interval, shown after the value.
    """
    if value is None:
        return MISSING
    percent = kind == "percent"
    text = (f"{100 * value:.2f} %" if percent else f"{value:.2f}") + interval_text(bounds, percent)
    compared = kind == "perplexity" or (kind == "bleu" and (baseline or 0) >= MIN_BLEU_FOR_CHANGE)
    if compared and baseline:
        text += f" ({100 * metrics_lib.relative_change(value, baseline):+.1f} %)"
    return text


def _kind(percent, compare):
    """A _ROWS entry's (percent, compare) as a `value_cell` kind."""
    if percent:
        return "percent"
    return "bleu" if compare == "bleu" else ("perplexity" if compare else "plain")


def _systems(metrics, baseline):
    if baseline not in metrics:
        raise ValueError(
            f"baseline {baseline!r} is not among the systems "
            f"{sorted(metrics)}; pass one of them as `baseline`"
        )
    return [baseline] + [name for name in metrics if name != baseline]


def metrics_table(metrics, baseline):
    """A Markdown table with the systems side by side, baseline first, like Tables 1-2.

    Rows: Perplexity dev/test, BLEU dev/test, distinct-1/2, then, when some
    system has them, Ent-4, distinct responses, mean length, the share at the
    length cap, the share repeating a word three times, speaker accuracy
    dev/test, its ceiling on the real responses and its chance level, and the
    style score dev/test with its ceiling. Values have two decimals, fractions
    are shown in percent (0.0169 -> "1.69 %"), and the other systems'
    perplexity and BLEU cells carry the relative change against the baseline,
    e.g. "32.27 (-42.7 %)" (BLEU only when the baseline's is at least 1: below
    that it is run-to-run noise). A measure with an interval shows it after the
    value, in the same unit: "43.11 % [40.02, 46.20]". Missing values are
    shown as "–".

    Args:
        metrics: system name -> metrics, laid out as in the module docstring.
        baseline: name of the system the relative changes refer to.
    """
    systems = _systems(metrics, baseline)
    lines = ["| | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
    for label, keys, percent, compare, always in _ROWS:
        values = [_lookup(metrics[name], keys) for name in systems]
        if not always and all(value is None for value in values):
            continue
        bounds = [interval(metrics[name], keys) for name in systems]
        kind = _kind(percent, compare)
        cells = [value_cell(values[0], None, kind, bounds[0])]
        cells += [value_cell(v, values[0], kind, b) for v, b in zip(values[1:], bounds[1:])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _speaker_perplexities(metrics, split):
    """System -> {speaker: perplexity}, and the speakers in order of first appearance."""
    by_system = {
        name: dict((m.get("perplexity_by_speaker") or {}).get(split) or {})
        for name, m in metrics.items()
    }
    speakers = list(dict.fromkeys(s for values in by_system.values() for s in values))
    if not speakers:
        raise ValueError(
            f"no system has per-speaker perplexity for split {split!r}: "
            f"expected metrics[system]['perplexity_by_speaker'][{split!r}]"
        )
    return by_system, speakers


def plot_perplexity_by_speaker(metrics, path, split="test"):
    """Writes a grouped bar chart of per-speaker perplexity as PNG, like Fig. 4.

    One group per speaker, in order of first appearance in `metrics`; one bar
    per system in each group, in the order of `metrics`. A system without a value
    for a speaker has no bar there. Uses the Agg canvas directly, so no display
    is needed and pyplot's global state is left alone.

    Args:
        metrics: system name -> metrics, laid out as in the module docstring.
        path: where to write the PNG; missing parent directories are made.
        split: "dev" or "test", the key inside "perplexity_by_speaker".

    Returns:
        The matplotlib Figure, whose single axes holds one patch per bar.
    """
    by_system, speakers = _speaker_perplexities(metrics, split)
    width = 0.8 / len(by_system)
    figure = Figure(
        figsize=(max(6.0, 1.5 + len(speakers) * (0.3 + 0.25 * len(by_system))), 4.5),
        layout="constrained",
    )
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for i, (name, values) in enumerate(by_system.items()):
        xs = [
            x + (i - (len(by_system) - 1) / 2) * width
            for x, s in enumerate(speakers)
            if s in values
        ]
        axes.bar(xs, [values[s] for s in speakers if s in values], width, label=name)
    rotate = len(speakers) > 6 or max(len(s) for s in speakers) > 8
    axes.set_xticks(
        range(len(speakers)),
        speakers,
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
    )
    axes.set_xlabel("Speaker")
    axes.set_ylabel(f"Perplexity ({split})")
    axes.set_title(f"Per-speaker perplexity, {split} set")
    # Outside the axes: inside, the legend hides the tallest bars.
    figure.legend(loc="outside right upper")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return figure


def plot_scarcity(points, baseline, path):
    """Writes MTASK-M's dev perplexity against the share of monologue used, as PNG.

    Uses the Agg canvas directly, so no display is needed and pyplot's global
    state is left alone.

    Args:
        points: [(share, dev perplexity)], share in (0, 1], at least one.
        baseline: the baseline's dev perplexity, drawn as a horizontal line; or None.
        path: where to write the PNG.
    """
    shares, values = zip(*sorted(points))
    figure = Figure(figsize=(5.5, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(shares, values, marker="o", label="MTASK-M")
    if baseline is not None:
        axes.axhline(baseline, color="grey", linestyle="--", label="Baseline (no monologue)")
    axes.set_xscale("log")
    # Ticks only at the shares trained, in percent; log-scale minor labels would clutter.
    axes.set_xticks(shares, [f"{100 * s:g} %" for s in shares])
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("Share of each target's monologue used")
    axes.set_ylabel("Dev perplexity")
    axes.set_title("MTASK-M with less monologue")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.savefig(path, format="png", dpi=120)
    return figure
