"""The notMNIST data set on disk: `notMNIST.pickle`, written lean and read safely.

The pickle keeps the 2016 format, so the 2016 scripts and the Udacity notebooks read it:
a dict with `train_dataset, train_labels, valid_dataset, valid_labels, test_dataset,
test_labels`; images float32 (N, 28, 28) scaled as (pixel - 127.5) / 255, labels int32 0-9
for A-J. A side file `notMNIST.json` records where the data came from.

Writing: 220,000 float32 images are 690 MB. Instead of building them in memory and
pickling (2× the memory), `write_pickle` writes the pickle opcodes itself and converts the
uint8 images to float32 a chunk at a time, straight into the file, hashing them on the way.

The pickle and notMNIST.json are one unit: the JSON records the pickle's size and SHA-256,
and `StagedPickle.commit` puts the pair in place so that a kill at any moment leaves the old
pair, no pickle, or the new pair — never a pickle beside the record of another one.
`one_writer` lets one build at a time write a data folder.

Reading: unpickling runs whatever the file says (any importable function, with any
arguments), so `load_notmnist` only admits the few numpy functions that rebuild arrays. It
warns when notMNIST.json is missing or describes another pickle (then the origin is unknown).
"""
import hashlib
import json
import os
import pickle
import struct
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workshop import locks
from workshop.errors import UserError
from workshop.files import atomic_write, remove_temporaries, staged_write, temporary_path

LETTERS = "ABCDEFGHIJ"
SIZE = 28
PIXEL_DEPTH = 255.0
KEYS = ("train_dataset", "train_labels", "valid_dataset", "valid_labels",
        "test_dataset", "test_labels")
# The 2016 normalisation, (pixel - 127.5) / 255 computed in float64, for every pixel value.
NORMALISED = ((np.arange(256) - PIXEL_DEPTH / 2) / PIXEL_DEPTH).astype(np.float32)


def normalise(images):
    """uint8 pixels -> float32 in [-0.5, 0.5], exactly as the 2016 script computed them."""
    return NORMALISED[images]


def to_pixels(images):
    """The inverse of normalise: float32 images back to their exact uint8 pixels."""
    return np.rint(images * PIXEL_DEPTH + PIXEL_DEPTH / 2).astype(np.uint8)


def provenance_path(pickle_path):
    return Path(pickle_path).with_suffix(".json")


# --- writing -------------------------------------------------------------------------

def _text(value):  # pickle opcode SHORT_BINUNICODE
    data = value.encode()
    return b"\x8c" + bytes([len(data)]) + data


_REBUILD = np.zeros(1).__reduce_ex__(5)[0]  # numpy's own function to rebuild an array


def _array_opcodes(file, shape, dtype, chunks):
    """Writes opcodes that unpickle to `_frombuffer(bytearray, dtype, shape, 'C')`."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    file.write(_text(_REBUILD.__module__) + _text(_REBUILD.__qualname__) + b"\x93(")  # GLOBAL, MARK
    file.write(b"\x96" + struct.pack("<Q", nbytes))  # BYTEARRAY8: a writable buffer follows
    written = 0
    for chunk in chunks:
        chunk = np.ascontiguousarray(chunk, dtype)
        file.write(memoryview(chunk).cast("B"))
        written += chunk.nbytes
    if written != nbytes:
        raise RuntimeError(f"wrote {written} bytes for an array of {nbytes}")
    file.write(_text(dtype.str) + b"(" + b"".join(b"J" + struct.pack("<i", n) for n in shape))
    file.write(b"t" + _text("C") + b"tR")  # TUPLE (shape), order, TUPLE (args), REDUCE


class _Hashing:
    """A file that also hashes (SHA-256) and counts what is written to it."""

    def __init__(self, file):
        self.file, self.sha256, self.bytes = file, hashlib.sha256(), 0

    def write(self, data):
        self.sha256.update(data)
        self.bytes += memoryview(data).nbytes
        self.file.write(data)


def _pickle_size(splits):
    """The pickle's size in bytes, less a few hundred bytes of opcodes."""
    return sum(len(labels) * (SIZE * SIZE * 4 + 4) for _, labels in splits.values())


def _write_splits(file, splits, chunk):
    """Writes the pickle of `splits` (see write_pickle) to `file`. -> its size and SHA-256"""
    file = _Hashing(file)
    file.write(b"\x80\x05}(")  # PROTO 5, EMPTY_DICT, MARK
    for name, (images, labels) in splits.items():
        n = len(labels)
        file.write(_text(f"{name}_dataset"))
        _array_opcodes(file, (n, SIZE, SIZE), np.float32,
                       (normalise(images(range(i, min(i + chunk, n)))) for i in range(0, n, chunk)))
        file.write(_text(f"{name}_labels"))
        _array_opcodes(file, (n,), np.int32, [labels])
    file.write(b"u.")  # SETITEMS, STOP
    return {"pickle_bytes": file.bytes, "pickle_sha256": file.sha256.hexdigest()}


def write_pickle(path, splits, chunk=16384):
    """Writes a pickle alone (no notMNIST.json), atomically. `splits` maps train/valid/test to
    (images, labels), where images is a callable taking an index range and returning uint8 pixels."""
    with atomic_write(path, needed=_pickle_size(splits)) as file:
        _write_splits(file, splits, chunk)


@dataclass
class StagedPickle:
    """A complete pickle under its temporary name, waiting for its notMNIST.json: see commit."""
    path: Path
    fingerprint: dict  # pickle_bytes and pickle_sha256

    def commit(self, provenance):
        """Writes `provenance` and the pickle's fingerprint as notMNIST.json, and puts the pair in place.

        The order makes a kill at any moment leave a pair that matches, or no pickle: the old
        pickle goes first, then the new JSON takes its name, then the new pickle."""
        record = provenance_path(self.path)
        with staged_write(record, "w") as file:
            json.dump({**provenance, **self.fingerprint}, file, indent=1)
        self.path.unlink(missing_ok=True)
        os.replace(temporary_path(record), record)
        os.replace(temporary_path(self.path), self.path)


def stage_pickle(path, splits, chunk=16384):
    """Writes the pickle of `splits` (see write_pickle) beside `path`, for StagedPickle.commit.
    If the commit never comes, one_writer removes it."""
    with staged_write(path, needed=_pickle_size(splits)) as file:
        return StagedPickle(Path(path), _write_splits(file, splits, chunk))


@contextmanager
def one_writer(data_dir, wait=True):
    """Holds data_dir's lock (notMNIST.lock) for the block: one build at a time writes there.
    Another build waits (wait=False: stops); the temporaries of failed or killed builds go."""
    lock = locks.hold(Path(data_dir) / "notMNIST.lock", f"another create_notmnist.py is writing {data_dir}",
                      wait, hint="; wait for it to finish (or run without --no-wait, which waits)")
    folders = (Path(data_dir), Path(data_dir) / "synthetic")  # where create_notmnist.py writes
    try:
        for folder in folders:
            remove_temporaries(folder)
        yield
    finally:
        for folder in folders:
            remove_temporaries(folder)
        lock.release()


# --- reading -------------------------------------------------------------------------

# What a pickle of numpy arrays needs (NumPy 2 and 1, protocols 2-5), and nothing else.
# (_codecs.encode turns text back into bytes in protocol-2 pickles written by Python 3.)
ALLOWED = {("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
           ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
           ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _Refused(Exception):
    pass


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise _Refused(f"it asks for {module}.{name}")
        return super().find_class(module, name)


@dataclass
class NotMNIST:
    train: tuple
    valid: tuple
    test: tuple
    provenance: dict

    @property
    def synthetic(self):
        return self.provenance.get("synthetic")

    def describe(self):
        kind = {True: "SYNTHETIC (letters rendered from fonts, not the real notMNIST)",
                False: "real notMNIST", None: "of unknown origin (no notMNIST.json that matches)"}
        sizes = ", ".join(f"{name} {len(split[1]):,}" for name, split in
                          (("train", self.train), ("valid", self.valid), ("test", self.test)))
        return f"{sizes} images; data {kind[self.synthetic]}"


def load_notmnist(path):
    """Loads notMNIST.pickle safely and checks it; returns NotMNIST with float32/int32 arrays."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run `python create_notmnist.py` first "
                        "(or pass --data with the pickle's path)")
    record = provenance_path(path)
    provenance = json.loads(record.read_text()) if record.is_file() else None
    with open(path, "rb") as file:
        try:
            data = _ArraysOnly(file, encoding="latin1").load()
        except _Refused as refusal:
            raise UserError(f"refusing to load {path}: {refusal}, which a data file never needs "
                            "(an untrusted pickle can run any code); rebuild it with "
                            "create_notmnist.py") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, struct.error) as error:
            raise UserError(f"{path} is not a readable notMNIST pickle ({error}); "
                            "rebuild it with create_notmnist.py --force") from None
        problem = f"no {record.name} beside it" if provenance is None else mismatch(path, provenance, file)
    splits = [_checked(path, data, name) for name in ("train", "valid", "test")]
    if problem:
        print(f"warning: {path}: {problem}, so where its data came from is unknown; "
              "create_notmnist.py rebuilds it with its record", file=sys.stderr, flush=True)
    return NotMNIST(*splits, {} if problem else provenance)


def mismatch(path, provenance, file=None):
    """Why `provenance` (notMNIST.json) does not describe the pickle at `path`; None if it does.
    `file`: the pickle, open already (load_notmnist checks the very bytes it loaded)."""
    if "pickle_sha256" not in provenance:
        return f"{provenance_path(path).name} records no SHA-256 of it (an older create_notmnist.py wrote it)"
    with nullcontext(file) if file else open(path, "rb") as opened:
        opened.seek(0)
        size, sha256 = os.fstat(opened.fileno()).st_size, None
        if size == provenance.get("pickle_bytes"):  # else no need to read it all
            sha256 = hashlib.file_digest(opened, "sha256").hexdigest()
    if (size, sha256) != (provenance.get("pickle_bytes"), provenance["pickle_sha256"]):
        return f"{provenance_path(path).name} describes another pickle (its size or SHA-256 differs)"
    return None


def _checked(path, data, name):
    def bad(what):
        return UserError(f"{path}: {what}; rebuild it with create_notmnist.py --force")

    if not isinstance(data, dict) or f"{name}_dataset" not in data or f"{name}_labels" not in data:
        raise bad(f"expected a dict with the keys {', '.join(KEYS)}")
    images, labels = data[f"{name}_dataset"], data[f"{name}_labels"]
    if not isinstance(images, np.ndarray) or images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
        raise bad(f"{name}_dataset should be an array of shape (N, 28, 28), "
                  f"found {getattr(images, 'shape', type(images).__name__)}")
    if not np.issubdtype(images.dtype, np.floating):
        raise bad(f"{name}_dataset should hold floats, found {images.dtype}")
    if not isinstance(labels, np.ndarray) or labels.shape != (len(images),) \
            or not np.issubdtype(labels.dtype, np.integer):
        raise bad(f"{name}_labels should be {len(images)} integers")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(LETTERS)):
        raise bad(f"{name}_labels should lie in 0-9, found {labels.min()}-{labels.max()}")
    images = images.astype(np.float32, copy=False)
    # A NaN or infinite pixel makes the sum so (in float64 no finite one overflows); it copies no images.
    if not np.isfinite(images.sum(dtype=np.float64)):
        raise bad(f"the {name} images have NaN or infinite pixels ({np.count_nonzero(~np.isfinite(images)):,} "
                  f"of {images.size:,}), which training turns into a loss of NaN")
    return images, labels.astype(np.int32, copy=False)


# --- choosing the splits ---------------------------------------------------------------

def balanced(total):
    """How many images of each letter make `total`: as equal as possible."""
    counts = np.full(len(LETTERS), total // len(LETTERS))
    counts[:total % len(LETTERS)] += 1
    return counts


def choose(archive, sizes, rng):
    """Draws disjoint, class-balanced random splits from one archive's images.

    `sizes` lists the split sizes (e.g. valid then train, as 2016 did); returns one index
    array per split, shuffled, pointing into `archive.store`.
    """
    labels, wanted = archive.store.labels, [balanced(size) for size in sizes]
    need = np.sum(wanted, axis=0)
    picked = [[] for _ in sizes]
    for letter in range(len(LETTERS)):
        have = np.flatnonzero(labels == letter)
        if len(have) < need[letter]:
            raise UserError(f"{archive.path.name} has {len(have):,} usable images of "
                            f"{LETTERS[letter]}, but the requested sizes need {need[letter]:,}; "
                            "ask for less with --train-size/--valid-size/--test-size")
        have = rng.permutation(have)
        start = 0
        for split, counts in zip(picked, wanted):
            split.append(have[start:start + counts[letter]])
            start += counts[letter]
    return [rng.permutation(np.concatenate(split)) for split in picked]


def content_keys(store, indices, chunk=16384):
    """A 128-bit digest of each image's pixels: equal digests mean identical images."""
    keys = []
    for start in range(0, len(indices), chunk):
        images = store.take(indices[start:start + chunk]).reshape(-1, SIZE * SIZE)
        keys += [hashlib.blake2b(image, digest_size=16).digest() for image in images]
    return keys


def overlaps(train_keys, valid_keys, test_keys):
    """Masks: valid images found in train, test images found in train, and in valid."""
    train, valid = set(train_keys), set(valid_keys)
    return (np.array([k in train for k in valid_keys], bool),
            np.array([k in train for k in test_keys], bool),
            np.array([k in valid for k in test_keys], bool))
