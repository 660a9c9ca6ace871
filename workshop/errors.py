"""Expected failures: bad input, missing files, unreachable servers, a full disk.

A script raises UserError with one line that says what went wrong, where, and what to do.
`workshop.cli.run` prints that line and exits with status 1 — no traceback, because the
user did nothing a traceback would help with.
"""


class UserError(Exception):
    """A failure the user can fix; its message is printed as one line."""

    def _render_traceback_(self):  # IPython and Jupyter show this instead of a traceback
        return [f"error: {self}"]


class DiskFull(UserError):
    """The disk (or the user's quota) is full: see workshop.files.full_disk_reported."""
