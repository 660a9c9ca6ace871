"""notMNIST with a multilayer perceptron: 784 pixels -> 1024 ReLU -> 1024 ReLU -> 10 letters.

The workshop's first network. Each 28×28 image becomes a row of 784 numbers; two hidden
layers of rectified linear units and a softmax output learn to tell the letters A-J apart.
Dropout and L2 weight decay fight overfitting; minibatch SGD with momentum and a decaying
learning rate trains it. Run `python create_notmnist.py` first.

The 2016 settings (87.2 % test accuracy) are one command line away:
  python notmnist_classifier.py --init-stddev 1 --momentum 0 --learning-rate 0.01 \\
      --decay-rate 0.5 --decay-steps 3000 --no-second-relu --no-shuffle --steps 3001
"""
from typing import Literal

import numpy as np

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import tensorflow as tf
from workshop import cli
from workshop.devices import start
from workshop.experiment import Run
from workshop.notmnist import LETTERS, load_notmnist
from workshop.strategies import replicated_train_steps
from workshop.training import Minibatches, accuracy, one_hot, report_steps, sgd

DATA = "data/notMNIST.pickle"  # written by create_notmnist.py
HIDDEN_UNITS = 1024  # units in each hidden layer (TASK: try 256, or add a third layer)
SECOND_RELU = True  # ReLU after the second hidden layer, as on the slide (the 2016 script lost it)
BATCH_SIZE = 128  # images per SGD step
STEPS = 6001  # SGD steps (2016: 3001)
LEARNING_RATE = 0.05  # initial step size (TASK: try 0.5 and 0.005)
MOMENTUM = 0.9  # SGD momentum; 0 is the 2016 plain gradient descent
DECAY_RATE = 0.5  # the learning rate is multiplied by this every DECAY_STEPS steps
DECAY_STEPS = 2000  # see DECAY_RATE
DROPOUT = 0.3  # fraction of hidden units dropped while training (2016: keep 0.7) (TASK: set 0)
L2 = 5e-4  # weight of the L2 penalty on all weights and biases (TASK: set 0 and compare)
INIT_STDDEV = 0.0  # standard deviation of the initial weights; 0 means He: sqrt(2 / inputs)
SHUFFLE = True  # reshuffle the training set every epoch (2016 walked it in a fixed order)
EVAL_EVERY = 500  # steps between progress reports
SEED = 133  # fixes initialisation, shuffling and dropout

# --- System settings: where and how it runs (flags too) -------------------------------------
DEVICE: Literal["auto", "cpu", "gpu"] = "auto"  # where to train: a GPU when there is one
STRATEGY: Literal["none", "mirrored", "multiworker"] = "none"  # train on several devices or machines in step
REPLICAS = 0  # mirrored: devices to use; 0 means every GPU, or 2 logical CPUs without a GPU
WORKERS = 2  # multiworker without TF_CONFIG: worker processes to start
LAUNCHER: Literal["local", "spark"] = "local"  # multiworker: start the workers here, or as a Spark barrier stage
SPARK_MASTER: str | None = None  # --launcher spark: master URL; none: spark-submit's, else local[*]
PRECISION: Literal["float32", "bfloat16", "float16"] = "float32"  # 16-bit compute is faster on GPUs and AMX CPUs
RUNS_DIR = "runs"  # logs, checkpoints and figures go to RUNS_DIR/notmnist_classifier/<time>/
RESUME: str | None = None  # a run folder to continue from its checkpoint
SHOW = False  # open the figures at the end


def main():
    # Says what runs where; with --strategy multiworker and no TF_CONFIG, starts the workers instead.
    device = start(DEVICE, PRECISION, SEED, STRATEGY, REPLICAS, WORKERS, LAUNCHER, SPARK_MASTER)
    data = load_notmnist(DATA)
    print(f"Data {DATA}: {data.describe()}")

    # Data: each image a row of 784 pixels, each label a one-hot row of 10.
    def reformat(images, labels):
        return images.reshape(-1, 28 * 28), one_hot(labels)
    train_dataset, train_labels = reformat(*data.train)
    valid_dataset, valid_labels = reformat(*data.valid)
    test_dataset, test_labels = reformat(*data.test)
    # minibatch(step): that step's BATCH_SIZE images and labels, taken from a copy kept on the device
    minibatch = Minibatches(train_dataset, train_labels, BATCH_SIZE, SHUFFLE, SEED, device.name)

    # Graph: explicit weights and biases, as on the slides.
    def weights(inputs, outputs):
        stddev = INIT_STDDEV or np.sqrt(2.0 / inputs)  # He initialisation keeps signals O(1)
        return tf.Variable(tf.random.truncated_normal([inputs, outputs], stddev=stddev))
    with device.strategy.scope():  # with --strategy, a copy of each variable on every replica
        weights1, biases1 = weights(784, HIDDEN_UNITS), tf.Variable(tf.zeros([HIDDEN_UNITS]))
        weights2, biases2 = weights(HIDDEN_UNITS, HIDDEN_UNITS), tf.Variable(tf.zeros([HIDDEN_UNITS]))
        weights3, biases3 = weights(HIDDEN_UNITS, 10), tf.Variable(tf.zeros([10]))
        learning_rate, optimizer = sgd(LEARNING_RATE, DECAY_STEPS, DECAY_RATE, MOMENTUM)
    variables = [weights1, biases1, weights2, biases2, weights3, biases3]

    def model(images, training):
        # In the compute precision (16 bits with --precision); the stored weights stay float32.
        weights1, biases1, weights2, biases2, weights3, biases3 = (
            tf.cast(v, device.compute_dtype) for v in variables)
        x = tf.cast(images, device.compute_dtype)
        hidden1 = tf.nn.relu(tf.matmul(x, weights1) + biases1)
        if training:
            hidden1 = tf.nn.dropout(hidden1, rate=DROPOUT)
        hidden2 = tf.matmul(hidden1, weights2) + biases2
        if SECOND_RELU:
            hidden2 = tf.nn.relu(hidden2)
        if training:
            hidden2 = tf.nn.dropout(hidden2, rate=DROPOUT)
        return tf.cast(tf.matmul(hidden2, weights3) + biases3, tf.float32)

    def loss_function(logits, labels):
        cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        return cross_entropy + L2 * tf.add_n([tf.nn.l2_loss(v) for v in variables])

    # Training: minibatch SGD, EVAL_EVERY steps per call of a compiled graph.
    def train_step(step):
        """One SGD step: the minibatch, the loss and its gradients, the update of the weights."""
        images, labels = minibatch(step)
        with tf.GradientTape() as tape:  # records the forward pass, to take its gradients
            logits = model(images, training=True)
            loss = loss_function(logits, labels)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss, logits, labels

    @tf.function
    def train_steps(first, last):
        """Steps first..last in one call of a compiled graph: no Python between the steps."""
        for step in tf.range(first, last):
            train_step(step)
        return train_step(last)  # the last step's loss and minibatch, for the report

    if STRATEGY != "none":  # the same step on every replica, each on its slice of the minibatch
        train_steps = replicated_train_steps(device.strategy, model, loss_function, optimizer, variables, minibatch)
    predict = tf.function(lambda images: tf.nn.softmax(model(images, training=False)))
    run = Run(__file__, cli.settings(globals()), RUNS_DIR, RESUME, device, variables, optimizer)  # logs, checkpoints
    for first, last in report_steps(int(run.step), STEPS, EVAL_EVERY):  # from step 0, or where --resume left off
        loss, logits, labels = run.timed(train_steps, first, last)
        minibatch_accuracy = accuracy(logits, labels)
        validation_accuracy = accuracy(predict(valid_dataset), valid_labels)
        print(f"Minibatch loss at step {last}: {loss:f}")
        print(f"Minibatch accuracy: {minibatch_accuracy:.1f}%")
        print(f"Validation accuracy: {validation_accuracy:.1f}%", flush=True)
        run.record(last, loss, minibatch_accuracy, validation_accuracy, learning_rate(last))

    # Report: test accuracy, speed, figures.
    test_predictions = predict(test_dataset).numpy()
    print(f"Test accuracy: {accuracy(test_predictions, test_labels):.1f}%")
    run.finish(test_predictions, test_labels, LETTERS, BATCH_SIZE, SHOW)

if __name__ == "__main__":
    cli.run(main, globals())
