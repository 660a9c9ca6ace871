"""Forecasting a utility's electricity load with the LSTM of LSTM.py, against the classical models.

The file is read as a utility or a grid publishes it (a date and an hour column, `;` and a
decimal comma, rows out of order...), and nothing is invented: rows before the first load are
dropped, rows after the last one are the period to forecast, only short gaps are interpolated
and an interpolated hour is never scored.

    python load_forecasting.py --csv BigDEAL2022_hourly.csv.gz --column LDC1 --time-column DATE \
        --hour-column Hour --inputs T1,T2,T3,T4,T5,T6 --forecast-inputs T1_forecast,T2_forecast,...

Two networks are trained, both built from LSTM.py's cell. Each reads a window: the WINDOW
steps up to the hour it forecasts, each step with its hour of day and day of week and the
`--inputs` (e.g. temperatures: the network learns from the sequence how the hours before
weigh, the "recency effect"). The first also gets the load LAG steps before each step of
the window: it forecasts LAG steps ahead. The second gets no load at all: it forecasts any
hour for which the inputs are known, so the whole period after the last measured load.
The second learns what the strongest linear model with the same information misses (its
target is the load minus that model's forecast); the first reads that model's forecast as one
more input. Both are scored on the test stretch next to the naive forecasts and the linear
models (workshop/forecast_benchmarks.py): LAG steps ahead, and over the whole stretch from its
start with no load measured after the last training hour.
"""
import time

import numpy as np

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import tensorflow as tf
from LSTM import lstm_variables, network, zero_states
from workshop import cli
from workshop.devices import start
from workshop.errors import UserError
from workshop.experiment import new_run_dir, show_files
from workshop.forecast_benchmarks import Benchmarks, extended, padded, shifted
from workshop.forecast_files import save_forecast, write_forecast, write_test_predictions
from workshop.fused_adam import Adam
from workshop.plots import pyplot, save_figure
from workshop.series import (calendar_inputs, compared, forecast_steps, mae, mape, read_csv_series,
                             rmse, season_of, seasons_back, week_of)

# --- The file ---
CSV: str | None = None  # a CSV file (.csv or .csv.gz) with the series to forecast
COLUMN: str | None = None  # the CSV column to forecast
TIME_COLUMN: str | None = None  # the CSV column with the time (or the date) of each row (rows are sorted by it)
TIME_FORMAT: str | None = None  # e.g. '%d/%m/%Y %H:%M', where the data cannot tell day from month
HOUR_COLUMN: str | None = None  # a column with the hour beside the date (1-24 hour ending, or 0-23: detected)
INPUTS: str | None = None  # e.g. T1,T2: columns known at each hour (measured, ex post), as inputs
FORECAST_INPUTS: str | None = None  # e.g. T1_forecast,T2_forecast: forecasts of INPUTS, to score the test ex ante
SEASON: int | None = None  # steps per season for the seasonal naive forecast (none: 24 if hourly, 7 if daily)
CALENDAR = True  # with a time column: each step's hour of day and day of week as inputs

# --- The forecast and the network ---
LAG = 23  # how many steps ahead the first network forecasts
TRAIN_SIZE: int | None = None  # training pairs (none: all before the test)
TEST_SIZE: int | None = None  # test pairs (none: the last 10 %)
SKIP = 0  # pairs skipped between training and test
WINDOW = 24  # the network reads the WINDOW steps up to the hour it forecasts, from a fresh state
UNITS = 64  # units per LSTM layer
LAYERS = 1  # stacked LSTM layers
DROPOUT = 0.5  # share of the LSTM's outputs dropped at random while training (against memorising)
BATCH = 128  # windows per minibatch
UPDATES = 1500  # minibatch updates per network
PASSES: int | None = None  # passes over the training pairs instead of UPDATES
LEARNING_RATE = 0.001  # Adam's step size at first, falling along a cosine to 0
PROGRESS_EVERY = 10000  # print progress every so many pairs
PLOT_LAST = 0  # plot only the last PLOT_LAST training pairs; 0 plots all
SEED = 0  # fixes the initial weights and the minibatches

# --- System settings ---
RUNS_DIR = "runs"  # files and figures go to RUNS_DIR/load_forecasting/<time>/
SHOW = False  # open the figures at the end


def names(flag_value):
    return [name.strip() for name in flag_value.split(",")] if flag_value else []


def read_windows(variables, x, ends, dropout=0.0):
    """From a fresh state the network reads the WINDOW rows of `x` up to each of `ends`;
    its output at the last one is the forecast for that step."""
    states = zero_states(variables, tf.shape(ends)[0])
    for back in range(WINDOW - 1, -1, -1):  # unrolled: WINDOW steps in one graph
        prediction, states = network(variables, tf.gather(x, ends - back), states, dropout if back == 0 else 0.0)
    return prediction[:, 0]


def trained(x, y, fit):
    """A network fitted to the targets `y` at the steps `fit`: minibatches of BATCH windows at random
    training steps, Adam's step size falling along a cosine from LEARNING_RATE to 0."""
    variables = lstm_variables(x.shape[1], UNITS, LAYERS, 1, SEED)
    step_size = tf.Variable(LEARNING_RATE, trainable=False)
    trainable = [variable for layer in variables for variable in layer]
    optimizer, sampler = Adam(step_size, trainable), tf.random.Generator.from_seed(SEED)
    updates = UPDATES if PASSES is None else -(-PASSES * len(fit) // BATCH)

    @tf.function
    def train(done, count, fit):
        errors = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            step_size.assign(LEARNING_RATE * 0.5 * (1 + tf.cos(np.pi * tf.cast(done + i, tf.float32) / updates)))
            chosen = tf.gather(fit, sampler.uniform([BATCH], 0, tf.size(fit), tf.int32))
            with tf.GradientTape() as tape:
                squared_error = tf.reduce_mean((read_windows(variables, x, chosen, DROPOUT) - tf.gather(y, chosen)) ** 2)
            optimizer.apply(tape.gradient(squared_error, trainable))
            errors = errors.write(i, squared_error)
        return tf.reduce_mean(errors.stack())

    started, per_call = time.perf_counter(), max(1, PROGRESS_EVERY // BATCH)
    for done in range(0, updates, per_call):
        count = min(per_call, updates - done)
        error = float(train(tf.constant(done), tf.constant(count), tf.constant(fit, tf.int32)))
        if not np.isfinite(error):
            raise UserError(f"training diverged: the error was {error} by update {done + count:,} of {updates:,}; "
                            "try a smaller --learning-rate")
        print(f"Trained on {(done + count) * BATCH} pairs (mean squared error {error:.4f}, standardised)", flush=True)
    seconds = time.perf_counter() - started
    print(f"Trained on {updates * BATCH} pairs in {seconds:.1f} s ({updates * BATCH / seconds:,.0f} pairs/s): "
          f"{updates:,} minibatches of {BATCH} windows of {WINDOW} steps")
    return tf.function(lambda x, ends: read_windows(variables, x, ends),
                       input_signature=[tf.TensorSpec([None, x.shape[1]]), tf.TensorSpec([None], tf.int32)])


def main():
    if CSV is None:
        raise UserError("--csv FILE --column NAME is needed: the load to forecast (python load_forecasting.py --help)")
    if min(LAG, UNITS, LAYERS, PASSES or 1, SEASON or 1, WINDOW, BATCH, UPDATES, PROGRESS_EVERY) < 1 or SKIP < 0:
        raise UserError("--lag, --units, --layers, --passes, --season, --window, --batch, --updates, --progress-every "
                        "must be >= 1, --skip >= 0")
    if not 0 <= DROPOUT < 1:
        raise UserError(f"--dropout {DROPOUT}: a share, from 0 up to (not including) 1")
    if min(TRAIN_SIZE or 1, TEST_SIZE or 1) < 1:
        raise UserError("--train-size and --test-size must be >= 1")
    inputs, forecasts = names(INPUTS), names(FORECAST_INPUTS)
    if forecasts and len(forecasts) != len(inputs):
        raise UserError(f"--forecast-inputs names {len(forecasts)} columns for the {len(inputs)} --inputs: one "
                        "forecast per input, in the same order")
    start("cpu", "float32", SEED)  # small steps: a GPU would only add latency

    # The file: the load as measured, then the future rows with inputs but no load.
    real = read_csv_series(CSV, COLUMN, TIME_COLUMN, TIME_FORMAT, HOUR_COLUMN, inputs, SEASON, optional=forecasts)
    measured = len(real.values)
    season = SEASON or (season_of(real.step) if real.step else None)
    week = week_of(real.step, season)
    if not season:
        print("No seasonal naive forecast: give --time-column or --season N to compare with one")
    if inputs:
        print(f"Inputs {INPUTS} are taken as known at each hour (measured, ex post); in production they would be "
              "forecasts" + (f": {FORECAST_INPUTS} score the test that way too" if forecasts else ""))
    steps = measured + forecast_steps(real, LAG)  # every step with a time or inputs, the future included

    # The pairs: a target step t and the window before it; the first target has a window of history.
    origin = max([LAG] + [b for b in (season and seasons_back(LAG, season), week) if b and b >= LAG]) + WINDOW - 1 - LAG
    pairs = measured - LAG - origin
    test_size = TEST_SIZE or max(1, pairs // 10)
    train_size = TRAIN_SIZE or pairs - test_size - SKIP
    if train_size + SKIP + test_size > pairs or train_size < 1:
        raise UserError(f"{CSV} has {pairs:,} pairs ({measured:,} observed steps, {LAG} steps ahead, {origin} steps "
                        f"of history first); --train-size {train_size} with --skip {SKIP} and --test-size "
                        f"{test_size} need {train_size + SKIP + test_size:,}: ask for fewer")
    first = origin + LAG
    print(f"{COLUMN}: {train_size:,} training and {test_size:,} test pairs, {LAG} steps ahead")
    train = np.arange(first, first + train_size)
    test = np.arange(first + train_size + SKIP, first + train_size + SKIP + test_size)
    fit = train[real.observed[train]]  # learned on measured targets only

    # The benchmarks, fitted on the training part; the networks learn what the best of them misses.
    benchmarks = Benchmarks(real, LAG, season, week, fit, steps)
    for note in benchmarks.notes:
        print(note)
    ahead, whole = benchmarks.ahead(), benchmarks.whole()
    linear_ahead = ahead["recency + loads" if "recency + loads" in ahead else "linear"]
    base_whole = whole.get("recency", whole.get("calendar"))
    # With weather inputs the first network forecasts the change from the seasonal naive forecast, with
    # the linear forecast as an input; without them, what the linear model misses (both chosen on validation hours).
    base_ahead = ahead["seasonal naive"] if inputs and season else linear_ahead

    # The inputs at each step: its calendar and the --inputs; for the first network also the load LAG steps
    # and one week before (interpolated hours as inputs only) and the linear forecast. Standardised on the
    # training steps.
    loads = padded(real.values, steps)[:, 0]
    times = None if real.times is None else extended(real, steps)
    calendar = [calendar_inputs(times)] if CALENDAR and times is not None else []
    lagged = np.stack([shifted(loads, back) for back in (LAG, week) if back and back >= LAG], axis=1)
    rows = slice(0, train[-1] + 1)

    def standardised(columns):
        """The columns as one tensor, standardised; and that transform, for other values of the same columns."""
        columns = np.concatenate(columns, axis=1)
        mean, spread = np.nanmean(columns[rows], axis=0), np.nanstd(columns[rows], axis=0) + 1e-8
        transform = lambda values: tf.constant(np.nan_to_num((values - mean) / spread), tf.float32)  # noqa: E731
        return transform(columns), transform

    x_ahead, _ = standardised(calendar + [padded(real.inputs, steps), lagged, linear_ahead[:, None]])
    x_whole, whole_inputs = standardised(calendar + [padded(real.inputs, steps)])

    # Training: each network on its targets' distance from its base forecast, standardised.
    networks = {}
    for name, base, x, what in (("ahead", base_ahead, x_ahead, f"with the load {LAG} steps before"),
                                ("whole", base_whole, x_whole, "without the load: the calendar and the inputs")):
        if base is None:
            continue
        residual = np.nan_to_num(loads - base)
        scale = residual[fit].std() + 1e-8
        print(f"Training the network {what}")
        networks[name] = trained(x, tf.constant(residual / scale, tf.float32), fit[np.isfinite(base[fit])]), scale

    def forecast(name, ends, base, x=None):
        """The network's forecast for the steps `ends`, in the series' unit: its base forecast plus its own."""
        predict, scale = networks[name]
        x = x if x is not None else {"ahead": x_ahead, "whole": x_whole}[name]
        return predict(x, tf.constant(ends, tf.int32)).numpy() * scale + base[ends]

    # The test against the benchmarks: LAG steps ahead, and from the test's start (no load after it).
    scored = test[real.observed[test]]
    if len(scored) < len(test):
        print(f"{len(test) - len(scored):,} test targets were interpolated, not measured: not scored")
    lines = {f"{LAG} steps ahead": (scored, forecast("ahead", scored, base_ahead), ahead)}
    if "whole" in networks:
        lines["whole test from its start"] = (scored, forecast("whole", scored, base_whole), whole)
    else:
        print("No forecast from the test's start: it needs --time-column (the calendar of the hours to forecast)")
    if forecasts:  # the measured inputs up to the test's start, their forecasts after it, as in production
        given = np.isfinite(real.optional[test[0]:test[-1] + 1]).all(axis=1).cumprod().astype(bool)
        given = scored[given[scored - test[0]]]
        if len(given) and "whole" in networks:
            ex_ante = real.inputs.copy()
            ex_ante[test[0]:] = real.optional[test[0]:]
            x_ante = whole_inputs(np.concatenate(calendar + [padded(ex_ante, steps)], axis=1))
            linear = benchmarks.whole(ex_ante)
            lines["whole test from its start, with the weather forecasts"] = (
                given, forecast("whole", given, linear["recency"], x_ante), linear)
        else:
            print(f"No ex-ante test: {FORECAST_INPUTS} are not given from the test's first hour on")
    for metric, score in (("RMSE", rmse), ("MAE", mae), ("MAPE", mape)):
        for line, (where, ours, others) in lines.items():
            error = score(ours, loads[where])
            if not np.isfinite(error) and metric != "MAPE":
                raise UserError(f"the forecast {line} is not finite: a network diverged; try a smaller --learning-rate")
            print(f"Test {metric} {COLUMN}, {line}: "
                  + compared(error, {k: score(v[where], loads[where]) for k, v in others.items()}, metric, True))

    # The files: the test's forecasts, the forecast of the future, the figures.
    folder = new_run_dir(RUNS_DIR, "load_forecasting")
    test_ahead = forecast("ahead", test, base_ahead)
    test_whole = {"LSTM from the start": forecast("whole", test, base_whole)} if "whole" in networks else {}
    write_test_predictions(folder / "test_predictions.csv", real, test, loads[test], real.observed[test],
                           {"LSTM": test_ahead, **test_whole, **{k: v[test] for k, v in ahead.items()}})
    print(f"Test predictions in {folder / 'test_predictions.csv'}")
    future = np.arange(measured, steps)
    if len(future):  # the first network while the load LAG steps before is measured, then the second
        near = future[future - LAG < measured]
        lstm = np.concatenate([forecast("ahead", near, base_ahead),
                               forecast("whole", future[len(near):], base_whole) if "whole" in networks
                               else np.full(len(future) - len(near), np.nan)])
        columns = {"LSTM": lstm, **{k: v[future] for k, v in ahead.items()}}
        write_forecast(folder / "forecast.csv", real, future, columns)
        shown = {k: columns[k] for k in ("LSTM", "seasonal naive", "recency", "linear") if k in columns}
        save_forecast(folder / "forecast.png", real, future, shown, COLUMN, week or 7 * LAG)
        print(f"Forecast of {len(future):,} steps after the last observation in {folder / 'forecast.csv'}"
              + (f" (the LSTM of {np.isfinite(lstm).sum():,}; with no inputs only the {LAG} steps whose load "
                 f"{LAG} steps before is measured)" if not np.isfinite(lstm).all() else ""))
    else:
        print(f"No forecast: {CSV} has no rows after the last {COLUMN} value with {INPUTS}, the inputs it needs")

    shown = slice(-PLOT_LAST, None) if PLOT_LAST else slice(None)
    when = times if times is not None else np.arange(steps)
    figures = []
    for phase, at, predictions in (("Training", train[shown], forecast("ahead", train[shown], base_ahead)),
                                   ("Test", test, test_ahead)):
        figure, axis = pyplot().subplots(figsize=(10, 4))
        axis.plot(when[at], predictions, "r-", label=f"LSTM, {LAG} steps ahead", linewidth=0.8)
        if phase == "Test" and test_whole:
            axis.plot(when[at], test_whole["LSTM from the start"], "m-", label="LSTM from the start", linewidth=0.8)
        axis.plot(when[at], loads[at], "b-", label="Ground truth", linewidth=0.8)
        axis.set(title=f"{phase} performance on {COLUMN}", xlabel="time of the target" if times is not None else "step")
        axis.legend()
        if times is not None:
            figure.autofmt_xdate()
        figures.append(folder / f"{phase.lower()}_{COLUMN.replace(' ', '_')}.png")
        save_figure(figure, figures[-1])
    print(f"Figures in {folder}")
    if SHOW:
        show_files(figures + ([folder / "forecast.png"] if len(future) else []))


if __name__ == "__main__":
    cli.run(main, globals())
