"""Durations as text, in the two forms everything shares.

`short_duration`: the compact form of progress lines ("3m05s", "1h02m");
`duration`: the form of reports and tables ("4.2 s", "3 min 05 s", "1 h 02 min").
"""


def short_duration(seconds):
    """Seconds as "MmSSs" below an hour, "HhMMm" from an hour on."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def duration(seconds):
    """Seconds as "4.2 s" below a minute, "3 min 05 s" below an hour, "1 h 02 min" after;
    "–" for None."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
