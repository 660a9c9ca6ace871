"""create_notmnist.py end to end, as a user runs it, on small generated archives."""
import http.server
import json
import pickle
import shutil
import socket
import threading

import numpy as np
import pytest

from conftest import LETTERS, make_archive, png_bytes, run_script
from workshop.errors import UserError
from workshop.notmnist import KEYS, load_notmnist

pytestmark = pytest.mark.slow  # runs the scripts: seconds to minutes each

SMALL = ["--train-size", 300, "--valid-size", 60, "--test-size", 100]


def outputs(folder):
    return sorted(p.name for p in folder.iterdir())


def test_builds_pickle_provenance_and_picture_from_a_local_source(source_dir, tmp_path):
    data = tmp_path / "data"
    result = run_script("create_notmnist.py", "--source", source_dir, "--data-dir", data, *SMALL)
    assert result.returncode == 0, result.stderr
    assert outputs(data) == ["notMNIST.json", "notMNIST.lock", "notMNIST.pickle", "notMNIST_samples.png"]
    with open(data / "notMNIST.pickle", "rb") as file:
        assert list(pickle.load(file)) == list(KEYS)
    loaded = load_notmnist(data / "notMNIST.pickle")
    for (images, labels), size in zip((loaded.train, loaded.valid, loaded.test), (300, 60, 100)):
        assert images.shape == (size, 28, 28) and images.dtype == np.float32
        assert np.bincount(labels, minlength=10).tolist() == [size // 10] * 10  # balanced
        assert images.min() >= -0.5 and images.max() <= 0.5
    assert len(set(loaded.train[1][:20].tolist())) > 3  # shuffled, not letter by letter
    record = json.loads((data / "notMNIST.json").read_text())
    assert record["synthetic"] is False and record["sizes"] == {"train": 300, "valid": 60, "test": 100}
    assert record["archives"]["large"]["images_per_class"] == [40] * 10
    assert len(record["archives"]["small"]["sha256"]) == 64
    assert "Minibatch" not in result.stdout and "Wrote" in result.stdout
    assert "synthetic" not in result.stdout.lower()


# Pixels 0, 51, 102, 153, 204, 255 as the 2016 format scales them, (pixel - 127.5) / 255, worked out by hand.
LEVELS, SCALED = [0, 51, 102, 153, 204, 255], np.float32([-0.5, -0.3, -0.1, 0.1, 0.3, 0.5])


def test_pixels_and_labels_map_exactly(tmp_path):
    """Every image in the pickle is one of its letter's source images, pixel for pixel, scaled as in 2016."""
    def images(letter, n):  # row 0 tells the letter and the image apart; rows 1-6 hold the six levels
        pixels = np.full((28, 28), 20 * LETTERS.index(letter) + n % 3, np.uint8)
        pixels[1:7] = np.array(LEVELS, np.uint8)[:, None]
        return pixels
    source = tmp_path / "source"
    source.mkdir()
    written = {**make_archive(source / "notMNIST_large.tar.gz", "notMNIST_large", 5, images=images),
               **make_archive(source / "notMNIST_small.tar.gz", "notMNIST_small", 2, images=images)}
    by_letter = {letter: {pixels.tobytes() for name, pixels in written.items() if name.split("/")[1] == letter}
                 for letter in LETTERS}
    data = tmp_path / "data"
    args = ["--train-size", 30, "--valid-size", 20, "--test-size", 20, "--workers", 1]
    assert run_script("create_notmnist.py", "--source", source, "--data-dir", data, *args).returncode == 0
    loaded = load_notmnist(data / "notMNIST.pickle")
    for images_, labels in (loaded.train, loaded.valid, loaded.test):
        assert (images_[:, 1:7] == SCALED[None, :, None]).all()
        pixels = np.rint(images_ * 255 + 127.5).astype(np.uint8)  # back to the source's pixels
        assert all(image.tobytes() in by_letter[LETTERS[label]] for image, label in zip(pixels, labels))


def test_up_to_date_output_is_kept_and_force_rebuilds(source_dir, tmp_path):
    data = tmp_path / "data"
    args = ["--source", source_dir, "--data-dir", data, *SMALL]
    assert run_script("create_notmnist.py", *args).returncode == 0
    stamp = (data / "notMNIST.pickle").stat().st_mtime_ns
    again = run_script("create_notmnist.py", *args)
    assert "up to date" in again.stdout and (data / "notMNIST.pickle").stat().st_mtime_ns == stamp
    other = run_script("create_notmnist.py", *args[:-1], 50)  # another test size: rebuilt
    assert "Wrote" in other.stdout and load_notmnist(data / "notMNIST.pickle").test[0].shape[0] == 50
    forced = run_script("create_notmnist.py", *args[:-1], 50, "--force")
    assert "Wrote" in forced.stdout


def test_duplicates_across_splits_are_counted_and_removed_by_dedupe(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    rng = np.random.default_rng(5)
    pool = rng.integers(0, 256, (10, 30, 28, 28), dtype=np.uint8)  # 30 distinct images per letter
    def large(letter, n):  # 40 per letter: images 0-9 appear twice
        return pool[LETTERS.index(letter), n % 30]
    def small(letter, n):  # 12 per letter: 6 copies of large images, 6 new ones
        return pool[LETTERS.index(letter), n] if n < 6 else 255 - pool[LETTERS.index(letter), n]
    make_archive(source / "notMNIST_large.tar.gz", "notMNIST_large", 40, images=large)
    make_archive(source / "notMNIST_small.tar.gz", "notMNIST_small", 12, images=small)
    args = ["--source", source, "--train-size", 300, "--valid-size", 100, "--test-size", 120]

    def overlap(split, other):
        seen = {image.tobytes() for image in other[0]}
        return sum(image.tobytes() in seen for image in split[0])

    plain = run_script("create_notmnist.py", *args, "--data-dir", tmp_path / "plain")
    record = json.loads((tmp_path / "plain" / "notMNIST.json").read_text())["overlap"]
    loaded = load_notmnist(tmp_path / "plain" / "notMNIST.pickle")
    assert record["valid_in_train"] == overlap(loaded.valid, loaded.train) > 0
    assert record["test_in_train"] == overlap(loaded.test, loaded.train) > 0
    assert record["test_in_valid"] == overlap(loaded.test, loaded.valid)
    assert f"{record['valid_in_train']} of 100 valid images" in plain.stdout

    deduped = run_script("create_notmnist.py", *args, "--data-dir", tmp_path / "dedupe", "--dedupe")
    clean = load_notmnist(tmp_path / "dedupe" / "notMNIST.pickle")
    assert overlap(clean.valid, clean.train) == overlap(clean.test, clean.train) == 0
    assert overlap(clean.test, clean.valid) == 0
    assert len(clean.valid[1]) == 100 - record["valid_in_train"]
    assert len(clean.test[1]) <= 60 and f"{len(clean.valid[1])} valid and" in deduped.stdout


def test_skipped_members_are_reported_and_nothing_is_written_outside(tmp_path):
    source = tmp_path / "a" / "b" / "source"
    source.mkdir(parents=True)
    evil = png_bytes(np.zeros((28, 28), np.uint8))
    make_archive(source / "notMNIST_large.tar.gz", "notMNIST_large", 40,
                 extra=[("notMNIST_large/A/zero.png", b""), ("../../evil", evil),
                        ("notMNIST_large/B/big.png", png_bytes(np.zeros((32, 32), np.uint8)))])
    make_archive(source / "notMNIST_small.tar.gz", "notMNIST_small", 12)
    before = set(tmp_path.rglob("*"))
    data = source / "out"
    result = run_script("create_notmnist.py", "--source", source, "--data-dir", data, *SMALL)
    assert result.returncode == 0, result.stderr
    assert {p for p in tmp_path.rglob("*") if data not in p.parents and p != data} == before
    assert "skipped notMNIST_large/A/zero.png: empty file (0 bytes)" in result.stdout
    assert "skipped notMNIST_large/B/big.png: not 28x28" in result.stdout
    assert "ignored ../../evil" in result.stdout
    record = json.loads((data / "notMNIST.json").read_text())["archives"]["large"]
    assert len(record["skipped"]) == 2 and record["ignored"] == ["../../evil"]


@pytest.mark.parametrize("damage, message", [
    ("missing", "not found: --source"),
    ("truncated", "is truncated"),
    ("layout", "does not have the notMNIST layout"),
])
def test_bad_sources_fail_with_one_line_and_write_nothing(source_dir, tmp_path, damage, message):
    large = source_dir / "notMNIST_large.tar.gz"
    if damage == "missing":
        large.unlink()
    elif damage == "truncated":
        large.write_bytes(large.read_bytes()[:5000])
    else:
        make_archive(large, "notMNIST_large", 40, letters="ABCDEFGH")
    data = tmp_path / "data"
    result = run_script("create_notmnist.py", "--source", source_dir, "--data-dir", data, *SMALL)
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "error" in line] == \
        [result.stderr.strip().splitlines()[-1]]
    assert not data.exists() or outputs(data) == ["notMNIST.lock"]  # the lock file, empty, and nothing else


def test_too_few_images_for_the_requested_sizes_is_a_clear_error(source_dir, tmp_path):
    result = run_script("create_notmnist.py", "--source", source_dir, "--data-dir", tmp_path / "d",
                        "--train-size", 400, "--valid-size", 10, "--test-size", 10)
    assert result.returncode == 1 and "ask for less with --train-size" in result.stderr


@pytest.fixture
def http_server(source_dir, file_server):
    """The URL of a server with the small archives."""
    served, url, _ = file_server
    for archive in source_dir.iterdir():
        shutil.copy(archive, served)
    return url


def test_downloads_from_a_mirror_url(http_server, tmp_path):
    data = tmp_path / "data"
    result = run_script("create_notmnist.py", "--source", http_server, "--data-dir", data, *SMALL)
    assert result.returncode == 0, result.stderr
    assert outputs(data) == ["notMNIST.json", "notMNIST.lock", "notMNIST.pickle", "notMNIST_large.tar.gz",
                             "notMNIST_samples.png", "notMNIST_small.tar.gz"]


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_names_the_url_and_the_offline_choices(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/"
    result = run_script("create_notmnist.py", "--source", url, "--data-dir", tmp_path / "d",
                        "--retries", 0, *SMALL)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert url + "notMNIST_large.tar.gz" in error and "--source" in error and "--synthetic" in error


@pytest.fixture
def missing_server():
    """The base URL of a server that answers 404 Not Found to everything, and its request paths."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_error(404)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", requests
    server.shutdown()
    server.server_close()


def test_the_known_mirrors_are_tried_in_turn_with_their_sizes(missing_server, http_server, source_dir, tmp_path,
                                                             monkeypatch, capsys):
    import create_notmnist
    missing, requests = missing_server
    sizes = {part: (name, (source_dir / name).stat().st_size) for part, (name, _) in create_notmnist._ARCHIVES.items()}
    monkeypatch.setattr(create_notmnist, "_MIRRORS", (missing, http_server))  # the first answers 404
    monkeypatch.setattr(create_notmnist, "_ARCHIVES", sizes)
    paths = create_notmnist.official_archives(tmp_path / "data")
    assert {part: path.read_bytes() for part, path in paths.items()} == {
        part: (source_dir / name).read_bytes() for part, (name, _) in sizes.items()}
    assert requests == ["/notMNIST_large.tar.gz"]  # the first mirror is not asked again
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cannot download")]
    assert lines == [f"cannot download {missing}notMNIST_large.tar.gz: HTTP 404 Not Found; trying the next mirror, "
                     f"{http_server}"]
    monkeypatch.setattr(create_notmnist, "_ARCHIVES", {part: (name, size + 1) for part, (name, size) in sizes.items()})
    with pytest.raises(UserError, match=rf"none of the 2 mirrors .* {http_server}notMNIST_large.tar.gz: the server "
                       "offers [0-9,]+ bytes, not the expected"):
        create_notmnist.official_archives(tmp_path / "other")
