"""notMNIST with a convolutional network: two 5×5 convolutions with max-pooling, then FC 64.

The workshop's second network. Instead of treating the 784 pixels as an unordered row,
small 5×5 filters slide over the image and detect strokes wherever they are; 2×2
max-pooling halves the resolution after each convolution (28 -> 14 -> 7), and a fully
connected layer of 64 units reads the 7×7×16 feature maps. Run `python create_notmnist.py`
first.

The 2016 settings (93.2 % test accuracy: batch 16, 3,001 steps, a quarter of an epoch) are:
  python notmnist_classifier_CNN.py --batch-size 16 --learning-rate 0.05 --momentum 0 \\
      --decay-rate 1 --init-stddev 0.1 --bias-init 1 --conv-dropout 0.1 --dropout 0 --no-shuffle

The network is defined once, at the top level: spark_model_selection.py trains it too.
"""
from typing import Literal

import numpy as np

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import tensorflow as tf
from workshop import cli
from workshop.devices import start
from workshop.experiment import Run
from workshop.notmnist import LETTERS, load_notmnist
from workshop.training import Minibatches, accuracy, one_hot, report_steps, sgd
from workshop.training import dropout as drop

DATA = "data/notMNIST.pickle"  # written by create_notmnist.py
PATCH_SIZE = 5  # convolution filters are PATCH_SIZE × PATCH_SIZE pixels
CONV_LAYERS = 2  # convolution + max-pooling stages (TASK: try 1, or 3)
DEPTH = 16  # filters per convolution (TASK: try 32)
HIDDEN_UNITS = 64  # units in the fully connected layer
BATCH_SIZE = 256  # images per SGD step (2016: 16)
STEPS = 3001  # SGD steps
LEARNING_RATE = 0.05  # initial step size (TASK: try 0.2 and 0.01)
MOMENTUM = 0.9  # SGD momentum; 0 is the 2016 plain gradient descent
DECAY_RATE = 0.5  # the learning rate is multiplied by this every DECAY_STEPS steps (2016: 1)
DECAY_STEPS = 1000  # see DECAY_RATE
DROPOUT = 0.3  # fraction of the fully connected units dropped while training (TASK: set 0)
CONV_DROPOUT = 0.0  # fraction of convolution outputs dropped (2016: 0.1)
L2 = 0.0  # weight of the L2 penalty on all weights and biases (TASK: try 5e-4)
INIT_STDDEV = 0.0  # standard deviation of the initial weights; 0 means He: sqrt(2 / inputs)
BIAS_INIT = 0.0  # initial biases (2016: 1.0)
SHUFFLE = True  # reshuffle the training set every epoch (2016 walked it in a fixed order)
EVAL_EVERY = 50  # steps between progress reports
SEED = 133  # fixes initialisation, shuffling and dropout

# --- System settings: where and how it runs (flags too) -------------------------------------
DEVICE: Literal["auto", "cpu", "gpu"] = "auto"  # where to train: a GPU when there is one
PRECISION: Literal["float32", "bfloat16", "float16"] = "float32"  # 16-bit compute is faster on GPUs and AMX CPUs
RUNS_DIR = "runs"  # logs, checkpoints and figures go to RUNS_DIR/notmnist_classifier_CNN/<time>/
RESUME: str | None = None  # a run folder to continue from its checkpoint
SHOW = False  # open the figures at the end


# Graph: explicit filters, weights and biases, as on the slides.
def network_variables(conv_layers, depth, hidden_units, patch_size, init_stddev, bias_init):
    """[filters1, biases1, ..., weights, biases (FC), weights, biases (output)]."""
    def weights(shape):
        stddev = init_stddev or np.sqrt(2.0 / np.prod(shape[:-1]))  # He: 2 / inputs per unit
        return tf.Variable(tf.random.truncated_normal(shape, stddev=stddev))

    def biases(size):
        return tf.Variable(tf.fill([size], bias_init))
    variables, depths, side = [], [1] + [depth] * conv_layers, 28
    for inputs, outputs in zip(depths[:-1], depths[1:]):
        variables += [weights([patch_size, patch_size, inputs, outputs]), biases(outputs)]
        side = -(-side // 2)  # each 2×2 pooling halves the side: 28 -> 14 -> 7
    variables += [weights([side * side * depth, hidden_units]), biases(hidden_units)]
    return variables + [weights([hidden_units, 10]), biases(10)]


def conv_pool(x, weights, biases, training, conv_dropout, seed=None, layer=0):  # 5×5 convolution, ReLU, 2×2 max-pool
    hidden = tf.nn.relu(tf.nn.conv2d(x, weights, strides=1, padding="SAME") + biases)
    if training and conv_dropout:
        hidden = drop(hidden, conv_dropout, seed, layer)
    return tf.nn.max_pool2d(hidden, ksize=2, strides=2, padding="SAME")


def network(variables, images, training, dropout, conv_dropout=0.0, dtype=tf.float32, seed=None):
    """The logits of `images` (28×28×1). In the compute precision `dtype` (16 bits with
    --precision); the stored weights stay float32. `seed`: a stateless dropout (training.dropout)."""
    variables = [tf.cast(v, dtype) for v in variables]
    *convolutions, (fc_weights, fc_biases), (output_weights, output_biases) = zip(variables[0::2], variables[1::2])
    x = tf.cast(images, dtype)
    for layer, (weights, biases) in enumerate(convolutions):
        x = conv_pool(x, weights, biases, training, conv_dropout, seed, layer)
    x = tf.reshape(x, [-1, fc_weights.shape[0]])
    hidden = tf.nn.relu(tf.matmul(x, fc_weights) + fc_biases)
    if training and dropout:
        hidden = drop(hidden, dropout, seed, len(convolutions))
    return tf.cast(tf.matmul(hidden, output_weights) + output_biases, tf.float32)


def loss_function(variables, logits, labels, l2):
    """The cross-entropy of the softmax, plus the L2 penalty (if any) on all weights and biases."""
    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    return cross_entropy + l2 * tf.add_n([tf.nn.l2_loss(v) for v in variables]) if l2 else cross_entropy


def main():
    device = start(DEVICE, PRECISION, SEED)  # says what runs where; seeds every generator
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

    variables = network_variables(CONV_LAYERS, DEPTH, HIDDEN_UNITS, PATCH_SIZE, INIT_STDDEV, BIAS_INIT)
    learning_rate, optimizer = sgd(LEARNING_RATE, DECAY_STEPS, DECAY_RATE, MOMENTUM)

    def model(images, training):
        return network(variables, images, training, DROPOUT, CONV_DROPOUT, device.compute_dtype)

    # Training: as in notmnist_classifier.py, EVAL_EVERY steps per call of a compiled graph.
    def train_step(step):  # one SGD step on the minibatch of `step`
        images, labels = minibatch(step)
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = loss_function(variables, logits, labels, L2)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, logits, labels

    @tf.function  # one call runs steps first..last, no Python between them
    def train_steps(first, last):
        for step in tf.range(first, last):
            train_step(step)
        return train_step(last)

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
