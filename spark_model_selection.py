"""Distributed model selection on Apache Spark: one hyperparameter setting per Spark task.

After Databricks (2016): the data is broadcast to the workers once; the settings of the grid
are parallelized, one per task; each task trains the classifier's network with its setting
for --steps steps and scores it on the validation set; the driver collects the scores and
ranks them. The best setting is then retrained and scored on the test set, against the
classifier's own setting. Run `python create_notmnist.py` first.

With --search halving (successive halving, Jamieson & Talwalkar 2016) the search stops the
settings that are plainly behind: the first rung trains every setting for a fraction of --steps,
the driver keeps the best 1/--eta of them, and those go on from their weights in the next rung,
a Spark stage of their own, until the last ones have trained --steps in all.

    python spark_model_selection.py --max-trials 8 --steps 300     # a quick look
    python spark_model_selection.py --model cnn
    python spark_model_selection.py --backend both                  # also time it without Spark
    python spark_model_selection.py --search halving                # stop the settings behind early
    spark-submit --master spark://HOST:7077 spark_model_selection.py   # on a cluster

A setting that fails (raises, or diverges to a loss of NaN) says so in its row of the
leaderboard and is stopped; the others go on. Spark runs a task again if its Python worker dies:
a rung's task starts again from the weights it was given.
"""
import csv
import gc
import itertools
import math
import os
import socket
import time
from pathlib import Path
from typing import Literal

import numpy as np

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import notmnist_classifier
import notmnist_classifier_CNN
import tensorflow as tf
from workshop import cli
from workshop.errors import UserError
from workshop.files import atomic_write
from workshop.notmnist import load_notmnist, normalise, to_pixels
from workshop.plots import pyplot, save_figure
from workshop.spark import kept_for_next_tasks, limit_threads_to_task, one_line_errors, spark_session, with_its_source
from workshop.training import Minibatches, accuracy, one_hot

DATA = "data/notMNIST.pickle"  # written by create_notmnist.py
MODEL: Literal["mlp", "cnn"] = "mlp"  # the network whose hyperparameters are searched
BACKEND: Literal["spark", "local", "both"] = "spark"  # spark: a task per setting; local: one by one; both
MASTER: str | None = None  # Spark master URL; none: spark-submit's, else local[*] (every core here)
SEARCH: Literal["grid", "halving"] = "grid"  # grid: every setting for --steps; halving: stop the worst early
ETA = 3  # halving: each rung keeps the best 1/ETA of its settings, which train ETA times as many steps in all
STEPS = 1000  # SGD steps per trial (with halving: of the settings that last to the end)
BATCH_SIZE = 128  # images per SGD step
MOMENTUM = 0.9  # SGD momentum, the same for every trial
MAX_TRIALS = 0  # try only this many settings, drawn at random from the grid (0: all of it)
SEED = 133  # seeds every trial the same way, and the draw of --max-trials
RESULTS = "runs/model_selection"  # writes RESULTS.csv (every trial) and RESULTS.png (the figure)

# The slides' hyperparameters: every combination is one trial. For the CNN, "layers" counts the
# convolution + pooling stages and "units" the 5×5 filters of each (then FC 64, as in the classifier).
GRIDS = {
    "mlp": {"layers": [1, 2], "units": [256, 1024], "learning_rate": [0.01, 0.05, 0.2],
            "l2": [0.0, 5e-4], "dropout": [0.0, 0.3]},
    "cnn": {"layers": [1, 2], "units": [8, 16], "learning_rate": [0.01, 0.05, 0.2],
            "l2": [0.0, 5e-4], "dropout": [0.0, 0.3]},
}
DEFAULTS = {  # the classifiers' own settings, to see what the search gains
    "mlp": {"layers": 2, "units": 1024, "learning_rate": 0.05, "l2": 5e-4, "dropout": 0.3},
    "cnn": {"layers": 2, "units": 16, "learning_rate": 0.05, "l2": 0.0, "dropout": 0.3},
}


def main():
    # Data: the uint8 pixels, a quarter of the size of the float32 images, to broadcast.
    data = load_notmnist(DATA)
    arrays = {"train_images": to_pixels(data.train[0]), "train_labels": data.train[1],
              "valid_images": to_pixels(data.valid[0]), "valid_labels": data.valid[1]}
    axes = GRIDS[MODEL]
    settings = [{"model": MODEL, **dict(zip(axes, values))} for values in itertools.product(*axes.values())]
    if MAX_TRIALS:
        settings = [settings[i] for i in sorted(np.random.default_rng(SEED).permutation(len(settings))[:MAX_TRIALS])]
    rungs = halving_rungs(len(settings)) if SEARCH == "halving" else [(len(settings), STEPS)]
    print(f"Data {DATA}: {data.describe()}\n{len(settings)} settings of the {MODEL.upper()}, "
          f"{STEPS} steps of {BATCH_SIZE} images each" + ("; successive halving: " + ", ".join(
              f"{count} to {steps} steps" for count, steps in rungs) if SEARCH == "halving" else ""))

    # The search: one Spark task per trial of a rung (the grid: one rung), and/or the same trials one after
    # another. A trial is a dict of train_and_evaluate's arguments: setting, rung, first and last step, state.
    walls = {}
    if BACKEND in ("spark", "both"):
        sc = spark_session(MASTER, f"notMNIST {MODEL} model selection").sparkContext
        print(f"Spark {sc.version} on {sc.master}: {sc.defaultParallelism} tasks at a time")
        started = time.perf_counter()
        shared = sc.broadcast(arrays)  # sent to each worker once, not with every task
        with one_line_errors("the model selection"):
            # each rung a Spark stage: the trials and their weights (pickled numpy arrays) go to the tasks,
            # the rows and the new weights come back to the driver
            results, task_seconds = search(settings, rungs, lambda trials: sc.parallelize(trials, len(trials)).map(
                lambda trial: train_and_evaluate(**trial, data=shared.value)).collect())
        shared.unpersist()
        walls["spark"] = time.perf_counter() - started
    if BACKEND in ("local", "both"):
        started = time.perf_counter()
        local = search(settings, rungs, lambda trials: [train_and_evaluate(**trial, data=arrays) for trial in trials])
        walls["local"] = time.perf_counter() - started
        results, task_seconds = (results, task_seconds) if BACKEND == "both" else local

    # Report: the leaderboard, the CSV and the Databricks figure, the speed-up.
    print_leaderboard(results)
    for backend, wall in walls.items():
        print(f"{backend}: wall time {wall:.1f} s for {task_seconds:.1f} s of trials "
              f"(speed-up {task_seconds / wall:.2f})" if backend == "spark" else
              f"{backend}: wall time {wall:.1f} s")
    if len(walls) == 2:  # the longer wall time over the shorter (at least 1), and which way
        word = "faster" if walls["spark"] < walls["local"] else "slower"
        print(f"Spark against one after another: {max(walls.values()) / min(walls.values()):.2f}× {word}")
    write_csv(results, Path(f"{RESULTS}.csv"))
    plot_accuracy_by_learning_rate(results, Path(f"{RESULTS}.png"))

    # The best setting and the default, each retrained and scored on the test set.
    scored = [r for r in results if not r["problem"]]
    if not scored:
        raise UserError(f"every one of the {len(results)} settings failed (the first: {results[0]['problem']}); "
                        "see the leaderboard above")
    test_arrays = {**arrays, "valid_images": to_pixels(data.test[0]), "valid_labels": data.test[1]}
    best = {key: scored[0][key] for key in settings[0]}
    tested = {name: train_and_evaluate(setting, test_arrays, 0, STEPS)["validation_accuracy"]
              for name, setting in (("best", best), ("default", {"model": MODEL, **DEFAULTS[MODEL]}))}
    print(f"Best setting: {describe(best)}")
    print(f"Test accuracy: {tested['best']:.1f}%")
    best_error, default_error = 100 - tested["best"], 100 - tested["default"]
    change = (best_error - default_error) / default_error if default_error else 0.0
    verdict = f"{abs(change):.0%} {'lower' if change < 0 else 'higher'}" if round(change, 2) else "the same"
    print(f"Test error {best_error:.2f}% against {default_error:.2f}% with the default setting "
          f"({describe(DEFAULTS[MODEL])}): {verdict}")


def halving_rungs(count):
    """Successive halving's rungs for `count` settings: [(settings, steps)]. Rung i (from 0) trains the
    best ⌈count / ETA**i⌉ settings up to STEPS * ETA**(i - R) steps in all, R being the last rung that
    still ranks 2 settings or more (as scikit-learn's HalvingGridSearchCV does). 48 settings, ETA 3,
    1000 steps: 48 settings to 37 steps, the best 16 of them on to 111, the best 6 of those on to 333,
    the best 2 on to 1000: an eighth of the grid's steps."""
    if ETA < 2:
        raise UserError(f"--eta {ETA}: each rung must keep at most half of its settings (--eta 2 or more)")
    last = 0
    while math.ceil(count / ETA ** (last + 1)) >= 2:
        last += 1
    return [(math.ceil(count / ETA ** i), max(1, round(STEPS * ETA ** (i - last)))) for i in range(last + 1)]


def search(settings, rungs, run_rung):
    """Runs the rungs, each with `run_rung(trials) -> rows` (one Spark stage, or a loop): the first
    trains every setting from scratch; the driver ranks the rows, and the best ones that neither
    failed nor diverged go on from their weights. -> (every setting's last row, ranked, the seconds
    of every trial of every rung)"""
    stopped, seconds, done = [], 0.0, 0
    trials = [{"setting": setting, "state": None} for setting in settings]
    for rung, (count, steps) in enumerate(rungs, 1):
        rows = sorted(run_rung([{**trial, "rung": rung, "first": done, "last": steps} for trial in trials]),
                      key=rank)
        seconds += sum(r["seconds"] for r in rows)
        keep = rungs[rung][0] if rung < len(rungs) else 0
        healthy = [r for r in rows if not r["problem"]]
        going_on, stopped = healthy[:keep], stopped + healthy[keep:] + [r for r in rows if r["problem"]]
        for r in stopped:
            r.pop("state", None)  # the weights of the settings stopped here are not needed
        trials = [{"setting": {key: r[key] for key in settings[0]}, "state": r.pop("state")} for r in going_on]
        done = steps
    return sorted(stopped, key=rank), seconds


def rank(row):
    """The leaderboard's order: the settings that trained longest first, then by validation accuracy
    and loss; the failed ones last."""
    return (bool(row["problem"]), -row["steps"], np.nan_to_num(-row["validation_accuracy"], nan=np.inf),
            np.nan_to_num(row["loss"], nan=np.inf))


def train_and_evaluate(setting, data, first, last, rung=1, state=None):
    """What each Spark task runs: one trial, steps `first` to `last` of the setting's training, from
    `state` (the weights and velocities where the previous rung stopped) or from scratch. A setting that
    raises or diverges gets a row that says so (`problem`): one bad setting must not end a search of many.
    -> the setting's row: rung, steps, validation accuracy, last minibatch loss, seconds, worker,
    problem; and, if it has steps to go, its state to go on from"""
    started = time.perf_counter()
    try:
        score, loss, state = train(setting, data, first, last, state)
        problem = "" if np.isfinite(loss) else f"diverged (loss {loss})"
    except Exception as error:
        score, loss = float("nan"), float("nan")
        problem = f"failed: {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"
    gc.collect()  # the trial's compiled graph is a reference cycle: free it now,
    gc.freeze()  # and leave what lives on (TensorFlow's own objects) out of the next trials' collections
    return {**setting, "rung": rung, "steps": last,
            "validation_accuracy": round(score, 2) if not problem else float("nan"),
            "loss": round(loss, 4), "seconds": round(time.perf_counter() - started, 2),
            "worker": f"{socket.gethostname()}:{os.getpid()}", "problem": problem,
            **({"state": state} if last < STEPS and not problem else {})}


@with_its_source  # for AutoGraph, on a worker that lacks this file (or the notebook's cell)
def train(setting, data, first, last, state=None):
    """Trains the classifier's own network with `setting` (SGD with momentum), seeded the same way
    wherever it runs, on data["train_*"]: steps `first` to `last`, from `state` if given. Step k's
    minibatch and dropout depend only on k and the seed, so rungs that go on from each other's
    state train exactly as one run of all their steps.
    -> (validation accuracy %, last loss, state: (weights, velocities), lists of numpy arrays)"""
    limit_threads_to_task()  # in a Spark task, TensorFlow uses the task's cores, not all of the machine's
    tf.get_logger().setLevel("ERROR")  # each trial traces its own graph: no retracing warnings
    tf.keras.utils.set_random_seed(SEED)
    if setting["model"] == "mlp":
        classifier, shape = notmnist_classifier, [-1, 28 * 28]
        variables = classifier.network_variables(setting["layers"], setting["units"], 0.0)
    else:
        classifier, shape = notmnist_classifier_CNN, [-1, 28, 28, 1]
        variables = classifier.network_variables(setting["layers"], setting["units"], classifier.HIDDEN_UNITS,
                                                 classifier.PATCH_SIZE, 0.0, 0.0)
    minibatch = Minibatches(*training_set(data, shape), BATCH_SIZE, True, SEED, "/CPU:0")
    # SGD with momentum, written out: a Keras optimizer made per trial would keep each trial's graph,
    # and the training set it captures, alive in this process (a Spark Python worker runs many trials).
    velocities = [tf.Variable(tf.zeros_like(variable)) for variable in variables]
    if state:  # where the previous rung stopped
        for variable, value in zip(variables + velocities, state[0] + state[1]):
            variable.assign(value)

    @tf.function
    def train_steps(first, last):  # all the trial's steps in one call of a compiled graph
        loss = tf.constant(0.0)
        for step in tf.range(first, last):
            images, labels = minibatch(step)
            with tf.GradientTape() as tape:
                logits = classifier.network(variables, images, True, setting["dropout"],
                                            seed=tf.stack([tf.constant(SEED, tf.int64), step]))
                loss = classifier.loss_function(variables, logits, labels, setting["l2"])
            for variable, velocity, gradient in zip(variables, velocities, tape.gradient(loss, variables)):
                velocity.assign(MOMENTUM * velocity - setting["learning_rate"] * gradient)
                variable.assign_add(velocity)
        return loss
    loss = float(train_steps(tf.constant(first, tf.int64), tf.constant(last, tf.int64)))
    logits = classifier.network(variables, normalise(data["valid_images"]).reshape(shape), False, 0.0)
    state = [variable.numpy() for variable in variables], [velocity.numpy() for velocity in velocities]
    return float(accuracy(logits.numpy(), one_hot(data["valid_labels"]))), loss, state


def training_set(data, shape):
    """The normalised training images and one-hot labels as tensors, made once per process and shape:
    a Spark Python worker runs many trials on the same broadcast data, and making them takes a second."""
    images = data["train_images"]  # kept with the tensors, so that its id stays its own
    return kept_for_next_tasks((id(images), tuple(shape)), lambda: (
        images, tf.constant(normalise(images).reshape(shape)), tf.constant(one_hot(data["train_labels"]))))[1:]


def describe(setting):
    return ", ".join(f"{key} {value}" for key, value in setting.items() if key != "model")


def print_leaderboard(results):
    print(f"\n{'rank':>4} {'layers':>6} {'units':>5} {'lr':>5} {'L2':>6} {'dropout':>7} {'rung':>4} {'steps':>5} "
          f"{'valid %':>7} {'loss':>7} {'s':>6}  worker")
    for number, r in enumerate(results, 1):
        print(f"{number:4} {r['layers']:6} {r['units']:5} {r['learning_rate']:5} {r['l2']:6} {r['dropout']:7} "
              f"{r['rung']:4} {r['steps']:5} {r['validation_accuracy']:7.2f} {r['loss']:7.4g} {r['seconds']:6.1f}  "
              f"{r['worker']}"
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
    figure); each point is the best over the other hyperparameters, of those that trained longest.
    A hollow point: every setting there was stopped early (its accuracy after fewer steps)."""
    figure, axis = pyplot().subplots(figsize=(6, 4))
    results = [r for r in results if not r["problem"]]  # the failed ones have no accuracy
    for layers, units in sorted({(r["layers"], r["units"]) for r in results}):
        best = {}
        for r in results:
            if (r["layers"], r["units"]) == (layers, units):
                best[r["learning_rate"]] = max(best.get(r["learning_rate"], (0, 0)), (r["steps"],
                                                                                       r["validation_accuracy"]))
        rates = sorted(best)
        label = f"{layers} layer{'s' if layers > 1 else ''} × {units} units"
        line, = axis.plot(rates, [best[rate][1] for rate in rates], "o-", label=label)
        early = [rate for rate in rates if best[rate][0] < STEPS]
        axis.plot(early, [best[rate][1] for rate in early], "o", color=line.get_color(), markerfacecolor="white")
    if any(r["steps"] < STEPS for r in results):
        axis.plot([], [], "o", color="gray", markerfacecolor="white", label="stopped early")
    axis.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy (%)",
             title=f"notMNIST {MODEL.upper()}: model selection")
    axis.legend()
    save_figure(figure, path)
    print(f"Wrote {path}")


if __name__ == "__main__":
    cli.run(main, globals())
