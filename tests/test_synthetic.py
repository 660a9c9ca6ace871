"""The synthetic stand-in: fonts found and split by family, letters rendered like notMNIST with
its variety and junk, archives in the official layout."""
import base64
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from conftest import LETTERS, run_script
from workshop import synthetic
from workshop.errors import UserError
from workshop.synthetic import (ALPHABETS, find_fonts, render_junk, render_letter, split_fonts, tar_end, tar_member,
                                write_synthetic_archive)


@pytest.fixture(scope="module")
def fonts():
    return find_fonts()


def test_finds_usable_fonts_and_leaves_out_symbol_fonts(fonts):
    names = {font.name for font in fonts}
    assert "DejaVuSans.ttf" in names and "cmr10.ttf" in names  # matplotlib ships these
    assert {"callig15.pfb", "DarkGardenMK.pfb", "_a______.pfb"} <= names  # ReportLab's Type 1 fonts
    assert not names & {"cmex10.ttf", "STIXSizOneSymReg.ttf", "LastResortHE-Regular.ttf", "sy______.pfb",
                        "zd______.pfb"}
    assert len({font.name for font in fonts}) == len(fonts)


def test_extra_font_folder_is_searched_and_a_missing_one_is_an_error(fonts, tmp_path):
    with pytest.raises(UserError, match="--fonts .*: no such directory"):
        find_fonts([tmp_path / "nope"])
    assert len(find_fonts([tmp_path])) == len(fonts)  # an empty folder adds nothing


def family(font):
    return ImageFont.truetype(str(font), 12).getname()[0]


def test_fonts_are_split_by_family_the_same_way_every_time(fonts):
    train, held_out = split_fonts(fonts)
    assert sorted(train + held_out) == sorted(fonts) and not set(train) & set(held_out)
    assert not {family(font) for font in train} & {family(font) for font in held_out}
    assert 0.2 <= len(held_out) / len(fonts) <= 0.5
    assert split_fonts(list(reversed(fonts))) == (train[::-1], held_out[::-1])  # same fonts, same split
    with pytest.raises(UserError, match="at least two families"):
        split_fonts([font for font in fonts if family(font) == "DejaVu Sans"])


def test_rendered_letters_fill_the_box_like_notmnist(fonts):
    rng = np.random.default_rng(0)
    images = np.stack([render_letter(fonts[n % len(fonts)], letter, rng)
                       for letter in LETTERS for n in range(20)])
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert (images.reshape(200, -1).max(axis=1) > 100).all()  # nothing blank
    ink = images > 40
    touches = ink[:, 0, :].any(1) & ink[:, -1, :].any(1) & ink[:, :, 0].any(1) & ink[:, :, -1].any(1)
    assert touches.mean() > 0.8  # real notMNIST: 98 % touch all four edges
    assert 60 < images.mean() < 160


def test_letters_vary_like_notmnist_fonts(fonts):
    rng = np.random.default_rng(1)
    images = np.stack([render_letter(fonts[n % len(fonts)], LETTERS[n % 10], rng) for n in range(1000)])
    rims = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    inverted = (rims > 128).mean(axis=1) > 0.7  # a dark letter cut out of a light block
    assert 0.03 < inverted.mean() < 0.2
    ink = np.where(inverted[:, None, None], 255 - images, images).reshape(1000, -1) > 128
    assert (ink.mean(axis=1) < 0.15).sum() > 20  # hairlines and outlines
    assert (ink.mean(axis=1) > 0.6).sum() > 20  # ultra-bold
    grain = ((images > 30) & (images < 225)).reshape(1000, -1).mean(axis=1) > 0.3
    assert 0.01 < grain.mean() < 0.2  # noise or blur on a few
    assert len({image.tobytes() for image in images}) > 950  # a plain block-like I repeats, as in notMNIST


def test_script_fraktur_and_double_struck_letters_come_from_fonts_that_draw_them(fonts):
    from workshop.synthetic import _letterform, _letterforms
    stix = next(font for font in fonts if font.name == "STIXGeneral.ttf")  # matplotlib ships it
    assert len(_letterforms(stix)) == 1 + len(ALPHABETS)  # small letters and every alphabet
    rng = np.random.default_rng(5)
    drawn = [_letterform(stix, "H", rng) for _ in range(2000)]
    assert {"H", "h", "\U0001D4D7", "\u210B", "\u210C", "\U0001D573", "\u210D"} == set(drawn)  # ℋ ℌ ℍ...
    assert 0.35 < drawn.count("H") / len(drawn) < 0.6
    cmr = next(font for font in fonts if font.name == "cmr10.ttf")  # no mathematical alphabets
    assert {_letterform(cmr, "H", rng) for _ in range(200)} == {"H", "h"}


def test_square_face_draws_each_letter_as_its_own_shape():
    from workshop.synthetic import _square_glyph
    rng = np.random.default_rng(7)
    drawn = {letter: _square_glyph(letter, rng) for letter in LETTERS}
    glyphs = {letter: np.asarray(image.crop(image.getbbox()).resize((28, 28))) > 128 for letter, image in drawn.items()}
    a, h = glyphs["A"], glyphs["H"]
    assert a[0, 10:18].all() and not h[0, 10:18].any()  # an A like a gate: a bar on top that H has not
    assert len({glyph.tobytes() for glyph in glyphs.values()}) == len(LETTERS)


def lean(images):
    """How far each image's ink leans right: the shift in x per pixel of height (an italic of 11°: 0.19)."""
    weights = images / images.sum(axis=(1, 2), keepdims=True)
    y, x = np.indices(images.shape[1:])
    my, mx = (weights * y).sum(axis=(1, 2), keepdims=True), (weights * x).sum(axis=(1, 2), keepdims=True)
    return -(weights * (x - mx) * (y - my)).sum(axis=(1, 2)) / (weights * (y - my) ** 2).sum(axis=(1, 2))


def test_most_letters_stand_upright_as_in_notmnist(fonts):
    from workshop.synthetic import _slant
    oblique, italic = (next(f for f in fonts if f.name == name) for name in ("DejaVuSans-Oblique.ttf", "_ai_____.pfb"))
    assert _slant(oblique) == pytest.approx(0.194, abs=0.001)  # its post table says 11°
    assert _slant(italic) == pytest.approx(0.213, abs=0.001)  # its Type 1 FontInfo says 12°
    assert _slant(next(f for f in fonts if f.name == "DejaVuSans.ttf")) == 0
    rng = np.random.default_rng(6)
    leans = lean(np.stack([render_letter(oblique, "H", rng) for _ in range(300)]).astype(float))
    assert np.median(leans) < 0.05 < np.mean(leans > 0.15) < 0.45  # mostly stood upright, a few slanted
    upright = lean(np.stack([render_letter(fonts[n % len(fonts)], "H", rng) for n in range(300)]).astype(float))
    assert abs(np.median(upright)) < 0.05  # real notMNIST: 0.00 for H


def test_junk_is_no_letter(fonts, monkeypatch):
    """Junk draws other characters, never A-J (nor a-j, which count as A-J), or scribbles."""
    drawn = []

    def render_letter_seen(font, char, rng):
        drawn.append(char)
        return render_letter(font, char, rng)
    monkeypatch.setattr(synthetic, "render_letter", render_letter_seen)
    rng = np.random.default_rng(2)
    junk = np.stack([render_junk(fonts[n % len(fonts)], rng) for n in range(1000)])
    assert junk.shape == (1000, 28, 28) and junk.dtype == np.uint8
    assert (junk.reshape(1000, -1).max(axis=1) > 0).mean() > 0.99  # hardly ever blank
    assert 300 < len(drawn) < 700  # about half are characters, each of the ~40 drawn a dozen times; the rest scribbles
    assert not set(drawn) & set(LETTERS + LETTERS.lower())


def test_archive_has_the_official_layout_balanced_and_reproducible(fonts, tmp_path):
    record = write_synthetic_archive(tmp_path / "a.tar.gz", "notMNIST_large", 7, seed=3,
                                     fonts=fonts[:5], workers=2, junk=0.1)
    assert record["per_class"] == 7 and len(record["fonts"]) == 5 and record["junk"] == 0.1
    with tarfile.open(tmp_path / "a.tar.gz") as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        roots = {m.name.split("/")[0] for m in members}
        folders = [m.name.split("/")[1] for m in members]
        assert roots == {"notMNIST_large"} and all(m.name.count("/") == 2 for m in members)
        assert sorted(set(folders)) == list(LETTERS)
        assert all(folders.count(letter) == 7 for letter in LETTERS)
        for member in members:
            image = Image.open(io.BytesIO(archive.extractfile(member).read()))
            assert image.format == "PNG" and image.mode == "L" and image.size == (28, 28)
    write_synthetic_archive(tmp_path / "b.tar.gz", "notMNIST_large", 7, seed=3, fonts=fonts[:5], workers=1,
                            junk=0.1)
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    write_synthetic_archive(tmp_path / "c.tar.gz", "notMNIST_large", 7, seed=4, fonts=fonts[:5], workers=1,
                            junk=0.1)
    assert (tmp_path / "a.tar.gz").read_bytes() != (tmp_path / "c.tar.gz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "b.tar.gz", "c.tar.gz"]


def test_archive_members_are_the_bytes_tarfile_writes(tmp_path):
    members = [("root", None), ("root/A", None), ("root/A/x.png", b"png" * 300), ("root/A/empty.png", b""),
               ("root/" + "d" * 80 + "/" + "n" * 60 + ".png", b"x")]  # over 100 characters: a ustar prefix
    with tarfile.open(tmp_path / "reference.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = 1315000000, 0o644 if data is not None else 0o755
            info.type, info.size = (tarfile.REGTYPE, len(data)) if data is not None else (tarfile.DIRTYPE, 0)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    ours = b"".join(tar_member(name, data) for name, data in members)
    assert ours + tar_end(len(ours)) == (tmp_path / "reference.tar").read_bytes()


def member_fonts(archive):
    """The font file names behind an archive's members (names are base64 of font-number.ttf, as in notMNIST)."""
    with tarfile.open(archive) as tar:
        return {base64.b64decode(member.name.split("/")[-1].removesuffix(".png")).decode().rsplit("-", 1)[0]
                for member in tar.getmembers() if member.isfile()}


@pytest.mark.slow
def test_create_notmnist_synthetic_says_so_everywhere(tmp_path):
    data = tmp_path / "data"
    result = run_script("create_notmnist.py", "--synthetic", "--data-dir", data,
                        "--train-size", 200, "--valid-size", 50, "--test-size", 50)
    assert result.returncode == 0, result.stderr
    assert "SYNTHETIC" in result.stdout
    record = json.loads((data / "notMNIST.json").read_text())
    assert record["synthetic"] is True
    # Valid and test letters come from font families that train never saw, and the record says which.
    split = record["synthetic_fonts"]
    assert split["train"] and split["valid_and_test"] and not set(split["train"]) & set(split["valid_and_test"])
    assert member_fonts(data / "synthetic" / "notMNIST_large.tar.gz") <= {Path(f).stem for f in split["train"]}
    assert member_fonts(data / "synthetic" / "notMNIST_small.tar.gz") <= {
        Path(f).stem for f in split["valid_and_test"]}
    assert record["sizes"] == {"train": 200, "valid": 50, "test": 50}
    from workshop.notmnist import load_notmnist
    assert "SYNTHETIC" in load_notmnist(data / "notMNIST.pickle").describe()
    assert sorted(p.name for p in (data / "synthetic").iterdir()) == [
        "notMNIST_large.tar.gz", "notMNIST_large.tar.gz.json",
        "notMNIST_small.tar.gz", "notMNIST_small.tar.gz.json"]


@pytest.mark.slow
def test_offline_fallback_is_loud(tmp_path):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    shutil.copy(find_fonts()[0], fonts)
    result = run_script("create_notmnist.py", "--source", url, "--retries", 0, "--synthetic-if-offline",
                        "--data-dir", tmp_path / "data", "--fonts", fonts,
                        "--train-size", 100, "--valid-size", 20, "--test-size", 20)
    assert result.returncode == 0, result.stderr
    assert "THE OFFICIAL notMNIST ARCHIVES ARE NOT AVAILABLE" in result.stdout
    assert "Building the SYNTHETIC stand-in" in result.stdout
