"""Shared test helpers: tiny notMNIST-layout archives made on the fly, a file server on
127.0.0.1, and a script runner."""
import functools
import http.server
import io
import json
import re
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
LETTERS = "ABCDEFGHIJ"


def png_bytes(pixels, **options):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def letter_image(letter, rng):
    """A 28×28 uint8 image that a classifier can tell apart by letter: a bar whose position
    encodes the letter, plus noise (so that images are distinct)."""
    pixels = rng.integers(0, 60, (28, 28), dtype=np.uint8)
    row = 2 + 2 * ("ABCDEFGHIJK".index(letter) % 10)
    pixels[row:row + 3, :] = 255
    return pixels


def make_archive(path, root, per_class, seed=0, extra=(), letters=LETTERS, images=None):
    """Writes a .tar.gz with the official layout `root/A/<n>.png ...` plus `extra` members
    given as (name, bytes). Returns {member name: pixels} of the images it wrote."""
    rng = np.random.default_rng(seed)
    written = {}
    with tarfile.open(path, "w:gz") as archive:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for letter in letters:
            directory = tarfile.TarInfo(f"{root}/{letter}")
            directory.type = tarfile.DIRTYPE
            archive.addfile(directory)
            for n in range(per_class):
                pixels = images(letter, n) if images else letter_image(letter, rng)
                name = f"{root}/{letter}/{letter}{n:05d}.png"
                add(name, png_bytes(pixels))
                written[name] = pixels
        for name, data in extra:
            add(name, data)
    return written


@pytest.fixture
def source_dir(tmp_path):
    """A folder with small archives named like the official ones."""
    folder = tmp_path / "source"
    folder.mkdir()
    make_archive(folder / "notMNIST_large.tar.gz", "notMNIST_large", 40, seed=1)
    make_archive(folder / "notMNIST_small.tar.gz", "notMNIST_small", 12, seed=2)
    return folder


@pytest.fixture
def file_server(tmp_path):
    """Serves tmp_path/served/ over HTTP; records the Range header of each request."""
    served, ranges = tmp_path / "served", []
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):  # answers 200 with the whole file
        def do_GET(self):
            ranges.append(self.headers.get("Range"))
            try:
                super().do_GET()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: its disk is full

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/", ranges
    server.shutdown()
    server.server_close()


def run_script(script, *args, cwd=REPO, timeout=600, env=None):
    """Runs a repository script as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


CLASSIFIERS = ["notmnist_classifier.py", "notmnist_classifier_CNN.py"]
QUICK = {"notmnist_classifier.py": ["--hidden-units", 64, "--batch-size", 32, "--learning-rate", 0.02],
         "notmnist_classifier_CNN.py": ["--batch-size", 32, "--depth", 8, "--learning-rate", 0.02]}


def train(script, data, runs, *args):
    """Runs a classifier briefly on the CPU (small network and batch); returns its stdout."""
    result = run_script(script, "--data", data, "--runs-dir", runs, "--device", "cpu", *QUICK[script], *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def progress(stdout):
    """The lines a classifier prints that depend on the numbers only (not on time or folders)."""
    return [line for line in stdout.splitlines() if line.startswith(("Minibatch", "Validation", "Test"))]


def assert_diverged(result, script, runs, learning_rate):
    """A run that diverged stopped at its first report of a loss that is not finite, with one line
    and exit status 1, and its run folder kept the reports before: logs, history and the checkpoint
    of the last (whole, and finite). -> the step it stopped at"""
    import tensorflow as tf
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout[-2000:] + result.stderr[-3000:]
    *before, (step, loss) = [(int(step), float(loss)) for step, loss in
                             re.findall(r"^Minibatch loss at step (\d+): (\S+)$", result.stdout, re.M)]
    assert before and all(np.isfinite(finite) for _, finite in before) and not np.isfinite(loss)
    assert "Test accuracy" not in result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        f"{script}: error: training diverged: the minibatch loss at step {step} is {loss}; "
        f"try a smaller --learning-rate (now {learning_rate})")
    steps = [report for report, _ in before]
    (run_dir,) = (runs / Path(script).stem).iterdir()
    assert json.loads((run_dir / "history.json").read_text())["step"] == steps
    (events,) = run_dir.glob("events.out.tfevents.*")
    assert [event.step for event in tf.compat.v1.train.summary_iterator(str(events))
            for value in event.summary.value if value.tag == "loss"] == steps
    checkpoint = tf.train.load_checkpoint(str(run_dir / "ckpt"))
    assert checkpoint.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == steps[-1] + 1  # the last report's
    assert all(np.isfinite(checkpoint.get_tensor(name)).all() for name in checkpoint.get_variable_to_shape_map()
               if name.endswith("VARIABLE_VALUE"))
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / "ckpt_temp").exists()
    assert not (run_dir / "curves.png").exists()  # the figures of a finished run
    return step


@pytest.fixture(scope="session")
def easy_pickle(tmp_path_factory):
    """A tiny, easy data set: each letter is a bright bar at its own height, plus noise."""
    from workshop.notmnist import write_pickle
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    splits = {}
    for name, size in (("train", 600), ("valid", 100), ("test", 100)):
        labels = np.arange(size, dtype=np.int32) % 10
        images = np.stack([letter_image(LETTERS[k], rng) for k in labels])
        splits[name] = (lambda part, images=images: images[part.start:part.stop], labels)
    write_pickle(folder / "easy.pickle", splits)
    return folder / "easy.pickle"


def pytest_collection_modifyitems(items):
    """Every test that uses the `spark` fixture is marked `spark` (and `slow`: Spark takes seconds to start)."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def spark():
    """One local Spark with 2 task slots for the whole test session."""
    pytest.importorskip("pyspark", reason="PySpark is an extra: pip install -r requirements-spark.txt")
    from workshop.spark import spark_session
    context = spark_session("local[2]", "workshop tests").sparkContext
    yield context
    context.stop()
