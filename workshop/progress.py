"""Progress of long steps (downloads, reading archives, rendering letters) on stderr, with tqdm.

On a terminal tqdm redraws its bar in place. In a log (CI, `make run > log`) those redraws would
pile up on one line, so there each update is a line of its own, one every LOG_EVERY seconds, and
a last one when the step ends.
"""
import sys

from tqdm import tqdm

LOG_EVERY = 5.0  # seconds between two progress lines in a log


class _Lines:
    """Where stderr is no terminal: tqdm's redraws ("\\r" + status) as lines of their own."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if text.strip():
            self.stream.write(text.strip() + "\n")

    def flush(self):
        self.stream.flush()


def progress_bar(label, total=None, unit="B", start=0):
    """A tqdm bar for one step, `start` of `total` done: update(amount) as it goes, close() at its end.
    Bytes (unit "B") are shown in kB, MB, GB."""
    terminal = sys.stderr.isatty()
    return tqdm(desc=label, total=total, initial=start, unit=unit, unit_scale=unit == "B", unit_divisor=1000,
                file=sys.stderr if terminal else _Lines(sys.stderr), mininterval=0.2 if terminal else LOG_EVERY,
                miniters=1, dynamic_ncols=True)
