"""notmnist_distributed.py: MirroredStrategy, MultiWorkerMirroredStrategy, and the launchers
that start its workers (local processes, or the tasks of a Spark barrier stage)."""
import os
import re
import sys

import numpy as np
import pytest

from conftest import QUICK, assert_diverged, progress, run_script, train

pytestmark = pytest.mark.slow  # runs the scripts: seconds to minutes each

SCRIPT = "notmnist_distributed.py"
# No dropout (each replica draws its own masks), the classifier's small network and batch.
IN_STEP = [*QUICK["notmnist_classifier.py"], "--dropout", 0, "--steps", 6, "--eval-every", 5]


def distributed(data, runs, *args, env=None):
    """Runs notmnist_distributed.py; returns its stdout (it must succeed)."""
    result = run_script(SCRIPT, "--data", data, "--runs-dir", runs, *args, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def final_weights(runs, script):
    """The weights in the checkpoint of the one run folder under `runs`."""
    import tensorflow as tf
    (run_dir,) = (runs / script.removesuffix(".py")).iterdir()
    reader = tf.train.load_checkpoint(str(run_dir / "ckpt"))
    names = sorted(name for name in reader.get_variable_to_shape_map()
                   if name.startswith("variable") and name.endswith("/.ATTRIBUTES/VARIABLE_VALUE"))
    assert len(names) == 6
    return [reader.get_tensor(name) for name in names]


@pytest.fixture(scope="module")
def one_device(easy_pickle, tmp_path_factory):
    """The weights of notmnist_classifier.py trained on one device with IN_STEP."""
    runs = tmp_path_factory.mktemp("one_device")
    train("notmnist_classifier.py", easy_pickle, runs, *IN_STEP)
    return final_weights(runs, "notmnist_classifier.py")


def assert_same_weights(first, second):
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_mirrored_over_two_logical_cpus_learns(easy_pickle, tmp_path):
    out = distributed(easy_pickle, tmp_path, *QUICK["notmnist_classifier.py"], "--steps", 61, "--eval-every", 30)
    assert "MirroredStrategy: 2 replicas in sync" in out
    losses = [float(x) for x in re.findall(r"^Minibatch loss at step \d+: ([\d.]+)$", out, re.M)]
    assert len(losses) == 3 and losses[-1] < losses[0] / 3
    assert progress(out)[-1].startswith("Test accuracy: ")
    assert float(progress(out)[-1].split(": ")[1].rstrip("%")) > 60
    assert (next((tmp_path / "notmnist_distributed").iterdir()) / "curves.png").is_file()


def test_mirrored_matches_one_device_with_the_same_global_batch(easy_pickle, tmp_path, one_device):
    distributed(easy_pickle, tmp_path, *IN_STEP, "--replicas", 2)
    assert_same_weights(one_device, final_weights(tmp_path, SCRIPT))


def test_two_local_workers_end_in_step_and_match_one_device(easy_pickle, tmp_path, one_device):
    out = distributed(easy_pickle, tmp_path, *IN_STEP, "--strategy", "multiworker", "--workers", 2)
    assert re.search(r"^Starting 2 workers on 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+", out, re.M)
    assert "MultiWorkerMirroredStrategy: 2 replicas in sync" in out
    assert re.search(r"^All 2 workers ended with the same weights \(digest [0-9a-f]{16}\)$", out, re.M)
    assert_same_weights(one_device, final_weights(tmp_path, SCRIPT))  # the chief's folder, the only one


def test_two_spark_barrier_tasks_end_in_step_and_match_one_device(easy_pickle, tmp_path, one_device):
    pytest.importorskip("pyspark", reason="PySpark is an extra: pip install -r requirements-spark.txt")
    out = distributed(easy_pickle, tmp_path, *IN_STEP, "--strategy", "multiworker", "--launcher", "spark",
                      "--spark-master", "local[2]")
    assert "Starting 2 workers as a Spark barrier stage on local[2" in out
    assert re.search(r"^All 2 workers ended with the same weights \(digest [0-9a-f]{16}\)$", out, re.M)
    assert progress(out)[-1].startswith("Test accuracy: ")  # the chief's output, shown by the driver
    assert_same_weights(one_device, final_weights(tmp_path, SCRIPT))


def test_a_diverging_mirrored_run_stops_with_one_line(easy_pickle, tmp_path):
    result = run_script(SCRIPT, "--data", easy_pickle, "--runs-dir", tmp_path, *QUICK["notmnist_classifier.py"],
                        "--learning-rate", 100, "--steps", 41, "--eval-every", 10)
    assert "MirroredStrategy: 2 replicas in sync" in result.stdout
    assert assert_diverged(result, SCRIPT, tmp_path, "100") < 40  # before the end


@pytest.fixture
def lesson(monkeypatch):
    """notmnist_distributed.py imported, with its Spark barrier task pickled by value (as when
    it runs as a script), so that the tasks see the settings a test gives it."""
    import notmnist_distributed
    monkeypatch.setattr(notmnist_distributed, "STRATEGY", "multiworker")
    pytest.importorskip("pyspark")
    from pyspark import cloudpickle
    cloudpickle.register_pickle_by_value(notmnist_distributed)
    yield notmnist_distributed
    cloudpickle.unregister_pickle_by_value(notmnist_distributed)


WORKER_1_FAILS = ("import json, os, sys, time; index = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
                  "print('worker', index, 'cannot read its data', flush=True); "
                  "sys.exit(3) if index == 1 else time.sleep(600)")  # worker 0 would wait for its peer forever


@pytest.mark.parametrize("launcher", ["local", "spark"])
def test_a_failing_worker_stops_the_others_with_one_line(lesson, launcher, request, monkeypatch, easy_pickle):
    from workshop.errors import UserError
    monkeypatch.setattr(lesson, "DATA", str(easy_pickle))
    if launcher == "spark":
        request.getfixturevalue("spark")  # the test session's Spark, which the launcher joins
    monkeypatch.setattr(lesson, "LAUNCHER", launcher)
    monkeypatch.setattr(lesson, "worker_command", lambda *_: [sys.executable, "-c", WORKER_1_FAILS])
    with pytest.raises(UserError, match=r"^worker 1 failed \(exit status 3\): worker 1 cannot read its data$"):
        lesson.launch_workers()


def test_the_spark_launcher_runs_twice_in_one_spark_session(lesson, spark, easy_pickle, tmp_path, monkeypatch,
                                                            capsys):
    for name, value in dict(LAUNCHER="spark", DATA=str(easy_pickle), RUNS_DIR=str(tmp_path), HIDDEN_UNITS=64,
                            BATCH_SIZE=32, LEARNING_RATE=0.02, DROPOUT=0.0, STEPS=6, EVAL_EVERY=5).items():
        monkeypatch.setattr(lesson, name, value)
    for _ in range(2):  # the second job must not hang on TensorFlow state left by the first
        lesson.launch_workers()
    digests = re.findall(r"^All 2 workers ended with the same weights \(digest ([0-9a-f]{16})\)$",
                         capsys.readouterr().out, re.M)
    assert len(digests) == 2 and len(set(digests)) == 1
    assert len(list((tmp_path / "notmnist_distributed").iterdir())) == 2  # the chief's, once per job


def test_a_missing_data_file_is_one_line_from_the_worker(tmp_path):
    result = run_script(SCRIPT, "--data", tmp_path / "missing.pickle", "--strategy", "multiworker",
                        "--runs-dir", tmp_path, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"notmnist_distributed\.py: error: worker \d failed: .*missing\.pickle not found: "
                        r"run `python create_notmnist\.py` first.*", last)


@pytest.mark.parametrize("flags, env, message", [
    (["--strategy", "multiworker"], {"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid"),
    (["--replicas", 3, "--batch-size", 32], {}, "--batch-size 32 does not split evenly over 3 replicas"),
    (["--strategy", "multiworker", "--workers", 0], {}, "--workers 0: need at least 1"),
])
def test_bad_distribution_settings_are_one_clear_line(easy_pickle, tmp_path, flags, env, message):
    result = run_script(SCRIPT, "--data", easy_pickle, "--runs-dir", tmp_path, *flags, env={**os.environ, **env})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"{SCRIPT}: error: {message}")


def test_too_few_task_slots_for_the_barrier_stage_is_one_line(easy_pickle, tmp_path):
    """Spark alone would wait for a third slot forever: the stage waits --slots-wait seconds (two of
    Spark's checks, 5 s apart), and the line says so."""
    pytest.importorskip("pyspark", reason="PySpark is an extra: pip install -r requirements-spark.txt")
    result = run_script(SCRIPT, "--data", easy_pickle, "--runs-dir", tmp_path, "--launcher", "spark",
                        "--spark-master", "local[2]", "--workers", 3, "--slots-wait", 10, timeout=180)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "\tat " not in result.stderr
    assert re.fullmatch(r"notmnist_distributed\.py: error: the Spark barrier stage failed: its barrier stage needs one "
                        r"free task slot per worker at once, and 3 were not free in the 10 s it waited: .*",
                        result.stderr.strip().splitlines()[-1])
