"""Writing files so that a crash, Ctrl-C or a full disk never leaves a half-written one behind.

A file is written under a temporary name beside its final one and renamed when complete
(a rename is atomic: readers see the old file or the new one, never a part). A full disk
(or quota) stops the script with one line that names the file and the space it needs.
Each run gets a folder of its own, even when two start in the same second.
"""
import errno
import itertools
import os
import re
import shutil
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from workshop.errors import DiskFull

FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # no space left; over quota (not on Windows)
_TEMPORARY = re.compile(r"\..+\.\d+\.tmp")  # temporary_path's names


def temporary_path(path):
    """Where `path` is written before it is complete: hidden, beside it, named after this process."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_temporaries(folder):
    """Deletes the temporaries in `folder` that killed processes left. Only for a folder
    whose writers hold a lock (see workshop.locks), so that none of them is still writing."""
    for path in Path(folder).glob(".*.tmp"):
        if _TEMPORARY.fullmatch(path.name):
            path.unlink(missing_ok=True)


def _megabytes(size):
    return f"{size / 1e6:,.1f} MB"


def disk_full(path, needed=None):
    """The one line for a full disk while writing `path` (`needed`: its size in bytes, if known)."""
    free = shutil.disk_usage(Path(path).parent).free
    need = f"it needs {_megabytes(needed)}, " if needed else ""
    return DiskFull(f"the disk is full: cannot write {path} ({need}{_megabytes(free)} free there); "
                    "free some space (or choose another folder) and run again")


@contextmanager
def full_disk_reported(path, needed=None):
    """Turns a full disk (ENOSPC, EDQUOT) while the block writes `path` into DiskFull."""
    try:
        yield
    except OSError as error:
        if error.errno not in FULL:
            raise
        raise disk_full(path, needed) from None


@contextmanager
def staged_write(path, mode="wb", needed=None):
    """Opens temporary_path(path) for writing; deletes it if the block fails. The caller
    renames it to `path` (os.replace) when the time comes: see atomic_write."""
    temporary = temporary_path(path)
    with full_disk_reported(path, needed):
        try:
            with open(temporary, mode) as file:
                yield file
        except BaseException:
            temporary.unlink(missing_ok=True)  # before the free space is measured
            raise


@contextmanager
def atomic_write(path, mode="wb", needed=None):
    """Opens a temporary file beside `path`; renames it to `path` only when the block succeeds."""
    temporary = temporary_path(path)
    try:
        with staged_write(path, mode, needed) as file:
            yield file
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def new_run_dir(runs_dir, name):
    """A fresh folder runs_dir/name/<date-time>/ for one run's outputs (<date-time>-1, -2, ...
    for runs started in the same second: mkdir succeeds for one process only)."""
    stamp, parent = datetime.now().strftime("%Y%m%d-%H%M%S"), Path(runs_dir) / name
    parent.mkdir(parents=True, exist_ok=True)
    for suffix in itertools.count():
        folder = parent / (f"{stamp}-{suffix}" if suffix else stamp)
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
