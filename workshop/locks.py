"""One process at a time: a lock file held with the operating system's advisory lock.

The kernel releases the lock when its process ends, however it ends (even `kill -9`), so
a crashed run never leaves a folder locked. Releasing the lock deletes the file; a process
that locked a file deleted meanwhile (it waited on the old one) locks the new one instead.
"""
import os
import sys
import time
from pathlib import Path

from workshop.errors import UserError

if os.name == "nt":
    import msvcrt

    def _try_lock(file):
        file.seek(0)  # Windows locks a byte range: everyone locks the first byte
        try:
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
else:
    import fcntl

    def _try_lock(file):
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


class FileLock:
    """`with FileLock(path, busy, wait):` holds `path` locked for the block.

    `busy` says what holds it ("another create_notmnist.py is writing data"). If another
    process holds it, wait=True prints `busy` and waits; wait=False raises UserError(busy + hint)."""

    def __init__(self, path, busy, wait=True, hint="", poll=0.2):
        self.path, self.busy, self.wait, self.hint, self.poll = Path(path), busy, wait, hint, poll
        self.file = None

    def acquire(self):
        said = False
        while True:
            file = open(self.path, "a")
            if _try_lock(file):
                if self._still_there(file):
                    self.file = file
                    return self
            elif not self.wait:
                file.close()
                raise UserError(f"{self.busy}{self.hint}")
            elif not said:
                print(f"{self.busy}: waiting for it to finish ...", file=sys.stderr, flush=True)
                said = True
            file.close()
            time.sleep(self.poll)

    def _still_there(self, file):
        """False if the previous holder deleted the file between our open and our lock."""
        try:
            return os.path.samestat(os.fstat(file.fileno()), os.stat(self.path))
        except FileNotFoundError:
            return False

    def release(self):
        if self.file is None:
            return
        if os.name == "nt":  # Windows deletes no open file: another waiting process keeps it
            self.file.close()
            try:
                self.path.unlink(missing_ok=True)
            except PermissionError:
                pass
        else:  # deleted while still locked: no one can lock this file any more, then unlocked
            self.path.unlink(missing_ok=True)
            self.file.close()
        self.file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
