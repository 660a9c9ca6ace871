"""Which tar reader and which PNG decoder: create_notmnist.py with each, against the 2016 procedure,
all in one run.

create_notmnist.py reads notMNIST's .tar.gz with a hand-written tar reader over zlib
(workshop.archive._TarReader), and decodes the PNGs with libpng through imagecodecs
(workshop.png.decode_batch). The tar reader stays only if create_notmnist.py, end to end, is at
least KEEP_FACTOR times faster with it than with tarfile in its place, in either mode:

  tarfile.open(fileobj, "r|gz"), streaming, the members handed to the decoding workers as they
  come; and its usual mode, "r:gz" (gzip.GzipFile underneath), every member read first and
  decoded in a separate pass after (TarfileReader, TarfileThenDecode below).

The PNG decoders, each with the tar reader of the code: Pillow (the decoder before, and still the
one for the files libpng refuses), OpenCV's cv2.imdecode (opencv_decode below; rows only where
opencv-python-headless is installed), imagecodecs' png_decode (the code now), and TensorFlow's
tf.io.decode_png, a batch per graph call (tf.map_fn) in each worker (tf_decode_batch below).

On the full-size stand-in archives of bench/bench_create_notmnist.py (529,114 + 18,724 PNGs, made
once and cached in WORK_DIR/archives), it runs create_notmnist.py --source ARCHIVES --force (default
sizes) as it is and with each tar reader and decoder swapped in, and the 2016 procedure
(bench/legacy_2016.py), REPEATS times each, taking turns, so that every ratio comes from one run on
one machine; each figure is the best of its runs (other work on the machine only slows). Wall time,
CPU time and peak memory are measured as in bench/bench_create_notmnist.py, outputs go to
WORK_DIR/reading/. Before that, where the time goes: every member's bytes read by each tar reader
(hashing the file with SHA-256, as create_notmnist.py does), and every PNG decoded by each decoder
in one process (each must give Pillow's pixels). Writes WORK_DIR/archive_reading.json.

    python bench/bench_archive_reading.py                # full scale: about 30 minutes on 2 cores
    python bench/bench_archive_reading.py --scale 0.05   # a few minutes (nothing judged)
"""
import functools
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench import bench_create_notmnist as made  # noqa: E402
from bench.summary import machine, row  # noqa: E402
from workshop import cli  # noqa: E402
from workshop.archive import BATCH, _TarReader  # noqa: E402
from workshop.notmnist import SIZE  # noqa: E402
from workshop.png import decode_batch  # noqa: E402

WORK_DIR = "bench/_work"  # everything this writes goes here (relative to the repo root)
SCALE = 1.0  # fraction of the full-size archives (the verdicts are given at full scale only)
REPEATS = 2  # runs of each measurement, taking turns; the best counts
KEEP_FACTOR = 1.5  # the tar reader stays if create_notmnist.py is this many times faster with it


class TarfileReader:
    """_TarReader's interface on tarfile's streaming mode: members() yields (name, kind, data)."""
    mode = "r|gz"

    def __init__(self, file, on_read):
        self.file, self.on_read, self.sha256 = file, on_read, hashlib.sha256()

    def read(self, size):  # tarfile reads the compressed file through here: hashed and counted
        chunk = self.file.read(size)
        self.sha256.update(chunk)
        self.on_read(len(chunk))
        return chunk

    def members(self):
        with tarfile.open(fileobj=self, mode=self.mode) as tar:
            for member in tar:
                data = tar.extractfile(member).read() if member.isfile() else b""
                tar.members = []  # else tarfile keeps all 529,114 headers it has read
                yield member.name, "file" if member.isfile() else "dir" if member.isdir() else "other", data


class TarfileThenDecode(TarfileReader):
    """tarfile's usual mode, "r:gz" (gzip.GzipFile underneath), every member read before the first
    is handed on: decoding becomes a separate pass."""
    mode = "r:gz"

    def members(self):
        yield from list(super().members())


_tf_decode = None


def tf_decode_batch(blobs):
    """decode_batch's interface on tf.io.decode_png: a whole batch per graph call; a batch that fails
    (a bad image stops tf.map_fn) is decoded again one image at a time, to tell which. One thread
    per worker process: the workers already share out the cores."""
    global _tf_decode
    import workshop.quiet_tensorflow  # noqa: F401 (hides TensorFlow's start-up log)
    import tensorflow as tf
    if _tf_decode is None:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        _tf_decode = tf.function(lambda batch: tf.map_fn(
            lambda png: tf.io.decode_png(png, channels=0), batch, fn_output_signature=tf.TensorSpec(
                [SIZE, SIZE, 1], tf.uint8)), input_signature=[tf.TensorSpec([None], tf.string)])
    try:
        return _tf_decode(tf.constant(blobs)).numpy()[..., 0], np.ones(len(blobs), bool), []
    except tf.errors.InvalidArgumentError:
        pass
    images, ok, problems = [], np.zeros(len(blobs), bool), []
    for i, blob in enumerate(blobs):
        try:
            image = tf.io.decode_png(blob, channels=0).numpy()
            if image.shape != (SIZE, SIZE, 1):
                raise ValueError(f"not 28x28 grayscale ({image.shape[1]}x{image.shape[0]}, {image.shape[2]} channels)")
            images.append(image[..., 0])
            ok[i] = True
        except (tf.errors.InvalidArgumentError, ValueError) as problem:
            problems.append((i, str(problem).splitlines()[0]))
    return np.array(images, np.uint8).reshape(-1, SIZE, SIZE), ok, problems


def opencv_decode(blob, out):
    """workshop.png's fast-decoder interface on cv2.imdecode (IMREAD_UNCHANGED: no conversion, no
    EXIF rotation); False where it refuses the file (it returns None then) or gives another shape."""
    import cv2
    image = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.shape != out.shape or image.dtype != out.dtype:
        return False
    out[:] = image
    return True


def _bare_calls():
    """Each library's decoding call alone, no checks around it (as the issue timed them)."""
    import imagecodecs
    from PIL import PngImagePlugin
    calls = {"Pillow": lambda blob: PngImagePlugin.PngImageFile(io.BytesIO(blob)).tobytes()}
    if importlib.util.find_spec("cv2"):
        import cv2
        calls["OpenCV cv2.imdecode"] = lambda blob: cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    calls["imagecodecs png_decode"] = imagecodecs.png_decode
    return calls


READERS = {"workshop.archive": None, 'tarfile "r|gz"': TarfileReader, 'tarfile "r:gz", then decode': TarfileThenDecode}
DECODERS = {"Pillow": functools.partial(decode_batch, fast=None),
            **({"OpenCV cv2.imdecode": functools.partial(decode_batch, fast=opencv_decode)}
               if importlib.util.find_spec("cv2") else {}),
            "imagecodecs png_decode": None, "tf.io.decode_png": tf_decode_batch}
AS_IS = "workshop.archive", "imagecodecs png_decode"
VARIANTS = [(AS_IS[0], decoder) for decoder in DECODERS] + [(reader, AS_IS[1]) for reader in list(READERS)[1:]]

# Runs create_notmnist.py (argv[3:]) with the tar reader and decoder named in argv[1:3] swapped in
# for the hand-written ones; decoding workers find the decoder by importing this module.
_SWAPPED_RUN = """import runpy, sys
import workshop.archive
from bench import bench_archive_reading as bench
reader, decoder = bench.READERS[sys.argv[1]], bench.DECODERS[sys.argv[2]]
if reader:
    workshop.archive._TarReader = reader
if decoder:
    workshop.archive.decode_batch = decoder
sys.argv = sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def best(function, *args):
    """The shortest of REPEATS runs in seconds, and what the function returned."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - started)
    return round(min(times), 2), result


def walk(reader_class, paths):
    """Reads every member of the archives through reader_class; returns how many there were."""
    count = 0
    for path in paths:
        with open(path, "rb") as file:
            reader = reader_class(file, lambda amount: None)
            count += sum(1 for _ in reader.members())
    return count


def decode_all(decode, blobs):
    """Decodes the PNGs in batches of BATCH, as the workers get them; returns the images."""
    return np.concatenate([decode(blobs[start:start + BATCH])[0] for start in range(0, len(blobs), BATCH)])


def components(paths):
    """Seconds for each tar reader to read every member, and for each decoder to decode every PNG."""
    rows = []
    print("Walking the archives ...", flush=True)
    for label, reader in READERS.items():
        seconds, count = best(walk, reader or _TarReader, paths)
        rows.append(("read every member", label, seconds, f"{count:,} members"))
    print("Decoding the PNGs ...", flush=True)
    blobs = []
    for path in paths:
        with open(path, "rb") as file:
            blobs += [data for _, kind, data in _TarReader(file, lambda amount: None).members() if kind == "file"]
    expected = None
    for label, decode in DECODERS.items():
        decode = decode or decode_batch
        decode(blobs[:BATCH])  # not timed: the first call imports or traces
        seconds, images = best(decode_all, decode, blobs)
        expected = images if expected is None else expected
        if not np.array_equal(images, expected):
            raise SystemExit(f"{label} decoded other pixels than Pillow")
        rows.append(("decode every PNG", label, seconds, f"{1e6 * seconds / len(blobs):.1f} µs per PNG, one process"))
    for label, call in _bare_calls().items():
        call(blobs[0])
        seconds, _ = best(lambda: [call(blob) for blob in blobs])
        rows.append(("library call alone", label, seconds, f"{1e6 * seconds / len(blobs):.1f} µs per PNG"))
    return rows


def main():
    work, host = REPO / WORK_DIR, machine()
    made.SCALE = SCALE
    source = work / ("archives" if SCALE == 1 else f"archives-{SCALE:g}")
    recipe = made.archives(source)
    paths = [source / f"{name}.tar.gz" for name in recipe["members"]]
    results = {"machine": host, "scale": SCALE, "repeats": REPEATS, "archives": recipe}
    results["components"] = components(paths)

    sizes = [10 * round(size * SCALE / 10) for size in made._SIZES]
    flags = ["--train-size", sizes[0], "--valid-size", sizes[1], "--test-size", sizes[2]]
    reading, runs = work / "reading", {}
    reading.mkdir(parents=True, exist_ok=True)
    try:
        for repeat in range(REPEATS):
            for n, (reader, decoder) in enumerate(VARIANTS):
                output = reading / f"variant{n}"
                command = ["-c", _SWAPPED_RUN, reader, decoder, "create_notmnist.py", "--source", source,
                           "--data-dir", output, "--force", *flags]
                run = made.run(f"variant{n}", command, output, reading, label=f"create_notmnist.py with {reader} "
                               f"and {decoder} ({repeat + 1} of {REPEATS})")
                runs.setdefault((reader, decoder), []).append(run)
            runs.setdefault("2016", []).append(made.run_2016(source, flags, reading))
    finally:
        made.delete_2016(reading)
    best_runs = {key: min(tries, key=lambda run: run["seconds"]) for key, tries in runs.items()}
    report(results, recipe, best_runs, host)
    results["runs"] = {" + ".join(key) if isinstance(key, tuple) else key: tries for key, tries in runs.items()}
    (work / "archive_reading.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"Results: {work / 'archive_reading.json'}")


def report(results, recipe, runs, host):
    legacy, as_is = runs["2016"]["seconds"], runs[AS_IS]["seconds"]
    print(f"\n{recipe['content']}; {host['cpu']} ({host['flags']}), {host['usable_cores']} cores, load average "
          f"{host['load_average']} at the start; best of {REPEATS} runs, taking turns.")
    print(f"\n{'':20}{'':30}{'seconds':>8}")
    for step, label, seconds, note in results["components"]:
        print(f"{step:20}{label:30}{seconds:8.2f}  {note}")
    print(f"\ncreate_notmnist.py --force, whole run:\n{'tar reader':30}{'PNG decoder':23}{'wall s':>8}"
          f"{'vs 2016':>9}{'vs as is':>10}{'CPU s':>8}{'peak MB':>9}")
    for (reader, decoder), run in ((key, run) for key, run in runs.items() if key != "2016"):
        print(f"{reader:30}{decoder:23}{run['seconds']:8.1f}{legacy / run['seconds']:8.1f}x"
              f"{run['seconds'] / as_is:9.2f}x{run['cpu_seconds']:8.1f}{run['peak_mb']:9,.0f}")
    print(f"{'the 2016 procedure':53}{legacy:8.1f}{1:8.1f}x{legacy / as_is:9.2f}x"
          f"{runs['2016']['cpu_seconds']:8.1f}{runs['2016']['peak_mb']:9,.0f}")

    judged = SCALE == 1
    print(f"\nVerdicts{'' if judged else f' (given at full scale only, not at --scale {SCALE:g})'}:")
    library, run = min(((reader, runs[(reader, AS_IS[1])]) for reader in list(READERS)[1:]),
                       key=lambda item: item[1]["seconds"])
    factor = run["seconds"] / as_is
    row(f"create_notmnist.py with workshop/archive.py's tar reader / with the best of tarfile ({library})",
        f"{factor:.2f}x faster ({as_is:.1f} s against {run['seconds']:.1f} s)", f">= {KEEP_FACTOR}x to keep it",
        factor >= KEEP_FACTOR if judged else None)
    for decoder in DECODERS:
        if decoder != AS_IS[1]:
            other = runs[(AS_IS[0], decoder)]["seconds"]
            row(f"create_notmnist.py with {AS_IS[1]} / with {decoder}",
                f"{other / as_is:.2f}x faster ({as_is:.1f} s against {other:.1f} s)")
    row("create_notmnist.py against the 2016 procedure", f"{legacy / as_is:.1f}x faster", ">= 10x",
        legacy / as_is >= 10 if judged else None)


if __name__ == "__main__":
    cli.run(main, globals())
