"""spark_model_selection.py: the grid search on Spark, and the same trials without Spark."""
import csv
import functools
import os
import re
import sys

import numpy as np
import pytest

from conftest import LETTERS, REPO, letter_image, run_script
from workshop.model_selection import grid, search, spark_task

pytestmark = pytest.mark.slow  # runs the scripts: seconds to minutes each

SCRIPT = "spark_model_selection.py"
TINY = ["--steps", 8, "--batch-size", 20]


@pytest.fixture(scope="module")
def arrays():
    """Noisy letters: learnable, but not in a few steps with every setting."""
    rng = np.random.default_rng(0)

    def split(size):
        labels = np.arange(size, dtype=np.int32) % 10
        noisy = [letter_image(LETTERS[k], rng) + rng.normal(0, 100, (28, 28)) for k in labels]
        return np.clip(noisy, 0, 255).astype(np.uint8), labels
    (train_images, train_labels), (valid_images, valid_labels) = split(600), split(200)
    return {"train_images": train_images, "train_labels": train_labels,
            "valid_images": valid_images, "valid_labels": valid_labels}


def four_trials():
    """Four settings that learn at clearly different speeds."""
    return [trial for trial in grid("mlp") if trial["units"] == 256 and trial["l2"] == 0
            and trial["dropout"] == 0 and trial["layers"] == 1] + [grid("mlp")[-1]]


def test_grid_covers_every_combination():
    trials = grid("cnn")
    assert len(trials) == 2 * 2 * 3 * 2 * 2
    assert len({tuple(t.values()) for t in trials}) == len(trials)
    assert {t["model"] for t in trials} == {"cnn"}


def test_spark_finds_the_same_best_setting_as_one_after_another(spark, arrays):
    trials = four_trials()
    assert len(trials) == 4
    on_spark, _ = search(trials, arrays, 8, 20, 133, spark)
    local, _ = search(trials, arrays, 8, 20, 133)
    assert len({r["validation_accuracy"] for r in local}) > 1  # the trials do differ
    assert on_spark[0]["learning_rate"] == local[0]["learning_rate"]
    assert [r["validation_accuracy"] for r in on_spark] == [r["validation_accuracy"] for r in local]
    assert len({r["worker"] for r in on_spark}) == 2  # both task slots worked
    assert {r["worker"] for r in on_spark}.isdisjoint({r["worker"] for r in local})


def test_the_task_function_pickles_small(spark, arrays):
    from pyspark import cloudpickle
    shared = spark.broadcast(arrays)
    task = functools.partial(spark_task, shared=shared, steps=8, batch_size=20, seed=133)
    assert sum(a.nbytes for a in arrays.values()) > 500_000
    assert len(cloudpickle.dumps(task)) < 2_000  # the data goes by broadcast, not with the task
    shared.unpersist()


def test_the_script_reports_leaderboard_csv_plot_and_test_accuracy(easy_pickle, tmp_path):
    results = tmp_path / "out" / "search"
    run = run_script(SCRIPT, "--data", easy_pickle, "--backend", "local", "--max-trials", 3,
                     "--results", results, *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "3 settings of the MLP, 8 steps of 20 images each" in out
    assert len(re.findall(r"^ +[123] +[12] +\d+ ", out, re.M)) == 3  # the leaderboard's rows
    assert re.search(r"^local: wall time [\d.]+ s$", out, re.M)
    assert re.search(r"^Test accuracy: \d+\.\d%$", out, re.M)
    assert re.search(r"^Test error [\d.]+% against [\d.]+% with the default setting", out, re.M)
    rows = list(csv.DictReader(open(f"{results}.csv")))
    assert len(rows) == 3 and {"layers", "units", "learning_rate", "validation_accuracy", "seconds"} <= set(rows[0])
    assert os.path.getsize(f"{results}.png") > 10_000
    assert sorted(p.name for p in results.parent.iterdir()) == ["search.csv", "search.png"]


def test_the_cnn_on_spark_and_without_reports_the_speed_up(easy_pickle, tmp_path):
    run = run_script(SCRIPT, "--data", easy_pickle, "--model", "cnn", "--backend", "both", "--master", "local[2]",
                     "--max-trials", 2, "--results", tmp_path / "cnn", *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 settings of the CNN" in run.stdout and "Spark 4." in run.stdout
    assert re.search(r"^spark: wall time [\d.]+ s for [\d.]+ s of trials \(speed-up [\d.]+\)$", run.stdout, re.M)
    assert re.search(r"^Spark against one after another: [\d.]+× faster$", run.stdout, re.M)


def test_missing_java_is_one_clear_line(easy_pickle, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java on it
    run = run_script(SCRIPT, "--data", easy_pickle, "--results", tmp_path / "r", *TINY, env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "Spark needs Java, and none was found: install Java 17 or 21" in run.stderr
    assert not list(tmp_path.glob("r*"))  # nothing written


def test_missing_pyspark_is_one_clear_line(easy_pickle, tmp_path):
    import subprocess
    code = ("import sys, runpy; sys.modules['pyspark'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", code, str(REPO / SCRIPT), "--data", str(easy_pickle),
                          "--results", str(tmp_path / "r")], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "PySpark is not installed: pip install -r requirements-spark.txt" in run.stderr

