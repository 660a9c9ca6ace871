"""Decoding and encoding many small PNGs at once: 28×28 8-bit grayscale, as in notMNIST.

Opening 529,114 tiny files one by one with an image library costs ~70 µs each, mostly
bookkeeping. A PNG is simple enough to decode in bulk: check the chunks, inflate the image
data with zlib, and undo the per-row "filters" (PNG spec, section 9) for a whole batch of
images at once with numpy — about 3.5× faster than Pillow, and the same pixels
(bench/bench_archive_reading.py).

Anything that is not a valid 28×28 8-bit grayscale PNG is reported, never decoded wrongly:
`decode_batch` returns the images that decoded and the reasons for those that did not.

`encode_batch` writes such PNGs for the synthetic letters: the usual header, the rows
unfiltered and deflated at zlib's fastest level. Pillow's PNG writer spends most of its
time on bookkeeping too; this is about 3× faster (bench/bench_synthetic_build.py).
"""
import zlib

import numpy as np

from workshop.notmnist import SIZE

SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROW_BYTES = SIZE + 1  # each row starts with its filter type
NONE, SUB, UP, AVERAGE, PAETH = range(5)
# Signature and header chunk (with its CRC) of every non-interlaced 28×28 8-bit grayscale PNG.
_HEADER = b"IHDR" + bytes([0, 0, 0, SIZE, 0, 0, 0, SIZE, 8, 0, 0, 0, 0])
TYPICAL_START = SIGNATURE + (13).to_bytes(4, "big") + _HEADER + zlib.crc32(_HEADER).to_bytes(4, "big")
_END = bytes(4) + b"IEND" + zlib.crc32(b"IEND").to_bytes(4, "big")  # the closing chunk, empty


class BadImage(Exception):
    """A member that is not a usable image; the message says why."""


def _inflate(blob):
    """Returns the still-filtered rows of one PNG (bytes) or None for an interlaced one."""
    if blob[:len(TYPICAL_START)] == TYPICAL_START:  # fast path: the usual header, CRC included
        return _inflate_rows(_image_data(blob, len(TYPICAL_START)))
    if not blob:
        raise BadImage("empty file (0 bytes)")
    if blob[:8] != SIGNATURE:
        raise BadImage("not a PNG")
    pos, header, data = 8, None, []
    while True:
        if pos + 12 > len(blob):
            raise BadImage("truncated PNG")
        length = int.from_bytes(blob[pos:pos + 4], "big")
        kind = blob[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(blob):
            raise BadImage("truncated PNG")
        if zlib.crc32(blob[pos + 4:end - 4]) != int.from_bytes(blob[end - 4:end], "big"):
            raise BadImage(f"corrupt PNG (checksum of {kind.decode('latin-1')} chunk)")
        body = blob[pos + 8:end - 4]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data.append(body)
        elif kind == b"IEND":
            break
        pos = end
    if header is None or len(header) != 13:
        raise BadImage("corrupt PNG (no image header)")
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlaced = header[8], header[9], header[12]
    if (width, height, depth, colour) != (SIZE, SIZE, 8, 0):
        raise BadImage(f"not 28x28 8-bit grayscale ({width}x{height}, bit depth {depth}, "
                       f"colour type {colour})")
    if interlaced:
        return None
    return _inflate_rows(b"".join(data))


def _image_data(blob, pos):
    """The IDAT chunks of a PNG from `pos` on, joined (zlib's checksum guards their content)."""
    data = []
    while True:
        length = int.from_bytes(blob[pos:pos + 4], "big")
        kind = blob[pos + 4:pos + 8]
        if pos + 12 + length > len(blob) or not kind:
            raise BadImage("truncated PNG")
        if kind == b"IDAT":
            data.append(blob[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            return b"".join(data)
        pos += 12 + length


def _inflate_rows(data):
    try:
        rows = zlib.decompress(data)
    except zlib.error as error:
        raise BadImage(f"corrupt PNG ({error})") from None
    if len(rows) != SIZE * ROW_BYTES:
        raise BadImage(f"corrupt PNG (image data of {len(rows)} bytes, expected {SIZE * ROW_BYTES})")
    return rows


_paeth_table = None


def _paeth_predictions():
    """Paeth predictor for every (left, up, up-left) byte triple, as one 16 MB lookup table."""
    global _paeth_table
    if _paeth_table is None:
        b, c = np.meshgrid(np.arange(256, dtype=np.int16), np.arange(256, dtype=np.int16),
                           indexing="ij")
        _paeth_table = np.empty((256, 256, 256), np.uint8)
        for a in range(256):  # one left value at a time keeps the temporaries small
            pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
            _paeth_table[a] = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        _paeth_table = _paeth_table.ravel()
    return _paeth_table


def unfilter(rows):
    """Undoes PNG row filters for a batch: (N, 28, 29) filtered rows -> (N, 28, 28) pixels.

    Row r of every image depends on row r-1, so we walk the 28 rows, handling all images
    whose row uses the same filter together. Arithmetic is modulo 256, as uint8 gives.
    """
    n = len(rows)
    kinds = np.ascontiguousarray(rows[:, :, 0].T)  # (row, image)
    pixels = np.ascontiguousarray(rows[:, :, 1:].transpose(1, 0, 2))  # (row, image, column)
    above = np.zeros((n, SIZE), np.uint8)
    for r in range(SIZE):
        row, kind = pixels[r], kinds[r]
        sub = np.flatnonzero(kind == SUB)
        if len(sub):  # each byte adds the decoded byte to its left: a running sum
            row[sub] = np.cumsum(row[sub], axis=1, dtype=np.uint8)
        up = np.flatnonzero(kind == UP)
        if len(up):
            row[up] += above[up]
        # Average and Paeth go left to right, one column for all such images at a time.
        average = np.flatnonzero(kind == AVERAGE)
        if len(average):
            columns, up_row = row[average].T.copy(), above[average].T.astype(np.uint16)
            left = np.zeros(len(average), np.uint16)
            for col in range(SIZE):
                columns[col] += ((left + up_row[col]) >> 1).astype(np.uint8)
                left = columns[col].astype(np.uint16)
            row[average] = columns.T
        paeth = np.flatnonzero(kind == PAETH)
        if len(paeth):
            table = _paeth_predictions()
            columns, up_row = row[paeth].T.copy(), above[paeth].T.astype(np.int32)
            up_and_up_left = up_row << 8
            up_and_up_left[1:] += up_row[:-1]
            columns[0] += table[up_and_up_left[0]]
            for col in range(1, SIZE):
                columns[col] += table[(columns[col - 1].astype(np.int32) << 16) + up_and_up_left[col]]
            row[paeth] = columns.T
        above = row
    return pixels.transpose(1, 0, 2).copy()


def encode_batch(images, level=1):
    """PNG files (a list of bytes) of `images`, (n, 28, 28) uint8: rows with filter type 0
    (none), deflated by zlib at `level`."""
    rows = np.zeros((len(images), SIZE, ROW_BYTES), np.uint8)
    rows[:, :, 1:] = images
    files = []
    for image_rows in rows:
        data = b"IDAT" + zlib.compress(image_rows.tobytes(), level)
        files.append(b"".join([TYPICAL_START, (len(data) - 4).to_bytes(4, "big"), data,
                               zlib.crc32(data).to_bytes(4, "big"), _END]))
    return files


def _decode_interlaced(blob):
    import io  # rare: Pillow knows Adam7 interlacing, which no notMNIST file uses

    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(blob)).convert("L"))


def decode_batch(blobs):
    """Decodes a list of PNG files (bytes).

    Returns (images, ok, problems): images (n_ok, 28, 28) uint8 in input order, ok a boolean
    mask over the input, problems a list of (index, reason) for the rest.
    """
    filtered, interlaced, problems = {}, {}, []
    for i, blob in enumerate(blobs):
        try:
            rows = _inflate(blob)
        except BadImage as problem:
            problems.append((i, str(problem)))
            continue
        if rows is None:
            interlaced[i] = _decode_interlaced(blob)
        else:
            filtered[i] = rows
    index = np.array(list(filtered), dtype=np.int64)
    rows = np.frombuffer(b"".join(filtered.values()), np.uint8).reshape(-1, SIZE, ROW_BYTES)
    bad_filter = (rows[:, :, 0] > PAETH).any(axis=1)
    problems += [(int(i), "corrupt PNG (unknown row filter)") for i in index[bad_filter]]
    ok = np.zeros(len(blobs), bool)
    ok[index[~bad_filter]] = True
    ok[list(interlaced)] = True
    slot = np.cumsum(ok) - 1  # where each decoded input lands in `images`
    images = np.empty((int(ok.sum()), SIZE, SIZE), np.uint8)
    if len(rows):
        images[slot[index[~bad_filter]]] = unfilter(rows[~bad_filter])
    for i, image in interlaced.items():
        images[slot[i]] = image
    return images, ok, sorted(problems)
