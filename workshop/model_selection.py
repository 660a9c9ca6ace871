"""Distributed model selection (after Databricks, 2016): one hyperparameter setting per task.

`train_and_evaluate` is what every Spark task runs (and what `--backend local` runs one
after another). It is a top-level function of an importable module, so Spark pickles it by
reference (a few hundred bytes), not with the data or TensorFlow in its closure. TensorFlow
is imported inside the task, limited to the task's cores, and seeded, so a trial gives the
same result wherever it runs. The data travels once per worker as a Spark broadcast of
uint8 arrays (a quarter of the float32 size).

Faults: a trial that fails (raises, or diverges to a loss of NaN) is reported in its row
(`problem`), and the search goes on. A task whose Python worker dies is run again by Spark
(see workshop/spark.py), so the leaderboard still has every setting.
"""
import functools
import os
import socket
import time

import numpy as np

# The slides' hyperparameters. For the CNN, "layers" counts convolution + pooling stages
# and "units" is the number of 5×5 filters per convolution (then FC 64, as in the classifier).
GRIDS = {
    "mlp": {"layers": [1, 2], "units": [256, 1024], "learning_rate": [0.01, 0.05, 0.2],
            "l2": [0.0, 5e-4], "dropout": [0.0, 0.3]},
    "cnn": {"layers": [1, 2], "units": [8, 16], "learning_rate": [0.01, 0.05, 0.2],
            "l2": [0.0, 5e-4], "dropout": [0.0, 0.3]},
}
DEFAULTS = {  # the classifiers' own settings, to measure what tuning gains
    "mlp": {"layers": 2, "units": 1024, "learning_rate": 0.05, "l2": 5e-4, "dropout": 0.3},
    "cnn": {"layers": 2, "units": 16, "learning_rate": 0.05, "l2": 0.0, "dropout": 0.3},
}
SETTING = ("model", "layers", "units", "learning_rate", "l2", "dropout")


def grid(model):
    """Every combination of the model's grid, as a list of trials (dicts)."""
    axes = GRIDS[model]
    combinations = np.stack(np.meshgrid(*[range(len(values)) for values in axes.values()],
                                        indexing="ij"), -1).reshape(-1, len(axes))
    return [{"model": model, **{key: axes[key][i] for key, i in zip(axes, row)}} for row in combinations]


def build(trial, seed):
    """The network of `trial`: -> (model(x, training), loss(logits, labels), variables)."""
    import tensorflow as tf
    tf.keras.utils.set_random_seed(seed)

    def weights(shape):  # He initialisation
        return tf.Variable(tf.random.truncated_normal(shape, stddev=np.sqrt(2.0 / np.prod(shape[:-1]))))
    dropout = trial["dropout"]
    if trial["model"] == "mlp":
        sizes = [784] + [trial["units"]] * trial["layers"]
        hidden = [(weights([m, n]), tf.Variable(tf.zeros([n]))) for m, n in zip(sizes[:-1], sizes[1:])]
        convolutions = []
    else:
        depths = [1] + [trial["units"]] * trial["layers"]
        convolutions = [(weights([5, 5, m, n]), tf.Variable(tf.zeros([n]))) for m, n in zip(depths[:-1], depths[1:])]
        side = 28 // 2 ** trial["layers"]
        hidden = [(weights([side * side * trial["units"], 64]), tf.Variable(tf.zeros([64])))]
    output = (weights([hidden[-1][0].shape[1], 10]), tf.Variable(tf.zeros([10])))
    variables = [v for layer in convolutions + hidden + [output] for v in layer]

    def model(x, training):
        if convolutions:
            x = tf.reshape(x, [-1, 28, 28, 1])
            for w, b in convolutions:
                x = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + b), 2, 2, "SAME")
            x = tf.reshape(x, [tf.shape(x)[0], -1])
        for w, b in hidden:
            x = tf.nn.relu(tf.matmul(x, w) + b)
            if training and dropout:
                x = tf.nn.dropout(x, rate=dropout)
        return tf.matmul(x, output[0]) + output[1]

    def loss(logits, labels):
        cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        return cross_entropy + trial["l2"] * tf.add_n([tf.nn.l2_loss(v) for v in variables])
    return model, loss, variables


def _row(trial, accuracy, loss, started, problem=""):
    """A trial's line of the leaderboard."""
    return {**trial, "validation_accuracy": accuracy, "loss": loss,
            "seconds": round(time.perf_counter() - started, 2),
            "worker": f"{socket.gethostname()}:{os.getpid()}", "problem": problem}


def train_and_evaluate(trial, data, steps, batch_size, seed, threads=None):
    """Trains the network of `trial` for `steps` SGD steps (momentum 0.9) and scores it on
    data["valid_*"]. -> the trial with validation accuracy, last minibatch loss, seconds, worker,
    and a problem (a diverged trial: "diverged", validation accuracy NaN).

    `data`: uint8 images and int labels for train and valid (a Spark broadcast's value).
    `threads`: TensorFlow's thread pools (None: all cores).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")  # each trial traces its own graph: no retracing warnings
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # a reused Spark worker: TensorFlow already runs with its pools
            pass
    from workshop.notmnist import normalise
    from workshop.strategies import replicated_train_steps
    from workshop.training import Minibatches, accuracy, one_hot
    started = time.perf_counter()
    model, loss, variables = build(trial, seed)
    optimizer = tf.keras.optimizers.SGD(trial["learning_rate"], momentum=0.9)
    minibatch = Minibatches(normalise(data["train_images"]).reshape(-1, 784), one_hot(data["train_labels"]),
                            batch_size, True, seed, "/CPU:0")
    train_steps = replicated_train_steps(tf.distribute.get_strategy(), model, loss, optimizer, variables, minibatch)
    last_loss = float(train_steps(tf.constant(0, tf.int64), tf.constant(steps - 1, tf.int64))[0])
    if not np.isfinite(last_loss):  # its weights are NaN too: no score to give
        return _row(trial, float("nan"), float("nan"), started, f"diverged (loss {last_loss})")
    predict = tf.function(lambda images: tf.nn.softmax(model(images, training=False)))
    score = accuracy(predict(normalise(data["valid_images"]).reshape(-1, 784)).numpy(), one_hot(data["valid_labels"]))
    return _row(trial, round(float(score), 2), round(last_loss, 4), started)


def attempt(trial, data, steps, batch_size, seed, threads=None):
    """train_and_evaluate, but a trial that raises gets a row that says why: one bad setting
    must not end a search of many."""
    started = time.perf_counter()
    try:
        return train_and_evaluate(trial, data, steps, batch_size, seed, threads)
    except Exception as error:
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        return _row(trial, float("nan"), float("nan"), started, f"failed: {type(error).__name__}: {reason}")


def spark_task(trial, shared, steps, batch_size, seed):
    """A Spark task: one trial on the broadcast data, TensorFlow limited to the task's cores."""
    from pyspark import TaskContext
    return attempt(trial, shared.value, steps, batch_size, seed, threads=TaskContext.get().cpus())


def search(trials, data, steps, batch_size, seed, context=None):
    """Runs every trial: as Spark tasks when given a SparkContext, else one after another.
    -> (results sorted best first, wall seconds)"""
    started = time.perf_counter()
    if context is None:
        results = [attempt(trial, data, steps, batch_size, seed) for trial in trials]
    else:
        shared = context.broadcast(data)  # sent to each worker once, not with every task
        task = functools.partial(spark_task, shared=shared, steps=steps, batch_size=batch_size, seed=seed)
        results = context.parallelize(trials, len(trials)).map(task).collect()
        shared.unpersist()
    results.sort(key=lambda r: (np.nan_to_num(-r["validation_accuracy"], nan=np.inf),  # failed ones last
                                np.nan_to_num(r["loss"], nan=np.inf)))
    return results, time.perf_counter() - started
