"""notMNIST.pickle: the 2016 format, exact normalisation, and a loader that runs no code."""
import pickle

import numpy as np
import pytest

from workshop.errors import UserError
from workshop.notmnist import KEYS, balanced, load_notmnist, normalise, write_pickle


def write(path, splits):
    write_pickle(path, {name: (lambda part, images=images: images[part.start:part.stop], labels)
                        for name, (images, labels) in splits.items()}, chunk=7)


def test_written_pickle_is_plain_numpy_with_the_2016_keys(tmp_path):
    rng = np.random.default_rng(0)
    splits = {name: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                     rng.integers(0, 10, n).astype(np.int32))
              for name, n in (("train", 30), ("valid", 5), ("test", 0))}
    write(tmp_path / "notMNIST.pickle", splits)
    with open(tmp_path / "notMNIST.pickle", "rb") as file:
        data = pickle.load(file)  # what the 2016 scripts and the Udacity notebooks do
    assert list(data) == list(KEYS)
    for name, (images, labels) in splits.items():
        expected = ((images.astype(np.float64) - 255 / 2) / 255).astype(np.float32)
        assert data[f"{name}_dataset"].dtype == np.float32
        assert data[f"{name}_dataset"].shape == (len(labels), 28, 28)
        np.testing.assert_array_equal(data[f"{name}_dataset"], expected)
        assert data[f"{name}_labels"].dtype == np.int32
        np.testing.assert_array_equal(data[f"{name}_labels"], labels)
    data["train_dataset"][0, 0, 0] = 1.0  # writable, like any unpickled array
    assert list(tmp_path.iterdir()) == [tmp_path / "notMNIST.pickle"]  # no temporary left


def test_normalisation_and_balance_are_exact():
    assert normalise(np.array([0, 255, 128], np.uint8)).tolist() == pytest.approx([-0.5, 0.5, 0.5 / 255])
    assert normalise(np.array([0], np.uint8))[0] == np.float32(-0.5)
    assert balanced(25).tolist() == [3] * 5 + [2] * 5 and balanced(20).sum() == 20


def test_loader_reads_and_checks(tmp_path):
    images = np.zeros((4, 28, 28), np.uint8)
    write(tmp_path / "ok.pickle", {"train": (images, np.arange(4, dtype=np.int32)),
                                   "valid": (images, np.zeros(4, np.int32)),
                                   "test": (images, np.full(4, 9, np.int32))})
    data = load_notmnist(tmp_path / "ok.pickle")
    assert data.train[0].shape == (4, 28, 28) and data.test[1].tolist() == [9] * 4
    assert "unknown origin" in data.describe()


def test_loader_accepts_a_2016_style_pickle(tmp_path):
    data = {key: (np.zeros((3, 28, 28), np.float32) if key.endswith("dataset") else np.ones(3, np.int32))
            for key in KEYS}
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pickle"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        assert load_notmnist(path).valid[1].tolist() == [1, 1, 1]


class Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch pwned",))


def test_loader_refuses_a_malicious_pickle_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train_dataset": Exploit()}))
    with pytest.raises(UserError, match="refusing to load .*posix.system|refusing to load .*os.system"):
        load_notmnist(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content, message", [
    (b"not a pickle", "not a readable notMNIST pickle"),
    (pickle.dumps([1, 2, 3]), "expected a dict with the keys"),
    (pickle.dumps({k: np.zeros((2, 28, 27), np.float32) for k in KEYS}), r"shape \(N, 28, 28\)"),
    (pickle.dumps({k: np.zeros((2, 28, 28), np.uint8) for k in KEYS}), "should hold floats"),
    (pickle.dumps({k: (np.zeros((2, 28, 28), np.float32) if "dataset" in k else np.array([0, 10]))
                   for k in KEYS}), "should lie in 0-9"),
])
def test_malformed_pickles_give_one_clear_line(tmp_path, content, message):
    (tmp_path / "bad.pickle").write_bytes(content)
    with pytest.raises(UserError, match=message) as error:
        load_notmnist(tmp_path / "bad.pickle")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, value", [("valid", np.nan), ("test", -np.inf)])
def test_a_pickle_with_pixels_that_are_not_numbers_is_refused(tmp_path, name, value):
    data = {key: (np.zeros((3, 28, 28), np.float32) if key.endswith("dataset") else np.ones(3, np.int32))
            for key in KEYS}
    data[f"{name}_dataset"][2, 5, 7] = value
    path = tmp_path / "bad.pickle"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(UserError) as error:
        load_notmnist(path)
    assert str(error.value) == (f"{path}: the {name} images have NaN or infinite pixels (1 of 2,352), which training "
                                "turns into a loss of NaN; rebuild it with create_notmnist.py --force")


def test_missing_pickle_says_to_run_create_notmnist(tmp_path):
    with pytest.raises(UserError, match="run `python create_notmnist.py` first"):
        load_notmnist(tmp_path / "notMNIST.pickle")
