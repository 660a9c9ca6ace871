"""Training on several devices or machines with tf.distribute, and starting the workers.

Synchronous data parallelism (the slides' "distributed computation of gradients"): every
replica holds the same weights, computes the gradients of its share of each global
minibatch, the gradients are summed over all replicas (all-reduce), and every replica
applies the same update — so the weights stay identical everywhere, and the result
matches training on one device with the same global batch.

    --strategy mirrored      MirroredStrategy: the GPUs of one machine (on a CPU-only
                             machine --replicas N splits the CPU into N logical devices)
    --strategy multiworker   MultiWorkerMirroredStrategy: one process per machine, told
                             its peers by the TF_CONFIG variable; without TF_CONFIG the
                             script starts --workers copies of itself on 127.0.0.1
                             (--launcher local) or as a Spark barrier stage (--launcher spark)
"""
import ctypes
import functools
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading

import numpy as np

from workshop.errors import UserError

DIGEST_LINE = "Weights digest:"  # each multiworker process ends by printing this


def make_strategy(kind, replicas, device):
    """The tf.distribute strategy for `kind` ("none", "mirrored", "multiworker"). Must run
    before TensorFlow creates its first tensor (it may configure logical devices)."""
    import tensorflow as tf
    if kind == "none":
        return tf.distribute.get_strategy()  # the default strategy: one device, no copies
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU") if device.kind == "GPU" else []
        if replicas < 0 or (gpus and replicas > len(gpus)):
            raise UserError(f"--replicas {replicas}: choose 0 (every GPU) up to the {len(gpus)} GPUs here"
                            if gpus else f"--replicas {replicas}: choose 1 or more (0 means 2)")
        if gpus:
            names = [gpu.name for gpu in gpus][:replicas or None]
        else:  # one CPU split into logical devices, so the code path runs without GPUs
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * (replicas or 2))
            names = [f"/CPU:{i}" for i in range(replicas or 2)]
        return tf.distribute.MirroredStrategy(names, cross_device_ops=None if gpus else
                                              tf.distribute.ReductionToOneDevice())
    if "TF_CONFIG" not in os.environ:
        raise UserError("--strategy multiworker: TF_CONFIG is not set (start the script without it "
                        "to have it launch --workers local processes)")
    try:
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise UserError('TF_CONFIG is not valid: expected {"cluster": {"worker": ["host:port", ...]}, '
                        '"task": {"type": "worker", "index": N}}') from None
    print(f"Worker {index} of the cluster in TF_CONFIG, waiting for all workers", flush=True)
    return tf.distribute.MultiWorkerMirroredStrategy()


def describe(strategy):
    """'' for the default strategy, else e.g. ' × 2 replicas (MirroredStrategy)'."""
    import tensorflow as tf
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        workers = len(strategy.cluster_resolver.cluster_spec().as_dict().get("worker", []))
        return f" × {strategy.num_replicas_in_sync} replicas (MultiWorkerMirroredStrategy, {workers} workers)"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return f" × {strategy.num_replicas_in_sync} replicas (MirroredStrategy)"
    return ""


def is_chief(strategy):
    """Whether this process writes logs and checkpoints: always, except the workers of a
    MultiWorkerMirroredStrategy other than worker 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is None or not resolver.task_type or (resolver.task_type, resolver.task_id) in (
        ("chief", 0), ("worker", 0))


def weights_digest(variables):
    """A short fingerprint of the weights, equal on every worker when training is in sync."""
    digest = hashlib.sha256()
    for variable in variables:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()[:16]


# --- starting the workers -----------------------------------------------------------------

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


def start_worker(command, addresses, index, echo=False):
    """Starts one training process with its TF_CONFIG; a thread collects (and, for the
    chief, echoes) its output. `command`: (argv, working folder). -> (Popen, output lines)"""
    argv, folder = command
    env = {**os.environ, "TF_CONFIG": tf_config(addresses, index), "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
    lines = []

    def drain():
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    process.drain = thread
    return process, lines


def wait_all(processes):
    """Waits for every worker; if one fails, stops the others (they would wait for it
    forever). -> list of return codes"""
    pending = list(processes)
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
    for process in processes:
        process.drain.join()
    return [process.returncode for process in processes]


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
    codes = wait_all([process for process, _ in started])
    check_results([lines for _, lines in started], codes)


def _barrier_task(command, _partition):
    """One Spark barrier task: agree on addresses with the other tasks, then run one training
    worker in a fresh process (a reused Spark Python worker must not hold TensorFlow's
    collective state, or a second job in the same session hangs)."""
    from pyspark import BarrierTaskContext
    context = BarrierTaskContext.get()
    index = context.partitionId()
    host = context.getTaskInfos()[index].address.rsplit(":", 1)[0]
    addresses = context.allGather(f"{host}:{free_port(host)}")
    process, lines = start_worker(command, addresses, index)
    code = wait_all([process])[0]
    if code != 0:  # fails the stage: Spark then stops the other tasks, and their workers with them
        raise RuntimeError(f"worker {index} failed (exit status {code}): {''.join(lines[-3:]).strip()}")
    yield index, code, lines


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
