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
import tensorflow as tf

from workshop import cli
from workshop.distribute import launch_needed, launch_workers
from workshop.experiment import Run
from workshop.notmnist import LETTERS
from workshop.training import Trainer, one_hot, sgd, start

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
    if launch_needed(STRATEGY):  # multiworker without TF_CONFIG: start the workers, each runs main()
        return launch_workers(WORKERS, LAUNCHER, SPARK_MASTER)
    device, data = start(DATA, DEVICE, PRECISION, SEED, STRATEGY, REPLICAS)  # prints what runs where

    # Data: each image a row of 784 pixels, each label a one-hot row of 10.
    def reformat(images, labels):
        return images.reshape(-1, 28 * 28), one_hot(labels)
    train_dataset, train_labels = reformat(*data.train)
    valid_dataset, valid_labels = reformat(*data.valid)
    test_dataset, test_labels = reformat(*data.test)

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

    def layer(x, weights, biases):  # x·W + b, computed in the chosen precision
        return tf.matmul(x, tf.cast(weights, x.dtype)) + tf.cast(biases, x.dtype)

    def model(images, training):
        x = tf.cast(images, device.compute_dtype)
        hidden1 = tf.nn.relu(layer(x, weights1, biases1))
        if training:
            hidden1 = tf.nn.dropout(hidden1, rate=DROPOUT)
        hidden2 = layer(hidden1, weights2, biases2)
        if SECOND_RELU:
            hidden2 = tf.nn.relu(hidden2)
        if training:
            hidden2 = tf.nn.dropout(hidden2, rate=DROPOUT)
        return tf.cast(layer(hidden2, weights3, biases3), tf.float32)

    def loss(logits, labels):
        cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        return cross_entropy + L2 * tf.add_n([tf.nn.l2_loss(v) for v in variables])

    run = Run(__file__, cli.settings(globals()), RUNS_DIR, RESUME, device.chief, optimizer=optimizer,
              **{f"variable{i}": v for i, v in enumerate(variables)})

    # Training: EVAL_EVERY SGD steps per compiled graph call, then the 2016 progress lines.
    with tf.device(device.name):
        trainer = Trainer(model, loss, optimizer, variables, train_dataset, train_labels,
                          BATCH_SIZE, SHUFFLE, SEED, device.strategy)
        trainer.fit(run, STEPS, EVAL_EVERY, valid_dataset, valid_labels, learning_rate)
        run.finish(trainer.predict(test_dataset), test_labels, LETTERS, SHOW)  # report
    print(trainer.summary(device))


if __name__ == "__main__":
    cli.run(main, globals())
