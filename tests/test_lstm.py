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


def write_hourly_csv(path, rows=3000, shuffle=True, corrupt=None):
    start, rng = datetime(2010, 1, 1), np.random.default_rng(0)
    lines = [(start + timedelta(hours=h), 1000 + 300 * np.sin(2 * np.pi * h / 24) + 20 * rng.standard_normal())
             for h in range(rows)]
    if shuffle:
        lines = [lines[i] for i in rng.permutation(rows)]
    cells = [f"{value:.1f}" for _, value in lines]
    if corrupt is not None:
        cells[5] = corrupt
    text = "Datetime,LOAD_MW\n" + "".join(f"{t.isoformat(sep=' ')},{cell}\n" for (t, _), cell in zip(lines, cells))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as file:
        file.write(text)
    return path


def test_a_real_hourly_series_from_csv(tmp_path):
    csv = write_hourly_csv(tmp_path / "load.csv.gz")
    result = lstm(tmp_path, "--csv", csv, "--column", "LOAD_MW", "--time-column", "Datetime",
                  "--train-size", 2000, "--test-size", 300, "--skip", 24, "--progress-every", 1000)
    assert result.returncode == 0, result.stderr[-3000:]
    found = scores(result.stdout)
    ours, baselines = found["LOAD_MW"]
    assert set(baselines) == {"persistence", "one day earlier"}
    assert 5 < ours < 1000 and baselines["one day earlier"] < baselines["persistence"]  # in MW, not standardised
    (run,) = (tmp_path / "lstm").iterdir()
    assert (run / "test_LOAD_MW.png").is_file()


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("column", "--column POWER: .* has no such column \\(it has: Datetime, LOAD_MW\\)"),
    ("text", "line \\d+: LOAD_MW is 'n/a', not a number"),
    ("empty", "line \\d+: LOAD_MW is '', not a number \\(missing\\)"),
    ("short", "has 3,000 rows; .* need 101,225: ask for fewer"),
])
def test_bad_csv_input_gives_one_clear_line(tmp_path, case, message):
    csv = tmp_path / "load.csv"
    if case != "missing":
        write_hourly_csv(csv, corrupt={"text": "n/a", "empty": ""}.get(case))
    args = ["--csv", csv, "--column", "POWER" if case == "column" else "LOAD_MW", "--time-column", "Datetime"]
    if case not in ("short",):
        args += ["--train-size", 1000, "--test-size", 100]
    result = lstm(tmp_path, *args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("LSTM.py: error: ") and re.search(message, last), last
