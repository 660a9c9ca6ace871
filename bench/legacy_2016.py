"""THE 2016 PROCEDURE, FOR COMPARISON ONLY: how notMNIST.pickle was made in 2016.

A Python 3 re-implementation of the 2016 create_notmnist.py (from Udacity's deep-learning
course, assignment 1), kept as the reference that bench/bench_create_notmnist.py measures
create_notmnist.py against. Do not use it to prepare data: faithful to 2016, it is slow and
needs 4.4 GB of scratch disk.

What it does, step by step, as 2016 did:
 1. extract both archives completely to disk (tarfile.extractall: 547,838 small files);
 2. per letter folder: list the files, read each with an image reader (scipy.ndimage.imread
    then, removed from SciPy since; Pillow here), normalise (pixel - 255/2) / 255 into one
    float32 array per letter, skipping unreadable files with a message;
 3. pickle one array per letter (A.pickle ... J.pickle, HIGHEST_PROTOCOL);
 4. merge_datasets: load each letter pickle, shuffle it with np.random, take `valid` then
    `train` images per class (test from the small archive), then randomize each set;
 5. pickle notMNIST.pickle, the dict with the six keys.
np.random.seed(133), as in 2016.

    python bench/legacy_2016.py --source DIR --work-dir DIR [--train-size N --valid-size N --test-size N]
"""
import argparse
import os
import pickle
import sys
import tarfile

import numpy as np
from PIL import Image

IMAGE_SIZE = 28
PIXEL_DEPTH = 255.0


def maybe_extract(filename, data_root):
    root = os.path.join(data_root, os.path.basename(filename).removesuffix(".tar.gz"))
    print(f"Extracting data for {root}. This may take a while. Please wait.", flush=True)
    with tarfile.open(filename) as tar:
        tar.extractall(data_root, filter="data")  # the 2016 code had no filter (unsafe paths)
    data_folders = [os.path.join(root, d) for d in sorted(os.listdir(root))
                    if os.path.isdir(os.path.join(root, d))]
    if len(data_folders) != 10:
        sys.exit(f"Expected 10 folders, one per class. Found {len(data_folders)} instead.")
    return data_folders


def load_letter(folder, min_num_images):
    image_files = os.listdir(folder)
    dataset = np.ndarray(shape=(len(image_files), IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    num_images = 0
    for image in image_files:
        image_file = os.path.join(folder, image)
        try:  # np.asarray(Image.open(...)) stands in for the removed scipy.ndimage.imread
            image_data = (np.asarray(Image.open(image_file)).astype(float) - PIXEL_DEPTH / 2) / PIXEL_DEPTH
            if image_data.shape != (IMAGE_SIZE, IMAGE_SIZE):
                raise ValueError(f"Unexpected image shape: {image_data.shape}")
            dataset[num_images, :, :] = image_data
            num_images += 1
        except (OSError, ValueError) as e:
            print("Could not read:", image_file, ":", e, "- it's ok, skipping.")
    dataset = dataset[0:num_images, :, :]
    if num_images < min_num_images:
        sys.exit(f"Many fewer images than expected: {num_images} < {min_num_images}")
    print("Full dataset tensor:", dataset.shape, "Mean:", np.mean(dataset),
          "Standard deviation:", np.std(dataset), flush=True)
    return dataset


def maybe_pickle(data_folders, min_num_images_per_class):
    dataset_names = []
    for folder in data_folders:
        set_filename = folder + ".pickle"
        dataset_names.append(set_filename)
        print(f"Pickling {set_filename}.")
        dataset = load_letter(folder, min_num_images_per_class)
        with open(set_filename, "wb") as f:
            pickle.dump(dataset, f, pickle.HIGHEST_PROTOCOL)
    return dataset_names


def make_arrays(nb_rows, img_size):
    if not nb_rows:
        return None, None
    return np.ndarray((nb_rows, img_size, img_size), dtype=np.float32), np.ndarray(nb_rows, dtype=np.int32)


def merge_datasets(pickle_files, train_size, valid_size=0):
    num_classes = len(pickle_files)
    valid_dataset, valid_labels = make_arrays(valid_size, IMAGE_SIZE)
    train_dataset, train_labels = make_arrays(train_size, IMAGE_SIZE)
    vsize_per_class, tsize_per_class = valid_size // num_classes, train_size // num_classes
    start_v, start_t, end_v, end_t = 0, 0, vsize_per_class, tsize_per_class
    end_l = vsize_per_class + tsize_per_class
    for label, pickle_file in enumerate(pickle_files):
        with open(pickle_file, "rb") as f:
            letter_set = pickle.load(f)
        np.random.shuffle(letter_set)  # pick random letters, as 2016 did
        if valid_dataset is not None:
            valid_dataset[start_v:end_v, :, :] = letter_set[:vsize_per_class, :, :]
            valid_labels[start_v:end_v] = label
            start_v, end_v = start_v + vsize_per_class, end_v + vsize_per_class
        train_dataset[start_t:end_t, :, :] = letter_set[vsize_per_class:end_l, :, :]
        train_labels[start_t:end_t] = label
        start_t, end_t = start_t + tsize_per_class, end_t + tsize_per_class
    return valid_dataset, valid_labels, train_dataset, train_labels


def randomize(dataset, labels):
    permutation = np.random.permutation(labels.shape[0])
    return dataset[permutation, :, :], labels[permutation]


def main():
    parser = argparse.ArgumentParser(description="The 2016 notMNIST procedure (for comparison only).")
    parser.add_argument("--source", required=True, help="folder holding notMNIST_large/small.tar.gz")
    parser.add_argument("--work-dir", required=True, help="receives the extracted files and pickles")
    parser.add_argument("--train-size", type=int, default=200000)
    parser.add_argument("--valid-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=10000)
    args = parser.parse_args()
    np.random.seed(133)
    os.makedirs(args.work_dir, exist_ok=True)
    train_folders = maybe_extract(os.path.join(args.source, "notMNIST_large.tar.gz"), args.work_dir)
    test_folders = maybe_extract(os.path.join(args.source, "notMNIST_small.tar.gz"), args.work_dir)
    # 2016 asked for at least 45,000 and 1,800 images per letter; here: what the sizes need.
    train_datasets = maybe_pickle(train_folders, (args.train_size + args.valid_size) // 10)
    test_datasets = maybe_pickle(test_folders, args.test_size // 10)
    valid_dataset, valid_labels, train_dataset, train_labels = merge_datasets(
        train_datasets, args.train_size, args.valid_size)
    _, _, test_dataset, test_labels = merge_datasets(test_datasets, args.test_size)
    train_dataset, train_labels = randomize(train_dataset, train_labels)
    test_dataset, test_labels = randomize(test_dataset, test_labels)
    valid_dataset, valid_labels = randomize(valid_dataset, valid_labels)
    save = {"train_dataset": train_dataset, "train_labels": train_labels,
            "valid_dataset": valid_dataset, "valid_labels": valid_labels,
            "test_dataset": test_dataset, "test_labels": test_labels}
    with open(os.path.join(args.work_dir, "notMNIST.pickle"), "wb") as f:
        pickle.dump(save, f, pickle.HIGHEST_PROTOCOL)
    print("Compressed pickle size:", os.stat(os.path.join(args.work_dir, "notMNIST.pickle")).st_size)


if __name__ == "__main__":
    main()
