"""LSTM.py: the 2016 experiment learns online, beats the naive forecast, and refuses bad settings."""
import os
import re

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


def test_the_cell_is_defined_once_in_the_repository():
    from conftest import REPO
    defining = [path.name for path in sorted(REPO.glob("*.py")) + sorted((REPO / "workshop").glob("*.py"))
                if "def lstm_cell" in path.read_text(encoding="utf-8")]
    assert defining == ["LSTM.py"]


def test_a_bad_setting_is_one_line(tmp_path):
    result = lstm(tmp_path, "--units", 0)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "LSTM.py: error: --skip must be >= 0, the other sizes and counts >= 1 " \
                                    "(python LSTM.py --help)"
