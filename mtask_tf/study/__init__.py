"""Research runs as code: a protocol file, a resumable runner, a report."""
