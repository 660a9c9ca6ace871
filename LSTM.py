"""Online time-series forecasting with an LSTM: predict two waves LAG steps ahead.

Two synthetic series (sums of sines and cosines of different periods) arrive one step at a
time. At each step the network sees each series' value and its first and second
differences (6 inputs), and predicts both series LAG = 23 steps ahead. It learns online, as
in 2016: batch 1, the LSTM's state carried from step to step, one Adam update per step.
After 100,000 training pairs, 200 pairs are skipped, the state is reset, and 1,000 test
pairs are predicted with the learned weights — and compared with the naive forecast
"LAG steps from now equals now" (persistence).

The LSTM cell and the stacked network are defined here, once; load_forecasting.py uses them.
"""
import time

import numpy as np

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import tensorflow as tf
from workshop import cli
from workshop.devices import start
from workshop.errors import UserError
from workshop.experiment import new_run_dir, show_files
from workshop.fused_adam import Adam
from workshop.plots import pyplot, save_figure
from workshop.series import features, mae, rmse, synthetic_waves

TRAIN_SIZE = 100000  # training pairs (TASK 1: try others)
TEST_SIZE = 1000  # test pairs, predicted after training
SKIP = 200  # pairs skipped between training and test
LAG = 23  # how many steps ahead to forecast
NOISE = 0.0  # standard deviation of noise added to the series (TASK 2: try 1.0)
UNITS = 6  # units per LSTM layer, one per input as in 2016
LAYERS = 1  # stacked LSTM layers (TASK 3: try 2)
LEARNING_RATE = 0.0006  # Adam's step size (TASK 3: try others)
PASSES = 1  # passes over the training pairs (2016: 1)
PROGRESS_EVERY = 10000  # print progress every so many pairs (2016: 1000)
PLOT_LAST = 0  # plot only the last PLOT_LAST training pairs; 0 plots all (TASK 4: try 6000)
SEED = 0  # fixes the waves' phases, the noise and the initial weights

# --- System settings ---
RUNS_DIR = "runs"  # figures go to RUNS_DIR/lstm/<time>/
SHOW = False  # open the figures at the end


def lstm_cell(inputs, state, weights, biases):
    """One LSTM step: gates decide what to forget, what to store, what to output."""
    memory, output = state
    gates = tf.matmul(tf.concat([inputs, output], 1), weights) + biases
    input_gate, new_input, forget_gate, output_gate = tf.split(gates, 4, axis=1)
    memory = tf.sigmoid(forget_gate + 1.0) * memory + tf.sigmoid(input_gate) * tf.tanh(new_input)
    output = tf.sigmoid(output_gate) * tf.tanh(memory)
    return output, (memory, output)


def lstm_variables(inputs, units, layers, outputs, seed):
    """Glorot-initialised weights: [(weights, biases) of each LSTM layer, ..., (weights, biases) of the output]."""
    init = tf.keras.initializers.GlorotUniform(seed=seed)
    weights = [tf.Variable(init([n_in + units, 4 * units])) for n_in in [inputs] + [units] * (layers - 1)]
    biases = [tf.Variable(tf.zeros([4 * units])) for _ in range(layers)]
    return list(zip(weights, biases)) + [(tf.Variable(init([units, outputs])), tf.Variable(tf.zeros([outputs])))]


def zero_states(variables, batch=1):
    """The state each LSTM layer starts from: memory and output at zero."""
    return [(tf.zeros([batch, w.shape[1] // 4]), tf.zeros([batch, w.shape[1] // 4])) for w, _ in variables[:-1]]


def network(variables, inputs, states, dropout=0.0):
    """One step of the stacked cells, then the output layer. -> (prediction, new states)"""
    new_states = []
    for (weights, biases), state in zip(variables[:-1], states):
        inputs, state = lstm_cell(inputs, state, weights, biases)
        new_states.append(state)
    if dropout:  # training only: each output unit is dropped with that probability (the rest scaled up)
        inputs = tf.nn.dropout(inputs, dropout)
    output_weights, output_biases = variables[-1]
    return tf.matmul(inputs, output_weights) + output_biases, new_states


def main():
    if min(TRAIN_SIZE, TEST_SIZE, LAG, UNITS, LAYERS, PASSES, PROGRESS_EVERY) < 1 or SKIP < 0:
        raise UserError("--skip must be >= 0, the other sizes and counts >= 1 (python LSTM.py --help)")
    start("cpu", "float32", SEED)  # batch 1: a GPU would only add latency
    series = synthetic_waves(2 + TRAIN_SIZE + SKIP + TEST_SIZE + LAG, NOISE, np.random.default_rng(SEED))
    names = ["series 1", "series 2"]
    print(f"2 series, {TRAIN_SIZE:,} training and {TEST_SIZE:,} test pairs, {LAG} steps ahead")

    # Data: the inputs at step t, the targets at t + LAG; standardised with the training part's statistics.
    inputs, targets = features(series)[:-LAG], series[2 + LAG:]
    train, test = slice(0, TRAIN_SIZE), slice(TRAIN_SIZE + SKIP, TRAIN_SIZE + SKIP + TEST_SIZE)
    in_mean, in_std = inputs[train].mean(0), inputs[train].std(0) + 1e-8
    out_mean, out_std = targets[train].mean(0), targets[train].std(0) + 1e-8
    x = tf.constant((inputs - in_mean) / in_std, tf.float32)
    y = tf.constant((targets - out_mean) / out_std, tf.float32)

    # Graph: LSTM cells written out, then a linear output layer; TensorFlow 1's Adam, fused.
    variables = lstm_variables(x.shape[1], UNITS, LAYERS, y.shape[1], SEED)
    trainable = [variable for layer in variables for variable in layer]
    optimizer = Adam(LEARNING_RATE, trainable)

    # Training loop: online, one pair at a time, the state carried on; compiled as one graph
    # call per PROGRESS_EVERY pairs instead of one Python call per pair.
    @tf.function
    def train_online(first, count, states):
        predictions = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            t = first + i
            with tf.GradientTape() as tape:
                prediction, new_states = network(variables, x[t][tf.newaxis], states)
                squared_error = tf.reduce_sum((prediction - y[t][tf.newaxis]) ** 2)
            optimizer.apply(tape.gradient(squared_error, trainable))
            states = new_states  # the next step starts from this state (no gradient through it)
            predictions = predictions.write(i, prediction[0])
        return predictions.stack(), states

    @tf.function
    def predict_online(first, count, states):
        predictions = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            prediction, states = network(variables, x[first + i][tf.newaxis], states)
            predictions = predictions.write(i, prediction[0])
        return predictions.stack()

    print("Training")
    started = time.perf_counter()
    for done in range(PASSES):  # each pass starts from a fresh state at the first pair
        states, stretches = zero_states(variables), []
        for first in range(0, TRAIN_SIZE, PROGRESS_EVERY):
            count = min(PROGRESS_EVERY, TRAIN_SIZE - first)
            stretch, states = train_online(tf.constant(first), tf.constant(count), states)
            stretches.append(stretch.numpy())
            error = np.mean((stretches[-1] - y[first:first + count].numpy()) ** 2)
            print(f"Trained on {done * TRAIN_SIZE + first + count} pairs (mean squared error {error:.4f}, "
                  "standardised)", flush=True)
    seconds, pairs = time.perf_counter() - started, PASSES * TRAIN_SIZE
    print(f"Trained on {pairs} pairs in {seconds:.1f} s ({pairs / seconds:,.0f} pairs/s)")

    print("Testing")  # skip SKIP pairs, reset the state once, then carry it through the test pairs
    train_predictions = np.concatenate(stretches) * out_std + out_mean
    test_predictions = predict_online(tf.constant(test.start), tf.constant(TEST_SIZE), zero_states(variables)).numpy()
    test_predictions = test_predictions * out_std + out_mean

    # Report: errors in the series' own unit, next to persistence (the value LAG steps before).
    actual, persistence = targets[test], series[np.arange(test.start, test.stop) + 2]
    for metric, score in (("RMSE", rmse), ("MAE", mae)):
        ours, naive = score(test_predictions, actual), score(persistence, actual)
        for k, name in enumerate(names):
            print(f"Test {metric} {name}: {ours[k]:.3f} (persistence: {naive[k]:.3f})")

    folder, figures = new_run_dir(RUNS_DIR, "lstm"), []
    shown = slice(-PLOT_LAST, None) if PLOT_LAST else slice(None)
    for k, name in enumerate(names):
        for phase, steps, predictions, truth in (
                ("Training", np.arange(1, TRAIN_SIZE + 1)[shown], train_predictions[shown, k], targets[train][shown, k]),
                ("Test", np.arange(TEST_SIZE), test_predictions[:, k], actual[:, k])):
            figure, axis = pyplot().subplots(figsize=(10, 4))
            axis.plot(steps, predictions, "r-", label="Prediction", linewidth=0.8)
            axis.plot(steps, truth, "b-", label="Ground truth", linewidth=0.8)
            axis.set(title=f"{phase} performance on {name}", xlabel="pair")
            axis.legend()
            figures.append(folder / f"{phase.lower()}_{name.replace(' ', '_')}.png")
            save_figure(figure, figures[-1])
    print(f"Figures in {folder}")
    if SHOW:
        show_files(figures)


if __name__ == "__main__":
    cli.run(main, globals())
