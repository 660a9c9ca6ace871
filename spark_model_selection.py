"""Distributed model selection on Apache Spark: one hyperparameter setting per Spark task.

WORK IN PROGRESS (issue 5): the MLP grid search with --backend spark|local, the
leaderboard, CSV, plot, and the best setting retrained and tested work; --model cnn,
tf.distribute training and the tests are still to come.

After Databricks (2016): the data is broadcast to the workers once (as uint8), each task
trains the notMNIST MLP with one setting for --steps steps and scores it on the validation
set, and the driver ranks the settings.

    python spark_model_selection.py --max-trials 4 --steps 300
    spark-submit --master spark://HOST:7077 spark_model_selection.py   # on a cluster
"""
import csv
import functools
import os
import sys
import time
from pathlib import Path

import numpy as np

from workshop import cli
from workshop.errors import UserError
from workshop.model_selection import grid, train_and_evaluate
from workshop.notmnist import load_notmnist

DATA = "data/notMNIST.pickle"  # written by create_notmnist.py
BACKEND = "spark"  # spark: one Spark task per setting; local: the same trials one after another
MASTER = "local[*]"  # Spark master URL; local[*] starts Spark inside this process
STEPS = 1000  # SGD steps per trial
BATCH_SIZE = 128  # images per SGD step
MAX_TRIALS = 0  # try only this many settings of the grid (0: all)
SEED = 133  # seeds every trial the same way
RESULTS = "runs/model_selection.csv"  # every trial's setting and score


def spark_context():
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError("PySpark is not installed: pip install -r requirements-spark.txt "
                        "(it also needs Java 17 or 21)") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this Python, with TensorFlow
    session = (SparkSession.builder.master(MASTER).appName("notMNIST model selection")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .getOrCreate())
    return session.sparkContext


def run_trial(trial, shared, steps, batch_size, seed):
    """A Spark task: one trial on the broadcast data, TensorFlow limited to one core."""
    return train_and_evaluate(trial, shared.value, steps, batch_size, seed, threads=1)


def main():
    data = load_notmnist(DATA)
    to_uint8 = lambda images: np.rint(images * 255 + 127.5).astype(np.uint8)  # noqa: E731
    arrays = {"train_images": to_uint8(data.train[0]), "train_labels": data.train[1],
              "valid_images": to_uint8(data.valid[0]), "valid_labels": data.valid[1]}
    trials = grid(layers=[1, 2], sizes=[256, 1024], learning_rates=[0.01, 0.05, 0.2],
                  l2s=[0.0, 5e-4], dropouts=[0.0, 0.3])
    if MAX_TRIALS:
        trials = [trials[i] for i in np.random.default_rng(SEED).permutation(len(trials))[:MAX_TRIALS]]
    print(f"{len(trials)} settings, {STEPS} steps each, backend {BACKEND}")
    started = time.perf_counter()
    if BACKEND == "local":
        results = [train_and_evaluate(trial, arrays, STEPS, BATCH_SIZE, SEED) for trial in trials]
    else:
        context = spark_context()
        shared = context.broadcast(arrays)  # sent to each worker once, not with every task
        task = functools.partial(run_trial, shared=shared, steps=STEPS, batch_size=BATCH_SIZE, seed=SEED)
        results = context.parallelize(trials, len(trials)).map(task).collect()
    wall = time.perf_counter() - started
    results.sort(key=lambda r: -r["validation_accuracy"])
    print(f"{'layers':>6} {'units':>6} {'lr':>6} {'l2':>7} {'dropout':>7} {'valid %':>8} {'loss':>8} {'s':>6}  worker")
    for r in results:
        print(f"{r['layers']:6} {r['units']:6} {r['learning_rate']:6} {r['l2']:7} {r['dropout']:7} "
              f"{r['validation_accuracy']:8.2f} {r['loss']:8.4f} {r['seconds']:6.1f}  {r['worker']}")
    total = sum(r["seconds"] for r in results)
    print(f"Wall time {wall:.1f} s for {total:.1f} s of tasks: speed-up {total / wall:.2f}")
    Path(RESULTS).parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    plot_accuracy_by_learning_rate(results, Path(RESULTS).with_suffix(".png"))

    # The best setting and the workshop's default, each retrained and scored on the test set.
    best = {key: results[0][key] for key in ("layers", "units", "learning_rate", "l2", "dropout")}
    default = {"layers": 2, "units": 1024, "learning_rate": 0.05, "l2": 5e-4, "dropout": 0.3}
    test_arrays = {**arrays, "valid_images": to_uint8(data.test[0]), "valid_labels": data.test[1]}
    tested = {name: train_and_evaluate(setting, test_arrays, STEPS, BATCH_SIZE, SEED)
              for name, setting in (("best", best), ("default", default))}
    best_error = 100 - tested["best"]["validation_accuracy"]
    default_error = 100 - tested["default"]["validation_accuracy"]
    print(f"Best setting: {best}")
    print(f"Test accuracy: {tested['best']['validation_accuracy']:.1f}%")
    if default_error > 0:
        print(f"Test error {best_error:.2f}% against {default_error:.2f}% with the default setting "
              f"({(default_error - best_error) / default_error:+.0%} reduction)")


def plot_accuracy_by_learning_rate(results, path):
    """Validation accuracy against learning rate, one line per layer size (the Databricks figure)."""
    from workshop.plots import pyplot, save_figure
    figure, axis = pyplot().subplots(figsize=(6, 4))
    for layers, units in sorted({(r["layers"], r["units"]) for r in results}):
        points = sorted((r["learning_rate"], r["validation_accuracy"]) for r in results
                        if (r["layers"], r["units"]) == (layers, units))
        best = {}
        for rate, accuracy in points:  # the best over the other hyperparameters
            best[rate] = max(best.get(rate, 0), accuracy)
        axis.plot(list(best), list(best.values()), "o-", label=f"{layers} × {units} units")
    axis.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy (%)",
             title="notMNIST MLP: model selection")
    axis.legend()
    save_figure(figure, path)
    print(f"Wrote {path}")


if __name__ == "__main__":
    cli.run(main, globals())
