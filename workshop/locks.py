"""One process at a time: a lock file held with the operating system's lock (the filelock library).

The kernel releases the lock when its process ends, however it ends (even `kill -9`), so a
crashed run never leaves a folder locked. The lock file itself stays, empty: deleting it on
release would let a process that waited on the old file and one that comes later both hold
"the" lock.
"""
import sys

from filelock import FileLock, Timeout

from workshop.errors import UserError


def hold(path, busy, wait=True, hint=""):
    """Locks `path` and returns the lock (release it with .release(), or let the process end).

    `busy` says what holds it ("another create_notmnist.py is writing data"). If another process
    holds it, wait=True prints `busy` and waits; wait=False raises UserError(busy + hint)."""
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise UserError(f"{busy}{hint}") from None
        print(f"{busy}: waiting for it to finish ...", file=sys.stderr, flush=True)
        lock.acquire()
    return lock
