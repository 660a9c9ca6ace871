"""The worker processes of a multiworker run (notmnist_distributed.py): starting them, collecting
their output, stopping the others when one fails, and checking that they ended in step.

Each worker is a fresh process of the training script, told the cluster by its TF_CONFIG. If
one fails, the others would wait for it forever in their next all-reduce, so they are stopped;
and a worker never outlives the process that started it.
"""
import ctypes
import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import numpy as np

from workshop.errors import UserError

DIGEST_LINE = "Weights digest:"  # each worker ends by printing this, then the digest of its weights


def free_port(host="127.0.0.1"):
    """A TCP port that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def weights_digest(variables):
    """A short fingerprint of the weights, equal on every worker when training is in step."""
    digest = hashlib.sha256()
    for variable in variables:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()[:16]


def _die_with_parent():  # a worker must not outlive its launcher (it would wait for peers forever)
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Worker:
    """One training process, and a thread that collects its output (and echoes it, for the chief)."""

    def __init__(self, argv, tf_config, index, folder=None, echo=False, env=None):
        self.index, self.lines = index, []
        self.process = subprocess.Popen(argv, cwd=folder, env={**(env or os.environ), "TF_CONFIG": tf_config},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=_die_with_parent)
        self.reader = threading.Thread(target=self._collect, args=(echo,), daemon=True)
        self.reader.start()

    def _collect(self, echo):
        for line in self.process.stdout:
            self.lines.append(line)
            if echo:
                print(line, end="", flush=True)

    def failure(self):
        """One line on how the worker failed: its own error line, or its exit status and last lines."""
        last = self.lines[-1].strip() if self.lines else ""
        if ": error: " in last:  # the script's own one-line error
            return f"worker {self.index} failed: {last.split(': error: ', 1)[1]}"
        tail = " | ".join(line.strip() for line in self.lines[-3:])
        return f"worker {self.index} failed (exit status {self.process.returncode}): {tail}"


def wait_all(workers):
    """Waits for every worker; if one fails, stops the others (they would wait for it forever).
    Raises UserError naming the first that failed by itself."""
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
    failed = [worker for worker in workers if worker.process.returncode != 0]
    if failed:  # the first to fail by itself, not one stopped here
        raise UserError(min(failed, key=lambda w: (w.process.returncode == -signal.SIGTERM, w.index)).failure())


def check_same_weights(outputs):
    """Prints whether all workers (their output lines) ended with the same weights."""
    digests = {line.split(DIGEST_LINE)[1].strip() for lines in outputs for line in lines
               if line.startswith(DIGEST_LINE)}
    if len(digests) != 1:
        raise UserError(f"the {len(outputs)} workers ended with different weights: {sorted(digests)}")
    print(f"All {len(outputs)} workers ended with the same weights (digest {digests.pop()})")


def pack_folder(folder):
    """A worker's folder as bytes (a tar), to send back to the driver."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(Path(folder).iterdir()):
            tar.add(child, arcname=child.name)
    return buffer.getvalue()


def receive_folder(packed, runs_dir):
    """Unpacks a worker's run folders (runs/<script>/<time>/) into `runs_dir`, each one whole
    or not at all: unpacked beside it first, then renamed into place."""
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".receiving-", dir=runs_dir) as staging:
        with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
            tar.extractall(staging, filter="data")
        for run in sorted(Path(staging).glob("*/*")):
            target = Path(runs_dir) / run.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise UserError(f"{target} exists already: the chief's run folder was not written there")
            run.rename(target)
