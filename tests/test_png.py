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


def glyphs(count, seed):
    """notMNIST-like pixels, 28×28: antialiased strokes of different widths and grey levels."""
    from PIL import ImageDraw
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        canvas = Image.new("L", (112, 112))
        for _ in range(rng.integers(2, 5)):
            ImageDraw.Draw(canvas).line([tuple(rng.integers(8, 104, 2).tolist()) for _ in range(3)],
                                        fill=int(rng.integers(96, 256)), width=int(rng.integers(6, 20)))
        images.append(np.asarray(canvas.resize((28, 28), Image.LANCZOS)))
    return np.array(images)


def test_libpng_gives_exactly_pillows_pixels():
    from workshop.png import libpng_decode
    images = glyphs(30, 2)
    options = [{}, {"optimize": True}, {"compress_level": 0}, {"compress_level": 9}, {"interlace": 1},
               {"transparency": 0}, {"dpi": (72, 72)}]  # the last two add a chunk (tRNS, pHYs): Pillow decodes them
    blobs = [png_bytes(image, **options[n % len(options)]) for n, image in enumerate(images)]
    decoded, ok, problems = decode_batch(blobs)
    pillow, pillow_ok, pillow_problems = decode_batch(blobs, fast=None)
    assert ok.all() and problems == [] and pillow_ok.all() and pillow_problems == []
    np.testing.assert_array_equal(decoded, pillow)
    np.testing.assert_array_equal(decoded, images)
    out = np.empty((28, 28), np.uint8)
    for n, (blob, image) in enumerate(zip(blobs, images)):
        if n % len(options) < 5:  # libpng itself decodes these, as Pillow does
            assert libpng_decode(blob, out)
            np.testing.assert_array_equal(out, np.asarray(Image.open(io.BytesIO(blob))))


def test_bad_pngs_get_the_same_reasons_as_with_pillow_alone():
    good = png_bytes(glyphs(1, 3)[0])
    rng = np.random.default_rng(5)
    damaged = []
    for _ in range(300):  # bytes changed anywhere after the size and colour type, or the file cut short
        blob = bytearray(good)
        for where in rng.integers(26, len(blob), rng.integers(1, 4)).tolist():
            blob[where] ^= int(rng.integers(1, 256))
        damaged.append(bytes(blob))
    damaged += [good[:n] for n in range(33, len(good))]
    image_data, end = good[:-12], good[-12:]  # a chunk cut short after the image data: Pillow refuses the file
    damaged += [image_data + b"\0\0\0\x40tEXtcut", image_data + b"\0\0\0\x40tEXtcut" + end]
    decoded, ok, problems = decode_batch(damaged)
    pillow, pillow_ok, pillow_problems = decode_batch(damaged, fast=None)
    assert ok.tolist() == pillow_ok.tolist() and problems == pillow_problems
    np.testing.assert_array_equal(decoded, pillow)
    assert 0 < ok.sum() < len(damaged) and any(reason == "truncated PNG" for _, reason in problems)
    assert not ok[-2:].any()
