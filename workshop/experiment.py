"""A training run's folder: runs/<script>/<timestamp>/ with TensorBoard logs, checkpoint, figures.

    tensorboard --logdir runs        # loss, accuracies and learning rate over the steps

`--resume DIR` restores the weights, the optimizer and the step from DIR's checkpoint and
goes on from there, appending to the same logs. Two runs never share a folder: each new run
creates its own (atomically), and a run holds its folder's run.lock while it lives, so a
--resume of a folder that another run is writing is refused.
"""
import atexit
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf

from workshop import locks
from workshop.errors import UserError
from workshop.files import atomic_write, disk_full, new_run_dir
from workshop.plots import pyplot, save_figure


class Run:
    def __init__(self, script, settings, runs_dir, resume, device, variables, optimizer, chief=True):
        """The checkpoint holds the `variables`, the `optimizer` and the step. Only the `chief`
        writes files: the other workers of a multiworker run (notmnist_distributed.py) just print."""
        self.chief, self.settings = chief, settings
        self.device, self.variables, self.optimizer = device, variables, optimizer
        if resume:
            self.dir = Path(resume)
            if not (self.dir / "ckpt.index").is_file():
                raise UserError(f"--resume {resume}: no checkpoint there (expected a folder "
                                f"like {runs_dir}/{Path(script).stem}/<timestamp>)")
        elif chief:
            self.dir = new_run_dir(runs_dir, Path(script).stem)
        else:
            self.dir = None
        if chief:  # held until this process ends
            lock = locks.hold(self.dir / "run.lock", f"--resume {self.dir}: another run is writing to that folder",
                              wait=False, hint="; wait for it to finish, or resume another folder")
            atexit.register(lock.release)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)  # steps done so far
        self.checkpoint = tf.train.Checkpoint(step=self.step, optimizer=optimizer,
                                              **{f"variable{i}": v for i, v in enumerate(variables)})
        self.history_file = self.dir and self.dir / "history.json"
        self.history = {"step": [], "loss": [], "minibatch_accuracy": [], "validation_accuracy": []}
        self.training_seconds, self.steps_trained = 0.0, 0  # in this process (see timed)
        if resume:
            self.checkpoint.read(str(self.dir / "ckpt")).assert_existing_objects_matched()
            self.history = json.loads(self.history_file.read_text())
            print(f"Resumed {self.dir} at step {int(self.step)}")
        if not chief:
            return
        with atomic_write(self.dir / "settings.json", "w") as file:
            json.dump(settings, file, indent=1)
        self.writer = tf.summary.create_file_writer(str(self.dir))

    @contextmanager
    def full_disk_reported(self):
        """TensorFlow writes the logs and the checkpoint itself, and says ResourceExhaustedError
        when the disk is full: one line then, and its half-written checkpoint (ckpt_temp/) goes."""
        try:
            yield
        except tf.errors.ResourceExhaustedError:
            shutil.rmtree(self.dir / "ckpt_temp", ignore_errors=True)
            needed = sum(v.numpy().nbytes for v in [*self.variables, *self.optimizer.variables])
            raise disk_full(self.dir / "ckpt", needed) from None

    def timed(self, train_steps, first, last):
        """train_steps(first, last) as numpy values, its time counted as training time."""
        started = time.perf_counter()
        results = [value.numpy() for value in train_steps(tf.constant(first, tf.int64), tf.constant(last, tf.int64))]
        self.training_seconds += time.perf_counter() - started
        self.steps_trained += last - first + 1
        return results

    def record(self, step, loss, minibatch_accuracy, validation_accuracy, learning_rate):
        """Logs a progress report for TensorBoard and the figures, and saves a checkpoint. A loss that
        is not finite means training diverged, and the steps after it would only carry NaN on: the run
        ends with one line, and its folder keeps the reports before, with the checkpoint of the last."""
        if not np.isfinite(loss):
            raise UserError(f"training diverged: the minibatch loss at step {step} is {loss}; "
                            f"try a smaller --learning-rate (now {self.settings['LEARNING_RATE']:g})")
        self.step.assign(step + 1)
        if not self.chief:
            return
        with self.full_disk_reported(), self.writer.as_default(step=step):
            tf.summary.scalar("loss", loss)
            tf.summary.scalar("minibatch_accuracy", minibatch_accuracy)
            tf.summary.scalar("validation_accuracy", validation_accuracy)
            tf.summary.scalar("learning_rate", float(learning_rate))
        for key, value in zip(self.history, (step, loss, minibatch_accuracy, validation_accuracy)):
            self.history[key].append(float(value))
        with self.full_disk_reported():
            self.checkpoint.write(str(self.dir / "ckpt"))
        with atomic_write(self.history_file, "w") as file:
            json.dump(self.history, file)

    def finish(self, test_probabilities, test_labels, letters, batch_size, show=False):
        """Says how fast training went; saves curves.png and confusion.png; opens them with --show."""
        rate = self.steps_trained * batch_size / max(self.training_seconds, 1e-9)
        print(f"Trained {self.steps_trained} steps in {self.training_seconds:.1f} s ({rate:,.0f} examples/s) "
              f"on {self.device.kind}")
        if not self.chief:
            return
        with self.full_disk_reported():
            self.writer.flush()
        plt = pyplot()
        figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        left.plot(self.history["step"], self.history["loss"])
        left.set(xlabel="step", ylabel="minibatch loss", yscale="log", title="Loss")
        right.plot(self.history["step"], self.history["minibatch_accuracy"], label="minibatch")
        right.plot(self.history["step"], self.history["validation_accuracy"], label="validation")
        right.set(xlabel="step", ylabel="accuracy (%)", title="Accuracy")
        right.legend()
        save_figure(figure, self.dir / "curves.png")

        predicted, actual = np.argmax(test_probabilities, 1), np.argmax(test_labels, 1)
        counts = np.zeros((len(letters), len(letters)), int)
        np.add.at(counts, (actual, predicted), 1)
        figure, axis = plt.subplots(figsize=(6, 5.5))
        axis.imshow(counts, cmap="Blues")
        for (row, column), count in np.ndenumerate(counts):
            axis.text(column, row, count, ha="center", va="center", fontsize=7,
                      color="white" if count > counts.max() / 2 else "black")
        axis.set(xticks=range(len(letters)), yticks=range(len(letters)), xticklabels=letters,
                 yticklabels=letters, xlabel="predicted", ylabel="true",
                 title=f"Test set: {len(actual):,} images")
        save_figure(figure, self.dir / "confusion.png")
        print(f"Logs, checkpoint and figures in {self.dir} (tensorboard --logdir {self.dir.parent})")
        if show:
            show_files([self.dir / "curves.png", self.dir / "confusion.png"])


def show_files(paths):
    """Opens figures in the system's image viewer; without a display, says where they are."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("--show: no display here; open the PNG files above instead")
        return
    from PIL import Image
    for path in paths:
        Image.open(path).show()
