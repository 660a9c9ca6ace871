"""spark_model_selection.py: the grid search on Spark, and the same trials without Spark."""
import csv
import itertools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import LETTERS, REPO, letter_image, run_script

pytestmark = pytest.mark.slow  # runs the scripts: seconds to minutes each

SCRIPT = "spark_model_selection.py"
TINY = ["--steps", 8, "--batch-size", 20]


@pytest.fixture(scope="module")
def noisy_pickle(tmp_path_factory):
    """Noisy letters: learnable, but not in a few steps with every setting."""
    from workshop.notmnist import write_pickle
    rng = np.random.default_rng(0)
    splits = {}
    for name, size in (("train", 600), ("valid", 200), ("test", 200)):
        labels = np.arange(size, dtype=np.int32) % 10
        noisy = [letter_image(LETTERS[k], rng) + rng.normal(0, 100, (28, 28)) for k in labels]
        images = np.clip(noisy, 0, 255).astype(np.uint8)
        splits[name] = (lambda part, images=images: images[part.start:part.stop], labels)
    path = tmp_path_factory.mktemp("noisy") / "noisy.pickle"
    write_pickle(path, splits)
    return path


@pytest.fixture
def lesson(monkeypatch, tmp_path):
    """spark_model_selection.py imported, its task function pickled by value (as when it runs as a
    script, so that Spark's tasks see the settings a test gives it), writing under tmp_path."""
    import spark_model_selection
    from pyspark import cloudpickle
    monkeypatch.setattr(spark_model_selection, "STEPS", 8)
    monkeypatch.setattr(spark_model_selection, "BATCH_SIZE", 20)
    monkeypatch.setattr(spark_model_selection, "RESULTS", str(tmp_path / "results"))
    cloudpickle.register_pickle_by_value(spark_model_selection)
    yield spark_model_selection
    cloudpickle.unregister_pickle_by_value(spark_model_selection)


def rows(results):
    return list(csv.DictReader(open(f"{results}.csv")))


FOUR = {"mlp": {"layers": [1], "units": [256], "learning_rate": [0.001, 0.01, 0.05, 0.2], "l2": [0.0],
                "dropout": [0.0]}}  # four settings that learn at clearly different speeds
FOUR_KEYS = ["model", "layers", "units", "learning_rate", "l2", "dropout"]


def test_spark_tasks_score_each_setting_as_one_after_another(lesson, spark, noisy_pickle, monkeypatch, tmp_path):
    monkeypatch.setattr(lesson, "DATA", str(noisy_pickle))
    monkeypatch.setattr(lesson, "GRIDS", FOUR)
    broadcasts = []
    monkeypatch.setattr(type(spark), "broadcast", lambda sc, value, real=type(spark).broadcast: (
        broadcasts.append(value), real(sc, value))[1])
    scores = {}
    for backend in ("spark", "local"):
        monkeypatch.setattr(lesson, "BACKEND", backend)
        monkeypatch.setattr(lesson, "RESULTS", str(tmp_path / backend))
        lesson.main()
        scores[backend] = {row["learning_rate"]: (row["validation_accuracy"], row["worker"].split(":")[1])
                           for row in rows(tmp_path / backend)}
    assert scores["spark"].keys() == scores["local"].keys() == {"0.001", "0.01", "0.05", "0.2"}
    assert len({accuracy for accuracy, _ in scores["local"].values()}) > 1  # the settings do differ
    assert {k: a for k, (a, _) in scores["spark"].items()} == {k: a for k, (a, _) in scores["local"].items()}
    assert all(pid != str(os.getpid()) for _, pid in scores["spark"].values())  # trained in Spark's workers
    assert all(pid == str(os.getpid()) for _, pid in scores["local"].values())
    assert len(broadcasts) == 1 and broadcasts[0]["train_images"].dtype == np.uint8  # the data, sent once


def random_arrays(train, valid):
    """The broadcast arrays of `train` and `valid` random images and labels (seeded)."""
    rng = np.random.default_rng(0)
    return {"train_images": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, train).astype(np.int32),
            "valid_images": rng.integers(0, 256, (valid, 28, 28), dtype=np.uint8),
            "valid_labels": rng.integers(0, 10, valid).astype(np.int32)}


def test_a_trial_continued_from_its_weights_trains_as_one_run_of_its_steps(lesson):
    """A rung goes on from the state of the previous one: the same minibatches, dropout and momentum."""
    arrays = random_arrays(300, 50)
    setting = {"model": "mlp", "layers": 2, "units": 32, "learning_rate": 0.05, "l2": 5e-4, "dropout": 0.3}
    score, loss, (weights, velocities) = lesson.train(setting, arrays, 0, 8)
    *_, halfway = lesson.train(setting, arrays, 0, 3)  # 15 images a step over 300: steps 3-8 are another epoch
    continued, continued_loss, (continued_weights, continued_velocities) = lesson.train(setting, arrays, 3, 8, halfway)
    for direct, other in zip(weights + velocities, continued_weights + continued_velocities):
        np.testing.assert_allclose(other, direct, rtol=1e-5, atol=1e-6)
    assert (continued, continued_loss) == pytest.approx((score, loss), rel=1e-5)
    *_, (from_step_0, _) = lesson.train(setting, arrays, 0, 5, halfway)  # the same steps, but not steps 3-8
    assert not np.allclose(from_step_0[0], weights[0], rtol=1e-5, atol=1e-6)


def test_halving_on_spark_goes_on_with_the_best_from_their_weights(lesson, spark, noisy_pickle, monkeypatch, capsys,
                                                                    tmp_path):
    """Also when a task of the second rung loses its Python worker: Spark runs it again, from the
    weights the rung gave it."""
    killed, train = str(tmp_path / "killed"), lesson.train

    def train_that_dies_once_in_rung_2(setting, data, first, last, state=None):
        if first > 0 and not os.path.exists(killed):
            open(killed, "w").close()
            os.kill(os.getpid(), 9)
        return train(setting, data, first, last, state)
    monkeypatch.setattr(lesson, "train", train_that_dies_once_in_rung_2)
    monkeypatch.setattr(lesson, "DATA", str(noisy_pickle))
    monkeypatch.setattr(lesson, "GRIDS", FOUR)
    monkeypatch.setattr(lesson, "SEARCH", "halving")
    monkeypatch.setattr(lesson, "ETA", 2)  # 4 settings to 4 steps, the best 2 on to 8
    broadcasts = []
    monkeypatch.setattr(type(spark), "broadcast", lambda sc, value, real=type(spark).broadcast: (
        broadcasts.append(value), real(sc, value))[1])
    lesson.main()
    assert os.path.exists(killed)  # a rung-2 task died
    out = capsys.readouterr().out
    assert "4 settings of the MLP, 8 steps of 20 images each; successive halving: 4 to 4 steps, 2 to 8 steps" in out
    found = rows(lesson.RESULTS)
    assert [(row["rung"], row["steps"]) for row in found] == [("2", "8"), ("2", "8"), ("1", "4"), ("1", "4")]
    assert all(row["problem"] == "" and row["worker"].split(":")[1] != str(os.getpid()) for row in found)
    broadcasts = [value for value in broadcasts if isinstance(value, dict)]  # PySpark broadcasts large tasks too
    assert len(broadcasts) == 1  # the data, sent once for every rung
    # the survivors were the best two after 4 steps, and went on as if trained 8 steps straight through
    arrays = {"train_images": broadcasts[0]["train_images"], "train_labels": broadcasts[0]["train_labels"],
              "valid_images": broadcasts[0]["valid_images"], "valid_labels": broadcasts[0]["valid_labels"]}
    settings = [{key: float(row[key]) if key in ("learning_rate", "l2", "dropout") else
                 (row[key] if key == "model" else int(row[key])) for key in FOUR_KEYS} for row in found]
    after_4 = [lesson.train(setting, arrays, 0, 4)[0] for setting in settings]
    assert min(after_4[:2]) >= max(after_4[2:]) and len(set(after_4)) > 1
    for setting, row in zip(settings, found):
        steps = int(row["steps"])
        assert float(row["validation_accuracy"]) == round(lesson.train(setting, arrays, 0, steps)[0], 2)
    leaderboard = out[out.index("rank"):out.index("spark: wall time")].strip().splitlines()
    assert leaderboard[0].split()[6:8] == ["rung", "steps"] and len(leaderboard) == 5
    trial_seconds = float(re.search(r"^spark: wall time [\d.]+ s for ([\d.]+) s of trials", out, re.M).group(1))
    assert trial_seconds > sum(float(row["seconds"]) for row in found)  # the survivors' first rung counts too
    assert re.search(r"^Test accuracy: \d+\.\d%$", out, re.M)


def test_a_worker_makes_the_training_set_once_though_each_task_gets_the_lesson_anew(lesson):
    """Spark sends the lesson's functions to every task by value, each time with fresh globals; the
    tensors made from the broadcast data must still be there for the worker's next task."""
    import pickle
    from pyspark import cloudpickle
    data = {"train_images": np.zeros((50, 28, 28), np.uint8), "train_labels": np.zeros(50, np.int32)}
    task = cloudpickle.dumps(lesson.training_set)
    first, second = pickle.loads(task)(data, [-1, 28 * 28]), pickle.loads(task)(data, [-1, 28 * 28])
    assert first[0] is second[0] and first[1] is second[1]
    assert pickle.loads(task)(data, [-1, 28, 28, 1])[0].shape == (50, 28, 28, 1)  # another shape: made anew


def test_trials_one_after_another_in_one_process_do_not_pile_up_memory(lesson):
    """A Spark Python worker runs many trials: each must free its graph and its weights (15 MB here);
    the training set is made once."""
    arrays = random_arrays(1000, 100)
    setting = {"model": "mlp", "layers": 2, "units": 1024, "learning_rate": 0.05, "l2": 5e-4, "dropout": 0.3}

    def resident_mb():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    for _ in range(2):  # the first trials load what every trial shares
        lesson.train_and_evaluate(setting, arrays, 0, 8)
    before = resident_mb()
    for _ in range(4):
        assert lesson.train_and_evaluate(setting, arrays, 0, 8)["problem"] == ""
    assert resident_mb() - before < 25, f"{resident_mb() - before:.0f} MB more after 4 trials"


class KillsItsWorkerOnce(float):
    """A dropout of 0.0 that, unpickled in a Spark task the first time, kills the task's Python worker."""
    marker = ""

    def __reduce__(self):
        return eval, (f"0.0 if __import__('os').path.exists({self.marker!r}) else "
                      f"(open({self.marker!r}, 'w').close(), __import__('os').kill(__import__('os').getpid(), 9))",)


@pytest.mark.parametrize("search", ["grid", "halving"])
def test_failed_trials_are_in_their_rows_and_a_killed_worker_is_replaced(lesson, spark, easy_pickle, monkeypatch,
                                                                         tmp_path, capsys, search):
    """With halving, the failed and diverged settings are stopped in the first rung, the good one goes on."""
    KillsItsWorkerOnce.marker = str(tmp_path / "killed")
    monkeypatch.setattr(lesson, "DATA", str(easy_pickle))
    monkeypatch.setattr(lesson, "SEARCH", search)
    monkeypatch.setattr(lesson, "ETA", 2)
    monkeypatch.setattr(lesson, "GRIDS", {"mlp": {"layers": [1], "units": [64, -1], "learning_rate": [0.05, 1e12],
                                                  "l2": [0.0], "dropout": [KillsItsWorkerOnce(0.0)]}})
    lesson.main()
    assert os.path.exists(KillsItsWorkerOnce.marker)  # a task's worker died once, and Spark ran the task again
    by_setting = {(int(r["units"]), float(r["learning_rate"])): r for r in rows(lesson.RESULTS)}
    assert len(by_setting) == 4
    good, diverged = by_setting[64, 0.05], by_setting[64, 1e12]
    assert good["problem"] == "" and float(good["validation_accuracy"]) > 30 and good["steps"] == "8"
    assert {row["rung"] for row in by_setting.values() if row is not good} == {"1"}
    assert diverged["problem"].startswith("diverged") and diverged["validation_accuracy"] == "nan"
    for learning_rate in (0.05, 1e12):
        assert by_setting[-1, learning_rate]["problem"].startswith("failed: InvalidArgumentError")
    out = capsys.readouterr().out
    leaderboard = out[out.index("rank"):out.index("spark: wall time")].strip().splitlines()[1:]
    assert len(leaderboard) == 4 and "diverged" not in leaderboard[0] and "failed" in leaderboard[-1]
    assert re.search(r"^Best setting: layers 1, units 64, learning_rate 0.05, l2 0.0, dropout 0.0$", out, re.M)


def test_the_script_reports_leaderboard_csv_plot_and_test_accuracy(easy_pickle, tmp_path):
    import spark_model_selection
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
    found = rows(results)
    axes = spark_model_selection.GRIDS["mlp"]
    grid = {tuple(str(v) for v in values) for values in itertools.product(*axes.values())}
    assert len({tuple(row[key] for key in axes) for row in found}) == 3  # three different settings ...
    assert all(tuple(row[key] for key in axes) in grid for row in found)  # ... of the grid
    assert {"validation_accuracy", "loss", "seconds", "worker", "problem"} <= set(found[0])
    assert os.path.getsize(f"{results}.png") > 10_000
    assert sorted(p.name for p in results.parent.iterdir()) == ["search.csv", "search.png"]


def test_the_cnn_on_spark_and_without_reports_the_speed_up(easy_pickle, tmp_path):
    run = run_script(SCRIPT, "--data", easy_pickle, "--model", "cnn", "--backend", "both", "--master", "local[2]",
                     "--max-trials", 2, "--results", tmp_path / "cnn", *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 settings of the CNN" in run.stdout and "Spark 4." in run.stdout
    assert re.search(r"^spark: wall time [\d.]+ s for [\d.]+ s of trials \(speed-up [\d.]+\)$", run.stdout, re.M)
    walls = dict(re.findall(r"^(spark|local): wall time ([\d.]+) s", run.stdout, re.M))
    found = re.search(r"^Spark against one after another: (\d+\.\d\d)× (faster|slower)$", run.stdout, re.M)
    assert found and walls.keys() == {"spark", "local"}
    ratio = float(found[1])
    fast, slow = (float(walls[name]) for name in (("spark", "local") if found[2] == "faster" else ("local", "spark")))
    assert fast <= slow  # the word says which way round the wall times are
    # the wall times are printed to 0.1 s (each within 0.05 s of its figure) and the ratio to 0.01
    assert (slow - 0.05) / (fast + 0.05) - 0.005 <= ratio <= (slow + 0.05) / max(fast - 0.05, 1e-9) + 0.005
    assert all(row["problem"] == "" for row in rows(tmp_path / "cnn"))


def test_missing_java_is_one_clear_line(easy_pickle, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java on it
    run = run_script(SCRIPT, "--data", easy_pickle, "--results", tmp_path / "r", *TINY, env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "Spark needs Java, and none was found: install Java 17 or 21" in run.stderr
    assert not list(tmp_path.glob("r*"))  # nothing written


def test_missing_pyspark_is_one_clear_line(easy_pickle, tmp_path):
    code = ("import sys, runpy; sys.modules['pyspark'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", code, str(REPO / SCRIPT), "--data", str(easy_pickle),
                          "--results", str(tmp_path / "r")], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "PySpark is not installed: pip install -r requirements-spark.txt" in run.stderr


def test_a_python_the_workers_lack_is_one_line(easy_pickle, tmp_path):
    pytest.importorskip("pyspark", reason="PySpark is an extra: pip install -r requirements-spark.txt")
    missing = tmp_path / "no-such-env" / "bin" / "python"
    result = run_script(SCRIPT, "--data", easy_pickle, "--master", "local[2]", "--max-trials", 2, "--steps", 5,
                        "--results", tmp_path / "results", env={**os.environ, "PYSPARK_PYTHON": str(missing)})
    assert result.returncode == 1 and "Traceback" not in result.stderr and "\tat " not in result.stderr
    assert f"the workers have no Python at {missing}: run `make spark-env`" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "results.csv").exists()
