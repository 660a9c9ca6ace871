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


def test_a_seasonal_series_with_calendar_structure_beats_both_baselines(tmp_path):
    csv = write_hourly_csv(tmp_path / "load.csv.gz", rows=6000)
    result = lstm(tmp_path, "--csv", csv, "--column", "LOAD_MW", "--time-column", "Datetime",
                  "--train-size", 5000, "--test-size", 800, "--skip", 24, "--progress-every", 5000)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rows out of order; sorted 6,000 rows by Datetime" in result.stdout
    assert "1 repeated times (daylight saving?); averaged" in result.stdout
    assert "1 missing times in 1 gaps" in result.stdout
    assert re.search(r"^Trained on 15000 pairs in", result.stdout, re.M)  # 3 passes by default
    for metric in ("RMSE", "MAE", "MAPE"):
        (line,) = re.findall(rf"^Test {metric} LOAD_MW: .*$", result.stdout, re.M)
        ours, persistence, seasonal, margin = map(float, re.findall(r"(?<=[:,] )([\d.]+)", line))
        assert ours < min(persistence, seasonal), line  # in MW (or %), not standardised
        assert margin == pytest.approx(100 * (1 - ours / min(persistence, seasonal)), abs=0.6)
        assert line.endswith("% better than the best baseline)")
    (run,) = (tmp_path / "lstm").iterdir()
    assert sorted(p.name for p in run.iterdir()) == ["test_LOAD_MW.png", "training_LOAD_MW.png"]


def test_without_a_time_column_rows_are_taken_in_file_order_and_season_is_asked_for(tmp_path):
    csv = tmp_path / "load.csv"
    csv.write_text("LOAD_MW\n" + "".join(f"{100 + 10 * np.sin(h / 3):.3f}\n" for h in range(400)))
    args = ["--csv", csv, "--column", "LOAD_MW", "--train-size", 300, "--test-size", 50, "--skip", 0,
            "--lag", 3, "--passes", 1]
    plain = lstm(tmp_path, *args)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "No seasonal naive forecast: give --time-column or --season N" in plain.stdout
    assert re.search(r"^Test RMSE LOAD_MW: [\d.]+ \(persistence: [\d.]+, \d+ % (better|worse) than", plain.stdout, re.M)
    seasonal = lstm(tmp_path, *args, "--season", 19)
    assert re.search(r"^Test RMSE LOAD_MW: [\d.]+ \(persistence: [\d.]+, seasonal naive: [\d.]+, ", seasonal.stdout, re.M)


@pytest.mark.parametrize("case, message", [  # the other bad files: tests/test_series.py
    ("column", "--column POWER: .* has no such column \\(it has: Datetime, LOAD_MW\\)"),
    ("short", "has 3,000 rows; .* need 101,225: ask for fewer"),
])
def test_bad_csv_input_gives_one_clear_line(tmp_path, case, message):
    csv = write_hourly_csv(tmp_path / "load.csv")
    args = ["--csv", csv, "--column", "POWER" if case == "column" else "LOAD_MW", "--time-column", "Datetime"]
    if case != "short":
        args += ["--train-size", 1000, "--test-size", 100]
    result = lstm(tmp_path, *args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("LSTM.py: error: ") and re.search(message, last), last
