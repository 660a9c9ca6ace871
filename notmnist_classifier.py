"""notMNIST with a multilayer perceptron: 784 pixels -> 1024 ReLU -> 1024 ReLU -> 10 letters.

The workshop's first network. Each 28×28 image becomes a row of 784 numbers; two hidden
layers of rectified linear units and a softmax output learn to tell the letters A-J apart.
Dropout and L2 weight decay fight overfitting; minibatch SGD with momentum and a decaying
learning rate trains it. Run `python create_notmnist.py` first.

The 2016 settings (87.2 % test accuracy) are one command line away:
  python notmnist_classifier.py --init-stddev 1 --momentum 0 --learning-rate 0.01 \\
      --decay-rate 0.5 --decay-steps 3000 --no-second-relu --no-shuffle --steps 3001

The network is defined once, at the top level (`network_variables`, `network`,
`loss_function`): notmnist_distributed.py and spark_model_selection.py train it too.
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
HIDDEN_LAYERS = 2  # hidden layers of HIDDEN_UNITS each (TASK: try 1, or 3)
HIDDEN_UNITS = 1024  # units in each hidden layer (TASK: try 256)
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
PRECISION: Literal["float32", "bfloat16", "float16"] = "float32"  # 16-bit compute is faster on GPUs and AMX CPUs
RUNS_DIR = "runs"  # logs, checkpoints and figures go to RUNS_DIR/notmnist_classifier/<time>/
RESUME: str | None = None  # a run folder to continue from its checkpoint
SHOW = False  # open the figures at the end


# Graph: explicit weights and biases, as on the slides.
def network_variables(hidden_layers, hidden_units, init_stddev):
    """[weights1, biases1, weights2, biases2, ...]: 784 pixels -> hidden layers -> 10 letters."""
    sizes = [28 * 28] + [hidden_units] * hidden_layers + [10]
    variables = []
    for inputs, outputs in zip(sizes[:-1], sizes[1:]):
        stddev = init_stddev or np.sqrt(2.0 / inputs)  # He initialisation keeps signals O(1)
        variables += [tf.Variable(tf.random.truncated_normal([inputs, outputs], stddev=stddev)),
                      tf.Variable(tf.zeros([outputs]))]
    return variables


def network(variables, images, training, dropout, second_relu=True, dtype=tf.float32, seed=None):
    """The logits of `images` (rows of 784 pixels): ReLU layers, dropout while training (stateless
    with `seed`: see training.dropout). In the compute precision `dtype` (16 bits with
    --precision); the stored weights stay float32."""
    variables = [tf.cast(v, dtype) for v in variables]
    *hidden, (output_weights, output_biases) = zip(variables[0::2], variables[1::2])
    x = tf.cast(images, dtype)
    for number, (weights, biases) in enumerate(hidden, 1):
        x = tf.matmul(x, weights) + biases
        if second_relu or number != 2:  # the 2016 script lost the ReLU of its second layer
            x = tf.nn.relu(x)
        if training:
            x = drop(x, dropout, seed, number)
    return tf.cast(tf.matmul(x, output_weights) + output_biases, tf.float32)


def loss_function(variables, logits, labels, l2):
    """The cross-entropy of the softmax, plus the L2 penalty on all weights and biases."""
    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    return cross_entropy + l2 * tf.add_n([tf.nn.l2_loss(v) for v in variables])


def main():
    device = start(DEVICE, PRECISION, SEED)  # says what runs where; seeds every generator
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

    variables = network_variables(HIDDEN_LAYERS, HIDDEN_UNITS, INIT_STDDEV)
    learning_rate, optimizer = sgd(LEARNING_RATE, DECAY_STEPS, DECAY_RATE, MOMENTUM)

    def model(images, training):
        return network(variables, images, training, DROPOUT, SECOND_RELU, device.compute_dtype)

    # Training: minibatch SGD, EVAL_EVERY steps per call of a compiled graph.
    def train_step(step):
        """One SGD step: the minibatch, the loss and its gradients, the update of the weights."""
        images, labels = minibatch(step)
        with tf.GradientTape() as tape:  # records the forward pass, to take its gradients
            logits = model(images, training=True)
            loss = loss_function(variables, logits, labels, L2)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss, logits, labels

    @tf.function
    def train_steps(first, last):
        """Steps first..last in one call of a compiled graph: no Python between the steps."""
        for step in tf.range(first, last):
            train_step(step)
        return train_step(last)  # the last step's loss and minibatch, for the report

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
