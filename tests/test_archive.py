"""Reading archives: images by letter, odd members skipped or ignored, bad archives refused."""
import gzip
import io
import os
import tarfile

import numpy as np
import pytest

from conftest import LETTERS, make_archive, png_bytes
from workshop.archive import read_png_archive
from workshop.errors import UserError


@pytest.mark.parametrize("workers", [1, 2])
def test_images_come_out_by_letter_exactly(tmp_path, workers):
    written = make_archive(tmp_path / "a.tar.gz", "notMNIST_large", 30)
    archive = read_png_archive(tmp_path / "a.tar.gz", workers)
    assert archive.root == "notMNIST_large"
    assert archive.counts().tolist() == [30] * 10
    assert archive.skipped == [] and archive.ignored == []
    labels = archive.store.labels
    images = archive.store.take(np.arange(len(labels)))
    expected = list(written.items())  # archive order
    for image, label, (name, pixels) in zip(images, labels, expected):
        assert LETTERS[label] == name.split("/")[1]
        np.testing.assert_array_equal(image, pixels)
    assert len(archive.sha256) == 64 and archive.size == os.path.getsize(tmp_path / "a.tar.gz")


def test_odd_members_are_skipped_or_ignored_and_nothing_is_written(tmp_path):
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    good = png_bytes(np.zeros((28, 28), np.uint8))
    extra = [("notMNIST_large/A/empty.png", b""), ("notMNIST_large/B/text.png", b"hello"),
             ("notMNIST_large/C/wide.png", png_bytes(np.zeros((28, 40), np.uint8))),
             ("notMNIST_large/D/rgb.png", png_bytes(np.zeros((28, 28, 3), np.uint8))),
             ("notMNIST_large/E/cut.png", good[:50]),
             ("../../evil", good), ("/etc/evil", good), ("notMNIST_large/README", b"hi"),
             ("notMNIST_large/A/nested/deep.png", good), ("other_root/A/x.png", good)]
    make_archive(work / "a.tar.gz", "notMNIST_large", 10, extra=extra)
    before = sorted(p for p in tmp_path.rglob("*"))
    archive = read_png_archive(work / "a.tar.gz", 2)
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert archive.counts().tolist() == [10] * 10
    reasons = dict(archive.skipped)
    assert reasons == {"notMNIST_large/A/empty.png": "empty file (0 bytes)",
                       "notMNIST_large/B/text.png": "not a PNG",
                       "notMNIST_large/C/wide.png": "not 28x28 8-bit grayscale (40x28, bit depth 8, colour type 0)",
                       "notMNIST_large/D/rgb.png": "not 28x28 8-bit grayscale (28x28, bit depth 8, colour type 2)",
                       "notMNIST_large/E/cut.png": "truncated PNG"}
    assert sorted(archive.ignored) == sorted(["../../evil", "/etc/evil", "notMNIST_large/README",
                                              "notMNIST_large/A/nested/deep.png", "other_root/A/x.png"])


def test_truncated_gzip_is_a_clear_error(tmp_path):
    make_archive(tmp_path / "a.tar.gz", "notMNIST_large", 20)
    data = (tmp_path / "a.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(UserError, match="cut.tar.gz is truncated"):
        read_png_archive(tmp_path / "cut.tar.gz", 1)


def test_not_gzip_and_not_tar_are_clear_errors(tmp_path):
    (tmp_path / "plain.tar.gz").write_bytes(b"this is no archive" * 100)
    with pytest.raises(UserError, match="not a readable gzip archive"):
        read_png_archive(tmp_path / "plain.tar.gz", 1)
    (tmp_path / "text.tar.gz").write_bytes(gzip.compress(b"x" * 5000))
    with pytest.raises(UserError, match="not a tar archive"):
        read_png_archive(tmp_path / "text.tar.gz", 1)


def test_wrong_layout_names_what_was_found(tmp_path):
    make_archive(tmp_path / "five.tar.gz", "notMNIST_large", 5, letters="ABCDE")
    with pytest.raises(UserError, match="found A, B, C, D, E under 'notMNIST_large'"):
        read_png_archive(tmp_path / "five.tar.gz", 1)
    make_archive(tmp_path / "k.tar.gz", "notMNIST_large", 5, letters="ABCDEFGHIJK")
    with pytest.raises(UserError, match="found A, B, C, D, E, F, G, H, I, J, K"):
        read_png_archive(tmp_path / "k.tar.gz", 1)


def test_a_class_with_far_fewer_images_is_an_error(tmp_path):
    def images(letter, n):
        return np.full((28, 28), n, np.uint8)
    make_archive(tmp_path / "a.tar.gz", "notMNIST_large", 20, images=images,
                 extra=[(f"notMNIST_large/{letter}/more{n}.png", png_bytes(np.zeros((28, 28), np.uint8)))
                        for letter in LETTERS if letter != "G" for n in range(30)])
    with pytest.raises(UserError, match="class G has far fewer images"):
        read_png_archive(tmp_path / "a.tar.gz", 1)


def test_long_names_and_concatenated_gzip_members(tmp_path):
    long_name = "notMNIST_large/A/" + "x" * 150 + ".png"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for letter in LETTERS:
            for n in range(3):
                data = png_bytes(np.full((28, 28), n, np.uint8))
                info = tarfile.TarInfo(long_name.replace("/A/", f"/{letter}/").replace("x", str(n)))
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    half = len(raw) // 1024 * 512
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    result = read_png_archive(tmp_path / "a.tar.gz", 1)
    assert result.counts().tolist() == [3] * 10 and result.ignored == []
