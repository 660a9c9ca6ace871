"""The big-data lessons on a real Spark standalone cluster whose workers cannot see the project
(tests/cluster.py): the environment (dist/spark-env.tar.gz, `make spark-env`), the code and the
data travel with the job, and each failure a cluster user meets is one line. The lessons run as
the README's commands, and through its spark-submit line; three Spark applications in all (each
unpacks the environment on the driver and on both executors: about a minute each on 2 cores)."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster import StandaloneCluster, unshare_problem
from conftest import REPO, run_script
from workshop.spark import ENV_ARCHIVE

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.cluster]
TINY_MLP = ["--hidden-units", 64, "--batch-size", 32, "--learning-rate", 0.02, "--eval-every", 5]


@pytest.fixture(scope="module")
def ready():
    pytest.importorskip("pyspark", reason="PySpark is an extra: pip install -r requirements-spark.txt")
    problem = unshare_problem()
    if problem:
        pytest.skip(f"a cluster that cannot see the project needs unshare -m: {problem}")
    if not ENV_ARCHIVE.is_file():
        pytest.skip(f"{ENV_ARCHIVE} is missing: `make spark-env` builds it (`make test` does)")


@pytest.fixture(scope="module")
def data(ready, easy_pickle):
    """The driver's data, in a folder the cluster does not see."""
    return easy_pickle


@pytest.fixture(scope="module")
def cluster(data):
    with StandaloneCluster(workers=2, cores=1, hide=[data.parent]) as running:
        yield running


def driver_env(**more):
    """A user's environment for the driver, on 127.0.0.1. Without the PYSPARK_PYTHON that a local Spark
    session of another test set in this process: the lessons would take it for the workers' Python."""
    env = {key: value for key, value in os.environ.items() if key != "PYSPARK_PYTHON"}
    return {**env, "SPARK_LOCAL_IP": "127.0.0.1", **more}


def on_cluster(script, *args, cwd, timeout=300, **env):
    """Runs a lesson as its user would, from a folder of their own."""
    return run_script(script, *args, cwd=cwd, timeout=timeout, env=driver_env(**env))


def one_line(result, said_on="stderr"):
    """The one line a failure must be: exit status 1, no Python or Java stack trace; the last line
    of `said_on` (spark-submit hands the driver's stderr to its own stdout, and logs on stderr)."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in output and "\tat " not in output, output[-3000:]
    return getattr(result, said_on).strip().splitlines()[-1]


def test_the_workers_see_neither_the_project_nor_its_packages(cluster, data):
    seen = cluster.run_inside(f"find {REPO} {data.parent} {sys.prefix} -mindepth 1; python3 -c 'import numpy'")
    assert seen.stdout.strip() == "", seen.stdout
    assert "No module named 'numpy'" in seen.stderr


def test_model_selection_runs_on_the_cluster(cluster, data, tmp_path):
    """Successive halving: two Spark stages, the survivors' weights sent through Spark to the second (the
    grid is the same search with one stage)."""
    result = on_cluster("spark_model_selection.py", "--master", cluster.master, "--data", data, "--max-trials", 4,
                        "--steps", 20, "--batch-size", 20, "--search", "halving", "--eta", 2,
                        "--results", tmp_path / "selection", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert f"on {cluster.master}: 2 tasks at a time" in out and "successive halving: 4 to 10 steps, 2 to 20 steps" in out
    rows = out[out.index("rank"):out.index("spark: wall time")].strip().splitlines()[1:]
    assert len(rows) == 4 and not any("failed" in row for row in rows), out
    assert [row.split()[6:8] for row in rows] == [["2", "20"]] * 2 + [["1", "10"]] * 2, out  # rung, steps
    assert re.search(r"^Test accuracy: \d+\.\d%$", out, re.M)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["selection.csv", "selection.png"]


def spark_submit(master, script, *args):
    """docs/cluster.md's spark-submit line for `script`: the driver runs this checkout's Python, the
    executors the archive's; spark-submit's settings, none of the lesson's own. -> (argv, env): in
    the activated venv, so that spark-submit finds PySpark's Spark."""
    venv = Path(sys.executable).parent
    argv = ["spark-submit", "--master", master, "--conf", f"spark.pyspark.driver.python={sys.executable}",
            "--archives", f"{ENV_ARCHIVE}#env", "--conf", "spark.pyspark.python=./env/bin/python", REPO / script, *args]
    env = driver_env(PATH=f"{venv}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv.parent))
    return [str(part) for part in argv], env


def test_two_multiworker_workers_train_in_step_on_the_cluster(cluster, data, tmp_path):
    result = on_cluster("notmnist_distributed.py", "--launcher", "spark", "--spark-master", cluster.master,
                        "--workers", 2, "--data", data, "--runs-dir", tmp_path / "runs", *TINY_MLP, "--steps", 11,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"as a Spark barrier stage on {cluster.master}" in result.stdout
    assert re.search(r"^All 2 workers ended with the same weights \(digest [0-9a-f]{16}\)$", result.stdout, re.M)
    assert "Test accuracy:" in result.stdout
    runs = list((tmp_path / "runs" / "notmnist_distributed").iterdir())  # the chief's folder, sent back
    assert len(runs) == 1 and {"ckpt.index", "history.json", "settings.json"} <= {p.name for p in runs[0].iterdir()}
    assert f"Logs, checkpoint and figures in {runs[0]}" in result.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs"]


def test_without_the_packed_environment_the_lesson_says_make_spark_env(cluster, data, tmp_path):
    result = on_cluster("spark_model_selection.py", "--master", cluster.master, "--data", data, cwd=tmp_path,
                        SPARK_ENV_ARCHIVE=str(tmp_path / "spark-env.tar.gz"))
    assert "spark-env.tar.gz is missing: run `make spark-env`" in one_line(result)


def test_an_unreachable_master_is_one_line(ready, data, tmp_path):
    import socket
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = on_cluster("spark_model_selection.py", "--master", f"spark://127.0.0.1:{port}", "--data", data,
                        cwd=tmp_path, timeout=60)
    assert f"the Spark master spark://127.0.0.1:{port} cannot be reached" in one_line(result)


def test_a_worker_lost_mid_stage_is_one_line_under_spark_submit(data, tmp_path):
    """The multiworker lesson started by spark-submit (docs/cluster.md) trains on the cluster's
    workers; one of them dies: the lesson ends with one line."""
    with StandaloneCluster(workers=2, cores=1, hide=[data.parent]) as cluster:
        argv, env = spark_submit(cluster.master, "notmnist_distributed.py", "--launcher", "spark", "--workers", 2,
                                 "--slots-wait", 20, "--data", data, "--runs-dir", tmp_path, *TINY_MLP,
                                 "--steps", 100000)
        lesson = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        deadline = time.monotonic() + 240
        while not cluster.worker_process_running(1, "notmnist_distributed.py"):  # worker 1 trains
            assert time.monotonic() < deadline and lesson.poll() is None, lesson.communicate()
            time.sleep(0.5)
        time.sleep(3)
        cluster.kill_worker(1)
        out, err = lesson.communicate(timeout=180)
    result = subprocess.CompletedProcess(lesson.args, lesson.returncode, out, err)
    # Spark gives up on the stage itself, or its next attempt lacks a slot for --slots-wait seconds
    assert re.search(r"a (Spark )?worker was lost mid-stage \((executor \d+ exited|2 executors at the start, 1 now)",
                     one_line(result, said_on="stdout"))

