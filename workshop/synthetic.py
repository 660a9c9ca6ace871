"""A notMNIST stand-in for machines that cannot download it: letters rendered from fonts.

notMNIST itself is glyphs A–J taken from thousands of fonts, each glyph stretched to fill a
28×28 box (an "I" becomes a wide block), white on black. We do the same with every font
this machine has, and vary each glyph the way different fonts differ: stroke weight, slant,
proportions, and decorative styles (outlined, inverted, shadowed, striped). The archives it
writes have the official layout, so the normal pipeline reads them like the real ones.
"""
import base64
import gzip
import hashlib
import io
import os
import tarfile
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from workshop.errors import UserError
from workshop.files import atomic_write
from workshop.notmnist import LETTERS, SIZE
from workshop.progress import Progress

EM = 96  # glyphs are drawn this large (pixels); shrinking them to 28×28 antialiases them
CHUNK = 500  # images per task sent to a worker
MTIME = 1315000000  # the official archives' member time: fixed, so that output is reproducible
SYSTEM_FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
                    "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts",
                    os.path.join(os.environ.get("WINDIR", "C:/Windows"), "Fonts")]


def _font_name(path):
    """The font's (family, style) if it has real, distinct glyphs for all of A–J, else None."""
    from fontTools.ttLib import TTFont
    try:
        face = ImageFont.truetype(str(path), 32)
        cmap = TTFont(str(path), lazy=True, fontNumber=0).getBestCmap() or {}
    except Exception:  # noqa: BLE001 - a font that does not load is simply not usable
        return None
    # Symbol fonts map A–J to other shapes, which their glyph names give away: cmex10 draws
    # 'parenrightbt' for A, LastResort one 'lastresortlatin' box for every letter.
    names = [cmap.get(ord(letter)) for letter in LETTERS]
    if not all(name and (name == letter or not name.isalpha()) for name, letter in zip(names, LETTERS)):
        return None
    shapes = {bytes(face.getmask(letter)) for letter in LETTERS}
    if len(shapes) < len(LETTERS) or not all(any(shape) for shape in shapes):
        return None  # blank or identical glyphs
    return face.getname()


def find_fonts(extra_dirs=()):
    """Every usable font file (.ttf/.otf/.ttc): matplotlib's bundled ones, the system's, and
    those under `extra_dirs`; one file per font, sorted by file name."""
    import matplotlib
    for extra in extra_dirs:
        if not Path(extra).is_dir():
            raise UserError(f"--fonts {extra}: no such directory")
    folders = [Path(matplotlib.get_data_path()) / "fonts" / "ttf", *SYSTEM_FONT_DIRS, *extra_dirs]
    fonts, seen = [], set()
    for folder in map(Path, folders):
        folder = folder.expanduser()
        files = sorted(folder.rglob("*")) if folder.is_dir() else []
        for path in (p for p in files if p.suffix.lower() in (".ttf", ".otf", ".ttc") and p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            name = digest not in seen and _font_name(path)
            if name and name not in seen:  # the same file, or the same font in another copy
                fonts.append(path)
            seen |= {digest, name}
    return sorted(fonts, key=lambda path: (path.name, str(path)))


@lru_cache(maxsize=None)
def _face(font):
    return ImageFont.truetype(str(font), EM)


@lru_cache(maxsize=None)
def _glyph(font, letter, weight, outline=False):
    """`letter` in the font at path `font`, white on black, EM pixels high, cropped to its ink.
    weight > 0 emboldens it by a stroke that many pixels wide, weight < 0 thins it; outline
    keeps only a ring of width 2×weight around its contour. Cached: drawn once per process."""
    stroke = max(weight, 0)
    left, top, right, bottom = _face(font).getbbox(letter, stroke_width=stroke)
    image = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(image).text((-left, -top), letter, font=_face(font), fill=0 if outline else 255,
                               stroke_width=stroke, stroke_fill=255)
    return image.filter(ImageFilter.MinFilter(1 - 2 * weight)) if weight < 0 else image


def _decorate(glyph, rng):
    """Now and then a decorative style of the kind notMNIST's fonts are full of."""
    style = rng.random()
    if style < 0.05:  # a 3-D extrusion or a drop shadow, down and to the right, then a dark rim
        depth, gray = int(rng.integers(4, 12)), int(rng.integers(100, 256))
        canvas = Image.new("L", (glyph.width + depth, glyph.height + depth))
        for step in range(depth, 0, -1) if rng.random() < 0.5 else [depth]:
            canvas.paste(gray, (step, step), glyph)
        canvas.paste(0, (0, 0), glyph.filter(ImageFilter.MaxFilter(3)))
        canvas.paste(255, (0, 0), glyph)
        return canvas
    if style < 0.08:  # striped: the glyph seen through horizontal or vertical bars
        period = int(rng.integers(6, 14))
        bars = (np.arange(max(glyph.size)) % period < period // 2).astype(np.uint8) * 255
        mask = np.broadcast_to(bars[:glyph.height, None] if rng.random() < 0.5 else bars[:glyph.width],
                               (glyph.height, glyph.width))
        return ImageChops.multiply(glyph, Image.fromarray(np.ascontiguousarray(mask)))
    return glyph


def _slant(image, shear, angle):
    """`image` sheared (an italic for shear > 0) and rotated by `angle` radians, on a canvas
    just large enough to hold all of it."""
    cos, sin = np.cos(angle), np.sin(angle)
    forward = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1, -shear], [0, 1]])
    corners = forward @ np.array([[0, image.width, 0, image.width], [0, 0, image.height, image.height]])
    low, high = corners.min(axis=1), corners.max(axis=1)
    # Pillow maps each output pixel back to the input: it needs the inverse transformation.
    inverse = np.array([[1, shear], [0, 1]]) @ np.array([[cos, sin], [-sin, cos]])
    shift = inverse @ low
    return image.transform(tuple(np.ceil(high - low).astype(int)), Image.Transform.AFFINE,
                           (*inverse[0], shift[0], *inverse[1], shift[1]), Image.Resampling.BILINEAR)


_GRID = np.meshgrid([0, 0.5, 1], [0, 0.5, 1])  # x and y of the points of a 3×3 grid


def _stretch(glyph, rng, width, height):
    """The glyph stretched to width×height, unevenly: the inner points of a 3×3 grid over it
    move a little, as the bar of an A or the waist of a B sits higher or lower from font to font."""
    xs, ys = _GRID[0].copy(), _GRID[1].copy()
    xs[:, 1] += rng.normal(0, 0.05, 3)  # edge midpoints slide along their edge, the centre anywhere
    ys[1, :] += rng.normal(0, 0.05, 3)
    xs, ys = xs * glyph.width, ys * glyph.height
    big = 2 * SIZE  # warp at twice the size, then shrink with the filter notMNIST shows: Lanczos
    mesh = [((i * big // 2, j * big // 2, (i + 1) * big // 2, (j + 1) * big // 2),
             (xs[j, i], ys[j, i], xs[j + 1, i], ys[j + 1, i],
              xs[j + 1, i + 1], ys[j + 1, i + 1], xs[j, i + 1], ys[j, i + 1]))
            for j in range(2) for i in range(2)]
    warped = glyph.transform((big, big), Image.Transform.MESH, mesh, Image.Resampling.BILINEAR)
    return warped.resize((width, height), Image.Resampling.LANCZOS)



def render_letter(font, letter, rng):
    """One notMNIST-like image (28×28 uint8, white on black) of `letter` in the font at path
    `font` (str or Path), varied at random by `rng` (a numpy Generator)."""
    if rng.random() < 0.08:  # outlined letters
        glyph = _glyph(font, letter, int(rng.integers(1, 4)), outline=True)
    else:  # hairline to black
        glyph = _decorate(_glyph(font, letter, int(rng.choice([-1, 0, 0, 0, 0, 0, 1, 2, 3, 5]))), rng)
    roll = rng.random()  # a third of the fonts here are italic already: slant a few more
    shear = rng.uniform(0.1, 0.45) if roll < 0.15 else rng.normal(0, 0.05) if roll < 0.4 else 0.0
    angle = np.radians(rng.normal(0, 5)) if rng.random() < 0.15 else 0.0
    if shear or angle:
        glyph = _slant(glyph.crop((-2, -2, glyph.width + 2, glyph.height + 2)), shear, angle)
    # Crop to the solid ink, not the faint antialiased rim, and shave up to 3 pixels off each
    # side (fonts differ that much), so that the glyph fills the box.
    left, top, right, bottom = glyph.convert("1", dither=Image.Dither.NONE).getbbox() or (0, 0, *glyph.size)
    trim = rng.integers(0, 4, 4)
    glyph = glyph.crop((left + trim[0], top + trim[1],
                        max(right - trim[2], left + trim[0] + 1), max(bottom - trim[3], top + trim[1] + 1)))
    width = height = SIZE
    if rng.random() < 0.03:  # almost every notMNIST glyph fills the box; a few keep a margin
        width, height = rng.integers(18, SIZE + 1, 2)
    image = Image.new("L", (SIZE, SIZE))
    image.paste(_stretch(glyph, rng, int(width), int(height)),
                (int(rng.integers(0, SIZE - width + 1)), int(rng.integers(0, SIZE - height + 1))))
    if rng.random() < 0.05:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    pixels = np.asarray(image)
    if 0 < pixels.max() < 255:  # full contrast, as in notMNIST, even for faint hairlines
        pixels = (pixels * (255 / pixels.max())).astype(np.uint8)
    if rng.random() < 0.08:  # a dark letter cut out of a light block
        pixels = 255 - pixels
    return pixels


def _render_chunk(fonts, letter, first, count, seed):
    """Images `first`..`first+count-1` of a letter as [(member file name, PNG bytes)]. The
    random stream depends only on (seed, letter, first): any number of workers, same images."""
    rng = np.random.default_rng([seed, LETTERS.index(letter), first])
    members = []
    for n in range(first, first + count):
        font = Path(fonts[rng.integers(len(fonts))])
        buffer = io.BytesIO()
        Image.fromarray(render_letter(font, letter, rng)).save(buffer, format="PNG")
        name = base64.b64encode(f"{font.stem}-{n:06d}{font.suffix}".encode()).decode()  # as notMNIST
        members.append((f"{name}.png", buffer.getvalue()))
    return members


def _add(tar, name, data=None):
    """Adds a file (or, without data, a folder) with fixed metadata: same bytes every time."""
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = MTIME, 0o644 if data is not None else 0o755
    if data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    tar.addfile(info, None if data is None else io.BytesIO(data))


def write_synthetic_archive(path, root, per_class, seed, fonts, workers):
    """Writes `path` (.tar.gz, official layout root/A/*.png … root/J/*.png) with `per_class`
    rendered images per letter, rendered by `workers` processes; returns its recipe."""
    if not fonts:
        raise UserError("no usable fonts for the synthetic letters: install some (e.g. the DejaVu "
                        "or Liberation fonts) or pass --fonts DIR with .ttf/.otf files")
    path, fonts = Path(path), [str(font) for font in fonts]
    tasks = [(letter, first, min(CHUNK, per_class - first))
             for letter in LETTERS for first in range(0, per_class, CHUNK)]
    progress = Progress(f"rendering {path.name}", total=per_class * len(LETTERS), unit="img")
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
    pending = deque()  # (task, job) in archive order, a few ahead of the writer: memory stays flat

    def write(task, job):
        letter, first, count = task
        if first == 0:
            _add(tar, f"{root}/{letter}")
        for name, data in job.result() if job else _render_chunk(fonts, *task, seed):
            _add(tar, f"{root}/{letter}/{name}", data)
        progress.update(count)

    try:
        with atomic_write(path) as file, \
                gzip.GzipFile(filename="", fileobj=file, mode="wb", compresslevel=6, mtime=0) as packed, \
                tarfile.open(fileobj=packed, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            _add(tar, root)
            for task in tasks:
                pending.append((task, pool.submit(_render_chunk, fonts, *task, seed) if pool else None))
                if len(pending) > 2 * workers:
                    write(*pending.popleft())
            while pending:
                write(*pending.popleft())
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    progress.close()
    return {"fonts": [Path(font).name for font in fonts], "per_class": per_class, "seed": seed,
            "images": per_class * len(LETTERS)}
