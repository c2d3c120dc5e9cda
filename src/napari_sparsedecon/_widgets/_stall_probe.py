"""A QTimer probe of event-loop stalls, for the responsiveness test and benchmark.

A timer that should fire every ``interval_ms`` records the longest gap between two of
its ticks: anything that blocks the event loop (work on the GUI thread, a slow repaint)
shows up as a gap well over the interval.
"""

from __future__ import annotations

import time


class StallProbe:
    """``with StallProbe() as probe: ...`` then ``probe.longest`` (seconds) or
    ``probe.longest_ms_apart(spans)``."""

    def __init__(self, interval_ms: int = 20):
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.longest = 0.0
        self.ticks = 0
        self.gaps = []  # (start, end) perf_counter times of gaps over 2 intervals
        self._last = None
        self._slack = 2 * interval_ms / 1000.0

    def _tick(self):
        now = time.perf_counter()
        if self._last is not None:
            self.longest = max(self.longest, now - self._last)
            if now - self._last > self._slack:
                self.gaps.append((self._last, now))
        self._last = now
        self.ticks += 1

    def __enter__(self):
        self.longest, self.ticks, self.gaps = 0.0, 0, []
        self._last = time.perf_counter()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self._tick()  # a stall up to the end counts too
        self.timer.stop()
        return False

    def longest_ms_apart(self, spans) -> tuple[float, float]:
        """(longest gap outside, longest gap overlapping) the (start, end) ``spans``, ms."""
        inside = outside = 0.0
        for a, b in self.gaps:
            hit = any(a < e and s < b for s, e in spans)
            if hit:
                inside = max(inside, b - a)
            else:
                outside = max(outside, b - a)
        return 1000.0 * outside, 1000.0 * inside


def timed(spans, fn):
    """``fn`` wrapped so that the (start, end) time of every call is added to ``spans``."""
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spans.append((t0, time.perf_counter()))

    return wrapper


def wait_for(cond, timeout=120.0):
    """Run a Qt event loop (as an application would) until ``cond()``, checked every
    10 ms; TimeoutError after ``timeout`` seconds."""
    from qtpy.QtCore import QEventLoop, QTimer

    if cond():
        return
    loop = QEventLoop()
    t0 = time.perf_counter()
    state = {"timed_out": False}

    def check():
        if cond():
            loop.quit()
        elif time.perf_counter() - t0 > timeout:
            state["timed_out"] = True
            loop.quit()

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if state["timed_out"]:
        raise TimeoutError("waited too long")
