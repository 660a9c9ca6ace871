"""Online time-series forecasting with an LSTM: predict two waves LAG steps ahead.

Two synthetic series (sums of sines and cosines of different periods) arrive one step at a
time. At each step the network sees each series' value and its first and second
differences (6 inputs), and predicts both series LAG = 23 steps ahead. It learns online, as
in 2016: batch 1, the LSTM's state carried from step to step, one Adam update per step.
After 100,000 training pairs, 200 pairs are skipped, the state is reset, and 1,000 test
pairs are predicted with the learned weights — and compared with the naive forecast
"LAG steps from now equals now" (persistence).

`--csv` forecasts a real series instead, e.g. hourly electricity load:

    python LSTM.py --csv ../shared/data/DAYTON_hourly.csv.gz --column DAYTON_MW --time-column Datetime

Real load follows the clock: more at 6 pm than at 3 am, less on Sundays. The 2016 inputs
cannot tell what hour the target falls on, so with a time column the network also gets the
target's hour of day and day of week (as sine and cosine), and trains for 3 passes. It is
compared with persistence and with the seasonal naive forecast: the value one season
(a day, for hourly data) before the target.
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
from workshop.series import (calendar_inputs, compared, features, mae, mape, read_csv_series, rmse, season_of,
                             synthetic_waves)

TRAIN_SIZE = 100000  # training pairs (TASK 1: try different training sizes)
TEST_SIZE = 1000  # test pairs, predicted after training
SKIP = 200  # pairs skipped between training and test
LAG = 23  # how many steps ahead to forecast
NOISE = 0.0  # standard deviation of noise added to the synthetic series (TASK 2: try 1.0)
UNITS = 6  # units per LSTM layer (2016: 6, one per input)
LAYERS = 1  # stacked LSTM layers (TASK 3: try 2)
LEARNING_RATE = 0.0006  # Adam's step size (TASK 3: try 0.003)
PASSES: int | None = None  # passes over the training pairs (none: 1 for the waves, as in 2016; 3 for a CSV)
PROGRESS_EVERY = 10000  # print progress every so many pairs (2016: 1000)
PLOT_LAST = 0  # plot only the last PLOT_LAST training pairs; 0 plots all (TASK 4: try 6000)
SEED = 0  # fixes the waves' phases, the noise and the initial weights

# --- A real series from a CSV, instead of the waves ---
CSV: str | None = None  # a CSV file (.csv or .csv.gz) with the series to forecast
COLUMN: str | None = None  # the CSV column to forecast
TIME_COLUMN: str | None = None  # the CSV column with the time of each row (rows are sorted by it)
TIME_FORMAT: str | None = None  # e.g. '%d/%m/%Y %H:%M', where the data cannot tell day from month
SEASON: int | None = None  # steps per season for the seasonal naive forecast (none: 24 if hourly, 7 if daily)
CALENDAR = True  # with a time column: the target's hour of day and day of week as inputs

# --- System settings ---
RUNS_DIR = "runs"  # figures go to RUNS_DIR/lstm/<time>/
SHOW = False  # open the figures at the end


def main():
    passes = PASSES or (3 if CSV else 1)
    if min(TRAIN_SIZE, TEST_SIZE, LAG, UNITS, LAYERS, passes, SEASON or 1) < 1 or SKIP < 0:
        raise UserError("--train-size, --test-size, --lag, --units, --layers, --passes, --season must be >= 1, "
                        "--skip >= 0")
    start("cpu", "float32", SEED)  # batch 1: a GPU would only add latency
    rng = np.random.default_rng(SEED)
    needed = 2 + TRAIN_SIZE + SKIP + TEST_SIZE + LAG
    if CSV:
        real = read_csv_series(CSV, COLUMN, TIME_COLUMN, TIME_FORMAT)
        series, names = real.values, [COLUMN]
        season = SEASON or (season_of(real.step) if real.step else None)
        if season and season * -(-LAG // season) > TRAIN_SIZE + SKIP:
            raise UserError(f"--season {season}: the seasonal naive forecast looks back further than the "
                            f"{TRAIN_SIZE + SKIP} steps before the test; ask for a larger --train-size")
        if len(series) < needed:
            raise UserError(f"{CSV} has {len(series):,} rows; --train-size {TRAIN_SIZE} with --skip {SKIP}, "
                            f"--test-size {TEST_SIZE} and --lag {LAG} need {needed:,}: ask for fewer")
    else:
        series, real, season, names = synthetic_waves(needed, NOISE, rng), None, None, ["series 1", "series 2"]
    print(f"{len(names)} series, {TRAIN_SIZE:,} training and {TEST_SIZE:,} test pairs, {LAG} steps ahead")

    # Data: inputs at step t, targets at t + LAG; standardised with the training part's statistics.
    inputs, targets = features(series)[:-LAG], series[2 + LAG:]
    if CALENDAR and real and real.times is not None:  # what the clock says at the target's time
        inputs = np.concatenate([inputs, calendar_inputs(real.times[2 + LAG:])], axis=1)
    train = slice(0, TRAIN_SIZE)
    test = slice(TRAIN_SIZE + SKIP, TRAIN_SIZE + SKIP + TEST_SIZE)
    in_mean, in_std = inputs[train].mean(0), inputs[train].std(0) + 1e-8
    out_mean, out_std = targets[train].mean(0), targets[train].std(0) + 1e-8
    x = tf.constant((inputs - in_mean) / in_std, tf.float32)
    y = tf.constant((targets - out_mean) / out_std, tf.float32)

    # Graph: LSTM cells written out, then a linear output layer.
    dims = [x.shape[1]] + [UNITS] * LAYERS
    init = tf.keras.initializers.GlorotUniform(seed=SEED)
    lstm_weights = [tf.Variable(init([n_in + UNITS, 4 * UNITS])) for n_in in dims[:-1]]
    lstm_biases = [tf.Variable(tf.zeros([4 * UNITS])) for _ in range(LAYERS)]
    output_weights = tf.Variable(init([UNITS, y.shape[1]]))
    output_biases = tf.Variable(tf.zeros([y.shape[1]]))
    variables = lstm_weights + lstm_biases + [output_weights, output_biases]

    def lstm_cell(inputs, state, weights, biases):
        """One LSTM step: gates decide what to forget, what to store, what to output."""
        memory, output = state
        gates = tf.matmul(tf.concat([inputs, output], 1), weights) + biases
        input_gate, new_input, forget_gate, output_gate = tf.split(gates, 4, axis=1)
        memory = tf.sigmoid(forget_gate + 1.0) * memory + tf.sigmoid(input_gate) * tf.tanh(new_input)
        output = tf.sigmoid(output_gate) * tf.tanh(memory)
        return output, (memory, output)

    def network(inputs, states):
        new_states = []
        for weights, biases, state in zip(lstm_weights, lstm_biases, states):
            inputs, state = lstm_cell(inputs, state, weights, biases)
            new_states.append(state)
        return tf.matmul(inputs, output_weights) + output_biases, new_states

    def zero_states():
        return [(tf.zeros([1, UNITS]), tf.zeros([1, UNITS])) for _ in range(LAYERS)]

    optimizer = Adam(LEARNING_RATE, variables)  # TensorFlow 1's Adam, one fused update per variable

    # Training loop: online, one pair at a time, the state carried on; compiled as one graph
    # call per PROGRESS_EVERY pairs instead of one Python call per pair.
    @tf.function
    def train_online(first, count, states):
        predictions = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            t = first + i
            with tf.GradientTape() as tape:
                prediction, new_states = network(x[t][tf.newaxis], states)
                squared_error = tf.reduce_sum((prediction - y[t][tf.newaxis]) ** 2)
            optimizer.apply(tape.gradient(squared_error, variables))
            states = new_states  # the next step starts from this state (no gradient through it)
            predictions = predictions.write(i, prediction[0])
        return predictions.stack(), states

    @tf.function
    def predict_online(first, count, states):
        predictions = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            prediction, states = network(x[first + i][tf.newaxis], states)
            predictions = predictions.write(i, prediction[0])
        return predictions.stack()

    print("Training")
    started = time.perf_counter()
    for done in range(passes):  # each pass starts from a fresh state at the first pair
        states, chunks = zero_states(), []
        for first in range(0, TRAIN_SIZE, PROGRESS_EVERY):
            count = min(PROGRESS_EVERY, TRAIN_SIZE - first)
            chunk, states = train_online(tf.constant(first), tf.constant(count), states)
            chunks.append(chunk.numpy())
            error = np.mean((chunks[-1] - y[first:first + count].numpy()) ** 2)
            print(f"Trained on {done * TRAIN_SIZE + first + count} pairs (mean squared error {error:.4f}, "
                  "standardised)", flush=True)
    seconds, pairs = time.perf_counter() - started, passes * TRAIN_SIZE
    print(f"Trained on {pairs} pairs in {seconds:.1f} s ({pairs / seconds:,.0f} pairs/s)")
    train_predictions = np.concatenate(chunks) * out_std + out_mean

    print("Testing")  # skip SKIP pairs, reset the state; the weights stay as learned
    test_predictions = predict_online(tf.constant(test.start), tf.constant(TEST_SIZE), zero_states())
    test_predictions = test_predictions.numpy() * out_std + out_mean

    # Report: errors in the series' own unit, next to naive forecasts.
    actual, at = targets[test], np.arange(test.start, test.stop) + 2 + LAG  # the targets' places in `series`
    baselines = {"persistence": series[at - LAG]}  # the value LAG steps before the target
    if season:  # the value at the same point of the season (e.g. the same hour) before the target
        back = season * -(-LAG // season)  # whole seasons, at least LAG steps
        baselines["seasonal naive"] = series[at - back]
    elif real:
        print("No seasonal naive forecast: give --time-column or --season N to compare with one")
    for metric, score in (("RMSE", rmse), ("MAE", mae)) + ((("MAPE", mape),) if real else ()):
        ours = score(test_predictions, actual)
        naive = {label: score(values, actual) for label, values in baselines.items()}
        for k, name in enumerate(names):
            print(f"Test {metric} {name}: " + compared(ours[k], {label: value[k] for label, value in naive.items()},
                                                      metric, versus_best=bool(real)))

    folder = new_run_dir(RUNS_DIR, "lstm")
    shown = slice(-PLOT_LAST, None) if PLOT_LAST else slice(None)
    dated = real is not None and real.times is not None
    x, x_label = (real.times[2 + LAG:], "time of the target") if dated else (np.arange(1, len(targets) + 1), "pair")
    figures = []
    for k, name in enumerate(names):
        for phase, steps, predicted, truth in (
                ("Training", x[train][shown], train_predictions[shown, k], targets[train][shown, k]),
                ("Test", x[test] if dated else np.arange(TEST_SIZE), test_predictions[:, k], actual[:, k])):
            figure, axis = pyplot().subplots(figsize=(10, 4))
            axis.plot(steps, predicted, "r-", label="Prediction", linewidth=0.8)
            axis.plot(steps, truth, "b-", label="Ground truth", linewidth=0.8)
            if phase == "Test" and "seasonal naive" in baselines:
                axis.plot(steps, baselines["seasonal naive"][:, k], color="0.6", label="Seasonal naive", linewidth=0.8)
            axis.set(title=f"{phase} performance on {name}", xlabel=x_label)
            axis.legend()
            figures.append(folder / f"{phase.lower()}_{name.replace(' ', '_')}.png")
            save_figure(figure, figures[-1])
    print(f"Figures in {folder}")
    if SHOW:
        show_files(figures)


if __name__ == "__main__":
    cli.run(main, globals())
