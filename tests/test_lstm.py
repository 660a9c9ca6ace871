"""LSTM.py: it learns online, beats the naive forecast, reads real series, and refuses bad ones."""
import gzip
import os
import re
from datetime import datetime, timedelta

import numpy as np
import pytest

from conftest import run_script

pytestmark = pytest.mark.slow  # runs the scripts: seconds to minutes each


def lstm(tmp_path, *args):
    """Runs LSTM.py as on a machine without a display."""
    no_display = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    return run_script("LSTM.py", "--runs-dir", tmp_path, *args, env=no_display)


def scores(stdout, metric="RMSE"):
    """{series name: (ours, {baseline: value})} from the `Test RMSE ...` lines."""
    found = {}
    for name, ours, rest in re.findall(rf"^Test {metric} (.+?): ([\d.]+) \((.*)\)$", stdout, re.M):
        found[name] = float(ours), {k: float(v) for k, v in (part.split(": ") for part in rest.split(", "))}
    return found


@pytest.fixture(scope="module")
def waves(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lstm")
    result = lstm(folder, "--train-size", 30000, "--progress-every", 10000)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, folder


def test_loss_falls_while_training_online(waves):
    stdout, _ = waves
    errors = [float(e) for e in re.findall(r"^Trained on \d+ pairs \(mean squared error ([\d.]+)", stdout, re.M)]
    assert len(errors) == 3 and errors[-1] < errors[0] / 2
    assert re.search(r"^Trained on 30000 pairs in [\d.]+ s \([\d,]+ pairs/s\)$", stdout, re.M)


def test_forecast_beats_persistence_on_both_noiseless_series(waves):
    stdout, _ = waves
    for metric in ("RMSE", "MAE"):
        found = scores(stdout, metric)
        assert set(found) == {"series 1", "series 2"}
        for ours, baselines in found.values():
            assert ours < baselines["persistence"]


def test_plots_are_written_without_a_display(waves):
    _, folder = waves
    (run,) = (folder / "lstm").iterdir()
    assert sorted(p.name for p in run.iterdir()) == [
        "test_series_1.png", "test_series_2.png", "training_series_1.png", "training_series_2.png"]


def write_hourly_csv(path, rows=3000):
    """Hourly load with a daily and a weekly rhythm and noise, as a US export writes it:
    m/d/Y H:MM times, rows shuffled, one hour repeated (daylight saving ends) and one missing."""
    start, rng = datetime(2010, 1, 1), np.random.default_rng(0)
    times = [start + timedelta(hours=h) for h in range(rows)]
    weekend = np.array([t.weekday() >= 5 for t in times])
    load = (1000 + 300 * np.sin(2 * np.pi * np.arange(rows) / 24) - 250 * weekend
            + 40 * rng.standard_normal(rows))
    cells = [f"{value:.1f}" for value in load]
    lines = [f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d},{cell}\n" for t, cell in zip(times, cells)]
    lines.append(lines[100])  # the hour that happens twice
    del lines[200]  # and one that never happens
    lines = [lines[i] for i in rng.permutation(len(lines))]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as file:
        file.write("Datetime,LOAD_MW\n" + "".join(lines))
    return path


def test_a_seasonal_series_with_calendar_structure_beats_both_naive_forecasts(tmp_path):
    csv = write_hourly_csv(tmp_path / "load.csv.gz", rows=3000)
    result = lstm(tmp_path, "--csv", csv, "--column", "LOAD_MW", "--time-column", "Datetime",
                  "--updates", 150, "--window", 8, "--progress-every", 10000)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rows out of order; sorted 3,000 rows by Datetime" in result.stdout
    assert "1 repeated times (daylight saving?); averaged" in result.stdout
    assert "1 missing times in 1 gaps" in result.stdout
    assert "1 series, 2,543 training and 282 test pairs, 23 steps ahead" in result.stdout  # the last 10 %
    assert re.search(r"^Trained on 19200 pairs in [\d.]+ s \([\d,]+ pairs/s\): 150 minibatches of 128 windows of 8 "
                     r"steps$", result.stdout, re.M)
    for metric in ("RMSE", "MAE", "MAPE"):
        (line,) = re.findall(rf"^Test {metric} LOAD_MW: .*$", result.stdout, re.M)
        ours, persistence, seasonal, linear, margin = map(float, re.findall(r"(?<=[:,] )([\d.]+)", line))
        assert ours < min(persistence, seasonal), line  # in MW (or %), not standardised
        best = min(persistence, seasonal, linear)
        assert margin == pytest.approx(100 * abs(1 - ours / best), abs=0.6)
        assert line.endswith(f"% {'better' if ours <= best else 'worse'} than the best benchmark)")
    (run,) = (tmp_path / "lstm").iterdir()
    assert sorted(p.name for p in run.iterdir()) == ["forecast.csv", "forecast.png", "test_LOAD_MW.png",
                                                     "test_predictions.csv", "training_LOAD_MW.png"]
    forecast = (run / "forecast.csv").read_text().splitlines()  # no future rows: the next LAG hours
    assert forecast[0] == "time,LSTM,persistence,seasonal naive,linear" and len(forecast) == 1 + 23
    assert forecast[1].startswith("2010-05-06 00:00:00,") and all("," * 2 not in row for row in forecast)


def write_utility_csv(path, days=80, lead=7, future=30, gap=(1820, 1823)):
    """A utility's export: DATE like 1-Jan-15, Hour 1-24, LOAD driven by the temperature T,
    `lead` rows with a temperature but no load first, `future` such rows at the end, a gap inside."""
    rng = np.random.default_rng(1)
    hours = np.arange(24 * days)
    temperature = 50 + 25 * np.sin(2 * np.pi * hours / (24 * 9)) + 8 * np.sin(2 * np.pi * (hours - 9) / 24)
    load = (500 + 3 * (temperature - 60) ** 2 / 10 + 60 * np.sin(2 * np.pi * (hours - 7) / 24)
            + 5 * rng.standard_normal(len(hours)))
    rows = ["DATE,Hour,LOAD,T"]
    for h in hours:
        day = datetime(2015, 1, 1) + timedelta(days=int(h) // 24)
        empty = h < lead or h >= len(hours) - future or gap[0] <= h < gap[1]
        cell = "" if empty else f"{load[h]:.2f}"
        rows.append(f"{day.day}-{day.strftime('%b-%y')},{h % 24 + 1},{cell},{temperature[h]:.1f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_utility_file_with_temperatures_and_a_future_is_forecast_and_nothing_is_invented(tmp_path):
    csv = write_utility_csv(tmp_path / "utility.csv")
    result = lstm(tmp_path, "--csv", csv, "--column", "LOAD", "--time-column", "DATE", "--hour-column", "Hour",
                  "--inputs", "T", "--updates", 150, "--window", 8)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Hour is 1-24, hour ending (hour 1 is 0:00-1:00, shown as 0:00)" in out
    assert ("7 rows before the first LOAD value with every input (2015-01-01 07:00:00) dropped; 30 rows after the "
            "last LOAD value (2015-03-20 17:00:00) are the future to forecast") in out
    assert "3 empty LOAD cells in 1 gaps (the longest 3 steps, from 2015-03-17 20:00:00)" in out
    assert "Inputs T are taken as known at the target's hour (measured, ex post)" in out
    assert "Linear benchmark: Tao Hong's vanilla MLR (GEFCom2012 benchmark) on the target's calendar and T" in out
    assert "3 test targets were interpolated, not measured: not scored" in out
    assert re.search(r"^Test RMSE LOAD: [\d.]+ \(persistence: [\d.]+, seasonal naive: [\d.]+, linear: [\d.]+, \d+ % "
                     r"(better|worse) than the best benchmark\)$", out, re.M)
    (run,) = (tmp_path / "lstm").iterdir()
    test = [row.split(",") for row in (run / "test_predictions.csv").read_text().splitlines()]
    assert test[0] == ["time", "actual", "LSTM", "persistence", "seasonal naive", "linear"]
    assert test[-1][0] == "2015-03-20 17:00:00"  # the last measured hour: nothing scored in the future
    assert [row[0] for row in test if row[1] == ""] == ["2015-03-17 20:00:00", "2015-03-17 21:00:00",
                                                         "2015-03-17 22:00:00"]
    forecast = [row.split(",") for row in (run / "forecast.csv").read_text().splitlines()]
    assert len(forecast) == 1 + 30 and forecast[1][0] == "2015-03-20 18:00:00"
    assert all(row[1] for row in forecast[1:24]) and not any(row[1] for row in forecast[24:])  # the LSTM: LAG steps
    assert all(row[4] for row in forecast[1:])  # Hong's model needs only the temperatures


def test_without_a_time_column_rows_are_taken_in_file_order_and_season_is_asked_for(tmp_path):
    csv = tmp_path / "load.csv"
    csv.write_text("LOAD_MW\n" + "".join(f"{100 + 10 * np.sin(h / 3):.3f}\n" for h in range(400)))
    args = ["--csv", csv, "--column", "LOAD_MW", "--train-size", 300, "--test-size", 50, "--skip", 0,
            "--lag", 3, "--passes", 1, "--window", 4]
    plain = lstm(tmp_path, *args)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "No seasonal naive forecast: give --time-column or --season N" in plain.stdout
    assert re.search(r"^Test RMSE LOAD_MW: [\d.]+ \(persistence: [\d.]+, linear: [\d.]+, \d+ % (better|worse) than",
                     plain.stdout, re.M)
    seasonal = lstm(tmp_path, *args, "--season", 19)
    assert re.search(r"^Test RMSE LOAD_MW: [\d.]+ \(persistence: [\d.]+, seasonal naive: [\d.]+, ", seasonal.stdout,
                     re.M)


@pytest.mark.parametrize("case, message", [  # the other bad files: tests/test_series.py
    ("column", "--column POWER: .* has no such column \\(it has: Datetime, LOAD_MW\\)"),
    ("short", "has 2,809 pairs \\(3,000 observed steps, 23 steps ahead, 168 steps of history first\\); --train-size "
              "5000 with --skip 0 and --test-size 100 need 5,100: ask for fewer"),
    ("inputs", "--inputs TEMP: .* has no such column"),
    ("hour column", "--hour-column Hour needs --time-column"),
])
def test_bad_csv_input_gives_one_clear_line(tmp_path, case, message):
    csv = write_hourly_csv(tmp_path / "load.csv")
    args = ["--csv", csv, "--column", "POWER" if case == "column" else "LOAD_MW", "--test-size", 100]
    args += {"short": ["--time-column", "Datetime", "--train-size", 5000], "inputs": ["--inputs", "TEMP"],
             "hour column": ["--hour-column", "Hour"]}.get(case, ["--time-column", "Datetime"])
    result = lstm(tmp_path, *args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("LSTM.py: error: ") and re.search(message, last), last
