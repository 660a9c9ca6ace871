"""Time series for LSTM.py: the 2016 synthetic waves, a real series from a CSV, inputs and metrics.

A real export is rarely clean: dates in the local convention, rows out of order, an hour
twice when the clocks go back and none when they go forward, readings missing. pandas reads
the dates (it is the field's standard for this and knows the formats); this module decides
what the data means and says in one line each what it did about it.
"""
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from workshop.errors import UserError

EXCEL_DAYS = (20000, 80000)  # Excel serial dates between 1954 and 2119: days since 1899-12-30
MOST_MISSING = 0.5  # a series with more of its steps missing than this is not worth forecasting


def synthetic_waves(length, noise, rng):
    """The two series of 2016: 15 + 5 sin(a1) + 10 cos(a2) and 25 + 7 sin(a2) + 14 cos(a1),
    the angles advancing 2π/300 and 2π/200 per step from random phases; plus Gaussian noise."""
    steps = np.arange(length)
    angle1 = rng.uniform(0, 2 * np.pi) + 2 * np.pi * steps / 300
    angle2 = rng.uniform(0, 2 * np.pi) + 2 * np.pi * steps / 200
    waves = np.stack([15 + 5 * np.sin(angle1) + 10 * np.cos(angle2),
                      25 + 7 * np.sin(angle2) + 14 * np.cos(angle1)], axis=1)
    return waves + noise * rng.standard_normal(waves.shape)


@dataclass(frozen=True)
class RealSeries:
    values: np.ndarray  # (steps, 1), evenly spaced in time when `times` is known
    times: pd.DatetimeIndex | None  # the time of each step, or None (rows taken in file order)
    step: pd.Timedelta | None  # the time between steps


def read_csv_series(path, column, time_column=None, time_format=None, report=print):
    """One numeric column of a CSV (.csv, or compressed: .gz, .bz2, .zip, .xz), put in time order.

    With `time_column` the rows are sorted by time, duplicate times averaged, and missing steps
    filled by linear interpolation; empty cells are filled the same way. Each repair is
    reported in one line; what cannot be repaired is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--csv {path}: no such file")
    header = _read(path, nrows=0).columns.tolist()
    for flag, name in (("--column", column), ("--time-column", time_column)):
        if name is not None and name not in header:
            raise UserError(f"{flag} {name}: {path} has no such column (it has: {', '.join(header) or 'none'})")
    if column is None:
        raise UserError(f"--csv needs --column NAME (columns of {path}: {', '.join(header)})")
    table = _read(path, usecols=[column] + ([time_column] if time_column else []), dtype=str,
                  keep_default_na=False)
    if table.empty:
        raise UserError(f"--csv {path}: no rows under the header")
    values = _numbers(table[column], path, column)
    if np.isnan(values).any():
        report(f"{path}: {np.isnan(values).sum():,} empty {column} cells; filled by linear interpolation")
    if time_column is None:
        return _filled(pd.Series(values), path, column, None)
    times = parse_times(table[time_column], time_format, path, time_column)
    series = pd.Series(values, index=times)
    if not series.index.is_monotonic_increasing:
        report(f"{path}: rows out of order; sorted {len(series):,} rows by {time_column}")
        series = series.sort_index(kind="stable")
    repeated = series.index.duplicated().sum()
    if repeated:  # e.g. the hour that happens twice when daylight saving time ends
        report(f"{path}: {repeated:,} repeated times (daylight saving?); averaged the rows of each")
        series = series.groupby(level=0).mean()
    if len(series) < 3:
        raise UserError(f"{path}: {len(series)} distinct times; a series needs many more")
    step = series.index.to_series().diff().mode().iloc[0]  # the most common spacing
    if ((series.index - series.index[0]) % step).any():
        raise UserError(f"{path}: the times in {time_column} are not evenly spaced (most are {step.to_pytimedelta()} apart, "
                        "others fall in between); resample the series to a fixed step first")
    grid = pd.date_range(series.index[0], series.index[-1], freq=step)
    if len(grid) > len(series):
        missing = ~grid.isin(series.index)
        stretches = int((np.diff(missing.astype(int)) == 1).sum() + missing[0])
        report(f"{path}: {missing.sum():,} missing times in {stretches:,} gaps (at most "
               f"{_longest_run(missing):,} in a row); filled by linear interpolation")
        series = series.reindex(grid)
    return _filled(series, path, column, step)


def _read(path, **options):
    try:
        return pd.read_csv(path, **options)  # compression from the file name
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"--csv {path}: cannot read it as CSV ({reason})") from None


def _numbers(cells, path, column):
    """The cells as floats; empty cells become NaN, text is an error naming its line."""
    text = cells.str.strip()
    values = pd.to_numeric(text.mask(text == ""), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero((text != "").to_numpy() & ~np.isfinite(values))
    if len(bad):
        raise UserError(f"{path}, line {bad[0] + 2}: {column} is {cells.iloc[bad[0]]!r}, not a number "
                        "(fix or remove the row)")
    return values


def _filled(series, path, column, step):
    """Fills NaNs by linear interpolation; refuses a series that is mostly gaps or constant."""
    empty = series.isna().sum()
    if empty > MOST_MISSING * len(series):
        raise UserError(f"{path}: {empty:,} of {len(series):,} steps of {column} are missing; "
                        "too few values to forecast")
    series = series.interpolate(limit_direction="both")
    if series.min() == series.max():
        raise UserError(f"{path}: {column} is constant ({series.iloc[0]:g}); there is nothing to forecast")
    times = series.index if step is not None else None
    return RealSeries(series.to_numpy(np.float64)[:, None], times, step)


def _longest_run(mask):
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return int((edges[1::2] - edges[::2]).max())


def parse_times(cells, time_format, path, column):
    """The times in `cells` as a DatetimeIndex. Without `time_format` the format is guessed
    from the first row (ISO, US m/d/Y, d.m.Y, d/m/Y, with or without a time zone) or read as
    Excel serial days; when day and month could be either way round, the data decides."""
    text = cells.str.strip()
    if time_format is None:
        numbers = pd.to_numeric(text, errors="coerce")
        if numbers.notna().all() and numbers.between(*EXCEL_DAYS).all():
            return pd.DatetimeIndex(pd.to_datetime(numbers, unit="D", origin="1899-12-30").dt.round("s"))
        with warnings.catch_warnings():  # pandas warns when a guess with day first puts the year first
            warnings.simplefilter("ignore", UserWarning)
            formats = {guess_datetime_format(text.iloc[0], dayfirst=first) for first in (False, True)} - {None}
        formats = {f for f in formats if not f.startswith("%Y-%d")}  # year first is always year-month-day
        if not formats and text.iloc[0][-2:].upper() in ("AM", "PM"):  # which pandas does not guess
            formats = {f"{date} {time}" for date in ("%m/%d/%Y", "%d/%m/%Y") for time in ("%I:%M %p", "%I:%M:%S %p")}
        if not formats:
            raise UserError(f"{path}, line 2: {column} is {cells.iloc[0]!r}, a date format I cannot "
                            "recognise; give it with --time-format (e.g. --time-format '%d.%m.%Y %H:%M')")
    else:
        formats = {time_format}
    parsed, failures = {}, {}
    for candidate in sorted(formats):
        times = _parse(text, candidate)
        if times.isna().any():
            failures[candidate] = int(np.flatnonzero(times.isna())[0])
        else:
            parsed[candidate] = pd.DatetimeIndex(times)
    if not parsed:
        candidate, row = max(failures.items(), key=lambda item: item[1])  # the format that got furthest
        hint = "fix the row" if time_format else "give the format with --time-format"
        raise UserError(f"{path}, line {row + 2}: {column} is {cells.iloc[row]!r}, not a time in the format "
                        f"{candidate} of the rows before ({hint})")
    if len(parsed) > 1:  # e.g. 01/02/2004 ... 12/11/2004: day first or month first both parse
        regularity = {f: _regularity(times) for f, times in parsed.items()}
        best = max(regularity.values())
        parsed = {f: times for f, times in parsed.items() if regularity[f] == best}
        if len(parsed) > 1:
            raise UserError(f"{path}: {column} could be read as {' or '.join(sorted(parsed))}; "
                            "say which with --time-format")
    return next(iter(parsed.values()))


def _parse(text, time_format):
    """Times with a UTC offset are put on UTC: the offset may change with daylight saving time."""
    return pd.to_datetime(text, format=time_format, errors="coerce", utc="%z" in time_format)


def _regularity(times):
    """The share of steps between sorted times that equal the most common step."""
    _, counts = np.unique(np.diff(np.sort(times.asi8)), return_counts=True)
    return counts.max() / counts.sum() if len(counts) else 0


def season_of(step):
    """The number of steps in one cycle of the calendar: 24 for hourly data (a day), 7 for
    daily data (a week), 48 for half-hourly... None when the step fits no such cycle."""
    day, week = pd.Timedelta(days=1), pd.Timedelta(days=7)
    if step < day and day % step == pd.Timedelta(0):
        return day // step
    if step == day:
        return 7
    if step < week and week % step == pd.Timedelta(0):
        return week // step
    return None


def calendar_inputs(times):
    """Hour of day and day of week as points on a circle (sine, cosine): 23:00 is next to 0:00."""
    hours = times.hour + times.minute / 60
    days = times.day_of_week + hours / 24
    return np.stack([np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24),
                     np.sin(2 * np.pi * days / 7), np.cos(2 * np.pi * days / 7)], axis=1)


def features(series):
    """Per step: each series' value, first and second difference. Drops the first 2 steps."""
    first = np.diff(series, axis=0)
    second = np.diff(first, axis=0)
    return np.concatenate([series[2:], first[1:], second], axis=1)


def compared(ours, baselines, metric, versus_best):
    """'140.2 (persistence: 180.0, seasonal naive: 171.6, 18 % better than the best baseline)':
    one error next to the baselines' errors; real series also get the margin over the best."""
    if not versus_best:  # the 2016 report
        return f"{ours:.3f} (" + ", ".join(f"{label}: {value:.3f}" for label, value in baselines.items()) + ")"
    if np.isnan(ours):
        return "undefined: the test stretch has values of 0"
    best = min(baselines.values())
    unit = " %" if metric == "MAPE" else ""
    digits = 1 if unit else max(0, 3 - int(np.floor(np.log10(max(best, 1e-12)))))  # 4 significant digits
    margin = 100 * (best - ours) / best
    return (f"{ours:.{digits}f}{unit} (" + ", ".join(f"{label}: {value:.{digits}f}{unit}" for label, value in
                                                      baselines.items())
            + f", {abs(margin):.0f} % {'better' if margin >= 0 else 'worse'} than the best baseline)")


def rmse(predicted, actual):
    return np.sqrt(np.mean((predicted - actual) ** 2, axis=0))


def mae(predicted, actual):
    return np.mean(np.abs(predicted - actual), axis=0)


def mape(predicted, actual):
    """Mean absolute percentage error; NaN where the actual values include 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((actual == 0).any(axis=0), np.nan, 100 * np.mean(np.abs((predicted - actual) / actual), axis=0))
