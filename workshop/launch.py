"""Starting the workers of --strategy multiworker (see workshop/strategies.py).

Started without TF_CONFIG, a classifier with --strategy multiworker is its own launcher: it
starts --workers copies of itself, each told the cluster by its TF_CONFIG, on free
127.0.0.1 ports (--launcher local) or as the tasks of a Spark barrier stage (--launcher
spark), shows the chief's output, stops every worker if one fails, and checks that all
of them ended with the same weights.
"""
import ctypes
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass

from workshop.errors import UserError
from workshop.strategies import DIGEST_LINE

def launch_needed(strategy):
    """True when --strategy multiworker runs without TF_CONFIG: this process is the launcher."""
    return strategy == "multiworker" and "TF_CONFIG" not in os.environ


def free_port(host="127.0.0.1"):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def tf_config(addresses, index):
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def _die_with_parent():  # a worker must not outlive its launcher (it would wait for peers forever)
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Worker:
    """One training process, and the thread that collects (for the chief, also echoes) its output."""
    process: subprocess.Popen
    reader: threading.Thread
    lines: list  # its output so far


def start_worker(command, addresses, index, echo=False):
    """Starts one training process with its TF_CONFIG. `command`: (argv, working folder). -> Worker"""
    argv, folder = command
    env = {**os.environ, "TF_CONFIG": tf_config(addresses, index)}
    process = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
    lines = []

    def collect():
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
    worker = Worker(process, threading.Thread(target=collect, daemon=True), lines)
    worker.reader.start()
    return worker


def wait_all(workers):
    """Waits for every worker; if one fails, stops the others (they would wait for it
    forever). -> list of return codes"""
    pending = [worker.process for worker in workers]
    while pending:
        for process in list(pending):
            try:
                code = process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            pending.remove(process)
            if code != 0:
                for other in pending:
                    other.terminate()
    for worker in workers:
        worker.reader.join()
    return [worker.process.returncode for worker in workers]


def check_results(outputs, codes):
    """Raises on a failed worker; prints whether all workers ended with the same weights."""
    failed = [index for index, code in enumerate(codes) if code != 0]
    if failed:  # the first to fail by itself, not one stopped by wait_all
        index = min(failed, key=lambda i: (codes[i] == -signal.SIGTERM, i))
        last = outputs[index][-1].strip() if outputs[index] else ""
        if ": error: " in last:  # the worker's own one-line error
            raise UserError(f"worker {index} failed: {last.split(': error: ', 1)[1]}")
        tail = "".join(outputs[index][-15:]).rstrip()
        raise UserError(f"worker {index} failed (exit status {codes[index]}); its last lines:\n{tail}")
    digests = {line.split(DIGEST_LINE)[1].strip() for lines in outputs for line in lines
               if line.startswith(DIGEST_LINE)}
    if len(digests) != 1:
        raise UserError(f"the {len(outputs)} workers ended with different weights: {sorted(digests)}")
    print(f"All {len(outputs)} workers ended with the same weights (digest {digests.pop()})")


def this_command():
    """The command line that started this script, to start it again as a worker."""
    return [sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]], os.getcwd()


def launch_workers(workers, launcher, spark_master):
    """Starts the workers of --strategy multiworker: local processes or a Spark stage."""
    if workers < 1:
        raise UserError(f"--workers {workers}: need at least 1")
    if launcher == "spark":
        launch_spark(workers, spark_master)
    else:
        launch_local(workers)


def launch_local(workers):
    """Runs this script (same flags) as `workers` processes on free 127.0.0.1 ports; the
    chief's output is shown as it comes."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(workers)]
    print(f"Starting {workers} workers on {', '.join(addresses)}; showing worker 0 (the chief)", flush=True)
    started = [start_worker(this_command(), addresses, index, echo=index == 0) for index in range(workers)]
    codes = wait_all(started)
    check_results([worker.lines for worker in started], codes)


def _barrier_task(command, _partition):
    """One Spark barrier task: agree on addresses with the other tasks, then run one training
    worker in a fresh process (a reused Spark Python worker must not hold TensorFlow's
    collective state, or a second job in the same session hangs)."""
    from pyspark import BarrierTaskContext
    context = BarrierTaskContext.get()
    index = context.partitionId()
    host = context.getTaskInfos()[index].address.rsplit(":", 1)[0]
    addresses = context.allGather(f"{host}:{free_port(host)}")
    worker = start_worker(command, addresses, index)
    code = wait_all([worker])[0]
    if code != 0:  # fails the stage: Spark then stops the other tasks, and their workers with them
        raise RuntimeError(f"worker {index} failed (exit status {code}): {''.join(worker.lines[-3:]).strip()}")
    yield index, code, worker.lines


def launch_on_spark(context, command, workers):
    """Runs the training `command` (argv, folder) as `workers` TF_CONFIG workers, one per task of a
    Spark barrier stage (all tasks start together, or none). -> ordered (codes, outputs)"""
    stage = context.parallelize(range(workers), workers).barrier()
    try:
        results = sorted(stage.mapPartitions(functools.partial(_barrier_task, command)).collect())
    except Exception as error:  # Spark's error holds the task's; show just that line
        found = re.search(r"RuntimeError: (worker \d+ failed.*)", str(error))
        raise UserError(found.group(1) if found else f"the Spark stage failed: {str(error).splitlines()[0]}") from None
    return [code for _, code, _ in results], [lines for _, _, lines in results]


def launch_spark(workers, master):
    """Runs this script (same flags) as a Spark barrier stage of `workers` tasks."""
    from workshop.spark import spark_context
    context = spark_context(master, "notMNIST multiworker training")
    print(f"Starting {workers} workers as a Spark barrier stage on {context.master}", flush=True)
    codes, outputs = launch_on_spark(context, this_command(), workers)
    print("".join(outputs[0]), end="")  # the chief's output
    check_results(outputs, codes)
