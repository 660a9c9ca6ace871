"""notmnist_classifier.py and notmnist_classifier_CNN.py, run as a workshop attendee runs them."""
import json
import re

import pytest

from conftest import CLASSIFIERS, QUICK, assert_diverged, progress, run_script, train

pytestmark = pytest.mark.slow  # runs the scripts: seconds to minutes each


@pytest.mark.parametrize("script", CLASSIFIERS)
def test_prints_the_2016_lines_learns_and_writes_its_outputs(script, easy_pickle, tmp_path):
    out = train(script, easy_pickle, tmp_path, "--steps", 121, "--eval-every", 60)
    assert out.startswith("TensorFlow 2.")
    assert "Data " in out and "train 600, valid 100, test 100 images" in out
    lines = progress(out)
    assert [line.split(":")[0] for line in lines] == [
        "Minibatch loss at step 0", "Minibatch accuracy", "Validation accuracy",
        "Minibatch loss at step 60", "Minibatch accuracy", "Validation accuracy",
        "Minibatch loss at step 120", "Minibatch accuracy", "Validation accuracy", "Test accuracy"]
    assert re.fullmatch(r"Minibatch loss at step 0: \d+\.\d{6}", lines[0])
    assert re.fullmatch(r"Validation accuracy: \d+\.\d%", lines[2])
    test_accuracy = float(lines[-1].split(": ")[1].rstrip("%"))
    assert test_accuracy > 60  # chance is 10 %
    assert re.search(r"^Trained 121 steps in [\d.]+ s \([\d,]+ examples/s\) on CPU$", out, re.M)
    run_dir = next((tmp_path / script.removesuffix(".py")).iterdir())
    names = {p.name for p in run_dir.iterdir()}
    assert {"curves.png", "confusion.png", "settings.json", "history.json", "ckpt.index"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    assert (run_dir / "curves.png").stat().st_size > 10_000


def test_a_flag_overrides_its_constant(easy_pickle, tmp_path):
    out = train("notmnist_classifier.py", easy_pickle, tmp_path, "--steps", 41, "--eval-every", 20,
                "--dropout", 0)
    assert [int(step) for step in re.findall(r"^Minibatch loss at step (\d+): ", out, re.M)] == [0, 20, 40]
    settings = json.loads(next((tmp_path / "notmnist_classifier").glob("*/settings.json")).read_text())
    assert settings["DROPOUT"] == 0 and settings["EVAL_EVERY"] == 20 and settings["HIDDEN_UNITS"] == 64


@pytest.mark.parametrize("script", CLASSIFIERS)
def test_the_same_seed_prints_the_same_numbers(script, easy_pickle, tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(3) as pool:  # three processes at once: their start-up overlaps
        first, second, other = pool.map(lambda run: train(script, easy_pickle, tmp_path / run[0], "--steps", 41,
                                                          "--eval-every", 20, "--seed", run[1]),
                                        [("a", 133), ("b", 133), ("c", 7)])
    assert progress(first) == progress(second)
    assert progress(other) != progress(first)


def test_resume_continues_from_the_saved_step(easy_pickle, tmp_path):
    train("notmnist_classifier.py", easy_pickle, tmp_path, "--steps", 41, "--eval-every", 20)
    run_dir = next((tmp_path / "notmnist_classifier").iterdir())
    out = train("notmnist_classifier.py", easy_pickle, tmp_path, "--steps", 81, "--eval-every", 20,
                "--resume", run_dir)
    assert f"Resumed {run_dir} at step 41" in out
    assert [int(n) for n in re.findall(r"Minibatch loss at step (\d+)", out)] == [60, 80]
    assert "Trained 40 steps" in out
    assert json.loads((run_dir / "history.json").read_text())["step"] == [0, 20, 40, 60, 80]
    assert len(list((tmp_path / "notmnist_classifier").iterdir())) == 1  # no new run folder


# At 100 the CNN's ReLUs all die first, and its loss stays large but finite: it takes more to overflow.
@pytest.mark.parametrize("script, learning_rate", list(zip(CLASSIFIERS, [100, 1e8])))
def test_a_diverging_run_stops_with_one_line_and_keeps_its_folder(script, learning_rate, easy_pickle, tmp_path):
    result = run_script(script, "--data", easy_pickle, "--runs-dir", tmp_path, "--device", "cpu", *QUICK[script],
                        "--learning-rate", learning_rate, "--steps", 41, "--eval-every", 10)
    assert assert_diverged(result, script, tmp_path, f"{learning_rate:g}") < 40  # before the end


@pytest.mark.parametrize("content, message", [
    (None, "run `python create_notmnist.py` first"),
    (b"garbage", "not a readable notMNIST pickle"),
])
def test_missing_or_malformed_pickle_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "notMNIST.pickle"
    if content is not None:
        path.write_bytes(content)
    result = run_script("notmnist_classifier.py", "--data", path, "--runs-dir", tmp_path)
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr  # (TensorFlow's own start-up log lines may precede)
    assert result.stderr.strip().splitlines()[-1].startswith("notmnist_classifier.py: error: ")


def test_bfloat16_compute_learns_too(easy_pickle, tmp_path):
    out = train("notmnist_classifier.py", easy_pickle, tmp_path, "--steps", 121, "--eval-every", 60,
                "--precision", "bfloat16")
    assert float(progress(out)[-1].split(": ")[1].rstrip("%")) > 60


def test_asking_for_a_missing_gpu_is_a_clear_error(easy_pickle, tmp_path):
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = run_script("notmnist_classifier.py", "--data", easy_pickle, "--device", "gpu",
                        "--runs-dir", tmp_path)
    assert result.returncode == 1 and "--device gpu: TensorFlow sees no GPU" in result.stderr
