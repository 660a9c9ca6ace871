"""Decoding and encoding notMNIST's small PNGs: 28×28 8-bit grayscale.

`decode_batch` decodes a batch of PNG files with Pillow, one by one. Anything that is not a
valid 28×28 8-bit grayscale PNG is reported, never decoded wrongly: it returns the images that
decoded and the reasons for those that did not.

`encode_batch` writes such PNGs for the synthetic letters: the usual header, the rows
unfiltered and deflated at zlib's fastest level. Pillow's PNG writer spends most of its
time on bookkeeping; this is about 3× faster (bench/bench_synthetic_build.py).
"""
import io
import zlib

import numpy as np
from PIL import PngImagePlugin

from workshop.notmnist import SIZE

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Signature and header chunk (with its CRC) of every non-interlaced 28×28 8-bit grayscale PNG.
_HEADER = b"IHDR" + bytes([0, 0, 0, SIZE, 0, 0, 0, SIZE, 8, 0, 0, 0, 0])
TYPICAL_START = SIGNATURE + (13).to_bytes(4, "big") + _HEADER + zlib.crc32(_HEADER).to_bytes(4, "big")
_END = bytes(4) + b"IEND" + zlib.crc32(b"IEND").to_bytes(4, "big")  # the closing chunk, empty


class BadImage(Exception):
    """A member that is not a usable image; the message says why."""


def _decode(blob):
    """The pixels of one PNG file (bytes), 28×28 bytes; BadImage if it is none such."""
    if not blob:
        raise BadImage("empty file (0 bytes)")
    if blob[:8] != SIGNATURE:
        raise BadImage("not a PNG")
    if len(blob) < 33:  # the signature and the header chunk
        raise BadImage("truncated PNG")
    if blob[12:16] != b"IHDR":
        raise BadImage("corrupt PNG (no image header)")
    width, height, depth, colour = (int.from_bytes(blob[16:20], "big"), int.from_bytes(blob[20:24], "big"),
                                    blob[24], blob[25])
    if (width, height, depth, colour) != (SIZE, SIZE, 8, 0):  # checked before decoding anything
        raise BadImage(f"not 28x28 8-bit grayscale ({width}x{height}, bit depth {depth}, colour type {colour})")
    try:
        image = PngImagePlugin.PngImageFile(io.BytesIO(blob))  # PNG only: no format detection
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # how Pillow says "not a usable PNG"
        raise BadImage("truncated PNG" if "truncated" in str(error) else f"corrupt PNG ({error})") from None
    return image.tobytes()


def decode_batch(blobs):
    """Decodes a list of PNG files (bytes).

    Returns (images, ok, problems): images (n_ok, 28, 28) uint8 in input order, ok a boolean
    mask over the input, problems a list of (index, reason) for the rest.
    """
    pixels, ok, problems = [], np.zeros(len(blobs), bool), []
    for i, blob in enumerate(blobs):
        try:
            pixels.append(_decode(blob))
            ok[i] = True
        except BadImage as problem:
            problems.append((i, str(problem)))
    return np.frombuffer(b"".join(pixels), np.uint8).reshape(-1, SIZE, SIZE), ok, problems


def encode_batch(images, level=1):
    """PNG files (a list of bytes) of `images`, (n, 28, 28) uint8: rows with filter type 0
    (none), deflated by zlib at `level`."""
    rows = np.zeros((len(images), SIZE, SIZE + 1), np.uint8)  # each row starts with its filter type
    rows[:, :, 1:] = images
    files = []
    for image_rows in rows:
        data = b"IDAT" + zlib.compress(image_rows.tobytes(), level)
        files.append(b"".join([TYPICAL_START, (len(data) - 4).to_bytes(4, "big"), data,
                               zlib.crc32(data).to_bytes(4, "big"), _END]))
    return files
