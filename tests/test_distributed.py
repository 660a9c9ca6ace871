"""--strategy mirrored|multiworker in the classifiers, and the launchers that start the workers."""
import re
import sys

import numpy as np
import pytest

from conftest import QUICK, REPO, progress, run_script, train

pytestmark = pytest.mark.slow  # runs the scripts: seconds to minutes each

MLP = "notmnist_classifier.py"
IN_STEP = ["--dropout", 0, "--steps", 6, "--eval-every", 5]  # no dropout: replicas draw their own masks


def final_weights(runs, script=MLP):
    """The weights in the checkpoint of the one run folder under `runs`."""
    import tensorflow as tf
    (run_dir,) = (runs / script.removesuffix(".py")).iterdir()
    reader = tf.train.load_checkpoint(str(run_dir / "ckpt"))
    names = sorted(name for name in reader.get_variable_to_shape_map()
                   if name.startswith("variable") and name.endswith("/.ATTRIBUTES/VARIABLE_VALUE"))
    assert len(names) == 6
    return [reader.get_tensor(name) for name in names]


def assert_same_weights(first, second):
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("script", [MLP, "notmnist_classifier_CNN.py"])
def test_mirrored_over_two_logical_cpus_trains(script, easy_pickle, tmp_path):
    out = train(script, easy_pickle, tmp_path, "--strategy", "mirrored", "--replicas", 2,
                "--steps", 61, "--eval-every", 30)
    assert "× 2 replicas (MirroredStrategy)" in out
    losses = [float(x) for x in re.findall(r"Minibatch loss at step \d+: ([\d.]+)", out)]
    assert len(losses) == 3 and losses[-1] < losses[0] / 3
    assert float(progress(out)[-1].split(": ")[1].rstrip("%")) > 60


def test_mirrored_matches_one_device(easy_pickle, tmp_path):
    train(MLP, easy_pickle, tmp_path / "one", *IN_STEP)
    train(MLP, easy_pickle, tmp_path / "two", *IN_STEP, "--strategy", "mirrored", "--replicas", 2)
    assert_same_weights(final_weights(tmp_path / "one"), final_weights(tmp_path / "two"))


def test_two_workers_end_in_step_and_match_one_process(easy_pickle, tmp_path):
    out = train(MLP, easy_pickle, tmp_path / "two", *IN_STEP, "--strategy", "multiworker", "--workers", 2)
    assert re.search(r"Starting 2 workers on 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+", out)
    assert "× 2 replicas (MultiWorkerMirroredStrategy, 2 workers)" in out
    assert re.search(r"^All 2 workers ended with the same weights \(digest [0-9a-f]{16}\)$", out, re.M)
    train(MLP, easy_pickle, tmp_path / "one", *IN_STEP)
    assert_same_weights(final_weights(tmp_path / "one"), final_weights(tmp_path / "two"))  # one folder only


def test_the_spark_barrier_launcher_runs_twice_in_one_session(spark, easy_pickle, tmp_path):
    from workshop.launch import launch_on_spark
    from workshop.strategies import DIGEST_LINE
    command = [sys.executable, str(REPO / MLP), "--data", str(easy_pickle), "--runs-dir", str(tmp_path),
               "--device", "cpu", *map(str, QUICK[MLP] + IN_STEP), "--strategy", "multiworker"]
    digests = []
    for _ in range(2):  # the second job must not hang on the first one's leftovers
        codes, outputs = launch_on_spark(spark, (command, str(tmp_path)), 2)
        assert codes == [0, 0], "".join(outputs[0][-20:] + outputs[1][-20:])
        digests += [line for lines in outputs for line in lines if line.startswith(DIGEST_LINE)]
    assert len(digests) == 4 and len(set(digests)) == 1
    assert len(list((tmp_path / "notmnist_classifier").iterdir())) == 2  # the chief's, once per job


def test_a_failing_worker_stops_the_others_with_a_clear_error(tmp_path):
    result = run_script(MLP, "--data", tmp_path / "missing.pickle", "--strategy", "multiworker",
                        "--runs-dir", tmp_path, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"notmnist_classifier\.py: error: worker \d failed: .*missing\.pickle not found: "
                        r"run `python create_notmnist\.py` first.*", last)


@pytest.mark.parametrize("flags, env, message", [
    (["--strategy", "multiworker"], {"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid"),
    (["--strategy", "mirrored", "--replicas", 3, "--batch-size", 32], {}, "does not split evenly over 3 replicas"),
])
def test_bad_distribution_settings_are_one_clear_line(easy_pickle, tmp_path, flags, env, message):
    import os
    result = run_script(MLP, "--data", easy_pickle, "--runs-dir", tmp_path, "--device", "cpu", *flags,
                        env={**os.environ, **env})
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_a_failing_spark_worker_fails_the_stage_without_hanging(spark, tmp_path):
    from workshop.launch import launch_on_spark
    from workshop.errors import UserError
    worker = ("import json, os, sys, time; index = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
              "print('worker', index, 'cannot read its data', flush=True); "
              "sys.exit(3) if index == 1 else time.sleep(600)")  # worker 0 would wait for its peer forever
    with pytest.raises(UserError, match=r"^worker 1 failed \(exit status 3\): worker 1 cannot read its data$"):
        launch_on_spark(spark, ([sys.executable, "-c", worker], str(tmp_path)), 2)
    codes, outputs = launch_on_spark(spark, ([sys.executable, "-c", "print('fine')"], str(tmp_path)), 2)
    assert codes == [0, 0] and outputs == [["fine\n"], ["fine\n"]]  # the session still works
