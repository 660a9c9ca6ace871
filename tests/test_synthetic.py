"""The synthetic stand-in: fonts found, letters rendered like notMNIST, archives in the official layout."""
import io
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from conftest import LETTERS, run_script
from workshop.errors import UserError
from workshop.synthetic import find_fonts, render_letter, write_synthetic_archive


@pytest.fixture(scope="module")
def fonts():
    return find_fonts()


def test_finds_usable_fonts_and_leaves_out_symbol_fonts(fonts):
    names = {font.name for font in fonts}
    assert "DejaVuSans.ttf" in names and "cmr10.ttf" in names  # matplotlib ships these
    assert not names & {"cmex10.ttf", "STIXSizOneSymReg.ttf", "LastResortHE-Regular.ttf"}
    assert len({font.name for font in fonts}) == len(fonts)


def test_extra_font_folder_is_searched_and_a_missing_one_is_an_error(fonts, tmp_path):
    with pytest.raises(UserError, match="--fonts .*: no such directory"):
        find_fonts([tmp_path / "nope"])
    assert len(find_fonts([tmp_path])) == len(fonts)  # an empty folder adds nothing


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


def test_archive_has_the_official_layout_balanced_and_reproducible(fonts, tmp_path):
    record = write_synthetic_archive(tmp_path / "a.tar.gz", "notMNIST_large", 7, seed=3,
                                     fonts=fonts[:5], workers=2)
    assert record["per_class"] == 7 and len(record["fonts"]) == 5
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
    write_synthetic_archive(tmp_path / "b.tar.gz", "notMNIST_large", 7, seed=3, fonts=fonts[:5], workers=1)
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "b.tar.gz"]


@pytest.mark.slow
def test_create_notmnist_synthetic_says_so_everywhere(tmp_path):
    data = tmp_path / "data"
    result = run_script("create_notmnist.py", "--synthetic", "--data-dir", data,
                        "--train-size", 200, "--valid-size", 50, "--test-size", 50)
    assert result.returncode == 0, result.stderr
    assert "SYNTHETIC" in result.stdout
    import json
    assert json.loads((data / "notMNIST.json").read_text())["synthetic"] is True
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
