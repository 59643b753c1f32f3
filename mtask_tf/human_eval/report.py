"""The Markdown report and agreement figures (paper Figs. 5-6) of a preference test."""

import math
import pathlib

from mtask_tf.human_eval import analysis
from mtask_tf.human_eval import answers as answers_lib


def _figure(result, bins, n, path):
    """The agreement chart of the items with `n` judges; `bins` as `agreement_bins(result)[n]`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    ks = list(bins)
    figure, axes = plt.subplots(figsize=(5, 3.2))
    width = 0.38
    x = range(len(ks))
    axes.bar([i - width / 2 for i in x], [bins[k][0] for k in ks], width, label=result.system)
    axes.bar([i + width / 2 for i in x], [bins[k][1] for k in ks], width, label=result.reference)
    axes.set_xticks(list(x), [str(k) for k in ks])
    axes.set_xlabel(f"judges (of {n}) who chose the system")
    axes.set_ylabel("items")
    axes.set_title(f"{result.system} vs {result.reference}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _number(value, digits=3):
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


def _table3(results):
    lines = [
        "| System | Reference | Reference's preference | System's preference | 95 % CI "
        "(system) | p | Items | Judgments |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        half = None if math.isnan(r.ci_low) else (r.ci_high - r.ci_low) / 2
        lines.append(
            f"| {r.system} | {r.reference} | {_number(1 - r.mean)} | {_number(r.mean)} "
            f"| ±{_number(half)} [{_number(r.ci_low)}, {_number(r.ci_high)}] "
            f"| {_number(r.p_value, 4)} | {r.items} | {r.judgments} |"
        )
    return lines


def _judges(judge_filter, answers_count):
    lines = [
        f"{len(judge_filter.variances)} judges with two or more answers; "
        f"{answers_count} answers in all (the last of each judge and item)."
    ]
    if math.isnan(judge_filter.mean_variance):
        lines.append("Fewer than three judges have a rating variance: none was discarded.")
    else:
        lines.append(
            f"Rating variance over judges: mean {judge_filter.mean_variance:.3f}, standard "
            f"deviation {judge_filter.std_variance:.3f}. Discarded (variance more than two "
            f"standard deviations from the mean): "
            + (
                ", ".join(f"{j} ({judge_filter.variances[j]:.3f})" for j in judge_filter.discarded)
                or "none"
            )
            + "."
        )
    return lines


def write_report(task, answers, output_dir, sigmas=2.0):
    """Writes OUTPUT_DIR/report.md and one agreement PNG per pair; returns the report path."""
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    judge_filter, results = analysis.analyze(task, answers, sigmas)
    lines = [
        "# Human evaluation",
        "",
        "Judges saw example texts of the target speaker, the context and message, and two "
        "systems' responses in random order, and answered which response more likely comes "
        "from the same person (paper section 7.1).",
        "",
        "## Judges",
        "",
        *_judges(judge_filter, len(answers_lib.latest(answers))),
        "",
        "## Table 3: preference against the reference system",
        "",
        "Preference: 1 = the judges always found the system's response much more likely "
        "the target's, 0.5 = no preference. Means over items (each item's mean over its "
        f"judges); 95 % confidence interval by Student's t over items; p: {analysis.TEST_NAME}.",
        "",
        *_table3(results),
        "",
    ]
    left_out = {k: v for k, v in task.left_out.items() if v}
    if left_out:
        lines += [
            "Inputs left out because both systems gave the same response: "
            + ", ".join(f"{k} {v}" for k, v in left_out.items())
            + ".",
            "",
        ]
    lines += ["## Judge agreement (paper Figs. 5-6)", ""]
    for result in results:
        name = f"agreement_{result.system}_vs_{result.reference}.png"
        by_count = analysis.agreement_bins(result)
        n = max(by_count, key=lambda k: sum(map(sum, by_count[k].values())))  # the usual count
        _figure(result, by_count[n], n, output_dir / name)
        lines += [
            f"![{result.system} vs {result.reference}]({name})",
            "",
            f"| judges of {n} who chose | {result.system} | {result.reference} |",
            "|---|---|---|",
        ]
        for k, (a, b) in by_count[n].items():
            lines.append(f"| {k} | {a} | {b} |")
        lines.append("")
    path = output_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, judge_filter, results
