"""Time series for LSTM.py: the 2016 synthetic waves, a real series from a CSV, and metrics."""
import csv
import gzip
from datetime import datetime
from pathlib import Path

import numpy as np

from workshop.errors import UserError


def synthetic_waves(length, noise, rng):
    """The two series of 2016: 15 + 5 sin(a1) + 10 cos(a2) and 25 + 7 sin(a2) + 14 cos(a1),
    the angles advancing 2π/300 and 2π/200 per step from random phases; plus Gaussian noise."""
    steps = np.arange(length)
    angle1 = rng.uniform(0, 2 * np.pi) + 2 * np.pi * steps / 300
    angle2 = rng.uniform(0, 2 * np.pi) + 2 * np.pi * steps / 200
    waves = np.stack([15 + 5 * np.sin(angle1) + 10 * np.cos(angle2),
                      25 + 7 * np.sin(angle2) + 14 * np.cos(angle1)], axis=1)
    return waves + noise * rng.standard_normal(waves.shape)


def read_csv_series(path, column, time_column=None):
    """One numeric column of a CSV (.csv or .csv.gz), sorted by `time_column` if given.

    Returns (values (N, 1) float64, hours between rows or None)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--csv {path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="") as file:
            rows = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"--csv {path}: cannot read it as CSV ({error})") from None
    header = list(rows[0]) if rows else []
    for flag, name in (("--column", column), ("--time-column", time_column)):
        if name is not None and name not in header:
            raise UserError(f"{flag} {name}: {path} has no such column (it has: {', '.join(header) or 'none'})")
    if column is None:
        raise UserError(f"--csv needs --column NAME (columns of {path}: {', '.join(header)})")
    values, times = [], []
    for line, row in enumerate(rows, start=2):
        text = (row[column] or "").strip()
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"{path}, line {line}: {column} is {text!r}, not a number "
                            f"({'missing' if not text else 'fix or remove the row'})") from None
        if not np.isfinite(value):
            raise UserError(f"{path}, line {line}: {column} is {text!r}; the series needs finite numbers")
        values.append(value)
        if time_column:
            try:
                times.append(datetime.fromisoformat(row[time_column].strip()))
            except ValueError:
                raise UserError(f"{path}, line {line}: {time_column} is {row[time_column]!r}, not an "
                                "ISO date and time") from None
    hours = None
    if time_column:
        order = sorted(range(len(values)), key=times.__getitem__)  # the published file is not in order
        values = [values[i] for i in order]
        gaps = np.diff([times[i].timestamp() for i in order]) / 3600
        hours = float(np.median(gaps)) if len(gaps) else None
    return np.array(values, np.float64)[:, None], hours


def features(series):
    """Per step: each series' value, first and second difference. Drops the first 2 steps."""
    first = np.diff(series, axis=0)
    second = np.diff(first, axis=0)
    return np.concatenate([series[2:], first[1:], second], axis=1)


def rmse(predicted, actual):
    return np.sqrt(np.mean((predicted - actual) ** 2, axis=0))


def mae(predicted, actual):
    return np.mean(np.abs(predicted - actual), axis=0)
