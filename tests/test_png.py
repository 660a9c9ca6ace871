"""The PNG decoder gives exactly the pixels written, of every filter type, and rejects the rest with reasons."""
import io

import numpy as np
from PIL import Image

from conftest import png_bytes
from workshop.png import decode_batch


def encode_with_filter(pixels, filter_type):
    """A PNG whose rows all use one of the five PNG filters (Pillow picks filters itself,
    so we build the chunks: zlib stream of filtered rows)."""
    import struct
    import zlib
    from workshop.png import SIGNATURE

    def paeth(a, b, c):  # PNG spec, section 9.4: the neighbour nearest to left + up - up-left
        p = a + b - c
        return a if abs(p - a) <= min(abs(p - b), abs(p - c)) else b if abs(p - b) <= abs(p - c) else c
    rows, previous = [], np.zeros(28, np.int32)
    for row in pixels.astype(np.int32):
        left = np.concatenate([[0], row[:-1]])
        up_left = np.concatenate([[0], previous[:-1]])
        predicted = [np.zeros(28, np.int32), left, previous, (left + previous) >> 1,
                     np.array([paeth(*abc) for abc in zip(left, previous, up_left)])][filter_type]
        rows.append(bytes([filter_type]) + ((row - predicted) & 255).astype(np.uint8).tobytes())
        previous = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) \
        + chunk(b"IEND", b"")


def test_every_filter_type_decodes_exactly():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    blobs = [encode_with_filter(image, n % 5) for n, image in enumerate(images)]
    decoded, ok, problems = decode_batch(blobs)
    assert problems == [] and ok.all()
    np.testing.assert_array_equal(decoded, images)
    for blob, image in zip(blobs[:5], images):  # and Pillow agrees about our files
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(blob))), image)


def test_pillow_written_and_interlaced_pngs_decode():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    images[1] = np.arange(28, dtype=np.uint8)[:, None] * 9  # smooth: Pillow picks other filters
    blobs = [png_bytes(images[0]), png_bytes(images[1], optimize=True), png_bytes(images[2], interlace=1)]
    decoded, ok, problems = decode_batch(blobs)
    assert ok.all() and problems == []
    np.testing.assert_array_equal(decoded, images)


def test_bad_members_are_skipped_with_reasons():
    good = png_bytes(np.full((28, 28), 7, np.uint8))
    corrupt = bytearray(good)
    corrupt[45] ^= 0xFF  # inside the compressed image data
    blobs = [good, b"", b"GIF89a not a png", good[:45], bytes(corrupt),
             png_bytes(np.zeros((28, 30), np.uint8)), png_bytes(np.zeros((28, 28, 3), np.uint8)),
             png_bytes(np.zeros((28, 28), np.uint16)), good]
    decoded, ok, problems = decode_batch(blobs)
    assert ok.tolist() == [True] + [False] * 7 + [True]
    assert len(decoded) == 2 and (decoded == 7).all()
    reasons = dict(problems)
    assert reasons[1] == "empty file (0 bytes)"
    assert reasons[2] == "not a PNG"
    assert reasons[3] == "truncated PNG"
    assert reasons[4].startswith("corrupt PNG")
    assert reasons[5].startswith("not 28x28 8-bit grayscale (30x28")
    assert "colour type 2" in reasons[6]
    assert "bit depth 16" in reasons[7]


def test_encoded_pngs_are_valid_and_exact_for_pillow_and_the_decoder():
    from workshop.png import encode_batch
    rng = np.random.default_rng(4)
    images = np.concatenate([rng.integers(0, 256, (3, 28, 28)), np.zeros((1, 28, 28)), np.full((1, 28, 28), 255)])
    files = encode_batch(images.astype(np.uint8))
    for image, file in zip(images, files):
        Image.open(io.BytesIO(file)).verify()  # chunk CRCs and structure
        opened = Image.open(io.BytesIO(file))
        assert opened.format == "PNG" and opened.mode == "L" and (np.asarray(opened) == image).all()
    decoded, ok, problems = decode_batch(files)
    assert ok.all() and not problems and (decoded == images).all()
