"""The 2016 procedure of create_notmnist.py, in Python 3, for comparison only (bench/).

What the 2016 script (after Udacity's course) did, step by step: extract both archives to
disk; for each letter folder, read every file with an image reader into a float32 array
(scipy.ndimage.imread then; Pillow here, as imread is gone), skipping unreadable files;
pickle one array per letter; merge the letter pickles into train/valid (large archive) and
test (small archive) after shuffling each letter; shuffle the merged sets; pickle them.

    python bench/legacy_2016.py --source DIR --work-dir DIR
"""
import argparse
import os
import pickle
import tarfile

import numpy as np
from PIL import Image

PIXEL_DEPTH = 255.0


def extract(archive, work_dir):
    with tarfile.open(archive) as tar:
        tar.extractall(work_dir, filter="data")
    root = os.path.join(work_dir, os.path.basename(archive).removesuffix(".tar.gz"))
    return [os.path.join(root, d) for d in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, d))]


def load_letter(folder):
    files = os.listdir(folder)
    dataset = np.ndarray((len(files), 28, 28), dtype=np.float32)
    count = 0
    for name in files:
        try:
            pixels = np.asarray(Image.open(os.path.join(folder, name)))
            if pixels.shape != (28, 28):
                raise OSError(f"unexpected shape {pixels.shape}")
            dataset[count] = (pixels.astype(float) - PIXEL_DEPTH / 2) / PIXEL_DEPTH
            count += 1
        except OSError as error:
            print("Could not read:", name, error, "- skipping")
    return dataset[:count]


def pickle_letters(folders):
    names = []
    for folder in folders:
        with open(folder + ".pickle", "wb") as file:
            pickle.dump(load_letter(folder), file, pickle.HIGHEST_PROTOCOL)
        names.append(folder + ".pickle")
    return names


def merge(pickles, train_size, valid_size=0):
    per_valid, per_train = valid_size // len(pickles), train_size // len(pickles)
    valid = np.ndarray((valid_size, 28, 28), np.float32), np.ndarray(valid_size, np.int32)
    train = np.ndarray((train_size, 28, 28), np.float32), np.ndarray(train_size, np.int32)
    for label, name in enumerate(pickles):
        with open(name, "rb") as file:
            letters = pickle.load(file)
        np.random.shuffle(letters)
        valid[0][label * per_valid:(label + 1) * per_valid] = letters[:per_valid]
        valid[1][label * per_valid:(label + 1) * per_valid] = label
        train[0][label * per_train:(label + 1) * per_train] = letters[per_valid:per_valid + per_train]
        train[1][label * per_train:(label + 1) * per_train] = label
    return valid, train


def randomize(dataset, labels):
    order = np.random.permutation(len(labels))
    return dataset[order], labels[order]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--train-size", type=int, default=200000)
    parser.add_argument("--valid-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=10000)
    args = parser.parse_args()
    np.random.seed(133)
    os.makedirs(args.work_dir, exist_ok=True)
    large = pickle_letters(extract(os.path.join(args.source, "notMNIST_large.tar.gz"), args.work_dir))
    small = pickle_letters(extract(os.path.join(args.source, "notMNIST_small.tar.gz"), args.work_dir))
    valid, train = merge(large, args.train_size, args.valid_size)
    _, test = merge(small, args.test_size)
    save = {}
    for name, split in (("train", train), ("valid", valid), ("test", test)):
        save[f"{name}_dataset"], save[f"{name}_labels"] = randomize(*split)
    with open(os.path.join(args.work_dir, "notMNIST.pickle"), "wb") as file:
        pickle.dump(save, file, pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    main()
