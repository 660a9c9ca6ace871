"""A notMNIST stand-in for machines that cannot download it: letters rendered from fonts.

notMNIST itself is glyphs A–J taken from thousands of fonts, each glyph stretched to fill a
28×28 box (an "I" becomes a wide block), white on black. We do the same with every font
this machine has, and vary each glyph the way different fonts differ: stroke weight,
slant, rotation, outline and inverted styles, shadow, a little blur, and an occasional
margin. The archives it writes have the official layout, so the normal pipeline reads them.
"""
import base64
import gzip
import io
import os
import sys
import tarfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from workshop.errors import UserError
from workshop.files import atomic_write
from workshop.progress import Progress

LETTERS = "ABCDEFGHIJ"
SIZE = 28
RENDER_SIZES = range(36, 53, 2)  # glyphs are drawn this large (pixels), then shrunk to 28×28
CHUNK = 500  # images per task sent to a worker

SYSTEM_FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
                    "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts",
                    os.path.join(os.environ.get("WINDIR", "C:/Windows"), "Fonts")]


def _font_files(folder):
    return [p for p in Path(folder).expanduser().rglob("*") if p.suffix.lower() in (".ttf", ".otf")]


def _font_name(path):
    """(family, style) if the font has real, distinct glyphs for all of A–J, else None."""
    from fontTools.ttLib import TTFont
    from PIL import ImageFont
    try:
        font = ImageFont.truetype(str(path), 32)
        cmap = TTFont(str(path), lazy=True, fontNumber=0).getBestCmap() or {}
    except Exception:  # noqa: BLE001 - a font that fails to load is simply not usable
        return None
    glyphs = [cmap.get(ord(letter), "") for letter in LETTERS]
    # Symbol fonts map A-J to other shapes (e.g. cmex10's 'parenrightbt'): glyph names tell.
    if not all(g == letter or g.startswith(letter + ".") or (g and not g.isalpha())
               for g, letter in zip(glyphs, LETTERS)):
        return None
    shapes = {bytes(font.getmask(letter)) for letter in LETTERS}
    if len(shapes) < len(LETTERS) or not all(any(shape) for shape in shapes):
        return None
    return font.getname()


def find_fonts(extra_dirs=()):
    """Every usable font: matplotlib's bundled ones, the system's, and those in `extra_dirs`;
    one file per font name."""
    import matplotlib
    folders = [Path(matplotlib.get_data_path()) / "fonts" / "ttf", *SYSTEM_FONT_DIRS]
    for extra in extra_dirs:
        if not Path(extra).is_dir():
            raise UserError(f"--fonts {extra}: no such directory")
        folders.append(extra)
    fonts = {}
    for folder in folders:
        for path in sorted(_font_files(folder)) if Path(folder).expanduser().is_dir() else []:
            name = _font_name(path)
            if name and name not in fonts:
                fonts[name] = path
    if not fonts:
        raise UserError("no usable fonts found for --synthetic: install some (e.g. the DejaVu or "
                        "Liberation fonts) or pass --fonts DIR with .ttf/.otf files")
    return sorted(fonts.values(), key=lambda p: p.name)


_loaded = {}
_SOLID = [255 if value > 100 else 0 for value in range(256)]


def _font(path, size):
    from PIL import ImageFont
    if (path, size) not in _loaded:
        _loaded[path, size] = ImageFont.truetype(str(path), size)
    return _loaded[path, size]


def render_letter(font, letter, rng):
    """One notMNIST-like image (28×28 uint8) of `letter` in the font at path `font`."""
    from PIL import Image, ImageChops, ImageDraw, ImageFilter
    face = _font(font, int(rng.choice(RENDER_SIZES)))  # sizes rasterise differently
    weight = int(rng.choice([0, 0, 0, 1, 1, 2, 3]))  # extra stroke: from regular to black
    style = rng.random()
    shear = rng.uniform(-0.15, 0.35) if rng.random() < 0.35 else 0.0  # slant, as italics do
    left, top, right, bottom = face.getbbox(letter, stroke_width=weight + 3)
    pad = 10
    slack = int(abs(shear) * (bottom - top)) + pad
    canvas = Image.new("L", (right - left + 2 * slack, bottom - top + 2 * pad))
    origin = (slack - left + rng.random(), pad - top + rng.random())  # sub-pixel position
    draw = ImageDraw.Draw(canvas)
    if style < 0.08:  # outlined letters
        draw.text(origin, letter, font=face, fill=0, stroke_width=2 + weight, stroke_fill=255)
        inner = Image.new("L", canvas.size)
        ImageDraw.Draw(inner).text(origin, letter, font=face, fill=255)
        canvas = ImageChops.subtract(canvas, inner.filter(ImageFilter.MinFilter(3)))
    else:
        if style < 0.14:  # a shadow or 3-D effect
            shift = int(rng.integers(3, 8))
            draw.text((origin[0] + shift, origin[1] + shift), letter, font=face, fill=110,
                      stroke_width=weight, stroke_fill=110)
        draw.text(origin, letter, font=face, fill=255, stroke_width=weight, stroke_fill=255)
        if weight == 0 and rng.random() < 0.15:  # hairline fonts
            canvas = canvas.filter(ImageFilter.MinFilter(3))
    if shear:
        height = canvas.size[1]
        canvas = canvas.transform(canvas.size, Image.Transform.AFFINE,
                                  (1, shear, -shear * height / 2, 0, 1, 0), Image.Resampling.BILINEAR)
    if rng.random() < 0.3:
        canvas = canvas.rotate(rng.uniform(-12, 12), Image.Resampling.BILINEAR, expand=True)
    if rng.random() < 0.2:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    # Crop to the glyph's solid ink (not its faint anti-aliased rim), so that it fills the box.
    left, top, right, bottom = canvas.point(_SOLID).getbbox() or canvas.getbbox() or (0, 0, *canvas.size)
    trim = rng.integers(0, 3, 4)  # shave up to 2 pixels off each side: fonts differ that much
    left, top = left + trim[0], top + trim[1]
    glyph = canvas.crop((left, top, max(right - trim[2], left + 1), max(bottom - trim[3], top + 1)))
    width, height = SIZE, SIZE
    if rng.random() < 0.1:  # most glyphs fill the box, a few keep a margin
        width, height = int(rng.integers(20, 29)), int(rng.integers(22, 29))
    image = Image.new("L", (SIZE, SIZE))
    image.paste(glyph.resize((width, height), Image.Resampling.BILINEAR),
                (int(rng.integers(0, SIZE - width + 1)), int(rng.integers(0, SIZE - height + 1))))
    pixels = np.asarray(image)
    if 0 < pixels.max() < 255:  # full contrast, as in notMNIST, even for faint hairlines
        pixels = (pixels * (255 / pixels.max())).astype(np.uint8)
    if rng.random() < 0.05:  # a dark letter on a light block
        pixels = 255 - pixels
    return pixels


def _render_chunk(fonts, letter, first, count, seed):
    """Renders images `first`..`first+count-1` of a letter: [(member file name, PNG bytes)]."""
    from PIL import Image
    rng = np.random.default_rng([seed, LETTERS.index(letter), first])
    members = []
    for n in range(first, first + count):
        font = fonts[int(rng.integers(len(fonts)))]
        buffer = io.BytesIO()
        Image.fromarray(render_letter(font, letter, rng)).save(buffer, format="PNG")
        name = base64.b64encode(f"{font.stem}-{n:06d}.ttf".encode()).decode()
        members.append((f"{name}.png", buffer.getvalue()))
    return members


def write_synthetic_archive(path, root, per_class, seed, fonts, workers):
    """Writes `path` (.tar.gz, official layout) with `per_class` rendered images per letter."""
    path = Path(path)
    tasks = [(letter, first, min(CHUNK, per_class - first))
             for letter in LETTERS for first in range(0, per_class, CHUNK)]
    progress = Progress(f"rendering {path.name}", total=per_class * len(LETTERS), unit="img")
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
    try:
        with atomic_write(path) as file, \
                gzip.GzipFile(filename="", fileobj=file, mode="wb", compresslevel=6, mtime=0) as packed, \
                tarfile.open(fileobj=packed, mode="w") as tar:
            jobs = [pool.submit(_render_chunk, fonts, *task, seed) if pool else task for task in tasks]
            for (letter, first, count), job in zip(tasks, jobs):
                members = job.result() if pool else _render_chunk(fonts, letter, first, count, seed)
                for name, data in members:
                    info = tarfile.TarInfo(f"{root}/{letter}/{name}")
                    info.size, info.mtime = len(data), 1315000000  # fixed: same bytes every time
                    tar.addfile(info, io.BytesIO(data))
                progress.update(count)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    progress.close()
    print(f"wrote {path} ({per_class * len(LETTERS):,} SYNTHETIC images)", file=sys.stderr)
    return {"fonts": [font.name for font in fonts], "per_class": per_class, "seed": seed}
