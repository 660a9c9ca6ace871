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

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import tensorflow as tf
from workshop import cli
from workshop.devices import start
from workshop.experiment import Run
from workshop.notmnist import LETTERS, load_notmnist
from workshop.strategies import replicated_train_steps
from workshop.training import Minibatches, accuracy, one_hot, report_steps, sgd

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

# --- System settings: where and how it runs (flags too) -------------------------------------
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
    # Says what runs where; with --strategy multiworker and no TF_CONFIG, starts the workers instead.
    device = start(DEVICE, PRECISION, SEED, STRATEGY, REPLICAS, WORKERS, LAUNCHER, SPARK_MASTER)
    data = load_notmnist(DATA)
    print("Data %s: %s" % (DATA, data.describe()))

    # Data: each image 28×28 with one channel (grayscale), each label a one-hot row of 10.
    def reformat(images, labels):
        return images.reshape(-1, 28, 28, 1), one_hot(labels)
    train_dataset, train_labels = reformat(*data.train)
    valid_dataset, valid_labels = reformat(*data.valid)
    test_dataset, test_labels = reformat(*data.test)
    # minibatch(step): that step's BATCH_SIZE images and labels, taken from a copy kept on the device
    minibatch = Minibatches(train_dataset, train_labels, BATCH_SIZE, SHUFFLE, SEED, device.name)

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
        hidden = tf.nn.relu(tf.nn.conv2d(x, weights, strides=1, padding="SAME") + biases)
        if training and CONV_DROPOUT:
            hidden = tf.nn.dropout(hidden, rate=CONV_DROPOUT)
        return tf.nn.max_pool2d(hidden, ksize=2, strides=2, padding="SAME")

    def model(images, training):
        # In the compute precision (16 bits with --precision); the stored weights stay float32.
        (layer1_weights, layer1_biases, layer2_weights, layer2_biases,
         layer3_weights, layer3_biases, layer4_weights, layer4_biases) = (
            tf.cast(v, device.compute_dtype) for v in variables)
        x = tf.cast(images, device.compute_dtype)
        pool = conv_pool(conv_pool(x, layer1_weights, layer1_biases, training),
                         layer2_weights, layer2_biases, training)
        reshape = tf.reshape(pool, [-1, 7 * 7 * DEPTH])
        hidden = tf.nn.relu(tf.matmul(reshape, layer3_weights) + layer3_biases)
        if training and DROPOUT:
            hidden = tf.nn.dropout(hidden, rate=DROPOUT)
        return tf.cast(tf.matmul(hidden, layer4_weights) + layer4_biases, tf.float32)

    def loss_function(logits, labels):
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    # Training: as in notmnist_classifier.py, EVAL_EVERY steps per call of a compiled graph.
    def train_step(step):  # one SGD step on the minibatch of `step`
        images, labels = minibatch(step)
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = loss_function(logits, labels)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, logits, labels

    @tf.function  # one call runs steps first..last, no Python between them
    def train_steps(first, last):
        for step in tf.range(first, last):
            train_step(step)
        return train_step(last)

    if STRATEGY != "none":  # the same step on every replica, each on its slice of the minibatch
        train_steps = replicated_train_steps(device.strategy, model, loss_function, optimizer, variables, minibatch)

    @tf.function
    def predict(images):  # class probabilities, without dropout
        return tf.nn.softmax(model(images, training=False))

    run = Run(__file__, cli.settings(globals()), RUNS_DIR, RESUME, device, variables, optimizer)  # logs, checkpoints
    for first, last in report_steps(int(run.step), STEPS, EVAL_EVERY):  # from step 0, or where --resume left off
        loss, logits, labels = run.timed(train_steps, first, last)
        accuracies = accuracy(logits, labels), accuracy(predict(valid_dataset), valid_labels)
        print("Minibatch loss at step %d: %f" % (last, loss))  # printed as in 2016
        print("Minibatch accuracy: %.1f%%\nValidation accuracy: %.1f%%" % accuracies, flush=True)
        run.record(last, loss, *accuracies, learning_rate(last))

    # Report: test accuracy, speed, figures.
    test_predictions = predict(test_dataset).numpy()
    print("Test accuracy: %.1f%%" % accuracy(test_predictions, test_labels))
    run.finish(test_predictions, test_labels, LETTERS, BATCH_SIZE, SHOW)

if __name__ == "__main__":
    cli.run(main, globals())
