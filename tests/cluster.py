"""A Spark standalone cluster on 127.0.0.1 whose machines know nothing of this project: the
honest stand-in, on one machine, for a cluster of separate ones (for tests and benchmarks).

The master and the workers are started from PySpark's own `spark-class`, inside a mount
namespace (`unshare -m`, as root) in which empty tmpfs folders lie over the checkout, the
project's virtual environment, the driver's data and temporary folders, and the system
Python's site-packages: so the workers have Spark, Java and a bare Python 3 (no TensorFlow,
no NumPy), and whatever a job needs must travel with it.

    with StandaloneCluster(workers=2, hide=[data_folder]) as cluster:
        run(["python", "spark_model_selection.py", "--master", cluster.master, ...])
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def unshare_problem():
    """Why this machine cannot hide folders from the cluster's processes, or None if it can."""
    if not shutil.which("unshare"):
        return "no unshare command (util-linux)"
    if os.geteuid() != 0:
        return "hiding folders from the cluster needs root (unshare -m and tmpfs mounts)"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs",
                            tempfile.gettempdir()], capture_output=True, text=True)
    return f"unshare -m is not allowed here: {probe.stderr.strip()}" if probe.returncode else None


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StandaloneCluster:
    """A master and `workers` workers of `cores` cores each; `hide`: more folders the cluster must not see."""

    def __init__(self, workers=2, cores=1, memory="3g", hide=()):
        self.workers, self.cores, self.memory = workers, cores, memory
        self.folder = Path(tempfile.mkdtemp(prefix="spark-cluster-", dir="/var/tmp"))
        self.spark_home = self.folder / "spark"  # PySpark's Spark, seen through a bind mount
        self.port, self.ui_port = _free_port(), _free_port()
        self.master = f"spark://127.0.0.1:{self.port}"
        pyspark = Path(__import__("pyspark").__file__).parent
        system_packages = sysconfig.get_path("purelib", vars={"base": sys.base_prefix})
        hidden = {os.path.realpath(p) for p in [REPO, sys.prefix, system_packages, tempfile.gettempdir(), *hide]}
        self.hidden = sorted(p for p in hidden if os.path.isdir(p)  # a folder inside another is hidden with it
                             and not any(p.startswith(other + "/") for other in hidden))
        self.log = self.folder / "cluster.log"
        self.script = "\n".join([
            "set -e",
            f"mount -t tmpfs tmpfs {self.folder}",  # in memory: each executor unpacks the job's environment here
            f"mkdir -p {self.spark_home}",
            f"mount --bind {pyspark} {self.spark_home}",
            *(f"mount -t tmpfs tmpfs {path}" for path in self.hidden),
            f"cd {self.folder}",
            f"{self.spark_home}/bin/spark-class org.apache.spark.deploy.master.Master --host 127.0.0.1 "
            f"--port {self.port} --webui-port {self.ui_port} &",
            *(f"{self.spark_home}/bin/spark-class org.apache.spark.deploy.worker.Worker --host 127.0.0.1 "
              f"--cores {cores} --memory {memory} --work-dir {self.folder}/worker{i} --webui-port 0 {self.master} &"
              for i in range(workers)),
            "wait"])

    def __enter__(self):
        env = {"PATH": os.environ["PATH"], "HOME": str(self.folder), "SPARK_HOME": str(self.spark_home),
               "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_DIRS": str(self.folder / "local"),
               "SPARK_NO_DAEMONIZE": "1", "JAVA_HOME": os.environ.get("JAVA_HOME", ""),
               # a finished job's folders (its unpacked environment) go within seconds, not days
               "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.interval=5 "
                                    "-Dspark.worker.cleanup.appDataTtl=1",
               "PYSPARK_PYTHON": "python3"}  # the workers' own Python, unless a job says otherwise
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(["unshare", "-m", "--propagation", "private", "bash", "-c", self.script],
                                            env={k: v for k, v in env.items() if v}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_for_workers(self.workers, 90)
        except BaseException:
            self.__exit__()
            raise
        return self

    def state(self):
        """The master's view of the cluster (its web UI's JSON)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as answer:
            return json.load(answer)

    def wait_for_workers(self, count, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the cluster stopped: {self.log.read_text()[-3000:]}")
            try:
                if self.state()["aliveworkers"] >= count:
                    return
            except (OSError, ValueError):  # not answering yet, or not with its JSON yet
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{count} Spark workers did not register in {seconds} s: {self.log.read_text()[-3000:]}")

    def run_inside(self, command):
        """Runs a shell command as the cluster's machines see the world. -> CompletedProcess"""
        # unshare execs bash: its process is inside the namespace
        return subprocess.run(["nsenter", "-t", str(self.process.pid), "-m", "bash", "-c", command],
                              capture_output=True, text=True, env={"PATH": os.environ["PATH"]})

    def worker_process_running(self, index, name):
        """Whether a process whose command line names `name` runs in worker `index`'s folder."""
        pattern = f"{self.folder}/worker{index}/.*{name}"
        return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0

    def kill_worker(self, index):
        """Kills worker `index` and its executors at once (kill -9), as when a machine dies."""
        pids = subprocess.run(["pgrep", "-f", f"work-dir {self.folder}/worker{index} "], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            children = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
            for victim in [pid, *children]:
                try:
                    os.kill(int(victim), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return pids

    def __exit__(self, *_):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        subprocess.run(["pkill", "-9", "-f", str(self.folder)], capture_output=True)  # executors, if any are left
        shutil.rmtree(self.folder, ignore_errors=True)
