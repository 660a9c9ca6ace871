"""Spark for the workshop: the session (local by default, a cluster with --master or spark-submit),
what a cluster's workers need shipped with the job, TensorFlow's threads inside a task, and
Spark's failures as one line.

PySpark is an optional extra (`pip install -r requirements-spark.txt`) and needs Java 17
or 21. A local Spark binds to 127.0.0.1 only and runs without its web UI. On a cluster, the
workers read nothing from the driver's disk: the session ships the packed environment
(`make spark-env`) and the workshop's code with the job.
"""
import atexit
import functools
import hashlib
import linecache
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

from workshop.errors import UserError

REPOSITORY = Path(__file__).resolve().parent.parent
# written by `make spark-env`; SPARK_ENV_ARCHIVE=PATH ships another (e.g. one built on a machine like the workers)
ENV_ARCHIVE = Path(os.environ.get("SPARK_ENV_ARCHIVE") or REPOSITORY / "dist" / "spark-env.tar.gz")
ENV_PYTHON = "./env/bin/python"  # the executors' Python, in the archive unpacked as ./env
JAVA_HINT = "install Java 17 or 21 (e.g. apt install openjdk-17-jre-headless) or set JAVA_HOME"
TASK_ATTEMPTS = 4  # a task whose worker died runs again, up to this many times in all (Spark's default on a cluster)
SLOTS_CHECK_SECONDS = 5  # a barrier stage short of free slots is tried again this often, until its wait ends


def _check_java():
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise UserError(f"Spark needs Java, and none was found: {JAVA_HINT}")
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    found = re.search(r'version "(\d+)', version)
    if found and int(found.group(1)) < 17:
        raise UserError(f"Spark 4 needs Java 17 or newer, found Java {found.group(1)} at {java}: {JAVA_HINT}")


def with_retries(master):
    """local[N] -> local[N,TASK_ATTEMPTS]: a local Spark runs a failed task only once, unless its
    master URL says how many attempts (spark.task.maxFailures counts on a cluster only)."""
    local = re.fullmatch(r"local(?:\[([^,\]]+)\])?", master)
    return f"local[{local[1] or 1},{TASK_ATTEMPTS}]" if local else master


def _check_reachable(master):
    """spark://host:port[,host:port]: one line now if no master answers (Spark would retry for a minute)."""
    addresses = master[len("spark://"):].split(",")
    for address in addresses:
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
            return
        except (OSError, ValueError) as error:
            problem = error
    raise UserError(f"the Spark master {master} cannot be reached ({problem}): is it running? "
                    "Its URL is the first line of the master's web UI (port 8080) and of its log")


def _executors_python(builder, submitted):
    """On a cluster: the Python the executors run. Whatever the user chose (spark.pyspark.python,
    PYSPARK_PYTHON: e.g. a Docker image's or Databricks' Python, which has the packages), else
    the packed environment, shipped with the job."""
    if submitted.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON"):
        return builder
    if not ENV_ARCHIVE.is_file():
        raise UserError(f"the cluster's workers need this project's Python packages, and {ENV_ARCHIVE} is missing: "
                        "run `make spark-env` (it packs them; the lessons ship the archive with the job)")
    os.environ["PYSPARK_PYTHON"] = ENV_PYTHON
    return builder.config("spark.archives", f"{ENV_ARCHIVE}#env").config("spark.pyspark.python", ENV_PYTHON)


def spark_session(master, app_name, barrier_wait=None):
    """Starts (or joins) the Spark session. `master`: a URL such as local[2] or spark://host:7077;
    None takes spark-submit's --master, else local[*]. `barrier_wait`: seconds a barrier stage
    may wait for enough task slots before it fails. -> SparkSession"""
    try:
        from pyspark import SparkConf, SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError("PySpark is not installed: pip install -r requirements-spark.txt "
                        "(Spark also needs Java 17 or 21)") from None
    _check_java()
    submitted = {}
    if "PYSPARK_GATEWAY_PORT" in os.environ:  # under spark-submit: its settings, once PySpark reaches its JVM
        SparkContext._ensure_initialized()
        submitted = SparkConf()
    master = with_retries(master or submitted.get("spark.master") or "local[*]")
    builder = (SparkSession.builder.appName(app_name).master(master).config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if barrier_wait:
        builder = (builder.config("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", f"{SLOTS_CHECK_SECONDS}s")
                   .config("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures",
                           str(math.ceil(barrier_wait / SLOTS_CHECK_SECONDS))))
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # tasks run this Python, with TensorFlow
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1"))
    else:
        if master.startswith("spark://"):
            _check_reachable(master)
        builder = _executors_python(builder, submitted)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # the JVM did not start: say why, without PySpark's traceback
        raise UserError(f"Spark did not start ({str(error).splitlines()[0]}); check Java: {JAVA_HINT}") from None
    session.sparkContext.setLogLevel("FATAL")  # its failures reach the user as one line (one_line_errors)
    session.sparkContext.addPyFile(str(code_zip()))  # the workers import the workshop's code from here
    return session


_zips = {}


def code_zip():
    """A zip of the workshop package and the lessons' modules (notmnist_classifier.py, ...), for
    the workers' Python path; named by its content, so that a session gets it once."""
    if not _zips:
        lessons = REPOSITORY.glob("*.py") if (REPOSITORY / "notmnist_classifier.py").is_file() else []  # a checkout
        files = sorted([*lessons, *(REPOSITORY / "workshop").glob("*.py")])
        digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:12]
        folder = tempfile.mkdtemp(prefix="workshop-code-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / f"workshop-{digest}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, file.relative_to(REPOSITORY))
        _zips["path"] = path
    return _zips["path"]


def limit_threads_to_task():
    """Inside a Spark task: TensorFlow uses the task's cores (spark.task.cpus), not the machine's.
    Outside a task, or in a reused Python worker that already runs TensorFlow, nothing changes."""
    try:
        from pyspark import TaskContext
    except ImportError:  # no PySpark: not in a Spark task
        return
    context = TaskContext.get()
    if context is None:
        return
    import tensorflow as tf
    cores = context.cpus()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(cores)
    except RuntimeError:
        pass


_kept = {}  # here, in an imported module: a lesson run as a script reaches each task with fresh globals


def kept_for_next_tasks(key, make):
    """make(), made once per Python process for `key` and kept for the next tasks this (reused) Spark
    Python worker runs; one value at a time. A dict in the lesson itself would not keep it: Spark sends
    a script's functions to the tasks by value, each task with a fresh copy of the script's globals."""
    if key not in _kept:
        _kept.clear()
        _kept[key] = make()
    return _kept[key]


def explain(error, what):
    """One line for a failed Spark job: a task's own UserError as it said it, else what a cluster
    user can do about the failures they meet, else the first line of Spark's own reason."""
    text = str(error)
    found = re.search(r"UserError: (.*)", text)
    if found:
        return found.group(1)
    found = re.search(r'Cannot run program "([^"]*)"', text)
    if found and found.group(1) == ENV_PYTHON:
        return (f"{what} failed: the workers could not start the packed environment's Python ({ENV_PYTHON}): "
                f"it needs Python {sys.version_info.major}.{sys.version_info.minor} at "
                f"{os.path.realpath(sys._base_executable)} on every worker; build it with `make spark-env` "
                "on a machine like the workers, or use the Docker image (docs/cluster.md)")
    if found:
        return (f"{what} failed: the workers have no Python at {found.group(1)}: run `make spark-env`, "
                "and unset PYSPARK_PYTHON and spark.pyspark.python unless every worker has that Python")
    found = re.search(r"No module named '([^']+)'", text)
    if found:
        return (f"{what} failed: the workers' Python has no module {found.group(1)!r}: rebuild the environment "
                "with `make spark-env`, or install requirements.txt into the Python they run")
    found = re.search(r"ExecutorLostFailure \(([^)]*)\)|Lost executor \S+ on (\S+)", text)
    if found:
        return (f"{what} failed: a Spark worker was lost mid-stage ({found.group(1) or found.group(2)}) and Spark "
                "gave up on the stage: check that the workers are alive (their logs: SPARK_HOME/work/), then run again")
    found = re.search(r"SparkException: (.*)", text) or re.search(r"(.+)", text.strip())
    return f"{what} failed: {found.group(1) if found else type(error).__name__}"


def with_its_source(function):
    """For a function that Spark tasks run and that builds a tf.function: AutoGraph reads the
    tf.function's source from the file it was defined in, which a worker lacks (the driver's
    script on a cluster; a notebook's cell, which only the notebook's kernel holds). The decorated
    function carries its file's lines to the task and lends them to Python there."""
    filename = function.__code__.co_filename
    lines = linecache.getlines(filename, function.__globals__)  # a file, a zip's member, or a notebook's cell

    @functools.wraps(function)
    def lent_source(*args, **kwargs):
        if not os.path.exists(filename):
            linecache.cache.setdefault(filename, (sum(map(len, lines)), None, lines, filename))  # None: never stale
        return function(*args, **kwargs)
    return lent_source


@contextmanager
def one_line_errors(what):
    """Turns a failed Spark job into one line (see explain)."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:
        raise UserError(explain(error, what)) from None


@contextmanager
def barrier_job(sc, tasks, wait, what):
    """Runs a barrier stage's job with one line for its failures (see explain); the line of a stage short
    of task slots says how long it waited. Its `tasks` must all run at once: Spark fails a stage that asks
    for more slots than the cluster has, after the checks that spark_session's `barrier_wait` allows; a
    stage short of slots for another reason (a worker was lost mid-stage, so the stage's next attempt
    lacks a slot; or the cluster is busy) would wait forever, so it is cancelled after `wait` seconds."""
    group = f"barrier-{time.time_ns()}"
    sc.setJobGroup(group, what, interruptOnCancel=True)
    stop, stalled = threading.Event(), []
    executors = _executors(sc)
    started = time.monotonic()

    def watch():
        short_since = None
        while not stop.wait(1):
            stages = [sc.statusTracker().getStageInfo(stage) for job in sc.statusTracker().getJobIdsForGroup(group)
                      for stage in (sc.statusTracker().getJobInfo(job) or _NO_JOB).stageIds]
            short = any(info and info.numActiveTasks + info.numCompletedTasks < info.numTasks for info in stages)
            short_since = (short_since or time.monotonic()) if short else None
            if short_since and time.monotonic() - short_since > wait:
                stalled.append((_executors(sc), int(time.monotonic() - short_since)))
                sc.cancelJobGroup(group)
                return
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    except Exception as error:
        if stalled:
            now, waited = stalled[0]
        elif "SPARK-24819" in str(error) or "BarrierJobSlotsNumberCheckFailed" in str(error):
            # Spark's own check of the free slots gave up: its checks are SLOTS_CHECK_SECONDS apart, so the
            # stage waited a whole number of them (the rest of the time is the job's start)
            now, waited = executors, SLOTS_CHECK_SECONDS * round((time.monotonic() - started) / SLOTS_CHECK_SECONDS)
        else:
            raise UserError(explain(error, what)) from None
        lost = f"a worker was lost mid-stage ({executors} executors at the start, {now} now), and " \
            if now < executors else ""
        raise UserError(f"{what} failed: {lost}its barrier stage needs one free task slot per worker at once, and "
                        f"{tasks} were not free in the {waited} s it waited: add workers or cores, ask for fewer "
                        "--workers, or wait longer (--slots-wait)") from None
    finally:
        stop.set()
        sc.setLocalProperty("spark.jobGroup.id", None)


class _NO_JOB:
    stageIds = ()


def _executors(sc):
    """How many executors the application has now."""
    return sc._jsc.sc().getExecutorMemoryStatus().size() - 1  # less the driver
