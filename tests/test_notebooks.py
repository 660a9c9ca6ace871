"""notebooks/: made from the scripts (in sync), and each runs top to bottom under papermill."""
import ast
import json
import subprocess
import sys

import pytest

from conftest import REPO
from workshop import notebooks

pytestmark = pytest.mark.slow  # each notebook starts a kernel: seconds each


def test_every_lesson_has_its_notebook_and_making_them_again_changes_nothing():
    lessons = sorted(path.name for path in REPO.glob("*.py")
                     if "cli.run(main, globals())" in path.read_text(encoding="utf-8"))
    assert sorted(notebooks.LESSONS) == lessons
    assert sorted(path.name for path in (REPO / "notebooks").glob("*.ipynb")) == sorted(
        notebooks.path(script).name for script in lessons)
    for script in lessons:
        assert notebooks.path(script).read_text(encoding="utf-8") == notebooks.text(script), \
            f"notebooks/ is behind {script}: run `make notebooks`"


def test_a_notebook_is_its_script_cell_by_cell():
    book = json.loads(notebooks.text("notmnist_classifier.py"))
    cells = book["cells"]
    source = (REPO / "notmnist_classifier.py").read_text(encoding="utf-8")
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith(
        "# notMNIST with a multilayer perceptron")
    set_up = "".join(cells[1]["source"])
    assert 'if "google.colab" in sys.modules:' in set_up and "git clone" in set_up and "create_notmnist.py" in set_up
    (settings,) = [cell for cell in cells if cell["metadata"].get("tags") == ["parameters"]]
    assert "".join(settings["source"]).startswith('DATA = "data/notMNIST.pickle"')
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    for name in ("network_variables", "network", "loss_function", "main"):  # each function, word for word
        (cell,) = [cell for cell in code if "".join(cell["source"]).startswith(f"def {name}(")]
        assert "".join(cell["source"]) in source
    assert "".join(code[-1]["source"]) == 'cli.run_in_notebook(main, globals(), "notmnist_classifier.py")'
    ast.parse("".join(code[2]["source"]))  # the imports, as the script has them


def papermill(notebook, tmp_path, *parameters):
    """Runs notebooks/<notebook>.ipynb as a teacher would, in a kernel of this environment started in
    notebooks/ (as Jupyter does). -> (the CompletedProcess, its stream output, the executed notebook)"""
    out = tmp_path / f"{notebook}.out.ipynb"
    flags = [str(part) for name, value in zip(parameters[::2], parameters[1::2]) for part in ("-p", name, value)]
    result = subprocess.run([sys.executable, "-m", "papermill", f"notebooks/{notebook}.ipynb", str(out),
                             "--cwd", "notebooks", "--no-progress-bar", *flags],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    book = json.loads(out.read_text()) if out.exists() else {"cells": []}
    streams = "".join("".join(output.get("text", "")) for cell in book["cells"] if cell["cell_type"] == "code"
                      for output in cell.get("outputs", []) if output["output_type"] == "stream")
    return result, streams, book


def images(book):
    return [output for cell in book["cells"] for output in cell.get("outputs", [])
            if "image/png" in output.get("data", {})]


def test_create_notmnist_notebook_builds_the_pickle(source_dir, tmp_path):
    result, out, book = papermill("create_notmnist", tmp_path, "SOURCE", source_dir, "DATA_DIR", tmp_path / "data",
                                  "TRAIN_SIZE", 200, "VALID_SIZE", 50, "TEST_SIZE", 50, "WORKERS", 1)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Wrote " in out and (tmp_path / "data" / "notMNIST.pickle").is_file()
    assert len(images(book)) == 1  # the samples, below the cell


@pytest.mark.parametrize("notebook, settings", [
    ("notmnist_classifier", ["HIDDEN_UNITS", 64, "BATCH_SIZE", 32, "LEARNING_RATE", 0.02, "EVAL_EVERY", 20]),
    ("notmnist_classifier_CNN", ["DEPTH", 8, "BATCH_SIZE", 32, "LEARNING_RATE", 0.02, "EVAL_EVERY", 20]),
])
def test_classifier_notebooks_train_report_and_draw(notebook, settings, easy_pickle, tmp_path):
    result, out, book = papermill(notebook, tmp_path, "DATA", easy_pickle, "STEPS", 40, "DEVICE", "cpu",
                                  "RUNS_DIR", tmp_path / "runs", *settings)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Minibatch loss at step 39:" in out and "Test accuracy:" in out
    assert len(images(book)) == 2  # the curves and the confusion matrix
    (run,) = (tmp_path / "runs" / notebook).iterdir()
    assert (run / "curves.png").is_file()


def test_a_bad_setting_in_a_notebook_is_one_line(easy_pickle, tmp_path):
    result, out, book = papermill("notmnist_classifier", tmp_path, "DATA", easy_pickle, "DEVICE", "tpu",
                                  "RUNS_DIR", tmp_path / "runs")
    assert result.returncode != 0
    (error,) = [output for cell in book["cells"] for output in cell.get("outputs", [])
                if output["output_type"] == "error"]
    (line,) = error["traceback"]  # one line, no traceback
    assert line.startswith("error: setting --device: invalid choice: 'tpu' (choose from ") and "gpu" in line
    assert not (tmp_path / "runs").exists()


def test_lstm_notebook_forecasts_the_waves(tmp_path):
    result, out, book = papermill("LSTM", tmp_path, "TRAIN_SIZE", 3000, "TEST_SIZE", 100, "PROGRESS_EVERY", 1000,
                                  "RUNS_DIR", tmp_path / "runs")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test RMSE" in out and images(book)


def test_load_forecasting_notebook_forecasts_a_utilitys_file(tmp_path):
    from test_load_forecasting import write_hourly_csv
    csv = write_hourly_csv(tmp_path / "load.csv", rows=1500)
    result, out, book = papermill("load_forecasting", tmp_path, "CSV", csv, "COLUMN", "LOAD_MW",
                                  "TIME_COLUMN", "Datetime", "UPDATES", 30, "WINDOW", 8, "RUNS_DIR", tmp_path / "runs")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test RMSE LOAD_MW, 23 steps ahead:" in out and images(book)


def test_spark_model_selection_notebook_runs_its_cells_in_sparks_workers(easy_pickle, tmp_path):
    """The tasks run train() as the notebook defines it: AutoGraph finds its source in the task."""
    result, out, book = papermill("spark_model_selection", tmp_path, "DATA", easy_pickle, "MAX_TRIALS", 2,
                                  "STEPS", 8, "BATCH_SIZE", 20, "MASTER", "local[2]", "RESULTS", tmp_path / "results")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "spark: wall time" in out and "Test accuracy:" in out and "failed" not in out
    assert (tmp_path / "results.csv").is_file() and images(book)


def test_distributed_notebook_trains_on_two_replicas(easy_pickle, tmp_path):
    result, out, book = papermill("notmnist_distributed", tmp_path, "DATA", easy_pickle, "HIDDEN_UNITS", 64,
                                  "BATCH_SIZE", 32, "STEPS", 20, "EVAL_EVERY", 10, "RUNS_DIR", tmp_path / "runs")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test accuracy:" in out and images(book)
