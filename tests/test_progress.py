"""Durations in progress lines."""

from mtask_tf import progress


def test_short_duration_switches_to_hours_at_one_hour():
    assert progress.short_duration(0) == "0m00s"
    assert progress.short_duration(185.7) == "3m05s"
    assert progress.short_duration(3599) == "59m59s"
    assert progress.short_duration(3600) == "1h00m"
    assert progress.short_duration(7 * 3600 + 125) == "7h02m"
