"""notMNIST with a convolutional network: two 5×5 convolutions with max-pooling, then FC 64.

The workshop's second network. Instead of treating the 784 pixels as an unordered row,
small 5×5 filters slide over the image and detect strokes wherever they are; 2×2
max-pooling halves the resolution after each convolution (28 -> 14 -> 7), and a fully
connected layer of 64 units reads the 7×7×16 feature maps. Run `python create_notmnist.py`
first.

The 2016 settings (93.2 % test accuracy: batch 16, 3,001 steps, a quarter of an epoch) are:
  python notmnist_classifier_CNN.py --batch-size 16 --learning-rate 0.05 --momentum 0 \\
      --decay-rate 1 --init-stddev 0.1 --bias-init 1 --conv-dropout 0.1 --dropout 0 --no-shuffle
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
PATCH_SIZE = 5  # convolution filters are PATCH_SIZE × PATCH_SIZE pixels
DEPTH = 16  # filters per convolution (TASK: try 32, or a third convolution)
HIDDEN_UNITS = 64  # units in the fully connected layer
BATCH_SIZE = 256  # images per SGD step (2016: 16)
STEPS = 3001  # SGD steps
LEARNING_RATE = 0.05  # initial step size (TASK: try 0.2 and 0.01)
MOMENTUM = 0.9  # SGD momentum; 0 is the 2016 plain gradient descent
DECAY_RATE = 0.5  # the learning rate is multiplied by this every DECAY_STEPS steps (2016: 1)
DECAY_STEPS = 1000  # see DECAY_RATE
DROPOUT = 0.3  # fraction of the fully connected units dropped while training (TASK: set 0)
CONV_DROPOUT = 0.0  # fraction of convolution outputs dropped (2016: 0.1)
INIT_STDDEV = 0.0  # standard deviation of the initial weights; 0 means He: sqrt(2 / inputs)
BIAS_INIT = 0.0  # initial biases (2016: 1.0)
SHUFFLE = True  # reshuffle the training set every epoch (2016 walked it in a fixed order)
EVAL_EVERY = 50  # steps between progress reports
SEED = 133  # fixes initialisation, shuffling and dropout
DEVICE: Literal["auto", "cpu", "gpu"] = "auto"  # where to train: a GPU when there is one
STRATEGY: Literal["none", "mirrored", "multiworker"] = "none"  # train on several devices or machines in step
REPLICAS = 0  # mirrored: devices to use; 0 means every GPU, or 2 logical CPUs without a GPU
WORKERS = 2  # multiworker without TF_CONFIG: worker processes to start
LAUNCHER: Literal["local", "spark"] = "local"  # multiworker: start the workers here, or as a Spark barrier stage
SPARK_MASTER: str | None = None  # --launcher spark: master URL; none: spark-submit's, else local[*]
PRECISION: Literal["float32", "bfloat16", "float16"] = "float32"  # 16-bit compute is faster on GPUs and AMX CPUs
RUNS_DIR = "runs"  # logs, checkpoints and figures go to RUNS_DIR/notmnist_classifier_CNN/<time>/
RESUME: str | None = None  # a run folder to continue from its checkpoint
SHOW = False  # open the figures at the end


def main():
    if launch_needed(STRATEGY):  # multiworker without TF_CONFIG: start the workers, each runs main()
        return launch_workers(WORKERS, LAUNCHER, SPARK_MASTER)
    device, data = start(DATA, DEVICE, PRECISION, SEED, STRATEGY, REPLICAS)  # prints what runs where

    # Data: each image 28×28 with one channel (grayscale), each label a one-hot row of 10.
    def reformat(images, labels):
        return images.reshape(-1, 28, 28, 1), one_hot(labels)
    train_dataset, train_labels = reformat(*data.train)
    valid_dataset, valid_labels = reformat(*data.valid)
    test_dataset, test_labels = reformat(*data.test)

    # Graph: explicit filters, weights and biases, as on the slides.
    def weights(shape):
        stddev = INIT_STDDEV or np.sqrt(2.0 / np.prod(shape[:-1]))  # He: 2 / inputs per unit
        return tf.Variable(tf.random.truncated_normal(shape, stddev=stddev))

    def biases(size):
        return tf.Variable(tf.fill([size], BIAS_INIT))
    with device.strategy.scope():  # with --strategy, a copy of each variable on every replica
        layer1_weights, layer1_biases = weights([PATCH_SIZE, PATCH_SIZE, 1, DEPTH]), biases(DEPTH)
        layer2_weights, layer2_biases = weights([PATCH_SIZE, PATCH_SIZE, DEPTH, DEPTH]), biases(DEPTH)
        layer3_weights, layer3_biases = weights([7 * 7 * DEPTH, HIDDEN_UNITS]), biases(HIDDEN_UNITS)
        layer4_weights, layer4_biases = weights([HIDDEN_UNITS, 10]), biases(10)
        learning_rate, optimizer = sgd(LEARNING_RATE, DECAY_STEPS, DECAY_RATE, MOMENTUM)
    variables = [layer1_weights, layer1_biases, layer2_weights, layer2_biases,
                 layer3_weights, layer3_biases, layer4_weights, layer4_biases]

    def conv_pool(x, weights, biases, training):  # 5×5 convolution, ReLU, 2×2 max-pooling
        conv = tf.nn.conv2d(x, tf.cast(weights, x.dtype), strides=1, padding="SAME")
        hidden = tf.nn.relu(conv + tf.cast(biases, x.dtype))
        if training and CONV_DROPOUT:
            hidden = tf.nn.dropout(hidden, rate=CONV_DROPOUT)
        return tf.nn.max_pool2d(hidden, ksize=2, strides=2, padding="SAME")

    def model(images, training):
        x = tf.cast(images, device.compute_dtype)
        pool = conv_pool(conv_pool(x, layer1_weights, layer1_biases, training),
                         layer2_weights, layer2_biases, training)
        reshape = tf.reshape(pool, [-1, 7 * 7 * DEPTH])
        hidden = tf.nn.relu(tf.matmul(reshape, tf.cast(layer3_weights, x.dtype))
                            + tf.cast(layer3_biases, x.dtype))
        if training and DROPOUT:
            hidden = tf.nn.dropout(hidden, rate=DROPOUT)
        logits = tf.matmul(hidden, tf.cast(layer4_weights, x.dtype)) + tf.cast(layer4_biases, x.dtype)
        return tf.cast(logits, tf.float32)

    def loss(logits, labels):
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))

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
