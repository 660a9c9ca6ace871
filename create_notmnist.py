"""Prepares notMNIST (letters A-J, 28×28 grayscale) as data/notMNIST.pickle for the experiments.

Downloads the two official archives from the first of their known mirrors that serves them
(or takes them from --source: another URL or a local directory), decodes their PNG files
straight out of the compressed archives on all cores, draws class-balanced train/valid sets
from notMNIST_large and a test set from notMNIST_small, reports images that also occur in
train, and writes the pickle in the 2016 format, a provenance record (notMNIST.json) and a
picture of samples.

No internet? --synthetic renders notMNIST-like letters from the fonts on this machine and
runs the same pipeline on them; everything it produces says that it is synthetic. Its
small archive holds font families the large one lacks, and valid comes from it too.
"""
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from workshop import cli, notmnist
from workshop.archive import read_png_archive
from workshop.devices import cpu_count
from workshop.download import download_from_mirrors
from workshop.errors import DiskFull, UserError
from workshop.files import atomic_write
from workshop.plots import save_letter_grid

_MIRRORS = ("https://commondatastorage.googleapis.com/books1000/",  # where Udacity's course got them
            "http://yaroslavvb.com/upload/notMNIST/")  # the author's own server
SOURCE: str | None = None  # base URL of the archives or a directory holding them; none: the known mirrors in turn
DATA_DIR = "data"  # receives downloads and outputs
TRAIN_SIZE = 200000  # training images from notMNIST_large, balanced over A-J
VALID_SIZE = 10000  # validation images from notMNIST_large, disjoint from train
TEST_SIZE = 10000  # test images from notMNIST_small
SEED = 133  # fixes which images are drawn and their order
DEDUPE = False  # drop valid/test images that have an exact copy in train (or valid)
WORKERS = cpu_count()  # processes decoding images
FORCE = False  # rebuild even if the output is up to date
WAIT = True  # if another create_notmnist.py writes the same --data-dir, wait for it (--no-wait: stop)
SYNTHETIC = False  # build from letters rendered from fonts instead of the official archives
SYNTHETIC_IF_OFFLINE = False  # when the archives cannot be had, build --synthetic instead (loudly)
FONTS: str | None = None  # extra folder of .ttf/.otf/.ttc/.pfb fonts for --synthetic
TIMEOUT = 30.0  # seconds a download may wait for the server
RETRIES = 5  # download attempts after transient errors

SYNTHETIC_MARGIN = 1.01  # --synthetic renders this many times the images needed (a spare for --dedupe)
_ARCHIVES = {"large": ("notMNIST_large.tar.gz", 247_336_696), "small": ("notMNIST_small.tar.gz", 8_458_043)}


def settings():
    return {name: globals()[name] for name in ("SOURCE", "TRAIN_SIZE", "VALID_SIZE", "TEST_SIZE",
                                               "SEED", "DEDUPE", "SYNTHETIC", "FONTS")}


def up_to_date(output, record):
    """True if `output` was built with these settings from archives that have not changed."""
    if FORCE or not output.is_file() or not record.is_file():
        return False
    previous = json.loads(record.read_text())
    if previous.get("settings") != settings() or notmnist.mismatch(output, previous):
        return False
    return all(Path(a["path"]).is_file() and Path(a["path"]).stat().st_mtime_ns == a["mtime_ns"]
               for a in previous["archives"].values())


def official_archives(data_dir):
    """Downloads (or finds) the two archives; returns their paths."""
    hint = ("Offline? Copy the two archives into a folder and use --source FOLDER (docs/data.md says "
            "where to get them), or build a stand-in with --synthetic.")
    if SOURCE is None or SOURCE.startswith(("http://", "https://")):
        mirrors = _MIRRORS if SOURCE is None else [SOURCE.rstrip("/") + "/"]
        sizes = {name: size if SOURCE is None else None for name, size in _ARCHIVES.values()}  # known for the mirrors
        paths = download_from_mirrors(mirrors, sizes, data_dir, timeout=TIMEOUT, retries=RETRIES, offline_hint=hint)
        return {part: paths[name] for part, (name, _) in _ARCHIVES.items()}
    folder = Path(SOURCE)
    if not folder.is_dir():
        raise UserError(f"--source {SOURCE} is neither an http(s) URL nor a directory")
    paths = {part: folder / name for part, (name, _) in _ARCHIVES.items()}
    for path in paths.values():
        if not path.is_file():
            raise UserError(f"{path} not found: --source {SOURCE} must hold "
                            f"{' and '.join(name for name, _ in _ARCHIVES.values())}")
    return paths


def synthetic_archives(data_dir):
    """Renders stand-in archives into data_dir/synthetic/ (reused while the settings match): the
    large one (train) from some font families, the small one (valid and test) from the others."""
    from workshop.synthetic import JUNK, find_fonts, split_fonts, write_synthetic_archive
    folder = data_dir / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    fonts = find_fonts([FONTS] if FONTS else [])
    font_split = dict(zip(_ARCHIVES, split_fonts(fonts)))
    print(f"SYNTHETIC data: rendering letters A-J from {len(fonts)} fonts found on this machine; "
          f"{len(font_split['small'])} of them (whole families) only for valid and test")
    paths, recipes = {}, {}
    for (part, (name, _)), images, seed in zip(_ARCHIVES.items(), (TRAIN_SIZE, VALID_SIZE + TEST_SIZE),
                                              (SEED, SEED + 1)):
        per_class = int(np.ceil(images / len(notmnist.LETTERS) * SYNTHETIC_MARGIN))
        path, recipe_file = folder / name, folder / (name + ".json")
        recipe = {"per_class": per_class, "seed": seed, "junk": JUNK[part], "fonts": [str(f) for f in font_split[part]]}
        if FORCE or not path.is_file() or not recipe_file.is_file() \
                or json.loads(recipe_file.read_text()) != recipe:
            write_synthetic_archive(path, name.removesuffix(".tar.gz"), per_class, seed, font_split[part],
                                    WORKERS, JUNK[part])
            with atomic_write(recipe_file, "w") as file:
                json.dump(recipe, file, indent=1)
        paths[part], recipes[part] = path, recipe
    return paths, recipes


def loud(lines):
    bar = "=" * 78
    print("\n".join([bar, *(" " + line for line in lines), bar]), flush=True)


def report_archive(archive):
    counts = archive.counts()
    print(f"{archive.path.name}: {counts.sum():,} images ("
          + ", ".join(f"{letter} {n:,}" for letter, n in zip(notmnist.LETTERS, counts))
          + f"), {len(archive.skipped)} skipped, {len(archive.ignored)} ignored")
    for member, reason in archive.skipped[:20]:
        print(f"  skipped {member}: {reason}")
    for member in archive.ignored[:20]:
        print(f"  ignored {member}: not under {archive.root or '<root>'}/A..J/")
    more = max(len(archive.skipped) - 20, 0) + max(len(archive.ignored) - 20, 0)
    if more:
        print(f"  ... and {more} more, listed in notMNIST.json")


def percent(mask):
    return f"{100 * mask.mean():.1f}%" if len(mask) else "-"


def main():
    data_dir = Path(DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    with notmnist.one_writer(data_dir, WAIT):  # one build at a time in a data folder
        build(data_dir)


def build(data_dir):
    output, record = data_dir / "notMNIST.pickle", notmnist.provenance_path(data_dir / "notMNIST.pickle")
    if up_to_date(output, record):
        print(f"{output} is up to date (built with these settings); --force rebuilds it")
        return
    if min(TRAIN_SIZE, VALID_SIZE, TEST_SIZE) < 0 or WORKERS < 1:
        raise UserError("--train-size, --valid-size, --test-size must be >= 0 and --workers >= 1")
    timings, started, synthetic, recipes = {}, time.perf_counter(), SYNTHETIC, None

    if not synthetic:
        try:
            paths = official_archives(data_dir)
        except UserError as error:
            if not SYNTHETIC_IF_OFFLINE or isinstance(error, DiskFull):  # offline, not out of space
                raise
            loud([f"THE OFFICIAL notMNIST ARCHIVES ARE NOT AVAILABLE: {error}",
                  "Building the SYNTHETIC stand-in instead (--synthetic-if-offline): letters",
                  "rendered from this machine's fonts. Accuracies on it are NOT comparable with",
                  "published notMNIST results. Get the real data later with --source or online."])
            synthetic = True
    if synthetic:
        paths, recipes = synthetic_archives(data_dir)
    timings["obtain_archives"] = time.perf_counter() - started

    t = time.perf_counter()
    large, small = read_png_archive(paths["large"], WORKERS), read_png_archive(paths["small"], WORKERS)
    timings["read_archives"] = time.perf_counter() - t
    report_archive(large)
    report_archive(small)

    # The 2016 recipe: per letter, valid first, then train, from the large archive; test from small.
    # Synthetic: valid from the small archive too, whose fonts the training set never saw.
    t = time.perf_counter()
    rng = np.random.default_rng(SEED)
    if synthetic:
        (train,) = notmnist.choose(large, [TRAIN_SIZE], rng)
        valid, test = notmnist.choose(small, [VALID_SIZE, TEST_SIZE], rng)
    else:
        valid, train = notmnist.choose(large, [VALID_SIZE, TRAIN_SIZE], rng)
        (test,) = notmnist.choose(small, [TEST_SIZE], rng)
    valid_archive = small if synthetic else large
    valid_in_train, test_in_train, test_in_valid = notmnist.overlaps(
        *(notmnist.content_keys(archive.store, idx) for archive, idx in
          ((large, train), (valid_archive, valid), (small, test))))
    overlap = {"valid_in_train": int(valid_in_train.sum()), "test_in_train": int(test_in_train.sum()),
               "test_in_valid": int(test_in_valid.sum())}
    print(f"Overlap: {overlap['valid_in_train']:,} of {len(valid):,} valid images "
          f"({percent(valid_in_train)}) and {overlap['test_in_train']:,} of {len(test):,} test images "
          f"({percent(test_in_train)}) also occur in train; "
          f"{overlap['test_in_valid']:,} test images occur in valid")
    if DEDUPE:
        valid, test = valid[~valid_in_train], test[~(test_in_train | test_in_valid)]
        print(f"--dedupe: removed them; {len(valid):,} valid and {len(test):,} test images left")
    timings["split"] = time.perf_counter() - t

    t = time.perf_counter()
    splits = {"train": (large.store, train), "valid": (valid_archive.store, valid), "test": (small.store, test)}
    staged = notmnist.stage_pickle(output, {
        name: (lambda part, store=store, idx=idx: store.take(idx[part.start:part.stop]),
               store.labels[idx].astype(np.int32))
        for name, (store, idx) in splits.items()})
    timings["write_pickle"] = time.perf_counter() - t
    samples = [large.store.take(train[large.store.labels[train] == letter][:12]) for letter in range(10)]
    kind = "SYNTHETIC notMNIST-like letters rendered from fonts" if synthetic else "notMNIST"
    save_letter_grid(data_dir / "notMNIST_samples.png", samples, notmnist.LETTERS,
                     f"{kind}: training samples per letter")
    timings["total"] = time.perf_counter() - started

    provenance = {
        "synthetic": synthetic, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings(),
        "sizes": {name: len(idx) for name, (_, idx) in splits.items()},
        "counts_per_class": {name: np.bincount(store.labels[idx], minlength=10).tolist()
                             for name, (store, idx) in splits.items()},
        "overlap": overlap, "deduped": DEDUPE,
        "synthetic_fonts": recipes and {"train": [Path(f).name for f in recipes["large"]["fonts"]],
                                        "valid_and_test": [Path(f).name for f in recipes["small"]["fonts"]]},
        "archives": {part: {"path": str(a.path), "bytes": a.size, "sha256": a.sha256,
                            "mtime_ns": a.path.stat().st_mtime_ns, "root": a.root,
                            "images_per_class": a.counts().tolist(), "skipped": a.skipped,
                            "ignored": a.ignored, "synthetic_recipe": recipes and recipes[part]}
                     for part, a in (("large", large), ("small", small))},
        "timings_s": {step: round(seconds, 3) for step, seconds in timings.items()},
    }
    staged.commit(provenance)  # notMNIST.json with the pickle's size and SHA-256, then the pickle
    print(f"Wrote {output} ({output.stat().st_size / 1e6:.1f} MB: train {len(train):,}, "
          f"valid {len(valid):,}, test {len(test):,}), {record.name} and notMNIST_samples.png "
          f"in {timings['total']:.1f} s")
    if synthetic:
        loud(["This data set is SYNTHETIC: letters rendered from fonts, not the real notMNIST."])


if __name__ == "__main__":
    cli.run(main, globals())
