"""One trial of distributed model selection: train one hyperparameter setting, score it.

`train_and_evaluate` is what every Spark task runs (and what `--backend local` runs one
after another). It is a top-level function of an importable module, so Spark pickles it by
reference (a few hundred bytes), not with the data or TensorFlow in its closure. TensorFlow
is imported inside the task, limited to the task's cores, and seeded from the trial, so a
trial gives the same result wherever it runs.
"""
import os
import socket
import time

import numpy as np


def grid(layers, sizes, learning_rates, l2s, dropouts):
    """All combinations, as a list of dicts (one trial each)."""
    return [{"layers": n, "units": u, "learning_rate": lr, "l2": l2, "dropout": d}
            for n in layers for u in sizes for lr in learning_rates for l2 in l2s for d in dropouts]


def train_and_evaluate(trial, data, steps, batch_size, seed, threads=1):
    """Trains the notMNIST MLP of `trial` for `steps` SGD steps; returns the trial with its
    validation accuracy, last minibatch loss, seconds and worker.

    `data`: dict of uint8 images and int labels for train and valid (a Spark broadcast's value).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.keras.utils.set_random_seed(seed)
    started = time.perf_counter()

    from workshop.notmnist import normalise
    from workshop.training import Trainer, accuracy, one_hot
    train_x = normalise(data["train_images"]).reshape(-1, 784)
    valid_x = normalise(data["valid_images"]).reshape(-1, 784)

    sizes = [784] + [trial["units"]] * trial["layers"] + [10]
    weights = [tf.Variable(tf.random.truncated_normal([m, n], stddev=np.sqrt(2.0 / m)))
               for m, n in zip(sizes[:-1], sizes[1:])]
    biases = [tf.Variable(tf.zeros([n])) for n in sizes[1:]]
    variables = weights + biases

    def model(x, training):
        for w, b in zip(weights[:-1], biases[:-1]):
            x = tf.nn.relu(tf.matmul(x, w) + b)
            if training and trial["dropout"]:
                x = tf.nn.dropout(x, rate=trial["dropout"])
        return tf.matmul(x, weights[-1]) + biases[-1]

    def loss(logits, labels):
        cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        return cross_entropy + trial["l2"] * tf.add_n([tf.nn.l2_loss(v) for v in variables])

    optimizer = tf.keras.optimizers.SGD(trial["learning_rate"], momentum=0.9)
    trainer = Trainer(model, loss, optimizer, variables, train_x, one_hot(data["train_labels"]),
                      batch_size, True, seed)
    last_loss, _, _ = trainer.run(0, steps - 1)
    score = accuracy(trainer.predict(valid_x), one_hot(data["valid_labels"]))
    return {**trial, "validation_accuracy": round(float(score), 2), "loss": round(last_loss, 4),
            "seconds": round(time.perf_counter() - started, 2),
            "worker": f"{socket.gethostname()}:{os.getpid()}"}
