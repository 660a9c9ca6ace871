"""Scale past this machine, by simulation: spark_model_selection.py's grid on 1 to 64 executors.

Databricks (2016) ran a grid search like spark_model_selection.py's, one setting per Spark task,
on 13 nodes: about 7× faster than on one machine ("Deep Learning with Apache Spark and
TensorFlow", Databricks blog, January 2016). We have one machine, so this benchmark measures
each trial of the full grid here, one after another, then computes what Spark would do with
those trials on more executors (one task slot each, every one a machine like this one):

* Spark hands out the tasks of a stage (one per partition, no locality) in partition order,
  each to the slot that frees first. The wall time is when the last slot finishes.
* Speed-up is the total of the trials over that wall time; efficiency is speed-up per executor.
  Two things hold it back: the grid is a whole number of waves (48 trials on 13 slots: 4 waves,
  the last one 9 tasks wide, so at most 12×), and trials differ in length (a 2 × 1024 network
  costs more than a 1 × 256 one): a long trial that starts late keeps the others waiting.
* Longest first (LPT: sort the settings by cost before parallelize) is the best a user gets by
  ordering the grid; it is within 4/3 of the optimum (Graham, 1969). No order beats the lower
  bound max(longest trial, total / executors): past 48 executors, the wall is the longest trial.

Left out: task start-up, the broadcast of the data, each Python worker importing TensorFlow,
stragglers and failures: real clusters do a little worse.

Successive halving (--search halving) beside the grid, from the same measured trials: each rung is
a stage of its own and waits for its slowest trial. A setting's trial in a rung costs its measured
seconds per step times the rung's new steps, and the settings that go on are the best of the grid
by validation accuracy (the lesson ranks them on fewer steps: the set may differ a little).

    python bench/bench_model_selection_scaling.py                    # the 48 MLP trials, 1000 steps (~5 min)
    python bench/bench_model_selection_scaling.py --steps 100        # a quick look
    python bench/bench_model_selection_scaling.py --trial-seconds runs/model_selection.csv

--trial-seconds simulates from a results CSV that spark_model_selection.py (or this benchmark)
wrote, without training: its "seconds" column, put back in the grid's order (the lesson writes
its rows by rank). On a cluster's CSV the seconds are those of the cluster's executors.
"""
import csv
import heapq
import itertools
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.summary import row  # noqa: E402
from workshop import cli  # noqa: E402
from workshop.errors import UserError  # noqa: E402

MODEL: Literal["mlp", "cnn"] = "mlp"  # the network whose grid is timed
STEPS = 1000  # SGD steps per trial (spark_model_selection.py's default)
BATCH_SIZE = 128  # images per SGD step (spark_model_selection.py's default)
DATA: str | None = None  # notMNIST pickle; none: data/notMNIST.pickle if it exists, else random pixels
TRIAL_SECONDS: str | None = None  # a results CSV with a "seconds" column: simulate from it, measure nothing
WORK_DIR = "bench/_work/model_selection_scaling"  # random data and the measured trials (trials.csv)
IMAGES = 50000  # training images of the random data (the time of a step does not depend on them)
CLUSTER = False  # also measure the lesson on a standalone cluster of 1 and of 2 workers (needs root)
CLUSTER_TRIALS = 8  # settings of the grid it runs there
CLUSTER_STEPS = 1000  # SGD steps per trial there (the lesson's default)
EXECUTORS = (1, 2, 4, 8, 13, 32, 64)  # cluster sizes simulated, one task slot each
DATABRICKS = (13, 7.0)  # 2016: 13 nodes, about 7× faster than one machine


def simulate(durations, executors, order: Literal["partition", "longest"] = "partition"):
    """Wall seconds of one Spark stage whose tasks take `durations` seconds, on `executors` task
    slots: each task in turn goes to the slot that frees first. order="partition": the tasks in
    the order given (Spark's, one task per partition); "longest": the longest first (LPT)."""
    if executors < 1 or order not in ("partition", "longest"):
        raise ValueError(f"simulate: executors {executors}, order {order!r}")
    tasks = sorted(durations, reverse=True) if order == "longest" else list(durations)
    free = [0.0] * min(executors, len(tasks))  # a heap: when each slot is free next
    for seconds in tasks:
        heapq.heapreplace(free, free[0] + seconds)  # the earliest free slot takes the task
    return max(free, default=0.0)


def halving_stages(rows):
    """The stages of successive halving over the measured grid trials `rows`: per rung, the seconds of
    each trial (its seconds per step × the rung's new steps), as spark_model_selection.py's rungs."""
    import spark_model_selection as lesson
    lesson.STEPS = STEPS
    accuracy = {id(r): float(r["validation_accuracy"] or "nan") for r in rows}
    ranked = sorted(rows, key=lambda r: (math.isnan(accuracy[id(r)]), -accuracy[id(r)]))  # the failed ones last
    stages, done = [], 0
    for count, steps in lesson.halving_rungs(len(rows)):
        stages.append([float(r["seconds"]) * (steps - done) / STEPS for r in ranked[:count]])
        done = steps
    return stages


def lower_bound(durations, executors):
    """No schedule is shorter: the longest task, and the total shared perfectly."""
    return max(max(durations), sum(durations) / executors)


def grid(model):
    """spark_model_selection.py's settings, in its order: the order of the Spark partitions."""
    import spark_model_selection as lesson
    axes = lesson.GRIDS[model]
    return [{"model": model, **dict(zip(axes, values))} for values in itertools.product(*axes.values())]


def data_path():
    if DATA:
        return Path(DATA)
    if (REPO / "data/notMNIST.pickle").is_file():
        return REPO / "data/notMNIST.pickle"
    from bench.bench_classifiers import random_pickle  # imports TensorFlow: only when needed
    return random_pickle(REPO / WORK_DIR, IMAGES, valid=10000)[0]


def measure_trials():
    """Every trial of the grid here, one after another, as spark_model_selection.py's main() runs
    them (same arrays, same train_and_evaluate). Writes them to WORK_DIR/trials.csv. -> their rows"""
    import spark_model_selection as lesson
    from workshop.notmnist import load_notmnist, to_pixels
    lesson.MODEL, lesson.STEPS, lesson.BATCH_SIZE = MODEL, STEPS, BATCH_SIZE
    path = data_path()
    data = load_notmnist(path)
    arrays = {"train_images": to_pixels(data.train[0]), "train_labels": data.train[1],
              "valid_images": to_pixels(data.valid[0]), "valid_labels": data.valid[1]}
    settings = grid(MODEL)
    print(f"Measuring {len(settings)} {MODEL.upper()} trials of {STEPS} steps × {BATCH_SIZE} images "
          f"on {path} ({data.describe()}):")
    results = []
    for number, setting in enumerate(settings, 1):
        results.append(lesson.train_and_evaluate(setting, arrays, 0, STEPS))
        print(f"  {number:2}/{len(settings)} {lesson.describe(setting):62} {results[-1]['seconds']:6.1f} s", flush=True)
    lesson.write_csv(results, REPO / WORK_DIR / "trials.csv")
    return results


def trials_from_csv(path):
    """The rows of a results CSV, in the grid's order (the Spark partitions')."""
    try:
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise UserError(f"--trial-seconds {path}: {error.strerror}") from None
    if not rows or "seconds" not in rows[0]:
        raise UserError(f"--trial-seconds {path}: no rows with a 'seconds' column")
    settings = grid(rows[0]["model"])
    axes = [axis for axis in settings[0] if axis != "model"]
    position = {tuple(float(s[axis]) for axis in axes): i for i, s in enumerate(settings)}
    try:
        return sorted(rows, key=lambda r: position[tuple(float(r[axis]) for axis in axes)])
    except (KeyError, ValueError):
        raise UserError(f"--trial-seconds {path}: a row is not a setting of the {rows[0]['model']} grid") from None


def measured_cluster_speedup():
    """The lesson itself on a Spark standalone cluster of 1, then of 2 one-core workers that cannot
    see this checkout (tests/cluster.py: needs root), shipping the real dist/spark-env.tar.gz:
    CLUSTER_TRIALS settings of CLUSTER_STEPS steps. Each executor unpacks the environment once and
    imports TensorFlow, as on a real cluster. -> the Spark stage's wall time on 1 worker over that on
    2, or None where it cannot run (it says why)."""
    if not CLUSTER:
        return None
    sys.path.insert(0, str(REPO / "tests"))
    from cluster import StandaloneCluster, unshare_problem
    from workshop.spark import ENV_ARCHIVE
    problem = unshare_problem() or (None if ENV_ARCHIVE.is_file() else f"{ENV_ARCHIVE} is missing: make spark-env")
    if problem:
        print(f"cluster measurement: not run: {problem}")
        return None
    data, walls = data_path(), {}
    for workers in (1, 2):
        with StandaloneCluster(workers=workers, hide=[data.parent]) as cluster:
            run = subprocess.run([sys.executable, "spark_model_selection.py", "--master", cluster.master, "--data",
                                  str(data), "--max-trials", str(CLUSTER_TRIALS), "--steps", str(CLUSTER_STEPS),
                                  "--results", str(REPO / WORK_DIR / f"cluster{workers}")], cwd=REPO, text=True,
                                 capture_output=True, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
        found = re.search(r"^spark: wall time ([\d.]+) s for ([\d.]+) s of trials", run.stdout, re.M)
        if run.returncode or not found:
            raise UserError(f"model selection on a {workers}-worker cluster failed: {run.stderr.strip()[-500:]}")
        walls[workers], trials = float(found.group(1)), float(found.group(2))
        print(f"cluster measurement: {CLUSTER_TRIALS} trials on {workers} worker(s): stage {walls[workers]:.1f} s "
              f"for {trials:.1f} s of trials (the rest: the broadcast, each executor unpacking the environment "
              "and starting Python and TensorFlow)")
    return walls[1] / walls[2]


def main():
    rows = trials_from_csv(TRIAL_SECONDS) if TRIAL_SECONDS else measure_trials()
    durations = [float(r["seconds"]) for r in rows]
    total, longest = sum(durations), max(durations)
    print(f"\n{len(durations)} trials{' from ' + TRIAL_SECONDS if TRIAL_SECONDS else ' measured here'}: "
          f"min {min(durations):.1f} s, median {statistics.median(durations):.1f} s, max {longest:.1f} s, "
          f"total {total:.1f} s")

    print(f"\n{'executors':>9} {'in order (s)':>12} {'longest first (s)':>17} {'lower bound (s)':>15} "
          f"{'speed-up':>8} {'efficiency':>10}")
    speedups = {}
    for executors in EXECUTORS:
        wall = simulate(durations, executors)
        speedups[executors] = total / wall  # on 1 executor the wall is the total
        beside = (f"   Databricks 2016: {DATABRICKS[0]} nodes, about {DATABRICKS[1]:.0f}× one machine"
                  if executors == DATABRICKS[0] else "")
        print(f"{executors:9} {wall:12.1f} {simulate(durations, executors, 'longest'):17.1f} "
              f"{lower_bound(durations, executors):15.1f} {speedups[executors]:7.2f}× "
              f"{speedups[executors] / executors:10.0%}{beside}")
    print("(speed-up and efficiency: in partition order, as Spark runs the grid)")

    nodes, figure = DATABRICKS
    stages = halving_stages(rows)
    trials = sum(map(sum, stages))
    print(f"\nSuccessive halving over the same trials: {' → '.join(str(len(stage)) for stage in stages)} settings, "
          f"{trials:.1f} s of trials ({trials / total:.0%} of the grid's)")
    print(f"{'executors':>9} {'grid (s)':>9} {'halving (s)':>11} {'halving / grid':>14}")
    for executors in EXECUTORS:
        wall, halving = simulate(durations, executors), sum(simulate(stage, executors) for stage in stages)
        print(f"{executors:9} {wall:9.1f} {halving:11.1f} {halving / wall:14.0%}")
    row(f"successive halving of {len(durations)} trials, simulated on {nodes} executors",
        f"{sum(simulate(stage, nodes) for stage in stages):.1f} s against the grid's {simulate(durations, nodes):.1f} s")

    measured = measured_cluster_speedup()
    if measured is None:
        print("cluster measurement: not run")
    else:
        print(f"cluster measurement: 2 workers {measured:.2f}× faster than 1 (simulated: {speedups[2]:.2f}×)")
        row("standalone cluster, 2 workers against 1 (measured)", f"{measured:.2f}x", f"simulated {speedups[2]:.2f}x")

    row(f"grid of {len(durations)} trials, simulated speed-up on {nodes} executors", f"{speedups[nodes]:.1f}x",
        f">= {figure:.0f}x (Databricks 2016)", speedups[nodes] >= figure)
    most = max(EXECUTORS)
    row(f"grid of {len(durations)} trials, simulated speed-up on {most} executors", f"{speedups[most]:.1f}x")


if __name__ == "__main__":
    cli.run(main, globals())
