"""Spark for the workshop: the session (local by default, a cluster with --master or spark-submit),
TensorFlow's threads inside a task, and Spark's failures as one line.

PySpark is an optional extra (`pip install -r requirements-spark.txt`) and needs Java 17
or 21. A local Spark binds to 127.0.0.1 only and runs without its web UI.
"""
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from workshop.errors import UserError

REPOSITORY = str(Path(__file__).resolve().parent.parent)
JAVA_HINT = "install Java 17 or 21 (e.g. apt install openjdk-17-jre-headless) or set JAVA_HOME"
TASK_ATTEMPTS = 4  # a task whose worker died runs again, up to this many times in all (Spark's default on a cluster)


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


def spark_session(master, app_name):
    """Starts (or joins) the Spark session. `master`: a URL such as local[2] or spark://host:7077;
    None takes spark-submit's --master, else local[*]. -> SparkSession"""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError("PySpark is not installed: pip install -r requirements-spark.txt "
                        "(Spark also needs Java 17 or 21)") from None
    _check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # tasks run this Python, with TensorFlow
    if not master and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
        master = "local[*]"
    if master:
        master = with_retries(master)
    builder = (SparkSession.builder.appName(app_name).config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               # a cluster's Python workers find the workshop package at the same path
               .config("spark.executorEnv.PYTHONPATH", REPOSITORY))
    if master:
        builder = builder.master(master)
    if master and master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1"))
    try:
        session = builder.getOrCreate()
    except Exception as error:  # the JVM did not start: say why, without PySpark's traceback
        raise UserError(f"Spark did not start ({str(error).splitlines()[0]}); check Java: {JAVA_HINT}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


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


@contextmanager
def one_line_errors(what):
    """Turns a failed Spark job into one line: a task's own UserError as it said it, else the
    first line of Spark's error."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:
        found = re.search(r"UserError: (.*)", str(error))
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(found.group(1) if found else f"{what} failed: {first}") from None
