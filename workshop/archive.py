"""Reading notMNIST's images straight out of its .tar.gz, without unpacking anything to disk.

The 2016 procedure unpacked 529,114 files (4.4 GB of small writes, a "hang" of many
minutes), then opened them one by one. Here one pass streams the archive: zlib inflates
it, a small tar reader walks the 512-byte headers (create_notmnist.py runs 1.7× faster
with it than with tarfile: bench/bench_archive_reading.py), and batches of PNG files go to
worker processes that decode them with libpng through imagecodecs (`workshop.png`). Member
names are only ever parsed, never used as paths, so an archive member such as `../../evil`
cannot write anywhere.

An image is a member `<root>/<letter>/<file>` with letter A–J. Everything else is listed
as ignored; images that do not decode are listed as skipped, with the reason.
"""
import hashlib
import zlib
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from workshop.errors import UserError
from workshop.notmnist import LETTERS
from workshop.png import decode_batch
from workshop.progress import progress_bar

BLOCK = 512
BATCH = 8192  # images per task sent to a worker
READ_SIZE = 1 << 20


class ImageStore:
    """Decoded images kept in the batches they arrived in (no big copy to join them)."""

    def __init__(self):
        self.batches, self.label_batches, self.sizes = [], [], []

    def add(self, images, labels):
        self.batches.append(images)
        self.label_batches.append(labels)
        self.sizes.append(len(images))

    @property
    def labels(self):
        return np.concatenate(self.label_batches) if self.sizes else np.zeros(0, np.int8)

    def take(self, indices):
        """Images at the given positions (in arrival order), as one uint8 array."""
        indices = np.asarray(indices, np.int64)
        starts = np.concatenate([[0], np.cumsum(self.sizes)])
        batch_of = np.searchsorted(starts, indices, side="right") - 1
        out = np.empty((len(indices), 28, 28), np.uint8)
        for b in np.unique(batch_of):
            chosen = batch_of == b
            out[chosen] = self.batches[b][indices[chosen] - starts[b]]
        return out


@dataclass
class ArchiveImages:
    """What one archive held: decoded images by letter, and what was left out, and why."""
    path: Path
    root: str = ""
    store: ImageStore = field(default_factory=ImageStore)
    folders: set = field(default_factory=set)
    skipped: list = field(default_factory=list)  # (member, reason): not a usable image
    ignored: list = field(default_factory=list)  # members outside <root>/A..J/
    size: int = 0
    sha256: str = ""

    def counts(self):
        return np.bincount(self.store.labels, minlength=len(LETTERS))


class _TarReader:
    """Walks the members of a gzip-compressed tar stream: yields (name, kind, data)."""

    def __init__(self, file, on_read):
        self.file, self.on_read = file, on_read
        self.inflater = zlib.decompressobj(wbits=31)  # 31: expect a gzip header
        self.buffer, self.pos, self.sha256 = bytearray(), 0, hashlib.sha256()

    def _more(self):
        chunk = self.file.read(READ_SIZE)
        self.sha256.update(chunk)
        self.on_read(len(chunk))
        if not chunk:
            return False
        try:
            while chunk:
                self.buffer += self.inflater.decompress(chunk)
                chunk = self.inflater.unused_data  # a second gzip member may follow
                if chunk and self.inflater.eof:
                    self.inflater = zlib.decompressobj(wbits=31)
                elif self.inflater.eof:
                    break
        except zlib.error as error:
            raise UserError(f"{self.file.name} is not a readable gzip archive ({error}); "
                            "delete it and download it again") from None
        return True

    def _take(self, size):
        """The next `size` bytes of the uncompressed stream, or fewer at its end."""
        while len(self.buffer) - self.pos < size and self._more():
            pass
        if self.pos > READ_SIZE * 8:  # drop what has been consumed now and then
            del self.buffer[:self.pos]
            self.pos = 0
        data = bytes(self.buffer[self.pos:self.pos + size])
        self.pos += size
        return data

    def _truncated(self):
        return UserError(f"{self.file.name} is truncated (the archive ends in the middle of a "
                         "file); delete it and download it again")

    def members(self):
        long_name = None
        first = True
        while True:
            header = self._take(BLOCK)
            if len(header) < BLOCK:
                if not self.inflater.eof or header:
                    raise self._truncated()
                return  # no end-of-archive marker: tolerated, like GNU tar does
            if header == bytes(BLOCK):
                return
            if first and _checksum(header) != _octal(header[148:156]):
                raise UserError(f"{self.file.name} is not a tar archive (bad header checksum)")
            first = False
            size, kind = _size(header), header[156:157]
            if size < 0:
                raise UserError(f"{self.file.name} has a corrupt tar header (unreadable size); "
                                "delete it and download it again")
            data = self._take(size + (-size % BLOCK))[:size]
            if len(data) < size:
                raise self._truncated()
            if kind in (b"L", b"x"):  # GNU long name / POSIX extended header for the next one
                long_name = _long_name(kind, data) or long_name
                continue
            name = long_name or _name(header)
            long_name = None
            if kind == b"g":
                continue
            yield name, ("file" if kind in (b"0", b"\0", b"7") else
                         "dir" if kind == b"5" else "other"), data


def _octal(field):
    try:
        return int(field.strip(b"\0 ") or b"0", 8)
    except ValueError:
        return -1


def _size(header):
    field = header[124:136]
    if field[0] & 0x80:  # GNU base-256 for files over 8 GB
        return int.from_bytes(field[1:], "big")
    return _octal(field)  # -1 if unreadable


def _checksum(header):
    return sum(header[:148]) + 8 * 32 + sum(header[156:])


def _name(header):
    name = header[:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "replace")


def _long_name(kind, data):
    if kind == b"L":
        return data.split(b"\0", 1)[0].decode("utf-8", "replace")
    for record in data.decode("utf-8", "replace").splitlines():  # "<len> path=<name>"
        key, _, value = record.partition(" ")[2].partition("=")
        if key == "path":
            return value
    return None


def _parts(name):
    """The path components of a member name, or None if it is not a plain relative path."""
    parts = name.removeprefix("./").rstrip("/").split("/")
    if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return None
    return parts


def read_png_archive(path, workers):
    """Decodes every image of a notMNIST-layout .tar.gz; returns an ArchiveImages."""
    path = Path(path)
    result = ArchiveImages(path, size=path.stat().st_size)
    progress = progress_bar(f"reading {path.name}", total=result.size, unit="B")
    pending = deque()  # (decoding job, labels, member names), in archive order

    def submit(batch):  # batch: [(png bytes, label, member name)]
        blobs, labels, members = zip(*batch)
        job = pool.submit(decode_batch, blobs) if pool else decode_batch(blobs)
        pending.append((job, np.array(labels, np.int8), members))

    def collect(job, labels, members):
        images, ok, problems = job if isinstance(job, tuple) else job.result()
        result.store.add(images, labels[ok])
        result.skipped += [(members[i], reason) for i, reason in problems]

    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
    try:
        with open(path, "rb") as file:
            reader = _TarReader(file, progress.update)
            batch = []
            for name, kind, data in reader.members():
                parts = _parts(name)
                if parts and not result.root and (len(parts) > 1 or kind == "dir"):
                    result.root = parts[0]  # the first folder seen is the archive's root
                if not parts or parts[0] != result.root or (len(parts) == 2 and kind != "dir"):
                    result.ignored.append(name)
                    continue
                if len(parts) >= 2:
                    result.folders.add(parts[1])
                if len(parts) != 3 or len(parts[1]) != 1 or parts[1] not in LETTERS or kind == "dir":
                    if len(parts) > 2:
                        result.ignored.append(name)
                    continue
                if kind != "file":
                    result.skipped.append((name, "not a regular file"))
                    continue
                batch.append((data, LETTERS.index(parts[1]), name))
                if len(batch) == BATCH:
                    submit(batch)
                    batch = []
                    while len(pending) > 2 * workers:  # bounded: memory stays flat
                        collect(*pending.popleft())
            if batch:
                submit(batch)
            while pending:
                collect(*pending.popleft())
            result.sha256 = reader.sha256.hexdigest()
    finally:
        progress.close()  # now, not when it is collected: after an error its line would follow the error's
        if pool:
            pool.shutdown(cancel_futures=True)
    _check_layout(result)
    return result


def _check_layout(archive):
    folders = sorted(archive.folders)
    if folders != list(LETTERS):
        found = ", ".join(folders) or "no folders"
        raise UserError(f"{archive.path} does not have the notMNIST layout: expected the ten class "
                        f"folders A-J under one root folder, found {found}"
                        + (f" under '{archive.root}'" if archive.root else ""))
    counts = archive.counts()
    if counts.min() < 0.5 * np.median(counts):
        listing = ", ".join(f"{letter} {count}" for letter, count in zip(LETTERS, counts))
        raise UserError(f"{archive.path}: class {LETTERS[counts.argmin()]} has far fewer images "
                        f"than the others ({listing}); the archive is incomplete or damaged")
