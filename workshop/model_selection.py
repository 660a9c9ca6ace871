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

    def prepared(images):
        return ((images.reshape(len(images), -1).astype(np.float32) - 127.5) / 255.0)
    train_x, valid_x = prepared(data["train_images"]), prepared(data["valid_images"])
    train_y = np.eye(10, dtype=np.float32)[data["train_labels"]]

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

    optimizer = tf.keras.optimizers.SGD(trial["learning_rate"], momentum=0.9)
    images, labels = tf.constant(train_x), tf.constant(train_y)

    @tf.function
    def train(steps):
        loss = tf.constant(0.0)
        for step in tf.range(steps):
            batch = tf.random.uniform([batch_size], 0, len(train_x), dtype=tf.int32, seed=seed)
            with tf.GradientTape() as tape:
                logits = model(tf.gather(images, batch), True)
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
                    labels=tf.gather(labels, batch), logits=logits))
                loss += trial["l2"] * tf.add_n([tf.nn.l2_loss(v) for v in variables])
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    loss = float(train(tf.constant(steps)))
    predicted = np.argmax(model(tf.constant(valid_x), False).numpy(), 1)
    accuracy = 100.0 * np.mean(predicted == data["valid_labels"])
    return {**trial, "validation_accuracy": round(float(accuracy), 2), "loss": round(loss, 4),
            "seconds": round(time.perf_counter() - started, 2),
            "worker": f"{socket.gethostname()}:{os.getpid()}"}
