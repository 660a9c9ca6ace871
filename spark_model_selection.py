"""Distributed model selection on Apache Spark: one hyperparameter setting per Spark task.

After Databricks (2016): the data is broadcast to the workers once, each Spark task trains
the notMNIST network with one setting of the grid (hidden layers, layer size, learning
rate, L2 strength, dropout) for --steps steps and scores it on the validation set, and
the driver ranks the settings. The best one is then retrained and scored on the test set,
against the workshop's default setting. Run `python create_notmnist.py` first.

    python spark_model_selection.py --max-trials 8 --steps 300     # a quick look
    python spark_model_selection.py --model cnn
    python spark_model_selection.py --backend both                  # also time it without Spark
    spark-submit --master spark://HOST:7077 spark_model_selection.py   # on a cluster

A setting that fails (raises, or diverges to a loss of NaN) says so in its row of the
leaderboard; the others go on. Spark runs a task again if its Python worker dies.
"""
import csv
from pathlib import Path
from typing import Literal

import numpy as np

from workshop import cli
from workshop.errors import UserError
from workshop.files import atomic_write
from workshop.model_selection import DEFAULTS, SETTING, grid, search, train_and_evaluate
from workshop.notmnist import load_notmnist, to_pixels
from workshop.plots import pyplot, save_figure

DATA = "data/notMNIST.pickle"  # written by create_notmnist.py
MODEL: Literal["mlp", "cnn"] = "mlp"  # the network whose hyperparameters are searched
BACKEND: Literal["spark", "local", "both"] = "spark"  # spark: a task per setting; local: one by one; both
MASTER: str | None = None  # Spark master URL; none: spark-submit's, else local[*] (every core here)
STEPS = 1000  # SGD steps per trial
BATCH_SIZE = 128  # images per SGD step
MAX_TRIALS = 0  # try only this many settings, drawn at random from the grid (0: all of it)
SEED = 133  # seeds every trial the same way, and the draw of --max-trials
RESULTS = "runs/model_selection"  # writes RESULTS.csv (every trial) and RESULTS.png (the figure)


def main():
    # Data: the uint8 pixels, a quarter of the size of the float32 images, for the broadcast.
    data = load_notmnist(DATA)
    arrays = {"train_images": to_pixels(data.train[0]), "train_labels": data.train[1],
              "valid_images": to_pixels(data.valid[0]), "valid_labels": data.valid[1]}
    trials = grid(MODEL)
    if MAX_TRIALS:
        trials = [trials[i] for i in sorted(np.random.default_rng(SEED).permutation(len(trials))[:MAX_TRIALS])]
    print(f"Data {DATA}: {data.describe()}\n{len(trials)} settings of the {MODEL.upper()}, "
          f"{STEPS} steps of {BATCH_SIZE} images each")

    # The search: Spark tasks in parallel, and/or the same trials one after another.
    walls = {}
    if BACKEND in ("spark", "both"):
        from workshop.spark import spark_context
        context = spark_context(MASTER, f"notMNIST {MODEL} model selection")
        print(f"Spark {context.version} on {context.master}: {context.defaultParallelism} tasks at a time")
        results, walls["spark"] = search(trials, arrays, STEPS, BATCH_SIZE, SEED, context)
    if BACKEND in ("local", "both"):
        local_results, walls["local"] = search(trials, arrays, STEPS, BATCH_SIZE, SEED)
        results = results if BACKEND == "both" else local_results

    # Report: the leaderboard, the CSV and the Databricks figure, the speed-up.
    print_leaderboard(results)
    task_seconds = sum(r["seconds"] for r in results)
    for backend, wall in walls.items():
        print(f"{backend}: wall time {wall:.1f} s for {task_seconds:.1f} s of trials "
              f"(speed-up {task_seconds / wall:.2f})" if backend == "spark" else
              f"{backend}: wall time {wall:.1f} s")
    if len(walls) == 2:
        print(f"Spark against one after another: {walls['local'] / walls['spark']:.2f}× faster")
    write_csv(results, Path(f"{RESULTS}.csv"))
    plot_accuracy_by_learning_rate(results, Path(f"{RESULTS}.png"))

    # The best setting and the default, each retrained and scored on the test set.
    scored = [r for r in results if not r["problem"]]
    if not scored:
        raise UserError(f"every one of the {len(results)} settings failed (the first: {results[0]['problem']}); "
                        "see the leaderboard above")
    test_arrays = {**arrays, "valid_images": to_pixels(data.test[0]), "valid_labels": data.test[1]}
    best = {key: scored[0][key] for key in SETTING}
    tested = {name: train_and_evaluate(setting, test_arrays, STEPS, BATCH_SIZE, SEED)["validation_accuracy"]
              for name, setting in (("best", best), ("default", {"model": MODEL, **DEFAULTS[MODEL]}))}
    print(f"Best setting: {describe(best)}")
    print(f"Test accuracy: {tested['best']:.1f}%")
    best_error, default_error = 100 - tested["best"], 100 - tested["default"]
    change = (best_error - default_error) / default_error if default_error else 0.0
    verdict = f"{abs(change):.0%} {'lower' if change < 0 else 'higher'}" if round(change, 2) else "the same"
    print(f"Test error {best_error:.2f}% against {default_error:.2f}% with the default setting "
          f"({describe(DEFAULTS[MODEL])}): {verdict}")


def describe(setting):
    return ", ".join(f"{key} {setting[key]}" for key in SETTING[1:])


def print_leaderboard(results):
    print(f"\n{'rank':>4} {'layers':>6} {'units':>5} {'lr':>5} {'L2':>6} {'dropout':>7} "
          f"{'valid %':>7} {'loss':>7} {'s':>6}  worker")
    for rank, r in enumerate(results, 1):
        print(f"{rank:4} {r['layers']:6} {r['units']:5} {r['learning_rate']:5} {r['l2']:6} {r['dropout']:7} "
              f"{r['validation_accuracy']:7.2f} {r['loss']:7.4g} {r['seconds']:6.1f}  {r['worker']}"
              + (f"  {r['problem']}" if r["problem"] else ""))


def write_csv(results, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as file:
        writer = csv.DictWriter(file, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    print(f"Wrote {path}")


def plot_accuracy_by_learning_rate(results, path):
    """Validation accuracy against learning rate, one line per network size (the Databricks
    figure); each point is the best over the other hyperparameters."""
    figure, axis = pyplot().subplots(figsize=(6, 4))
    results = [r for r in results if not r["problem"]]  # the failed ones have no accuracy
    for layers, units in sorted({(r["layers"], r["units"]) for r in results}):
        best = {}
        for r in results:
            if (r["layers"], r["units"]) == (layers, units):
                best[r["learning_rate"]] = max(best.get(r["learning_rate"], 0), r["validation_accuracy"])
        rates = sorted(best)
        label = f"{layers} layer{'s' if layers > 1 else ''} × {units} units"
        axis.plot(rates, [best[rate] for rate in rates], "o-", label=label)
    axis.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy (%)",
             title=f"notMNIST {MODEL.upper()}: model selection")
    axis.legend()
    save_figure(figure, path)
    print(f"Wrote {path}")


if __name__ == "__main__":
    cli.run(main, globals())
