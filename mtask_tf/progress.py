"""The compact durations of progress lines ("3m05s", "1h02m"), shared by training and the study."""


def short_duration(seconds):
    """Seconds as "MmSSs" below an hour, "HhMMm" from an hour on."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
