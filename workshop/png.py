"""Decoding and encoding notMNIST's small PNGs: 28×28 8-bit grayscale.

`decode_batch` decodes a batch of PNG files one by one with libpng, through imagecodecs'
`png_decode` (2.4× faster than Pillow: docs/benchmarks.md). Anything that is not a valid
28×28 8-bit grayscale PNG is reported, never decoded wrongly: the header is checked first, and
a file that libpng refuses, or with any chunk besides the header, image data and end, goes to
Pillow, which decodes it or says why not, as it did before.

`encode_batch` writes such PNGs for the synthetic letters: the usual header, the rows
unfiltered and deflated at zlib's fastest level. Pillow's PNG writer spends most of its
time on bookkeeping; this is about 3× faster (bench/bench_synthetic_build.py).
"""
import io
import zlib

import imagecodecs
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


def _check_header(blob):
    """BadImage unless blob starts like a 28×28 8-bit grayscale PNG."""
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


def _plain_layout(blob):
    """True if blob's chunks are the header, image data and the closing chunk, and nothing else:
    libpng and Pillow then read the same bytes (Pillow also parses any chunks after the image
    data, and refuses the file if one is cut short; libpng does not look at them)."""
    if blob[8:12] != b"\0\0\0\x0d" or not blob.endswith(_END):
        return False
    position, end = 33, len(blob) - len(_END)
    while position < end:
        if blob[position + 4:position + 8] != b"IDAT":
            return False
        position += 12 + int.from_bytes(blob[position:position + 4], "big")
    return position == end


def libpng_decode(blob, out):
    """Decodes blob into out (28×28 uint8) with libpng; False if libpng refuses it."""
    try:
        imagecodecs.png_decode(blob, out=out)
    except (imagecodecs.PngError, ValueError):  # not decodable, or not into 28×28 bytes
        return False
    return True


def pillow_decode(blob, out):
    """Decodes blob into out (28×28 uint8) with Pillow; BadImage, with Pillow's reason, if it cannot."""
    try:
        image = PngImagePlugin.PngImageFile(io.BytesIO(blob))  # PNG only: no format detection
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # how Pillow says "not a usable PNG"
        raise BadImage("truncated PNG" if "truncated" in str(error) else f"corrupt PNG ({error})") from None
    out[:] = np.frombuffer(image.tobytes(), np.uint8).reshape(SIZE, SIZE)


def decode_batch(blobs, fast=libpng_decode):
    """Decodes a list of PNG files (bytes): those of the plain layout with `fast` (None: Pillow
    alone), the rest and what `fast` refuses with Pillow.

    Returns (images, ok, problems): images (n_ok, 28, 28) uint8 in input order, ok a boolean
    mask over the input, problems a list of (index, reason) for the rest.
    """
    images, ok, problems, n = np.empty((len(blobs), SIZE, SIZE), np.uint8), np.zeros(len(blobs), bool), [], 0
    for i, blob in enumerate(blobs):
        try:
            _check_header(blob)
            if not (fast and _plain_layout(blob) and fast(blob, images[n])):  # into the next free slot
                pillow_decode(blob, images[n])
        except BadImage as problem:
            problems.append((i, str(problem)))
            continue
        ok[i] = True
        n += 1
    return images if n == len(blobs) else images[:n].copy(), ok, problems


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
