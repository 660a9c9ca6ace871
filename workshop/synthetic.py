"""A notMNIST stand-in for machines that cannot download it: letters rendered from fonts.

notMNIST itself is glyphs A–J taken from thousands of fonts, each glyph stretched to fill a
28×28 box (an "I" becomes a wide block), white on black, and about 6 % of its large archive
is junk: pictures, ornaments and other characters filed under some letter. We do the same with
every font this machine has (matplotlib and ReportLab bring 41), and vary each glyph the way
different fonts differ: small, script, fraktur and double-struck letterforms where a font has
them, stroke weight from hairline to black, slant, proportions, clipped letters, noise, and
decorative styles (outlined, inverted, shadowed, patterned, framed, stencilled); a few letters
are drawn in a square display face that no font here has. Whole font families are held out of
the training archive: validation and test letters come from fonts the network never saw, as
with the real test set. The archives it writes have the official layout, so the normal
pipeline reads them like the real ones.
"""
import base64
import gzip
import hashlib
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
from workshop.png import encode_batch
from workshop.progress import progress_bar

EM = 96  # glyphs are drawn this large (pixels); shrinking them to 28×28 antialiases them
CHUNK = 500  # images per task sent to a worker
MTIME = 1315000000  # the official archives' member time: fixed, so that output is reproducible
HELD_OUT = 0.3  # share of the fonts (whole families) kept out of training, for validation and test
# Junk (images of no letter) per archive, as in the real ones: Bulatov estimated 6.5 % label
# errors in notMNIST_large (train) and 0.5 % in the hand-cleaned notMNIST_small (test).
JUNK = {"large": 0.065, "small": 0.005}
SYSTEM_FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
                    "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts",
                    os.path.join(os.environ.get("WINDIR", "C:/Windows"), "Fonts")]


def _draws(cmap, letters):
    """True if the font with this character map draws `letters` as letters. Symbol fonts map
    letters to other shapes, which their glyph names give away: cmex10 draws 'parenrightbt'
    for A, cmsy10 'turnstileright' for a, LastResort one 'lastresortlatin' box for every letter."""
    names = [cmap.get(ord(letter)) for letter in letters]
    return all(name and (name == letter or not name.isalpha()) for name, letter in zip(names, letters))


# Letterforms a font may hold besides its own A–J, in Unicode's mathematical alphabets:
# (first code point, share of a holding font's letters drawn in it). Real notMNIST is full of
# script, blackletter and outlined display fonts; STIX (in matplotlib) draws all of these.
ALPHABETS = {"script": (0x1D49C, 0.12), "bold script": (0x1D4D0, 0.12), "fraktur": (0x1D504, 0.08),
             "bold fraktur": (0x1D56C, 0.08), "double-struck": (0x1D538, 0.03)}
# The letters these alphabets had before Unicode 3.1 stay in Letterlike Symbols; their slots are empty.
LETTERLIKE = {0x1D49D: 0x212C, 0x1D4A0: 0x2130, 0x1D4A1: 0x2131, 0x1D4A3: 0x210B, 0x1D4A4: 0x2110,
              0x1D506: 0x212D, 0x1D50B: 0x210C, 0x1D50C: 0x2111, 0x1D53A: 0x2102, 0x1D53F: 0x210D}


@lru_cache(maxsize=None)
def _type1(font):
    """The dictionary of a Type 1 font (.pfb)."""
    from fontTools.t1Lib import T1Font
    type1 = T1Font(str(font))
    type1.parse()
    return type1.font


def _slant(font):
    """How far the font's letters lean: the shift right per pixel of height (0.19 for an italic
    of 11°; 0 for upright fonts)."""
    if Path(font).suffix.lower() == ".pfb":
        angle = _type1(font).get("FontInfo", {}).get("ItalicAngle", 0)
    else:
        from fontTools.ttLib import TTFont
        tables = TTFont(str(font), lazy=True, fontNumber=0)
        angle = tables["post"].italicAngle if "post" in tables else 0  # a font without one: upright
    return float(np.tan(np.radians(-angle)))


@lru_cache(maxsize=None)
def _glyph_names(font):
    """{code point: glyph name} of a TrueType/OpenType font's character map, or of a Type 1
    font's (.pfb) encoding of the codes 0-255."""
    if Path(font).suffix.lower() == ".pfb":
        encoding = _type1(font)["Encoding"]
        if encoding == "StandardEncoding":
            from fontTools.encodings.StandardEncoding import StandardEncoding as encoding
        return {code: name for code, name in enumerate(encoding) if name != ".notdef"}
    from fontTools.ttLib import TTFont
    return TTFont(str(font), lazy=True, fontNumber=0).getBestCmap() or {}


def _letterforms(font):
    """[(share, {letter: character})] for the small letters and each mathematical alphabet
    in which the font draws all of A–J."""
    cmap = _glyph_names(font)
    forms = [(0.12, {letter: letter.lower() for letter in LETTERS})] if _draws(cmap, LETTERS.lower()) else []
    for first, share in ALPHABETS.values():
        codes = [LETTERLIKE.get(first + n, first + n) for n in range(len(LETTERS))]
        if all(code in cmap for code in codes):
            forms.append((share, {letter: chr(code) for letter, code in zip(LETTERS, codes)}))
    return forms


_FACTS = {}  # font path (str) → (_slant, _letterforms): read from the font file once per process


def _facts(font):
    """(slant, letterforms) of the font at path `font`. The archive writer reads them for all
    its fonts and hands them to its worker processes (_learn_facts), which would otherwise each
    parse every font file again."""
    font = str(font)
    if font not in _FACTS:
        _FACTS[font] = _slant(font), _letterforms(font)
    return _FACTS[font]


def _learn_facts(facts):
    """Starts a worker process with the facts its archive writer read: {font: (slant, letterforms)}."""
    _FACTS.update(facts)


def _letterform(font, letter, rng):
    """The character that draws `letter`: now and then (if the font has them) a small letter,
    as many notMNIST fonts draw capitals as a, b, ..., or a script, fraktur or double-struck one."""
    roll = rng.random()
    for share, characters in _facts(font)[1]:
        if roll < share:
            return characters[letter]
        roll -= share
    return letter


def _font_name(path):
    """The font's (family, style) if it has real, distinct glyphs for all of A–J, else None."""
    try:
        face = ImageFont.truetype(str(path), 32)
        cmap = _glyph_names(path)
    except Exception:  # noqa: BLE001 - a font that does not load is simply not usable
        return None
    if not _draws(cmap, LETTERS):
        return None
    shapes = {bytes(face.getmask(letter)) for letter in LETTERS}
    if len(shapes) < len(LETTERS) or not all(any(shape) for shape in shapes):
        return None  # blank or identical glyphs
    return face.getname()


def find_fonts(extra_dirs=()):
    """Every usable font file (.ttf/.otf/.ttc, Type 1 .pfb): matplotlib's and ReportLab's
    bundled ones, the system's, and those under `extra_dirs`; one file per font, sorted by
    file name. (ReportLab, a PDF library, is installed for its fonts: Arial-, Times- and
    Courier-like faces, a calligraphic script and an ornamental one.)"""
    import matplotlib
    import reportlab
    for extra in extra_dirs:
        if not Path(extra).is_dir():
            raise UserError(f"--fonts {extra}: no such directory")
    folders = [Path(matplotlib.get_data_path()) / "fonts" / "ttf", Path(reportlab.__file__).parent / "fonts",
               *SYSTEM_FONT_DIRS, *extra_dirs]
    fonts, seen = [], set()
    for folder in map(Path, folders):
        folder = folder.expanduser()
        files = sorted(folder.rglob("*")) if folder.is_dir() else []
        for path in (p for p in files if p.suffix.lower() in (".ttf", ".otf", ".ttc", ".pfb") and p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            name = digest not in seen and _font_name(str(path))  # str: the key of the caches of fonts
            if name and name not in seen:  # the same file, or the same font in another copy
                fonts.append(path)
            seen |= {digest, name}
    return sorted(fonts, key=lambda path: (path.name, str(path)))


def split_fonts(fonts, held_out=HELD_OUT):
    """(training fonts, held-out fonts): whole families (all styles of DejaVu Serif, say) go to
    one side, about `held_out` of the fonts to the held-out side. Families are taken in the
    order of a hash of their name, so the split depends only on which fonts there are."""
    families = {}
    for font in fonts:
        families.setdefault(ImageFont.truetype(str(font), 12).getname()[0], []).append(font)
    if len(families) < 2:
        raise UserError(f"the synthetic letters need fonts of at least two families (one to train on, "
                        f"one to test on), found {len(families)}: install some (e.g. the DejaVu or "
                        "Liberation fonts) or pass --fonts DIR with .ttf/.otf files")
    held = []
    for family in sorted(families, key=lambda name: hashlib.sha256(name.encode()).hexdigest()):
        if len(held) >= held_out * len(fonts) or len(held) + len(families[family]) == len(fonts):
            break
        held += families[family]
    return [font for font in fonts if font not in held], [font for font in fonts if font in held]


@lru_cache(maxsize=None)
def _face(font):
    return ImageFont.truetype(str(font), EM)


@lru_cache(maxsize=None)
def _glyph(font, char, weight, outline=False):
    """`char` in the font at path `font`, white on black, EM pixels high, cropped to its ink.
    weight > 0 emboldens it by a stroke that many pixels wide, weight < 0 thins it; outline
    keeps only a ring of width 2×weight around its contour. Returns it with its _ink_row_ends.
    Cached: drawn once per process."""
    stroke = max(weight, 0)
    left, top, right, bottom = _face(font).getbbox(char, stroke_width=stroke)
    image = Image.new("L", (max(right - left, 1), max(bottom - top, 1)))
    ImageDraw.Draw(image).text((-left, -top), char, font=_face(font), fill=0 if outline else 255,
                               stroke_width=stroke, stroke_fill=255)
    if weight < 0:
        thinned = image.filter(ImageFilter.MinFilter(1 - 2 * weight))
        image = thinned if thinned.getextrema()[1] == 255 else image  # a hairline font: not thinner
    return image, _ink_row_ends(image)


SQUARE = 0.04  # share of the letters drawn in a square display face (see _square_glyph)


def _square_glyph(letter, rng):
    """`letter` (A-J) in a square display face, as notMNIST's many techno fonts draw it (an A
    like a gate, a C like a bracket), which no font here has: straight strokes on a unit box,
    with the height of the bars, the cut of the corners and the stroke width drawn at random."""
    bar, cut = rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.3)
    serifs = [[(0.1, 0), (0.9, 0)], [(0.1, 1), (0.9, 1)]] if rng.random() < 0.5 else []
    strokes = {  # polylines, (x, y) with y down
        "A": [[(0, 1), (0, cut), (cut, 0), (1 - cut, 0), (1, cut), (1, 1)], [(0, bar), (1, bar)]],
        "B": [[(0, 0), (0, 1), (1 - cut, 1), (1, 1 - cut), (1, bar + cut), (1 - cut, bar), (0, bar)],
              [(0, 0), (0.85 - cut, 0), (0.85, cut), (0.85, bar - cut), (0.85 - cut, bar)]],
        "C": [[(1, cut), (1, 0), (cut, 0), (0, cut), (0, 1 - cut), (cut, 1), (1, 1), (1, 1 - cut)]],
        "D": [[(0, 0), (0, 1), (1 - cut, 1), (1, 1 - cut), (1, cut), (1 - cut, 0), (0, 0)]],
        "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, bar), (0.8, bar)]],
        "F": [[(1, 0), (0, 0), (0, 1)], [(0, bar), (0.8, bar)]],
        "G": [[(1, cut), (1, 0), (cut, 0), (0, cut), (0, 1 - cut), (cut, 1), (1, 1), (1, bar), (0.5, bar)]],
        "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, bar), (1, bar)]],
        "I": [[(0.5, 0), (0.5, 1)], *serifs],
        "J": [[(0.3, 0), (1, 0), (1, 1 - cut), (1 - cut, 1), (cut, 1), (0, 1 - cut), (0, 0.6)]]}[letter]
    width = int(rng.uniform(0.05, 0.3) * EM)
    image = Image.new("L", (EM + width, EM + width))
    draw = ImageDraw.Draw(image)
    for line in strokes:
        points = [(width / 2 + x * EM, width / 2 + y * EM) for x, y in line]
        draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # square ends
            draw.rectangle((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return image


def _pattern(size, rng):
    """A 0/255 mask of bars, a checkerboard or dots with a period of 6-13 pixels."""
    period = int(rng.integers(6, 14))
    y, x = np.indices((size[1], size[0])) % period < period // 2
    kind = rng.integers(4)
    mask = [y, x, x ^ y, x & y][kind]
    return Image.fromarray(mask.astype(np.uint8) * 255)


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
    if style < 0.09:  # patterned: the glyph seen through bars, a checkerboard or dots
        return ImageChops.multiply(glyph, _pattern(glyph.size, rng))
    if style < 0.11:  # framed: the letter in a box or a ring
        pad = int(rng.integers(4, 16))
        canvas = Image.new("L", (glyph.width + 2 * pad, glyph.height + 2 * pad))
        frame = ImageDraw.Draw(canvas).rectangle if rng.random() < 0.6 else ImageDraw.Draw(canvas).ellipse
        frame((0, 0, canvas.width - 1, canvas.height - 1), outline=255, width=int(rng.integers(2, 6)))
        canvas.paste(glyph, (pad, pad))
        return canvas
    if style < 0.13:  # an inline: a dark line runs along the middle of strokes that are thick enough
        core = glyph.filter(ImageFilter.MinFilter(7))
        return ImageChops.subtract(glyph, ImageChops.subtract(core, core.filter(ImageFilter.MinFilter(3))))
    if style < 0.16:  # a pixel font: the glyph on a coarse grid of square pixels
        cells = int(rng.integers(5, 11))
        coarse = glyph.resize((cells, max(round(cells * glyph.height / glyph.width), 1)), Image.Resampling.BOX)
        return coarse.point(lambda value: 255 * (value > 100)).resize(glyph.size, Image.Resampling.NEAREST)
    if style < 0.20:  # a stencil: dark gaps cut across the strokes
        stencil = glyph.copy()
        draw = ImageDraw.Draw(stencil)
        for _ in range(rng.integers(1, 4)):
            gap, vertical = int(rng.integers(3, 9)), rng.random() < 0.5
            at = int(rng.uniform(0.2, 0.8) * (glyph.width if vertical else glyph.height))
            draw.rectangle((at, 0, at + gap, glyph.height) if vertical else (0, at, glyph.width, at + gap), fill=0)
        return stencil
    return glyph


def _pixels(image):
    """The pixels of a Pillow image of mode L, as np.asarray(image) has them, in half its time."""
    return np.frombuffer(image.tobytes(), np.uint8).reshape(image.height, image.width)


def _ink_row_ends(glyph):
    """2×N corners (x, y) of the first and last solid ink pixel (>= 128, not the faint antialiased
    rim) of each row of `glyph`. Sheared or rotated, the ink's box is still spanned by them: a
    linear map takes its extremes along a row at the row's ends."""
    ink = _pixels(glyph) >= 128
    rows = np.flatnonzero(ink.any(axis=1))
    if not len(rows):
        return np.array([[0, glyph.width], [0, glyph.height]], float)
    first, last = ink[rows].argmax(axis=1), glyph.width - ink[rows, ::-1].argmax(axis=1)
    return np.array([np.concatenate([first, last, first, last]),
                     np.concatenate([rows, rows, rows + 1, rows + 1])], float)


_GRID = np.meshgrid([0, 0.5, 1], [0, 0.5, 1])  # x and y of the points of a 3×3 grid


def _warp(glyph, ink_ends, rng, shear, angle, width, height):
    """The glyph sheared (an italic for shear > 0), rotated by `angle` radians, cropped to its
    ink (see _clip) and stretched to width×height, unevenly: the inner points of a 3×3 grid over
    it move a little, as the bar of an A or the waist of a B sits higher or lower from font to
    font. One mesh transformation does it all: each cell of the grid, traced back through the
    rotation and the shear, is a quadrilateral of the glyph, which Pillow maps onto a square."""
    cos, sin = np.cos(angle), np.sin(angle)
    forward = np.array([[cos, -cos * shear - sin], [sin, cos - sin * shear]])  # rotation · shear
    inverse = np.array([[cos - shear * sin, sin + shear * cos], [-sin, cos]])
    ink = forward @ ink_ends
    low, high = np.minimum.reduce(ink, axis=1), np.maximum.reduce(ink, axis=1)
    low, high = np.floor(low + 1e-6).tolist(), np.ceil(high - 1e-6).tolist()
    left, top, right, bottom = _clip((*low, *high), rng)
    xs, ys = _GRID[0].copy(), _GRID[1].copy()
    wobble = 0.05 if rng.random() < 0.8 else 0.12  # and a few fonts are odder than that
    xs[:, 1] += rng.normal(0, wobble, 3)  # edge midpoints slide along their edge, the centre anywhere
    ys[1, :] += rng.normal(0, wobble, 3)
    # The grid's points in the sheared and rotated glyph, and where they come from in the glyph.
    xs, ys = (inverse @ [left + xs.ravel() * (right - left), top + ys.ravel() * (bottom - top)]).reshape(2, 3, 3)
    # Shrunk to half first, averaging 2×2 pixels, so that the mesh, which reads the glyph by
    # bilinear interpolation, scales it down by less than 2: thin strokes keep their weight.
    xs, ys, glyph = (xs / 2).tolist(), (ys / 2).tolist(), glyph.reduce(2)
    columns, rows = (0, width // 2, width), (0, height // 2, height)
    mesh = [((columns[i], rows[j], columns[i + 1], rows[j + 1]),
             (xs[j][i], ys[j][i], xs[j + 1][i], ys[j + 1][i],
              xs[j + 1][i + 1], ys[j + 1][i + 1], xs[j][i + 1], ys[j][i + 1]))
            for j in range(2) for i in range(2)]
    return glyph.transform((width, height), Image.Transform.MESH, mesh, Image.Resampling.BILINEAR)


def _clip(box, rng):
    """The ink box (left, top, right, bottom), with up to 3 pixels shaved off each side (fonts
    differ that much) and now and then a large part cut away, as the box of many notMNIST
    glyphs cuts off a swash, a serif or half the letter."""
    shave = rng.integers(0, 4, 4).tolist()
    left, top, right, bottom = box[0] + shave[0], box[1] + shave[1], box[2] - shave[2], box[3] - shave[3]
    if rng.random() < 0.04:
        side, keep = int(rng.integers(4)), rng.uniform(0.55, 0.85)
        if side == 0:
            left = right - keep * (right - left)
        elif side == 1:
            top = bottom - keep * (bottom - top)
        elif side == 2:
            right = left + keep * (right - left)
        else:
            bottom = top + keep * (bottom - top)
    return int(left), int(top), max(int(right), int(left) + 1), max(int(bottom), int(top) + 1)


def _noisy(pixels, rng):
    """Now and then grain, speckles or a textured background, as in scanned or decorative fonts."""
    roll = rng.random()
    if roll < 0.03:
        return np.clip(pixels + rng.normal(0, rng.uniform(15, 50), pixels.shape), 0, 255).astype(np.uint8)
    if roll < 0.05:
        specks = rng.random(pixels.shape) < rng.uniform(0.02, 0.1)
        return np.where(specks, 255 - pixels, pixels).astype(np.uint8)
    if roll < 0.07:
        background = np.asarray(_pattern((SIZE, SIZE), rng)) * rng.uniform(0.2, 0.5)
        return np.maximum(pixels, background).astype(np.uint8)
    return pixels


WEIGHTS = [-2, -1, -1, 0, 0, 0, 0, 1, 2, 3, 5, 8]  # stroke weights (see _glyph), drawn at random


def render_letter(font, letter, rng):
    """One notMNIST-like image (28×28 uint8, white on black) of `letter` in the font at path
    `font` (str or Path), varied at random by `rng` (a numpy Generator)."""
    square = letter in LETTERS and rng.random() < SQUARE
    if letter in LETTERS and not square:
        letter = _letterform(font, letter, rng)
    slant = 0.0 if square else _facts(font)[0]
    if square:  # a face that no font here has, upright
        glyph = _decorate(_square_glyph(letter, rng), rng)
        ink_ends = _ink_row_ends(glyph)
    elif rng.random() < 0.08:  # outlined letters
        glyph, ink_ends = _glyph(font, letter, int(rng.integers(1, 4)), outline=True)
    else:  # hairline to ultra black
        plain, ink_ends = _glyph(font, letter, WEIGHTS[rng.integers(len(WEIGHTS))])
        glyph = _decorate(plain, rng)
        if glyph.size != plain.size:  # a shadow or a frame: more ink than the letter's
            ink_ends = _ink_row_ends(glyph)
    # Most notMNIST letters stand upright, but a third of the fonts here are italic: most of
    # their letters are stood upright, and a few letters of any font slanted.
    roll = rng.random()
    shear = rng.uniform(0.1, 0.45) if roll < 0.05 else rng.normal(0, 0.05) if roll < 0.3 else 0.0
    if rng.random() < 0.6:
        shear -= slant
    angle = np.radians(rng.normal(0, 5)) if rng.random() < 0.15 else 0.0
    if rng.random() < 0.03:  # almost every notMNIST glyph fills the box; a few keep a margin
        width, height = rng.integers(18, SIZE + 1, 2).tolist()
        image = Image.new("L", (SIZE, SIZE))
        image.paste(_warp(glyph, ink_ends, rng, shear, angle, width, height),
                    (int(rng.integers(0, SIZE - width + 1)), int(rng.integers(0, SIZE - height + 1))))
    else:
        image = _warp(glyph, ink_ends, rng, shear, angle, SIZE, SIZE)
    if rng.random() < 0.05:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    pixels = _pixels(image)
    if 0 < pixels.max() < 255:  # full contrast, as in notMNIST, even for faint hairlines
        pixels = (pixels * (255 / pixels.max())).astype(np.uint8)
    if rng.random() < 0.08 and (pixels >= 128).mean() < 0.9:  # a dark letter cut out of a light block
        pixels = 255 - pixels  # (but not a letter that fills the box, an I as a bar: nothing would be left)
    return _noisy(pixels, rng)


JUNK_CHARACTERS = "kmnqrstuvwxyz0123456789&@#%$?!*§¶{}<>~"  # no a-j: they count as A-J


def render_junk(font, rng):
    """An image that is no letter A–J: another character of the font, drawn as a letter would
    be, or a scribble of random shapes (notMNIST's junk: ornaments, pictures, other glyphs)."""
    if rng.random() < 0.5:
        char = JUNK_CHARACTERS[rng.integers(len(JUNK_CHARACTERS))]
        if _glyph(font, char, 0)[0].getbbox():  # a character the font lacks draws nothing: scribble instead
            return render_letter(font, char, rng)
    image = Image.new("L", (2 * SIZE, 2 * SIZE))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(1, 7)):
        box = np.sort(rng.integers(0, 2 * SIZE, (2, 2)), axis=0).T.ravel()[[0, 2, 1, 3]]
        shape = [draw.ellipse, draw.rectangle, draw.line][rng.integers(3)]
        if shape == draw.line:
            shape(tuple(box), fill=255, width=int(rng.integers(2, 10)))
        elif rng.random() < 0.5:
            shape(tuple(box), fill=255)
        else:
            shape(tuple(box), outline=255, width=int(rng.integers(2, 8)))
    pixels = np.asarray(image.resize((SIZE, SIZE), Image.Resampling.LANCZOS))
    return 255 - pixels if rng.random() < 0.2 else pixels


def _render_chunk(fonts, root, letter, first, count, seed, junk):
    """Images `first`..`first+count-1` of a letter, a share `junk` of them junk, as the members
    root/letter/<name>.png of a .tar (bytes). The random stream depends only on (seed, letter,
    first): any number of workers, same images."""
    rng = np.random.default_rng([seed, LETTERS.index(letter), first])
    names, images = [], []
    for n in range(first, first + count):
        font = fonts[rng.integers(len(fonts))]  # a str: a cheap key for the caches of glyphs
        images.append(render_junk(font, rng) if rng.random() < junk else render_letter(font, letter, rng))
        stem, suffix = os.path.splitext(os.path.basename(font))
        names.append(base64.b64encode(f"{stem}-{n:06d}{suffix}".encode()).decode() + ".png")  # as notMNIST
    return b"".join(tar_member(f"{root}/{letter}/{name}", data)
                    for name, data in zip(names, encode_batch(np.stack(images))))


def tar_member(name, data=None):
    """A file (or, without data, a folder) as a .tar holds it, with fixed metadata (same bytes
    every time): tarfile's header, the data, zeros to a whole block."""
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = MTIME, 0o644 if data is not None else 0o755
    if data is None:
        info.type, data = tarfile.DIRTYPE, b""
    else:
        info.size = len(data)
    return info.tobuf(tarfile.USTAR_FORMAT) + data + tarfile.NUL * (-len(data) % tarfile.BLOCKSIZE)


def tar_end(size):
    """What ends a .tar of `size` bytes of members, as tarfile ends it: two zero blocks, then
    zeros to a whole record."""
    return tarfile.NUL * (2 * tarfile.BLOCKSIZE + -(size + 2 * tarfile.BLOCKSIZE) % tarfile.RECORDSIZE)


def write_synthetic_archive(path, root, per_class, seed, fonts, workers, junk=0.0):
    """Writes `path` (.tar.gz, official layout root/A/*.png … root/J/*.png) with `per_class`
    rendered images per letter, a share `junk` of them junk, rendered by `workers` processes;
    returns its recipe. The workers pack their letters as .tar members too: this process only
    strings them together, so that it leaves the cores to them."""
    if not fonts:
        raise UserError("no usable fonts for the synthetic letters: install some (e.g. the DejaVu "
                        "or Liberation fonts) or pass --fonts DIR with .ttf/.otf files")
    path, fonts = Path(path), [str(font) for font in fonts]
    tasks = [(root, letter, first, min(CHUNK, per_class - first))
             for letter in LETTERS for first in range(0, per_class, CHUNK)]
    progress = progress_bar(f"rendering {path.name}", total=per_class * len(LETTERS), unit="img")
    facts = {font: _facts(font) for font in fonts}  # read here once, not by every worker
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_learn_facts,
                               initargs=(facts,)) if workers > 1 else None
    pending = deque()  # (task, job) in archive order, a few ahead of the writer: memory stays flat

    def write(task, job):
        _, letter, first, count = task
        if first == 0:
            packed.write(tar_member(f"{root}/{letter}"))
        packed.write(job.result() if job else _render_chunk(fonts, *task, seed, junk))
        progress.update(count)

    try:
        with atomic_write(path) as file, \
                gzip.GzipFile(filename="", fileobj=file, mode="wb", compresslevel=1, mtime=0) as packed:
            packed.write(tar_member(root))
            for task in tasks:
                pending.append((task, pool.submit(_render_chunk, fonts, *task, seed, junk) if pool else None))
                if len(pending) > 2 * workers:
                    write(*pending.popleft())
            while pending:
                write(*pending.popleft())
            packed.write(tar_end(packed.tell()))
    finally:
        progress.close()  # now, not when it is collected: after an error its line would follow the error's
        if pool:
            pool.shutdown(cancel_futures=True)
    return {"fonts": [Path(font).name for font in fonts], "per_class": per_class, "seed": seed,
            "junk": junk, "images": per_class * len(LETTERS)}
