"""How close is the synthetic stand-in to real notMNIST? Train on synthetic, test on real.

Renders PER_CLASS synthetic letters per class (workshop.synthetic), trains a small network
on them, and reports its accuracy on the 3,493 real notMNIST images of
../shared/data/notMNIST_large_sample.tar.gz, next to pixel statistics of both. Chance is 10 %.
Also saves bench/_work/synthetic_vs_real.png: synthetic (left) and real (right) per letter.

    python bench/synthetic_vs_real.py [--per-class 2000] [--real PATH]
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import workshop.quiet_tensorflow  # noqa: E402,F401 (hides TensorFlow's start-up log)
from workshop import cli  # noqa: E402
from workshop.archive import read_png_archive  # noqa: E402
from workshop.devices import cpu_count  # noqa: E402
from workshop.notmnist import normalise  # noqa: E402
from workshop.synthetic import LETTERS, find_fonts, render_letter  # noqa: E402

PER_CLASS = 2000  # synthetic training images per letter
REAL = str(Path(__file__).resolve().parent.parent.parent / "shared/data/notMNIST_large_sample.tar.gz")  # real images
EPOCHS = 8  # training epochs
SEED = 0  # rendering and training seed
WORK_DIR = "bench/_work"  # where the comparison picture goes


def statistics(images):
    ink = images > 40
    edges = ink[:, 0].any(1) & ink[:, -1].any(1) & ink[:, :, 0].any(1) & ink[:, :, -1].any(1)
    return (f"mean {images.mean():5.1f}, zeros {100 * (images == 0).mean():4.1f}%, "
            f"255s {100 * (images == 255).mean():4.1f}%, fill the box {100 * edges.mean():4.1f}%")


def main():
    if not Path(REAL).is_file():
        print(f"{REAL} not found: nothing to compare with (this check needs the real sample)")
        return
    real = read_png_archive(REAL, cpu_count())
    real_images = real.store.take(np.arange(len(real.store.labels)))
    real_labels = real.store.labels.astype(np.int64)

    t = time.perf_counter()
    fonts, rng = find_fonts(), np.random.default_rng(SEED)
    images = np.stack([render_letter(fonts[rng.integers(len(fonts))], letter, rng)
                       for letter in LETTERS for _ in range(PER_CLASS)])
    labels = np.repeat(np.arange(10), PER_CLASS)
    print(f"rendered {len(images):,} synthetic images from {len(fonts)} fonts in "
          f"{time.perf_counter() - t:.1f} s")
    print(f"synthetic: {statistics(images)}\nreal:      {statistics(real_images)}")

    import tensorflow as tf
    tf.keras.utils.set_random_seed(SEED)
    model = tf.keras.Sequential([
        tf.keras.layers.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(32, 5, padding="same", activation="relu"), tf.keras.layers.MaxPool2D(),
        tf.keras.layers.Conv2D(64, 5, padding="same", activation="relu"), tf.keras.layers.MaxPool2D(),
        tf.keras.layers.Flatten(), tf.keras.layers.Dropout(0.3),
        tf.keras.layers.Dense(256, activation="relu"), tf.keras.layers.Dense(10)])
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(normalise(images)[..., None], labels, batch_size=128, epochs=EPOCHS, verbose=0, shuffle=True)
    _, accuracy = model.evaluate(normalise(real_images)[..., None], real_labels, verbose=0)
    print(f"Trained on synthetic, tested on {len(real_labels):,} real notMNIST images: "
          f"{100 * accuracy:.1f}% accuracy (chance 10%)")

    from workshop.plots import save_letter_grid
    Path(WORK_DIR).mkdir(parents=True, exist_ok=True)
    rows = [np.concatenate([images[labels == k][:8], real_images[real_labels == k][:8]]) for k in range(10)]
    save_letter_grid(Path(WORK_DIR) / "synthetic_vs_real.png", rows, LETTERS,
                     "synthetic (left 8) vs real notMNIST (right 8)")


if __name__ == "__main__":
    cli.run(main, globals())
