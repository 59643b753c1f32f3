"""Durations in progress lines and in reports."""

from mtask_tf import progress


def test_short_duration_switches_to_hours_at_one_hour():
    assert progress.short_duration(0) == "0m00s"
    assert progress.short_duration(185.7) == "3m05s"
    assert progress.short_duration(3599) == "59m59s"
    assert progress.short_duration(3600) == "1h00m"
    assert progress.short_duration(7 * 3600 + 125) == "7h02m"


def test_duration_of_reports_seconds_minutes_hours_and_missing():
    assert progress.duration(None) == "–"
    assert progress.duration(4.24) == "4.2 s"
    assert progress.duration(59.9) == "59.9 s"
    assert progress.duration(185.7) == "3 min 06 s"
    assert progress.duration(3599) == "59 min 59 s"
    assert progress.duration(3600) == "1 h 00 min"
    assert progress.duration(7 * 3600 + 125) == "7 h 02 min"
