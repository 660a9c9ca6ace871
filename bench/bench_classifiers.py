"""Training throughput of the classifier scripts against Keras `model.fit`, same network, same data.

For each of notmnist_classifier.py (MLP) and notmnist_classifier_CNN.py (CNN) it runs the
script itself twice on the same generated data, with few and with many steps, and takes
the difference: steps per second without start-up, tracing or evaluation. Then it builds
the same architecture with Keras layers (same optimizer, dropout, L2, batch size) and
measures `model.fit` the same way. Also reports this machine's matrix-multiply peak, for
context. Targets: MLP >= 1.3× Keras fit, CNN >= 1.0×.

    python bench/bench_classifiers.py [--precision float32|bfloat16] [--few 200 --many 1200]
"""
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import workshop.quiet_tensorflow  # noqa: E402,F401 (hides TensorFlow's start-up log)
from bench.summary import row  # noqa: E402
from workshop import cli  # noqa: E402
from workshop.notmnist import normalise, write_pickle  # noqa: E402

WORK_DIR = "bench/_work/classifiers"  # generated data and run folders
IMAGES = 50000  # training images generated (random pixels: speed does not depend on them)
FEW = 200  # steps of the short run
MANY = 1200  # steps of the long run; speed = (MANY - FEW) steps / time difference
PRECISION = "float32"  # float32 for the comparison; bfloat16 to see what AMX or a GPU gives
NETWORKS = {"notmnist_classifier.py": ("MLP", 128, 1.3), "notmnist_classifier_CNN.py": ("CNN", 256, 1.0)}


def script_seconds(script, data, steps, runs):
    """Training seconds that the script itself reports for `steps` steps."""
    result = subprocess.run([sys.executable, str(REPO / script), "--data", str(data), "--steps", str(steps),
                             "--eval-every", str(steps), "--runs-dir", str(runs), "--precision", PRECISION],
                            capture_output=True, text=True, cwd=REPO)
    if result.returncode:
        sys.exit(f"{script} failed:\n{result.stderr[-2000:]}")
    return float(re.search(r"Trained \d+ steps in ([\d.]+) s", result.stdout).group(1))


def keras_model(kind):
    import tensorflow as tf
    layers, l2 = tf.keras.layers, tf.keras.regularizers.L2(5e-4 / 2)  # tf.nn.l2_loss is sum/2
    if kind == "MLP":
        body = [layers.Input((784,)), layers.Dense(1024, "relu", kernel_regularizer=l2, bias_regularizer=l2),
                layers.Dropout(0.3), layers.Dense(1024, "relu", kernel_regularizer=l2, bias_regularizer=l2),
                layers.Dropout(0.3), layers.Dense(10, kernel_regularizer=l2, bias_regularizer=l2)]
    else:
        body = [layers.Input((28, 28, 1)), layers.Conv2D(16, 5, padding="same", activation="relu"),
                layers.MaxPool2D(2, padding="same"), layers.Conv2D(16, 5, padding="same", activation="relu"),
                layers.MaxPool2D(2, padding="same"), layers.Flatten(), layers.Dense(64, "relu"),
                layers.Dropout(0.3), layers.Dense(10)]
    model = tf.keras.Sequential(body)
    if PRECISION != "float32":
        tf.keras.mixed_precision.set_global_policy(f"mixed_{PRECISION}")
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05, momentum=0.9),
                  loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def keras_seconds(model, images, labels, batch, steps):
    rows = np.arange(steps * batch) % len(images)  # as many passes over the data as needed
    images, labels = images[rows], labels[rows]
    started = time.perf_counter()
    model.fit(images, labels, batch_size=batch, epochs=1, verbose=0, shuffle=True)
    return time.perf_counter() - started


def matmul_peak(dtype):
    import tensorflow as tf
    a = tf.random.normal([2048, 2048], dtype=tf.float32)
    a = tf.cast(a, dtype)

    @tf.function
    def chain(x):
        for _ in range(10):
            x = tf.matmul(x, a) * tf.cast(1e-3, dtype)
        return x
    chain(a)
    started = time.perf_counter()
    chain(a).numpy()
    return 10 * 2 * 2048 ** 3 / (time.perf_counter() - started) / 1e9


def random_pickle(work, images, valid=1000):
    """A notMNIST pickle of random pixels under `work` (speed does not depend on the pixels).
    -> (path, train pixels, train labels)"""
    work.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (images, 28, 28), dtype=np.uint8)
    labels = (np.arange(images) % 10).astype(np.int32)
    data = work / "random.pickle"
    write_pickle(data, {name: (lambda part: pixels[part.start:part.stop], labels[:size])
                        for name, size in (("train", images), ("valid", valid), ("test", 1000))})
    return data, pixels, labels


def main():
    work = REPO / WORK_DIR
    data, pixels, labels = random_pickle(work, IMAGES)
    import tensorflow as tf
    images = normalise(pixels)
    one_hot = np.eye(10, dtype=np.float32)[labels]
    print(f"TensorFlow {tf.__version__}; matmul peak here: {matmul_peak(tf.float32):.0f} GFLOP/s float32, "
          f"{matmul_peak(tf.bfloat16):.0f} GFLOP/s bfloat16 (2048×2048)")
    print(f"{'network':8} {'script ex/s':>12} {'Keras fit ex/s':>15} {'ratio':>6} {'target':>7}")
    for script, (kind, batch, target) in NETWORKS.items():
        few, many = (script_seconds(script, data, steps, work / "runs") for steps in (FEW + 1, MANY + 1))
        ours = (MANY - FEW) * batch / (many - few)
        model = keras_model(kind)
        shaped = images.reshape(-1, 784) if kind == "MLP" else images[..., None]
        keras_seconds(model, shaped, one_hot, batch, 20)  # traces the training function
        theirs = (MANY - FEW) * batch / (keras_seconds(model, shaped, one_hot, batch, MANY)
                                         - keras_seconds(model, shaped, one_hot, batch, FEW))
        verdict = "PASS" if ours >= target * theirs else "FAIL"
        print(f"{kind:8} {ours:12,.0f} {theirs:15,.0f} {ours / theirs:6.2f} {'>= ' + str(target):>7} {verdict}")
        row(f"{script} against Keras fit, examples/s", f"{ours / theirs:.2f}x", f">= {target}x", verdict == "PASS")
        if kind == "MLP":
            flops = 6 * (784 * 1024 + 1024 * 1024 + 1024 * 10) * ours / 1e9
            print(f"         MLP at {flops:.0f} GFLOP/s of matmul work")


if __name__ == "__main__":
    cli.run(main, globals())
