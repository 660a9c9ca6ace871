"""A progress line for long steps (downloads, decoding): amount, rate, ETA.

On a terminal the line redraws itself in place; in a log (CI, `make run > log`) it prints a
fresh line every few seconds instead, so logs stay readable.
"""
import sys
import time


def _human(amount, unit):
    if unit != "B":
        return f"{amount:,.0f} {unit}"
    for prefix in ("", "k", "M", "G"):
        if abs(amount) < 1000 or prefix == "G":
            return f"{amount:.1f} {prefix}B" if prefix else f"{amount:.0f} B"
        amount /= 1000


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Reports progress of a step as `label: done/total unit, rate, ETA` on stderr."""

    def __init__(self, label, total=None, unit="B", stream=None, log_every=5.0, start=0):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.log_every = log_every
        self.done = self.start = start
        self.t0 = self.t_last = time.monotonic()

    def update(self, amount):
        self.done += amount
        now = time.monotonic()
        interval = 0.2 if self.interactive else self.log_every
        if now - self.t_last >= interval:
            self.t_last = now
            self._show(now)

    def close(self):
        self._show(time.monotonic(), final=True)

    def _show(self, now, final=False):
        elapsed = max(now - self.t0, 1e-9)
        rate = (self.done - self.start) / elapsed
        text = f"{self.label}: {_human(self.done, self.unit)}"
        if self.total:
            text += f" of {_human(self.total, self.unit)} ({100 * self.done / self.total:.0f}%)"
        text += f", {_human(rate, self.unit)}/s"
        if final:
            text += f", {elapsed:.1f} s"
        elif self.total and rate > 0:
            text += f", ETA {_clock((self.total - self.done) / rate)}"
        if self.interactive:
            self.stream.write("\r" + text.ljust(79) + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
