"""Online time-series forecasting with an LSTM: predict two waves LAG steps ahead.

Two synthetic series (sums of sines and cosines of different periods) arrive one step at a
time. At each step the network sees each series' value and its first and second
differences (6 inputs), and predicts both series LAG = 23 steps ahead. It learns online, as
in 2016: batch 1, the LSTM's state carried from step to step, one Adam update per step.
After 100,000 training pairs, 200 pairs are skipped, the state is reset, and 1,000 test
pairs are predicted with the learned weights — and compared with the naive forecast
"LAG steps from now equals now" (persistence).

`--csv` forecasts a real series instead, e.g. a utility's hourly load with the temperatures
of its weather stations, as published (a date column, an hour column 1-24):

    python LSTM.py --csv ../shared/data/BigDEAL2022_hourly.csv.gz --column LDC1 --time-column DATE \
        --hour-column Hour --inputs T1,T2,T3,T4,T5,T6

Real load follows the clock and the weather, and online batch-1 learning is too slow to
learn that. So for a CSV the network reads short windows (the WINDOW steps before each
forecast, from a fresh state), BATCH windows per minibatch, and at each step gets what a
load forecaster would give it: the 2016 inputs, the values one season (a day) and one week
before the target, the target's hour and day of week, and the `--inputs` at the target's
hour. These are taken as known (measured, ex post, as in GEFCom2012's backcast); in
production they would be forecasts themselves. It predicts the change from the seasonal
naive forecast (the value a day before the target), and is compared with that, with
persistence and with a least-squares linear model (workshop/forecast_benchmarks.py).
"""
import time

import numpy as np

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import tensorflow as tf
from workshop import cli
from workshop.devices import start
from workshop.errors import UserError
from workshop.experiment import new_run_dir, show_files
from workshop.forecast_benchmarks import benchmarks
from workshop.forecast_files import save_forecast, write_forecast, write_test_predictions
from workshop.fused_adam import Adam
from workshop.plots import pyplot, save_figure
from workshop.series import (compared, features, forecast_inputs, forecast_steps, mae, mape, read_csv_series, rmse,
                             season_of, seasons_back, synthetic_waves, week_of)

TRAIN_SIZE: int | None = None  # training pairs (none: 100,000; for a CSV all before the test) (TASK 1: try others)
TEST_SIZE: int | None = None  # test pairs, predicted after training (none: 1,000; for a CSV the last 10 %)
SKIP: int | None = None  # pairs skipped between training and test (none: 200; for a CSV 0)
LAG = 23  # how many steps ahead to forecast
NOISE = 0.0  # standard deviation of noise added to the synthetic series (TASK 2: try 1.0)
UNITS: int | None = None  # units per LSTM layer (none: 6 as in 2016, one per input; for a CSV 64)
LAYERS = 1  # stacked LSTM layers (TASK 3: try 2)
LEARNING_RATE: float | None = None  # Adam's step size (none: 0.0006; for a CSV 0.001 along a cosine to 0) (TASK 3)
PASSES: int | None = None  # passes over the training pairs (none: 1, as in 2016; for a CSV --updates minibatches)
PROGRESS_EVERY = 10000  # print progress every so many pairs (2016: 1000)
PLOT_LAST = 0  # plot only the last PLOT_LAST training pairs; 0 plots all (TASK 4: try 6000)
SEED = 0  # fixes the waves' phases, the noise, the initial weights and the minibatches

# --- A real series from a CSV, instead of the waves ---
CSV: str | None = None  # a CSV file (.csv or .csv.gz) with the series to forecast
COLUMN: str | None = None  # the CSV column to forecast
TIME_COLUMN: str | None = None  # the CSV column with the time (or the date) of each row (rows are sorted by it)
TIME_FORMAT: str | None = None  # e.g. '%d/%m/%Y %H:%M', where the data cannot tell day from month
HOUR_COLUMN: str | None = None  # a column with the hour beside the date (1-24 hour ending, or 0-23: detected)
INPUTS: str | None = None  # e.g. T1,T2: columns known at the target's hour (measured, ex post), as inputs
SEASON: int | None = None  # steps per season for the seasonal naive forecast (none: 24 if hourly, 7 if daily)
CALENDAR = True  # with a time column: the target's hour of day and day of week as inputs
WINDOW = 24  # a CSV's network reads the WINDOW steps before each forecast, from a fresh state
BATCH = 128  # windows per minibatch
UPDATES = 1500  # minibatch updates for a CSV
DROPOUT = 0.5  # for a CSV: share of the LSTM's outputs dropped at random while training (against memorising)

# --- System settings ---
RUNS_DIR = "runs"  # figures go to RUNS_DIR/lstm/<time>/
SHOW = False  # open the figures at the end


def main():
    real_series = CSV is not None
    units = UNITS or (64 if real_series else 6)
    learning_rate = LEARNING_RATE or (0.001 if real_series else 0.0006)
    if min(LAG, units, LAYERS, PASSES or 1, SEASON or 1, WINDOW, BATCH, UPDATES) < 1 or (SKIP or 0) < 0:
        raise UserError("--lag, --units, --layers, --passes, --season, --window, --batch, --updates must be >= 1, "
                        "--skip >= 0")
    if not 0 <= DROPOUT < 1:
        raise UserError(f"--dropout {DROPOUT}: a share, from 0 up to (not including) 1")
    if min(TRAIN_SIZE or 1, TEST_SIZE or 1) < 1:
        raise UserError("--train-size and --test-size must be >= 1")
    start("cpu", "float32", SEED)  # small steps: a GPU would only add latency
    rng = np.random.default_rng(SEED)
    if real_series:
        inputs_named = [name.strip() for name in INPUTS.split(",")] if INPUTS else []
        real = read_csv_series(CSV, COLUMN, TIME_COLUMN, TIME_FORMAT, HOUR_COLUMN, inputs_named, SEASON)
        series = real.values
        season = SEASON or (season_of(real.step) if real.step else None)
        week = week_of(real.step, season)
        inputs, origin = forecast_inputs(real, LAG, season, WINDOW, CALENDAR)  # origin: the first pair's step
        pairs = len(series) - LAG - origin
        test_size = TEST_SIZE or max(1, pairs // 10)
        skip = 0 if SKIP is None else SKIP
        train_size = TRAIN_SIZE or pairs - test_size - skip
        if train_size + skip + test_size > pairs or train_size < 1:
            raise UserError(f"{CSV} has {pairs:,} pairs ({len(series):,} observed steps, {LAG} steps ahead, "
                            f"{origin} steps of history first); --train-size {train_size} with --skip {skip} and "
                            f"--test-size {test_size} need {train_size + skip + test_size:,}: ask for fewer")
        if not season:
            print("No seasonal naive forecast: give --time-column or --season N to compare with one")
        if inputs_named:
            print(f"Inputs {INPUTS} are taken as known at the target's hour (measured, ex post); in production "
                  "they would be forecasts")
        names = [COLUMN]
    else:
        train_size, test_size = TRAIN_SIZE or 100000, TEST_SIZE or 1000
        skip, origin = 200 if SKIP is None else SKIP, 0
        series = synthetic_waves(2 + train_size + skip + test_size + LAG, NOISE, rng)
        real, season, names = None, None, ["series 1", "series 2"]
    print(f"{len(names)} series, {train_size:,} training and {test_size:,} test pairs, {LAG} steps ahead")

    # Data: inputs at step t, targets at t + LAG; standardised with the training part's statistics.
    # Row `origin + i` of the inputs belongs to pair i (the waves: origin 0, row i is step 2 + i).
    # A CSV's target is the change from the seasonal naive forecast, the value a season before.
    if real_series:
        at = np.arange(origin, len(series) - LAG) + LAG  # the targets' steps
        naive = series[at - seasons_back(LAG, season)] if season else series[at - LAG]
        targets = series[at] - naive
    else:
        inputs, targets = features(series)[:-LAG], series[2 + LAG:]
    train = slice(0, train_size)
    test = slice(train_size + skip, train_size + skip + test_size)
    rows = inputs[origin:origin + train_size]
    in_mean, in_std = rows.mean(0), rows.std(0) + 1e-8
    out_mean, out_std = targets[train].mean(0), targets[train].std(0) + 1e-8
    x = tf.constant((inputs - in_mean) / in_std, tf.float32)
    y = tf.constant((targets - out_mean) / out_std, tf.float32)

    # Graph: LSTM cells written out, then a linear output layer.
    dims = [x.shape[1]] + [units] * LAYERS
    init = tf.keras.initializers.GlorotUniform(seed=SEED)
    lstm_weights = [tf.Variable(init([n_in + units, 4 * units])) for n_in in dims[:-1]]
    lstm_biases = [tf.Variable(tf.zeros([4 * units])) for _ in range(LAYERS)]
    output_weights = tf.Variable(init([units, y.shape[1]]))
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

    def network(inputs, states, dropout=0.0):
        new_states = []
        for weights, biases, state in zip(lstm_weights, lstm_biases, states):
            inputs, state = lstm_cell(inputs, state, weights, biases)
            new_states.append(state)
        if dropout:  # training only: each output unit is dropped with that probability (the rest scaled up)
            inputs = tf.nn.dropout(inputs, dropout)
        return tf.matmul(inputs, output_weights) + output_biases, new_states

    def zero_states(batch=1):
        return [(tf.zeros([batch, units]), tf.zeros([batch, units])) for _ in range(LAYERS)]

    def read_windows(ends, dropout=0.0):
        """A batch of windows: from a fresh state the network reads the WINDOW rows up to each
        of `ends`; its output at the last one is the forecast."""
        states = zero_states(tf.shape(ends)[0])
        for back in range(WINDOW - 1, -1, -1):  # unrolled: WINDOW steps in one graph
            prediction, states = network(tf.gather(x, ends - back), states, dropout if back == 0 else 0.0)
        return prediction

    step_size = tf.Variable(learning_rate, trainable=False)  # a CSV's schedule changes it
    optimizer = Adam(step_size if real_series else learning_rate, variables)  # TensorFlow 1's Adam, fused

    # Training loop, the waves: online, one pair at a time, the state carried on; compiled as
    # one graph call per PROGRESS_EVERY pairs instead of one Python call per pair.
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

    # A CSV: minibatches of BATCH windows at random training pairs, the step size falling along
    # a cosine from LEARNING_RATE to 0 over the updates; count updates per graph call.
    sampler = tf.random.Generator.from_seed(SEED)

    @tf.function
    def train_minibatches(done, count, total, pairs):
        errors = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            progress = tf.cast(done + i, tf.float32) / tf.cast(total, tf.float32)
            step_size.assign(learning_rate * 0.5 * (1 + tf.cos(np.pi * progress)))
            chosen = tf.gather(pairs, sampler.uniform([BATCH], 0, tf.size(pairs), tf.int32))
            with tf.GradientTape() as tape:
                squared_error = tf.reduce_mean((read_windows(chosen + origin, DROPOUT) - tf.gather(y, chosen)) ** 2)
            optimizer.apply(tape.gradient(squared_error, variables))
            errors = errors.write(i, squared_error)
        return tf.reduce_mean(errors.stack())

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def predict_windows(ends):
        return read_windows(ends)

    def predicted(ends):
        """Forecasts in the series' unit for the windows ending at the rows `ends`."""
        chunks = [predict_windows(tf.constant(ends[i:i + 4096], tf.int32)).numpy() for i in range(0, len(ends), 4096)]
        return np.concatenate(chunks) * out_std + out_mean

    print("Training")
    started = time.perf_counter()
    if real_series:
        fit = np.flatnonzero(real.observed[at[train]])  # scored on measured targets only
        updates = UPDATES if PASSES is None else -(-PASSES * len(fit) // BATCH)
        per_call = max(1, PROGRESS_EVERY // BATCH)
        for done in range(0, updates, per_call):
            count = min(per_call, updates - done)
            error = train_minibatches(tf.constant(done), tf.constant(count), tf.constant(updates), tf.constant(fit))
            print(f"Trained on {(done + count) * BATCH} pairs (mean squared error {float(error):.4f}, "
                  "standardised)", flush=True)
        pairs = updates * BATCH
    else:
        for done in range(PASSES or 1):  # each pass starts from a fresh state at the first pair
            states, chunks = zero_states(), []
            for first in range(0, train_size, PROGRESS_EVERY):
                count = min(PROGRESS_EVERY, train_size - first)
                chunk, states = train_online(tf.constant(first), tf.constant(count), states)
                chunks.append(chunk.numpy())
                error = np.mean((chunks[-1] - y[first:first + count].numpy()) ** 2)
                print(f"Trained on {done * train_size + first + count} pairs (mean squared error {error:.4f}, "
                      "standardised)", flush=True)
        pairs = (PASSES or 1) * train_size
    seconds = time.perf_counter() - started
    print(f"Trained on {pairs} pairs in {seconds:.1f} s ({pairs / seconds:,.0f} pairs/s)"
          + (f": {updates:,} minibatches of {BATCH} windows of {WINDOW} steps" if real_series else ""))

    print("Testing")  # skip SKIP pairs; the weights stay as learned
    if real_series:  # each forecast from a fresh state, after a window of WINDOW steps
        train_predictions = predicted(np.arange(train_size) + origin) + naive[train]
        test_predictions = predicted(np.arange(test.start, test.stop) + origin) + naive[test]
    else:  # the state reset once, then carried through the test pairs
        train_predictions = np.concatenate(chunks) * out_std + out_mean
        test_predictions = predict_online(tf.constant(test.start), tf.constant(test_size), zero_states())
        test_predictions = test_predictions.numpy() * out_std + out_mean

    # Report: errors in the series' own unit, next to the benchmarks.
    folder = new_run_dir(RUNS_DIR, "lstm")
    if real_series:
        actual = series[at[test]]
        scored = real.observed[at[test]]
        baselines, linear = benchmarks(real, at[test], LAG, season, week, at[train][fit], inputs_named)
        print(f"Linear benchmark: {linear}, fitted on the training pairs")
        if not scored.all():
            print(f"{(~scored).sum():,} test targets were interpolated, not measured: not scored")
        write_test_predictions(folder / "test_predictions.csv", real, at[test], actual[:, 0], scored,
                               {"LSTM": test_predictions[:, 0], **baselines})
    else:
        actual, at = targets[test], np.arange(test.start, test.stop) + 2 + LAG  # the targets' places in `series`
        scored = np.ones(test_size, bool)
        baselines = {"persistence": series[at - LAG]}  # the value LAG steps before the target
    for metric, score in (("RMSE", rmse), ("MAE", mae)) + ((("MAPE", mape),) if real else ()):
        ours = score(test_predictions[scored], actual[scored])
        others = {label: score(values[scored], actual[scored]) for label, values in baselines.items()}
        for k, name in enumerate(names):
            print(f"Test {metric} {name}: " + compared(ours[k], {label: value[k] for label, value in others.items()},
                                                      metric, versus_best=bool(real)))
    if real_series:  # the future: the LAG steps after the last observation, or the file's future rows
        print(f"Test predictions in {folder / 'test_predictions.csv'}")
        future = forecast_steps(real, LAG)
        if not future:
            print(f"No forecast: {CSV} has no rows after the last {COLUMN} value with {INPUTS}, the inputs it needs")
    if real_series and future:
        horizon = np.arange(len(series), len(series) + future)
        lstm_future = np.full(future, np.nan)
        near = horizon[:LAG] - LAG  # the windows' last rows: observed steps
        lstm_future[:LAG] = (predicted(near) + (series[near + LAG - seasons_back(LAG, season)] if season
                                                else series[near]))[:, 0]
        ahead, _ = benchmarks(real, horizon, LAG, season, week, at[train][fit], inputs_named)
        write_forecast(folder / "forecast.csv", real, horizon, {"LSTM": lstm_future, **ahead})
        save_forecast(folder / "forecast.png", real, horizon, {"LSTM": lstm_future, **ahead}, COLUMN, week or 7 * LAG)
        print(f"Forecast of {future:,} steps after the last observation in {folder / 'forecast.csv'}"
              + (f" (the LSTM and the naive forecasts need values {LAG} steps before: the first {LAG} only)"
                 if future > LAG else ""))

    shown = slice(-PLOT_LAST, None) if PLOT_LAST else slice(None)
    dated = real is not None and real.times is not None
    if dated:
        when, x_label = real.times[at], "time of the target"
    else:
        when, x_label = np.arange(1, len(targets) + 1), "pair"
    figures = []
    for k, name in enumerate(names):
        for phase, steps, predictions, truth in (
                ("Training", when[train][shown], train_predictions[shown, k], (series[at[train]] if real_series
                                                                             else targets[train])[shown, k]),
                ("Test", when[test] if dated else np.arange(test_size), test_predictions[:, k], actual[:, k])):
            figure, axis = pyplot().subplots(figsize=(10, 4))
            axis.plot(steps, predictions, "r-", label="Prediction", linewidth=0.8)
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
