"""load_forecasting.py: files as utilities publish them, both forecasts, the benchmarks, nothing invented."""
import gzip
import os
import re
from datetime import datetime, timedelta

import numpy as np
import pytest

from conftest import run_script

pytestmark = pytest.mark.slow  # runs the lesson: seconds each
QUICK = ["--updates", 150, "--window", 8]


def forecasting(tmp_path, *args):
    """Runs load_forecasting.py as on a machine without a display."""
    no_display = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    return run_script("load_forecasting.py", "--runs-dir", tmp_path, *args, env=no_display)


def numbers(line):
    """The LSTM's error, then each benchmark's, from a `Test RMSE ...` line."""
    return [float(n) for n in re.findall(r"(?<=[:,] )([\d.]+)(?= %| \(|,|\))", line)]


def write_hourly_csv(path, rows=3000):
    """Hourly load with a daily and a weekly rhythm and noise, as a US export writes it:
    m/d/Y H:MM times, rows shuffled, one hour repeated (daylight saving ends) and one missing."""
    start, rng = datetime(2010, 1, 1), np.random.default_rng(0)
    times = [start + timedelta(hours=h) for h in range(rows)]
    weekend = np.array([t.weekday() >= 5 for t in times])
    load = (1000 + 300 * np.sin(2 * np.pi * np.arange(rows) / 24) - 250 * weekend
            + 40 * rng.standard_normal(rows))
    lines = [f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d},{value:.1f}\n" for t, value in zip(times, load)]
    lines.append(lines[100])  # the hour that happens twice
    del lines[200]  # and one that never happens
    lines = [lines[i] for i in rng.permutation(len(lines))]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as file:
        file.write("Datetime,LOAD_MW\n" + "".join(lines))
    return path


def test_a_seasonal_series_with_calendar_structure_beats_both_naive_forecasts(tmp_path):
    csv = write_hourly_csv(tmp_path / "load.csv.gz", rows=3000)
    result = forecasting(tmp_path, "--csv", csv, "--column", "LOAD_MW", "--time-column", "Datetime", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "rows out of order; sorted 3,000 rows by Datetime" in out
    assert "1 repeated times (daylight saving?); averaged" in out and "1 missing times in 1 gaps" in out
    assert "LOAD_MW: 2,543 training and 282 test pairs, 23 steps ahead" in out  # the last 10 %
    assert len(re.findall(r"^Trained on 19200 pairs in [\d.]+ s \([\d,]+ pairs/s\): 150 minibatches of 128 windows "
                          r"of 8 steps$", out, re.M)) == 2  # the two networks
    for metric in ("RMSE", "MAE", "MAPE"):
        (line,) = re.findall(rf"^Test {metric} LOAD_MW, 23 steps ahead: .*$", out, re.M)
        ours, persistence, seasonal, linear, calendar, margin = numbers(line)
        assert ours < min(persistence, seasonal), line  # in MW (or %), not standardised
        best = min(persistence, seasonal, linear, calendar)
        assert margin == pytest.approx(100 * abs(1 - ours / best), abs=0.6 if metric != "MAPE" else 2)  # rounding
        if ours != best:  # equal when rounded: either word
            assert line.endswith(f"% {'better' if ours < best else 'worse'} than the best benchmark)")
        assert re.search(rf"^Test {metric} LOAD_MW, whole test from its start: [\d.]+( %)? \(calendar: ", out, re.M)
    (run,) = (tmp_path / "load_forecasting").iterdir()
    assert sorted(p.name for p in run.iterdir()) == ["forecast.csv", "forecast.png", "test_LOAD_MW.png",
                                                     "test_predictions.csv", "training_LOAD_MW.png"]
    forecast = (run / "forecast.csv").read_text().splitlines()  # no future rows: the next LAG hours
    assert forecast[0] == "time,LSTM,persistence,seasonal naive,linear,calendar" and len(forecast) == 1 + 23
    assert forecast[1].startswith("2010-05-06 00:00:00,") and all("," * 2 not in row for row in forecast)


def write_utility_csv(path, days=80, lead=7, future=30, gap=(1820, 1823), european=False):
    """A utility's export: DATE like 1-Jan-15, Hour 1-24, LOAD driven by the temperature T of the hours
    before, `lead` rows with a temperature but no load first, `future` such rows at the end, a gap inside,
    and T_forecast (T with an error) from day 60 on. `european`: the same numbers as a European grid
    writes them: ';' between fields, a decimal comma, a thousands point, a cp1252 header."""
    rng = np.random.default_rng(1)
    hours = np.arange(24 * days)
    temperature = 50 + 25 * np.sin(2 * np.pi * hours / (24 * 9)) + 8 * np.sin(2 * np.pi * (hours - 9) / 24)
    warmed = np.convolve(temperature, np.ones(6) / 6)[:len(hours)]  # the building's temperature lags the air's
    load = (1500 + 3 * (warmed - 60) ** 2 / 10 + 60 * np.sin(2 * np.pi * (hours - 7) / 24)
            + 5 * rng.standard_normal(len(hours)))
    forecast = temperature + rng.normal(0, 2, len(hours))
    number = (lambda v, d: f"{v:,.{d}f}".replace(",", "_").replace(".", ",").replace("_", ".")) if european \
        else (lambda v, d: f"{v:.{d}f}")
    separator = ";" if european else ","
    rows = [separator.join(["DATE", "Hour", "Last gemäß Zähler" if european else "LOAD", "T", "T_forecast"])]
    for h in hours:
        day = datetime(2015, 1, 1) + timedelta(days=int(h) // 24)
        empty = h < lead or h >= len(hours) - future or gap[0] <= h < gap[1]
        rows.append(separator.join([f"{day.day}-{day.strftime('%b-%y')}", str(h % 24 + 1),
                                    "" if empty else number(load[h], 2), number(temperature[h], 1),
                                    number(forecast[h], 1) if h >= 24 * 60 else ""]))
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252" if european else "utf-8"))
    return path


UTILITY = ["--time-column", "DATE", "--hour-column", "Hour", "--inputs", "T", "--forecast-inputs", "T_forecast"]


@pytest.fixture(scope="module")
def utility(tmp_path_factory):
    folder = tmp_path_factory.mktemp("utility")
    csv = write_utility_csv(folder / "utility.csv")
    result = forecasting(folder, "--csv", csv, "--column", "LOAD", *UTILITY, *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (folder / "load_forecasting").iterdir()
    return result.stdout, run


def test_a_utility_file_is_read_as_published_and_nothing_is_invented(utility):
    out, run = utility
    assert "Hour is 1-24, hour ending (hour 1 is 0:00-1:00, shown as 0:00)" in out
    assert ("7 rows before the first LOAD value with every input (2015-01-01 07:00:00) dropped; 30 rows after the "
            "last LOAD value (2015-03-20 17:00:00) are the future to forecast") in out
    assert "3 empty LOAD cells in 1 gaps (the longest 3 steps, from 2015-03-17 20:00:00)" in out
    assert "Inputs T are taken as known at each hour (measured, ex post)" in out
    assert "3 test targets were interpolated, not measured: not scored" in out
    test = [row.split(",") for row in (run / "test_predictions.csv").read_text().splitlines()]
    assert test[0] == ["time", "actual", "LSTM", "LSTM from the start", "persistence", "seasonal naive", "vanilla",
                       "recency", "recency + loads"]
    assert test[-1][0] == "2015-03-20 17:00:00"  # the last measured hour: nothing scored in the future
    assert [row[0] for row in test if row[1] == ""] == ["2015-03-17 20:00:00", "2015-03-17 21:00:00",
                                                         "2015-03-17 22:00:00"]


def test_both_forecasts_are_scored_against_the_linear_models_with_the_same_information(utility):
    out, _ = utility
    assert re.search(r"^Recency effect: the \d+ hours and the \d days before the target, chosen on the last tenth of "
                     r"the training part$", out, re.M)
    for metric in ("RMSE", "MAE", "MAPE"):
        ahead = re.search(rf"^Test {metric} LOAD, 23 steps ahead: [\d.]+( %)? \(persistence: [\d.]+( %)?, seasonal "
                          rf"naive: [\d.]+( %)?, vanilla: [\d.]+( %)?, recency: [\d.]+( %)?, recency \+ loads: "
                          rf"[\d.]+( %)?, \d+ % (better|worse) than the best benchmark\)$", out, re.M)
        whole = re.search(rf"^Test {metric} LOAD, whole test from its start: [\d.]+( %)? \(vanilla: [\d.]+( %)?, "
                          rf"recency: [\d.]+( %)?, \d+ % (better|worse) than the best benchmark\)$", out, re.M)
        ex_ante = re.search(rf"^Test {metric} LOAD, whole test from its start, with the weather forecasts: [\d.]+( %)? "
                            rf"\(vanilla: [\d.]+( %)?, recency: [\d.]+( %)?, ", out, re.M)
        assert ahead and whole and ex_ante, metric
    ours, vanilla, recency, _ = numbers(re.search(r"^Test RMSE LOAD, whole test from its start: .*$", out, re.M)[0])
    assert recency < vanilla  # the load follows the hours before: the recency effect is there to find
    forecast_off = numbers(re.search(r"^Test RMSE LOAD, whole test .* weather forecasts: .*$", out, re.M)[0])
    assert forecast_off[2] > recency  # the forecasts' error costs the linear model too


def test_the_whole_future_is_forecast_from_what_is_known_then(utility):
    out, run = utility
    forecast = [row.split(",") for row in (run / "forecast.csv").read_text().splitlines()]
    assert forecast[0] == ["time", "LSTM", "persistence", "seasonal naive", "vanilla", "recency", "recency + loads"]
    assert len(forecast) == 1 + 30 and forecast[1][0] == "2015-03-20 18:00:00"
    assert all(row[1] for row in forecast[1:])  # the LSTM on every future row with inputs
    assert all(row[2] for row in forecast[1:24]) and not any(row[2] for row in forecast[24:])  # persistence: LAG
    assert all(row[4] and row[5] for row in forecast[1:])  # vanilla, recency: the temperatures only
    assert "Forecast of 30 steps after the last observation" in out and (run / "forecast.png").stat().st_size


def test_a_european_file_gives_the_same_result_as_its_comma_twin(tmp_path, utility):
    out, run = utility
    csv = write_utility_csv(tmp_path / "netzlast.csv", european=True)
    result = forecasting(tmp_path, "--csv", csv, "--column", "Last gemäß Zähler", *UTILITY, *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{csv}: not UTF-8; read as cp1252 (Windows Western European)" in result.stdout
    scores = lambda text: re.findall(r"^Test \w+ [^,]+, (.*)$", text, re.M)  # noqa: E731
    assert scores(result.stdout) == scores(out) and len(scores(out)) == 9
    (twin,) = (tmp_path / "load_forecasting").iterdir()
    assert (twin / "forecast.csv").read_text() == (run / "forecast.csv").read_text()


def test_without_a_time_column_rows_are_taken_in_file_order_and_season_is_asked_for(tmp_path):
    csv = tmp_path / "load.csv"
    csv.write_text("LOAD_MW\n" + "".join(f"{100 + 10 * np.sin(h / 3):.3f}\n" for h in range(400)))
    args = ["--csv", csv, "--column", "LOAD_MW", "--train-size", 300, "--test-size", 50, "--lag", 3, "--passes", 1,
            "--window", 4]
    plain = forecasting(tmp_path, *args)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "No seasonal naive forecast: give --time-column or --season N" in plain.stdout
    assert re.search(r"^Test RMSE LOAD_MW, 3 steps ahead: [\d.]+ \(persistence: [\d.]+, linear: [\d.]+, \d+ % "
                     r"(better|worse) than", plain.stdout, re.M)
    assert "No forecast from the test's start: it needs --time-column" in plain.stdout
    seasonal = forecasting(tmp_path, *args, "--season", 19)
    assert re.search(r"^Test RMSE LOAD_MW, 3 steps ahead: [\d.]+ \(persistence: [\d.]+, seasonal naive: [\d.]+, ",
                     seasonal.stdout, re.M)


@pytest.mark.parametrize("case, message", [
    ("column", "--column POWER: .* has no such column \\(it has: Datetime, LOAD_MW\\)"),
    ("short", "has 2,809 pairs \\(3,000 observed steps, 23 steps ahead, 168 steps of history first\\); --train-size "
              "5000 with --skip 0 and --test-size 100 need 5,100: ask for fewer"),
    ("inputs", "--inputs TEMP: .* has no such column"),
    ("hour column", "--hour-column Hour needs --time-column"),
    ("forecasts", "--forecast-inputs names 1 columns for the 0 --inputs: one forecast per input, in the same order"),
    ("no file", "--csv FILE --column NAME is needed"),
    ("folder", "--csv .*: a folder, not a file \\(name the CSV file in it\\)"),
    ("diverged", "training diverged: the error was (nan|inf) by update \\d+ of 150; try a smaller --learning-rate"),
])
def test_bad_input_gives_one_clear_line(tmp_path, case, message):
    csv = write_hourly_csv(tmp_path / "load.csv")
    args = ["--csv", tmp_path if case == "folder" else csv, "--column", "POWER" if case == "column" else "LOAD_MW",
            "--test-size", 100]
    args += {"short": ["--time-column", "Datetime", "--train-size", 5000], "inputs": ["--inputs", "TEMP"],
             "hour column": ["--hour-column", "Hour"], "forecasts": ["--forecast-inputs", "LOAD_MW"],
             "no file": [], "diverged": ["--time-column", "Datetime", "--learning-rate", 1e30, *QUICK]
             }.get(case, ["--time-column", "Datetime"])
    result = forecasting(tmp_path, *([] if case == "no file" else args))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("load_forecasting.py: error: ") and re.search(message, last), last
    assert not (tmp_path / "load_forecasting").exists()  # no partial output
