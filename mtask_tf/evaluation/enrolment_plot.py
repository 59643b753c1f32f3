"""The enrolment curve: perplexity against the number of lines of text enrolled from."""


def plot_curve(points, path, speaker, what):
    """Writes the curve of `python -m mtask_tf.enroll --curve` as a PNG.

    Args:
        points: the curve, fewest lines first: dicts with "lines" (how many
            lines of the text were used), "before" and "after" (the perplexity
            with the average speaker's row and after enrolment).
        path: where to write the PNG.
        speaker: the enrolled speaker's name (the x axis's label).
        what: what the perplexity was measured on, e.g. "dev perplexity (12
            triples)"; its part before " (" labels the y axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(5, 3.5))
    axes.plot(
        [p["lines"] for p in points], [p["after"] for p in points], marker="o", label="enrolled"
    )
    axes.axhline(
        points[0]["before"], color="grey", linestyle="--", label="average speaker (before)"
    )
    axes.set_xscale("log")
    axes.set_xlabel(f"lines of {speaker}'s text used")
    axes.set_ylabel(what.split(" (")[0])
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
