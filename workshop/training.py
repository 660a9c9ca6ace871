"""The training engine the classifiers share: minibatch SGD compiled into one graph call.

Calling a tf.function once per step costs Python overhead every step (the 2016 scripts
called session.run 3,001 times). Here one call runs many steps: a `tf.range` loop inside
the graph picks each minibatch from data kept on the device, computes the loss and its
gradients, and updates the weights. The script supplies the lesson — the model and its
loss — and reads back the last minibatch to print the 2016 progress lines.
"""
import time

import numpy as np
import tensorflow as tf

from workshop.devices import setup_device
from workshop.distribute import DIGEST_LINE, describe, is_chief, make_strategy, weights_digest
from workshop.errors import UserError
from workshop.notmnist import load_notmnist


def start(data_path, device, precision, seed, strategy="none", replicas=0):
    """Sets up the device and the distribution strategy (see workshop/distribute.py) and
    loads the data; prints what a run is about. -> (Device, NotMNIST)"""
    data = load_notmnist(data_path)
    chosen = setup_device(device, precision, seed)
    chosen.strategy = make_strategy(strategy, replicas, chosen)
    chosen.chief = is_chief(chosen.strategy)
    print(f"TensorFlow {tf.__version__} on {chosen.description}{describe(chosen.strategy)}\n"
          f"Data {data_path}: {data.describe()}")
    return chosen, data


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


class Trainer:
    """SGD on (images, one-hot labels) with `model(x, training)` and `loss(logits, labels)`.

    With a tf.distribute `strategy` (variables and optimizer created in its scope), each
    replica computes the gradients of its slice of every global minibatch and the optimizer
    sums them over the replicas: the same update as one device on the whole minibatch."""

    def __init__(self, model, loss, optimizer, variables, images, labels, batch_size, shuffle, seed,
                 strategy=None):
        self.model, self.loss, self.optimizer, self.variables = model, loss, optimizer, variables
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise UserError(f"--batch-size {batch_size} does not split evenly over {replicas} replicas")
        self.replica_batch = batch_size // replicas
        if not optimizer.built:  # its slots (momentum) mirrored like the variables
            with self.strategy.scope():
                optimizer.build(variables)
        # Every replica keeps the data on its own device (one copy without a strategy).
        self.images, self.labels = (self.strategy.experimental_distribute_values_from_function(
            lambda _, array=array: tf.constant(array)) for array in (images, labels))
        self.classes = labels.shape[1]
        self.count = len(images)
        if self.count < batch_size:
            raise UserError(f"--batch-size {batch_size} is larger than the {self.count} training images")
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.batches_per_epoch = self.count // batch_size
        self.order = tf.Variable(tf.range(self.count), trainable=False)  # this epoch's shuffle
        self.order_epoch = tf.Variable(-1, dtype=tf.int64, trainable=False)
        self.seconds, self.steps_done = 0.0, 0  # time spent training (not evaluating)

    def _minibatch(self, step):
        """Indices of step's minibatch: a fresh shuffle every epoch, or 2016's fixed walk."""
        if not self.shuffle:
            offset = (step * self.batch_size) % max(self.count - self.batch_size, 1)
            return offset + tf.range(self.batch_size, dtype=tf.int64)
        epoch = step // self.batches_per_epoch
        if epoch != self.order_epoch:  # derived from (seed, epoch): a resumed run gets the same
            self.order.assign(tf.random.experimental.stateless_shuffle(
                tf.range(self.count), seed=tf.stack([tf.constant(self.seed, tf.int64), epoch])))
            self.order_epoch.assign(epoch)
        start = (step % self.batches_per_epoch) * self.batch_size
        return tf.ensure_shape(self.order[start:start + self.batch_size], [self.batch_size])

    def run(self, first, last):
        """Runs steps first..last (inclusive) in one graph call; returns the last step's
        loss, predictions and labels as numpy values."""
        started = time.perf_counter()
        loss, logits, labels = self._steps(tf.constant(first, tf.int64), tf.constant(last - first + 1, tf.int64),
                                           self.images, self.labels)
        result = float(loss), logits.numpy(), labels.numpy()
        self.seconds += time.perf_counter() - started
        self.steps_done += last - first + 1
        return result

    def fit(self, run, steps, eval_every, valid_images, valid_labels, learning_rate):
        """Trains up to `steps`, `eval_every` steps per graph call, recording progress in `run`."""
        for first, last in run.reports(steps, eval_every):
            loss, predictions, labels = self.run(first, last)
            run.record(last, loss, accuracy(predictions, labels),
                       accuracy(self.predict(valid_images), valid_labels), learning_rate(last))

    def predict(self, images, chunk=4096):
        """Class probabilities for `images`, computed in chunks by a compiled function."""
        if not len(images):
            return np.zeros((0, self.classes), np.float32)
        return np.concatenate([self._probabilities(tf.constant(images[i:i + chunk]))
                               for i in range(0, len(images), chunk)])

    @tf.function(reduce_retracing=True)
    def _probabilities(self, images):
        return tf.nn.softmax(self.model(images, training=False))

    def summary(self, device):
        rate = self.steps_done * self.batch_size / max(self.seconds, 1e-9)
        line = f"Trained {self.steps_done} steps in {self.seconds:.1f} s ({rate:,.0f} examples/s) on {device.kind}"
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):  # for the launcher
            line += f"\n{DIGEST_LINE} {weights_digest(self.variables)}"
        return line

    @tf.function
    def _steps(self, first_step, steps, images, labels):  # data as arguments: not captured in the graph
        last_step = first_step + steps - 1
        for step in tf.range(first_step, last_step):
            self.strategy.run(self._replica_step, args=(self._minibatch(step), images, labels))
        loss, logits, batch_labels = self.strategy.run(
            self._replica_step, args=(self._minibatch(last_step), images, labels))
        return (self.strategy.reduce("SUM", loss, axis=None), self.strategy.gather(logits, axis=0),
                self.strategy.gather(batch_labels, axis=0))

    def _replica_step(self, batch, images, labels):
        """One SGD step on this replica's slice of the global minibatch `batch`."""
        replica = tf.distribute.get_replica_context()
        first = replica.replica_id_in_sync_group * self.replica_batch
        mine = batch[first:first + self.replica_batch]
        labels = tf.gather(labels, mine)
        with tf.GradientTape() as tape:
            logits = self.model(tf.gather(images, mine), training=True)
            # The replicas' losses add up to the loss of the whole minibatch.
            loss = self.loss(logits, labels) / replica.num_replicas_in_sync
        gradients = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(gradients, self.variables))  # summed over the replicas
        return loss, logits, labels


class Adam:
    """Adam exactly as TensorFlow 1's AdamOptimizer computed it: one fused kernel
    (ResourceApplyAdam) per variable and step. For tiny networks updated once per example,
    like the online LSTM, Keras' optimizer spends most of each step on bookkeeping; this
    runs the same update about 2.5 times faster."""

    def __init__(self, learning_rate, variables, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.variables = variables
        self.moments = [(tf.Variable(tf.zeros_like(v), trainable=False),
                         tf.Variable(tf.zeros_like(v), trainable=False)) for v in variables]
        self.steps = tf.Variable(0.0, trainable=False)

    def apply(self, gradients):
        self.steps.assign_add(1.0)
        beta1_power, beta2_power = self.beta1 ** self.steps, self.beta2 ** self.steps
        for variable, (mean, square), gradient in zip(self.variables, self.moments, gradients):
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=mean.handle, v=square.handle, beta1_power=beta1_power,
                beta2_power=beta2_power, lr=self.learning_rate, beta1=self.beta1, beta2=self.beta2,
                epsilon=self.epsilon, grad=gradient)
