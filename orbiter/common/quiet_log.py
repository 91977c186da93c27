"""Warnings about what outsiders control (refused replies, enrollment offers), at a bounded
rate: a flood of junk must not flood the log."""

import logging
import time


class QuietLog:
    """At most `per_minute` lines per key each minute; the rest are counted and written as one
    line (`summary`, given the {key: count} dict) when the next minute's first line comes."""

    def __init__(self, logger: logging.Logger, summary: str, per_minute: int = 10):
        self.logger, self.summary, self.per_minute = logger, summary, per_minute
        self.window, self.counts = 0, {}

    def warning(self, key: str, fmt: str, *args) -> None:
        window = int(time.monotonic() // 60)
        if window != self.window:
            dropped = {k: n - self.per_minute for k, n in self.counts.items() if n > self.per_minute}
            if dropped:
                self.logger.warning(self.summary, dropped)
            self.window, self.counts = window, {}
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] <= self.per_minute:
            self.logger.warning(fmt, *args)
