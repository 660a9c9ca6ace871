"""What the classifiers' training loops use: minibatches, the optimizer, the report schedule.

The loop itself is in each script. One compiled graph call runs many SGD steps (a
`tf.range` loop over minibatches taken from data kept on the device): calling Python once
per step, as the 2016 scripts called session.run 3,001 times, costs more than a small
network's step.
"""
import numpy as np
import tensorflow as tf

from workshop.errors import UserError


class Minibatches:
    """`minibatch(step)`: the training images and labels of `step`, inside a compiled graph.

    The training set is kept on `device` (the GPU, if there is one), so a step copies
    nothing from the host. With `shuffle`, every epoch walks a fresh permutation of it,
    derived from (seed, epoch), so a resumed run draws the same minibatches; without, the
    2016 walk in a fixed order: offset = (step × batch size) mod (images − batch size)."""

    def __init__(self, images, labels, batch_size, shuffle, seed, device):
        self.count = len(images)
        if self.count < batch_size:
            raise UserError(f"--batch-size {batch_size} is larger than the {self.count} training images")
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.per_epoch = self.count // batch_size
        with tf.device(device):
            self.images, self.labels = tf.constant(images), tf.constant(labels)
            self.order = tf.Variable(tf.range(self.count), trainable=False)  # this epoch's permutation
            self.order_epoch = tf.Variable(-1, dtype=tf.int64, trainable=False)

    def __call__(self, step):
        batch = self.indices(step)
        return tf.gather(self.images, batch), tf.gather(self.labels, batch)

    def indices(self, step):
        if not self.shuffle:
            offset = (step * self.batch_size) % max(self.count - self.batch_size, 1)
            return offset + tf.range(self.batch_size, dtype=tf.int64)
        epoch = step // self.per_epoch
        if epoch != self.order_epoch:
            self.order.assign(tf.random.experimental.stateless_shuffle(
                tf.range(self.count), seed=tf.stack([tf.constant(self.seed, tf.int64), epoch])))
            self.order_epoch.assign(epoch)
        start = (step % self.per_epoch) * self.batch_size
        return tf.ensure_shape(self.order[start:start + self.batch_size], [self.batch_size])


def dropout(x, rate, seed=None, layer=0):
    """tf.nn.dropout, or with `seed` (2 integers, e.g. [seed, step]) a stateless one: the units a step
    drops then depend on the seed, the step and the layer only, so a run continued from its weights
    drops the same ones as a run straight through (a stateful dropout starts its stream again)."""
    if seed is None:
        return tf.nn.dropout(x, rate=rate)
    return tf.nn.experimental.stateless_dropout(x, rate, seed=tf.random.experimental.stateless_fold_in(seed, layer))


def report_steps(done, steps, every):
    """(first, last) step ranges from `done` (0, or where --resume left off) up to `steps`:
    each ends at a multiple of `every` (step 0 too, as in 2016) or at the final step."""
    first = done
    while first < steps:
        last = min((first // every + 1) * every if first else 0, steps - 1)
        yield first, last
        first = last + 1


def sgd(learning_rate, decay_steps, decay_rate, momentum):
    """SGD with momentum whose learning rate drops by `decay_rate` every `decay_steps` steps."""
    schedule = tf.keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps, decay_rate,
                                                              staircase=True)
    return schedule, tf.keras.optimizers.SGD(schedule, momentum=momentum)


def accuracy(predictions, labels):
    """Percent of rows whose largest prediction is the true class (labels one-hot), as 2016."""
    return 100.0 * np.sum(np.argmax(predictions, 1) == np.argmax(labels, 1)) / predictions.shape[0]


def one_hot(labels, classes=10):
    return (np.arange(classes) == labels[:, None]).astype(np.float32)

