"""What LSTM.py leaves for a real series: the test in a CSV, the forecast in a CSV and a figure.

Each file is written atomically (workshop/files.py); an empty cell is a value that was not
measured (test_predictions.csv) or a forecast that needs values nobody has yet (forecast.csv).
"""
import numpy as np

from workshop.files import atomic_write
from workshop.plots import pyplot, save_figure
from workshop.series import extended_times


def _times(real, extra):
    """The time of every step, `extra` steps past the end of the file; step numbers without times."""
    if real.times is None:
        return np.arange(1, len(real.inputs) + extra + 1)
    return extended_times(real, extra)


def _write(path, first, when, columns):
    cell = lambda value: "" if np.isnan(value) else f"{value:.6g}"  # noqa: E731
    with atomic_write(path, "w") as file:
        file.write(",".join([first, *columns]) + "\n")
        for k, time in enumerate(when):
            file.write(",".join([time] + [cell(values[k]) for values in columns.values()]) + "\n")


def write_test_predictions(path, real, steps, actual, scored, forecasts):
    """time, actual (empty where interpolated), LSTM and each benchmark, one row per test target."""
    _write(path, "time" if real.times is not None else "step", [str(t) for t in _times(real, len(steps))[steps]],
           {"actual": np.where(scored, actual, np.nan), **{k: np.asarray(v).ravel() for k, v in forecasts.items()}})


def write_forecast(path, real, steps, forecasts):
    _write(path, "time" if real.times is not None else "step", [str(t) for t in _times(real, len(steps))[steps]],
           {k: np.asarray(v).ravel() for k, v in forecasts.items()})


def save_forecast(path, real, steps, forecasts, column, last):
    """The last `last` observed steps and every forecast step after them."""
    shown = steps
    past = np.arange(max(0, len(real.values) - last), len(real.values))
    when = _times(real, len(steps))
    figure, axis = pyplot().subplots(figsize=(10, 4))
    axis.plot(when[past], real.values[past, 0], "b-", label=f"{column}, measured", linewidth=0.8)
    styles = {"LSTM": {"color": "r"}, "seasonal naive": {"color": "0.6"}}
    for label, values in reversed(forecasts.items()):  # the first (the LSTM) drawn last, on top
        axis.plot(when[shown], np.asarray(values).ravel(), label=label, linewidth=0.8,
                  **styles.get(label, {"color": "k", "linestyle": ":"}))
    axis.axvline(when[past][-1], color="0.8", linewidth=0.8)
    axis.set(title=f"{column}: the last measured steps and the forecast",
             xlabel="time" if real.times is not None else "step")
    handles, labels = axis.get_legend_handles_labels()
    axis.legend(handles[:1] + handles[:0:-1], labels[:1] + labels[:0:-1])  # measured, then the forecasts in order
    if real.times is not None:
        figure.autofmt_xdate()  # dates slanted, so that they never overlap
    save_figure(figure, path)
