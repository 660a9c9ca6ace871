"""Time series for LSTM.py: the 2016 synthetic waves, a real series from a CSV, inputs and metrics.

A real export is rarely clean: dates in the local convention, rows out of order, an hour
twice when the clocks go back and none when they go forward, readings missing. pandas reads
the dates (it is the field's standard for this and knows the formats); this module decides
what the data means and says in one line each what it did about it.
"""
import codecs
import dataclasses
import csv
import lzma
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.common import get_handle
from pandas.tseries.api import guess_datetime_format

from workshop.errors import UserError

EXCEL_DAYS = (20000, 80000)  # Excel serial dates between 1954 and 2119: days since 1899-12-30
MONTH_NAMES = ("%d-%b-%y", "%d-%b-%Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y")  # 1-Jan-15, ...
MOST_MISSING = 0.5  # a series with more of its steps missing than this is not worth forecasting
SEPARATORS = ("\t", ";", ",")  # the separators sniffed, preferred in this order on a tie
SNIFF_BYTES, SNIFF_LINES = 64 * 1024, 20  # the separator is sniffed from the header and the lines after it
ENCODINGS = {"utf-8-sig": None, "cp1252": "not UTF-8; read as cp1252 (Windows Western European)",
             "latin-1": "neither UTF-8 nor cp1252; read as Latin-1 (ISO 8859-1)"}  # tried in turn; what is said
# The numbers of a ';' file (see _decimal_points): points grouping thousands, a decimal comma, a decimal point.
THOUSANDS = r"[1-9]\d{0,2}(\.\d{3})+"  # 15.867, 1.234.567 (a group never starts a number with 0: 0.125)
GROUPED = rf"[+-]?{THOUSANDS}"
DECIMAL_COMMA = rf"[+-]?(\d*|{THOUSANDS}),\d+([eE][+-]?\d+)?"  # 12,5, 15.867,0, 1.234.567,25, 1,5E+03
DECIMAL_POINT = r"[+-]?\d*\.\d+([eE][+-]?\d+)?"  # 12.5, and 15.867, which could be either
# Larger values are refused. Squares summed over a million steps (RMSE, a standard deviation, least squares)
# pass float64's 1.8e308 from about 1e151; below 1e30 even sixth powers (a cube squared) so summed stay finite,
# and no measurement comes near it (the world's yearly electricity is about 1e20 J).
LARGEST = 1e30


def synthetic_waves(length, noise, rng):
    """The two series of 2016: 15 + 5 sin(a1) + 10 cos(a2) and 25 + 7 sin(a2) + 14 cos(a1),
    the angles advancing 2π/300 and 2π/200 per step from random phases; plus Gaussian noise."""
    steps = np.arange(length)
    angle1 = rng.uniform(0, 2 * np.pi) + 2 * np.pi * steps / 300
    angle2 = rng.uniform(0, 2 * np.pi) + 2 * np.pi * steps / 200
    waves = np.stack([15 + 5 * np.sin(angle1) + 10 * np.cos(angle2),
                      25 + 7 * np.sin(angle2) + 14 * np.cos(angle1)], axis=1)
    return waves + noise * rng.standard_normal(waves.shape)


@dataclasses.dataclass(frozen=True)
class RealSeries:
    """A series as measured: `values` from the first to the last observed step (gaps inside
    filled for use as inputs, `observed` False there), then `future` steps with no value
    whose times and extra inputs are known: the period to forecast."""
    values: np.ndarray  # (steps, 1), evenly spaced in time when `times` is known
    observed: np.ndarray  # (steps,) True where the value was measured, False where interpolated
    inputs: np.ndarray  # (steps + future, inputs): the extra input columns
    times: pd.DatetimeIndex | None  # the time of each step and future step, or None (file order)
    step: pd.Timedelta | None  # the time between steps
    future: int  # trailing steps with inputs but no value
    optional: np.ndarray | None = None  # (steps + future, k): columns read as they are, empty cells NaN


def read_csv_series(path, column, time_column=None, time_format=None, hour_column=None, inputs=(), season=None,
                    report=print, optional=()):
    """One numeric column of a CSV (.csv, or compressed: .gz, .bz2, .zip, .xz), put in time order,
    with the extra numeric columns `inputs`, and `optional` ones that may be empty anywhere (e.g.
    weather forecasts given for the last year only: never interpolated, never a reason to drop a row).

    The file is read as grids publish it: separated by ',', ';' or tab (sniffed), in UTF-8 or
    else cp1252 (Excel's on Western Windows; see _dialect). In a ';' file the numbers may have a
    decimal comma and points between thousands ('1.234.567,25'), decided per column: a point
    alone ('15.867') groups thousands where the column has a decimal comma anywhere or all its
    numbers with a point look like 15.867, else it is the decimal point (_decimal_points). A value
    beyond ±LARGEST is refused: rescale the column.

    With `time_column` (and `hour_column` beside a date: an hour 1-24 or 0-23, or a time of day)
    the rows are sorted by time and duplicate times averaged. Rows before the first value (or
    input) are dropped, rows after the last value are the future; gaps inside are filled by linear
    interpolation, up to a season long (`season`, else one cycle of the calendar). Each repair
    is reported in one line; what cannot be repaired is a UserError."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--csv {path}: a folder, not a file (name the CSV file in it)")
    if not path.is_file():
        raise UserError(f"--csv {path}: no such file")
    if optional and not time_column:
        raise UserError("--forecast-inputs needs --time-column: a forecast is matched to its hour by time")
    if hour_column and not time_column:
        raise UserError(f"--hour-column {hour_column} needs --time-column, the column with the date")
    separator, encoding = _dialect(path, report)
    european = separator == ";"  # where ',' does not separate, it may be the decimal comma
    header = _read(path, sep=separator, encoding=encoding, nrows=0).columns.tolist()
    flags = [("--column", column), ("--time-column", time_column), ("--hour-column", hour_column)]
    for flag, name in flags + [("--inputs", name) for name in inputs] + [("--forecast-inputs", n) for n in optional]:
        if name is not None and name not in header:
            raise UserError(f"{flag} {name}: {path} has no such column (it has: {', '.join(header) or 'none'})")
    if column is None:
        raise UserError(f"--csv needs --column NAME (columns of {path}: {', '.join(header)})")
    if column in inputs:
        raise UserError(f"--inputs {column}: that is the series itself (--column); its past is an input already")
    columns = [column, *inputs, *optional]
    table = _read(path, sep=separator, encoding=encoding, dtype=str, keep_default_na=False,
                  usecols=list(dict.fromkeys(columns + [c for c in (time_column, hour_column) if c])))
    if table.empty:
        raise UserError(f"--csv {path}: no rows under the header")
    frame = pd.DataFrame({name: _numbers(table[name], path, name, european, report) for name in columns})
    step = None
    if time_column is not None:
        offsets = _hours(table[hour_column], path, hour_column, european, report) if hour_column else None
        frame.index = parse_times(table[time_column], time_format, path, time_column, offsets)
        if not frame.index.is_monotonic_increasing:
            report(f"{path}: rows out of order; sorted {len(frame):,} rows by {time_column}")
            frame = frame.sort_index(kind="stable")
        repeated = frame.index.duplicated().sum()
        if repeated:  # e.g. the hour that happens twice when daylight saving time ends
            report(f"{path}: {repeated:,} repeated times (daylight saving?); averaged the rows of each")
            frame = frame.groupby(level=0).mean()
        if len(frame) < 3:
            raise UserError(f"{path}: {len(frame)} distinct times; a series needs many more")
        step = frame.index.to_series().diff().mode().iloc[0]  # the most common spacing
        if ((frame.index - frame.index[0]) % step).any():
            raise UserError(f"{path}: the times in {time_column} are not evenly spaced (most are "
                            f"{step.to_pytimedelta()} apart, others fall in between); resample the series "
                            "to a fixed step first")
        grid = pd.date_range(frame.index[0], frame.index[-1], freq=step)
        if len(grid) > len(frame):
            missing = ~grid.isin(frame.index)
            stretches = int((np.diff(missing.astype(int)) == 1).sum() + missing[0])
            report(f"{path}: {missing.sum():,} missing times in {stretches:,} gaps (at most "
                   f"{_longest_run(missing)[0]:,} in a row)")
            frame = frame.reindex(grid)
        season = season or season_of(step)
    real = _measured(frame.drop(columns=list(optional)), path, column, list(inputs), step, season, report)
    if not optional:
        return real
    return dataclasses.replace(real, optional=frame[list(optional)].reindex(real.times).to_numpy(np.float64))


def _hours(cells, path, column, european, report):
    """The hour column as offsets from the date: a time of day (0:00 or 00:15:00, taken as written,
    as European exports give it beside the date), or an hour 1-24 (hour ending, as utilities publish
    load: hour 1 is 0:00-1:00, given the time 0:00) or 0-23; which one the data says."""
    text = cells.str.strip()
    clock = text.str.fullmatch(r"([01]?\d|2[0-4]):[0-5]\d(:[0-5]\d)?").to_numpy(bool)
    if clock[0]:
        if not clock.all():
            row = int(np.argmin(clock))
            raise UserError(f"{path}, line {row + 2}: {column} is {cells.iloc[row]!r}, not a time of day (H:MM) "
                            "as in the rows before (fix the row)")
        return pd.TimedeltaIndex(pd.to_timedelta(text.where(text.str.count(":") == 2, text + ":00")))
    hours = _numbers(cells, path, column, european, report)
    bad = np.flatnonzero(np.isnan(hours) | (hours != np.round(hours)) | (hours < 0) | (hours > 24))
    if len(bad):
        raise UserError(f"{path}, line {bad[0] + 2}: {column} is {cells.iloc[bad[0]]!r}, not an hour 0-23 or 1-24")
    if (hours == 0).any() == (hours == 24).any():
        raise UserError(f"{path}: {column} has {'both 0 and 24' if (hours == 0).any() else 'neither 0 nor 24'}, "
                        "so it is neither hours 0-23 nor 1-24 (hour ending); give whole days, fix the column")
    ending = (hours == 24).any()
    report(f"{path}: {column} is 1-24, hour ending (hour 1 is 0:00-1:00, shown as 0:00)" if ending
           else f"{path}: {column} is 0-23 (hour 0 is 0:00-1:00)")
    return pd.to_timedelta(hours - ending, unit="h")


def _measured(frame, path, column, inputs, step, season, report):
    """Cuts the rows that are not data, fills the gaps inside, and finds the future."""
    value = frame[column].to_numpy()
    known = frame[inputs].notna().all(axis=1).to_numpy() if inputs else np.ones(len(frame), bool)
    if not np.isfinite(value).any():
        raise UserError(f"{path}: {column} has no values")
    first = int(np.argmax(np.isfinite(value) & known))  # the first row with the value and every input
    last = len(value) - 1 - int(np.argmax(np.isfinite(value[::-1])))
    end = last + 1 + (int(np.argmin(known[last + 1:])) if not known[last + 1:].all() else len(known) - last - 1)
    index = frame.index
    where = (lambda row: f"{index[row]}") if step is not None else (lambda row: f"row {row + 1}")
    parts = []
    if first:
        parts.append(f"{first:,} rows before the first {column} value{' with every input' if inputs else ''} "
                     f"({where(first)}) dropped")
    if end > last + 1:
        dropped = f" ({len(value) - end:,} more without inputs dropped)" if end < len(value) else ""
        parts.append(f"{end - last - 1:,} rows after the last {column} value ({where(last)}) are the future "
                     f"to forecast{dropped}")
    elif end < len(value):
        parts.append(f"{len(value) - end:,} rows after the last {column} value ({where(last)}) dropped")
    if parts:
        report(f"{path}: " + "; ".join(parts) + "; they are not data to learn from or score on")
    frame = frame.iloc[first:end]
    observed = np.isfinite(frame[column].to_numpy()[:last + 1 - first])
    for name in [column] + inputs:
        cells = frame[name].iloc[:last + 1 - first] if name == column else frame[name]
        empty = cells.isna().to_numpy()
        if not empty.any():
            continue
        if empty.sum() > MOST_MISSING * len(cells):
            raise UserError(f"{path}: {empty.sum():,} of {len(cells):,} steps of {name} are missing; "
                            "too few values to forecast")
        longest, at = _longest_run(empty)
        if season and longest > season:
            raise UserError(f"{path}: {name} has a gap of {longest:,} steps from {where(first + at)}, longer than "
                            f"a season ({season} steps); interpolating it would invent data: cut the file there "
                            "or fill the gap from another source")
        runs = int((np.diff(empty.astype(int)) == 1).sum() + empty[0])
        report(f"{path}: {empty.sum():,} empty {name} cells in {runs:,} gaps (the longest {longest:,} steps, from "
               f"{where(first + at)}); filled by linear interpolation" + ("; not scored" if name == column else ""))
    values = frame[column].iloc[:last + 1 - first].interpolate().to_numpy(np.float64)
    if values.min() == values.max():
        raise UserError(f"{path}: {column} is constant ({values[0]:g}); there is nothing to forecast")
    extra = frame[inputs].interpolate().to_numpy(np.float64) if inputs else np.zeros((len(frame), 0))
    times = frame.index if step is not None else None
    return RealSeries(values[:, None], observed, extra, times, step, end - last - 1)


def _read(path, **options):
    try:
        return pd.read_csv(path, **options)  # compression from the file name
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        raise _unreadable(path, error) from None


def _unreadable(path, error):
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return UserError(f"--csv {path}: cannot read it as CSV ({reason})")


def _dialect(path, report):
    """(separator, encoding) of the file's text, decompressed by pandas' own opener. The encoding is UTF-8
    (with a byte order mark or not) when every byte decodes so, else cp1252, else Latin-1, in which
    any byte is a character; all of the file is tried, as the first ä may be far down, and a
    fallback is reported. The separator is sniffed from the first lines (_separator)."""
    for encoding, fallback in ENCODINGS.items():
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with get_handle(path, "rb", compression="infer", is_text=False) as opened:
                raw = opened.handle.read(SNIFF_BYTES)
                head = decoder.decode(raw)
                while chunk := opened.handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, lzma.LZMAError) as error:
            raise _unreadable(path, error) from None
        if "\0" in head:
            raise UserError(f"--csv {path}: cannot read it as CSV (NUL bytes: binary data, or UTF-16 text; "
                            "save it as CSV UTF-8)")
        if fallback:
            report(f"{path}: {fallback}")
        lines = head.splitlines()
        return _separator(lines[:-1] if len(raw) == SNIFF_BYTES else lines), encoding  # the last may be cut


def _separator(lines):
    """Tab, ';' or ',': of those that split the header into columns, the one that splits the most lines
    after it into as many columns; on a tie tab, then ';' (a ';' file's decimal commas may split each
    of its lines in two as well). ',', pandas' default, when none does."""
    fields = {separator: [len(row) for row in csv.reader(lines[:SNIFF_LINES + 1], delimiter=separator) if row]
              for separator in SEPARATORS}
    fits = {separator: sum(count == counts[0] for count in counts[1:])
            for separator, counts in fields.items() if counts and counts[0] > 1}
    return max(fits, key=fits.get) if fits else ","  # max keeps the first of equals


def _numbers(cells, path, column, european, report):
    """The cells as floats; empty cells become NaN; text, and a value beyond ±LARGEST, is an error
    naming its line. `european`: the numbers of a ';' file (_decimal_points)."""
    text = cells.str.strip()
    if european:
        text = _decimal_points(text, cells, path, column, report)
    given = (text != "").to_numpy()
    values = pd.to_numeric(text.mask(~given), errors="coerce").to_numpy(np.float64)
    digits = text.str.contains(r"\d").to_numpy(bool)  # 1e400 becomes inf, a number too large; inf, nan are text
    bad = np.flatnonzero(given & (np.isnan(values) | np.isinf(values) & ~digits))
    if len(bad):
        raise UserError(f"{path}, line {bad[0] + 2}: {column} is {cells.iloc[bad[0]]!r}, not a number "
                        "(fix or remove the row)")
    huge = np.flatnonzero(np.abs(values) > LARGEST)
    if len(huge):
        raise UserError(f"{path}, line {huge[0] + 2}: {column} is {cells.iloc[huge[0]]!r}, beyond ±{LARGEST:.0e} "
                        "and too large to compute with; rescale the column (e.g. from W to MW)")
    return values


def _decimal_points(text, cells, path, column, report):
    """The numbers of a ';' file's column in pandas' form: a decimal comma ('12,5') and points
    between thousands ('15.867,0', '1.234.567,25') become '12.5', '15867.0', '1234567.25'. A point
    alone ('15.867') is ambiguous; the column decides: it groups thousands where the column has a
    decimal comma anywhere, or where every number with a point in it has that form (1.234 or
    12.345.678, never 0.125; reported); else it is the decimal point. A decimal point in a column
    with decimal commas ('1.5' beside '12,5') is an error."""
    comma, grouped, pointed = (text.str.fullmatch(form).to_numpy(bool)
                               for form in (DECIMAL_COMMA, GROUPED, DECIMAL_POINT))
    plain = pointed & ~grouped  # 1.5, 0.125, 1.2345: a decimal point in any column
    if not comma.any() and (plain.any() or not grouped.any()):
        return text
    if plain.any():
        row, other = np.flatnonzero(plain)[0], np.flatnonzero(comma)[0]
        raise UserError(f"{path}, line {row + 2}: {column} is {cells.iloc[row]!r}, a decimal point in a column of "
                        f"decimal commas ({cells.iloc[other]!r} on line {other + 2}); write it as the others")
    if not comma.any():
        row = np.flatnonzero(grouped)[0]
        report(f"{path}: {column} has no decimal comma and its points all separate groups of three digits "
               f"({cells.iloc[row]!r} on line {row + 2}); read them as thousands separators")
    return text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)


def _longest_run(mask):
    """(length, start) of the longest run of True in `mask`."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    lengths = edges[1::2] - edges[::2]
    return int(lengths.max()), int(edges[::2][lengths.argmax()])


def parse_times(cells, time_format, path, column, offsets=None):
    """The times in `cells` (plus `offsets`, e.g. the hours of an hour column) as a DatetimeIndex.
    Without `time_format` the format is guessed from the first row (ISO, US m/d/Y, d.m.Y, d/m/Y,
    1-Jan-15, with or without a time zone) or read as Excel serial days; when day and month could
    be either way round, the data decides."""
    text = cells.str.strip()
    if offsets is None:
        offsets = pd.to_timedelta(np.zeros(len(text)), unit="h")
    if time_format is None:
        numbers = pd.to_numeric(text, errors="coerce")
        if numbers.notna().all() and numbers.between(*EXCEL_DAYS).all():
            return pd.DatetimeIndex(pd.to_datetime(numbers, unit="D", origin="1899-12-30").dt.round("s") + offsets)
        with warnings.catch_warnings():  # pandas warns when a guess with day first puts the year first
            warnings.simplefilter("ignore", UserWarning)
            formats = {guess_datetime_format(text.iloc[0], dayfirst=first) for first in (False, True)} - {None}
        formats = {f for f in formats if not f.startswith("%Y-%d")}  # year first is always year-month-day
        if not formats and text.iloc[0][-2:].upper() in ("AM", "PM"):  # which pandas does not guess
            formats = {f"{date} {time}" for date in ("%m/%d/%Y", "%d/%m/%Y") for time in ("%I:%M %p", "%I:%M:%S %p")}
        if not formats:  # dates with the month's name, which pandas does not guess either
            formats = {f for f in MONTH_NAMES if not pd.isna(pd.to_datetime(text.iloc[0], format=f, errors="coerce"))}
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
            parsed[candidate] = pd.DatetimeIndex(times + offsets.to_numpy())
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
    """Hour of day and day of week, one column each that is 1 at that hour or day (one-hot): the
    network can then learn what each hour does with the load, as a linear model's dummies do."""
    return np.concatenate([np.eye(24)[times.hour], np.eye(7)[times.day_of_week]], axis=1)


def seasons_back(lag, season):
    """Whole seasons, at least `lag` steps: how far back the seasonal naive forecast looks."""
    return season * -(-lag // season)


def extended_times(real, extra):
    """The time of every row of the file and of `extra` steps after it (their calendar is known)."""
    return real.times.append(pd.DatetimeIndex(real.times[-1] + real.step * np.arange(1, extra + 1)))


def week_of(step, season):
    """Steps in a week when a season is a day (hourly data: 168), else None."""
    return 7 * season if step is not None and season and step * season == pd.Timedelta(days=1) else None


def forecast_steps(real, lag):
    """How many steps after the last observation can be forecast: the next `lag` (their calendar
    is known), or with extra inputs the future rows that have them."""
    return real.future if real.inputs.shape[1] else lag


def features(series):
    """Per step: each series' value, first and second difference. Drops the first 2 steps."""
    first = np.diff(series, axis=0)
    second = np.diff(first, axis=0)
    return np.concatenate([series[2:], first[1:], second], axis=1)


def compared(ours, baselines, metric, versus_best):
    """'140.2 (persistence: 180.0, seasonal naive: 171.6, 18 % better than the best benchmark)':
    one error next to the baselines' errors; real series also get the margin over the best. An
    error that overflowed (inf, or NaN other than MAPE's) is 'not finite', with no margin."""
    if not versus_best:  # the 2016 report
        return f"{ours:.3f} (" + ", ".join(f"{label}: {value:.3f}" for label, value in baselines.items()) + ")"
    if np.isnan(ours) and metric == "MAPE":
        return "undefined: the test stretch has values of 0"
    best = min((value for value in baselines.values() if np.isfinite(value)), default=np.nan)
    unit = " %" if metric == "MAPE" else ""
    digits = 1 if unit or np.isnan(best) else max(0, 3 - int(np.floor(np.log10(max(best, 1e-12)))))  # 4 digits

    def shown(value):
        return f"{value:.{digits}f}{unit}" if np.isfinite(value) else "not finite"

    margin = 100 * (best - ours) / best if np.isfinite(ours) and best > 0 else None
    return (f"{shown(ours)} (" + ", ".join(f"{label}: {shown(value)}" for label, value in baselines.items())
            + ("" if margin is None else f", {abs(margin):.0f} % {'better' if margin >= 0 else 'worse'} "
                                         "than the best benchmark") + ")")


def rmse(predicted, actual):
    return np.sqrt(np.mean((predicted - actual) ** 2, axis=0))


def mae(predicted, actual):
    return np.mean(np.abs(predicted - actual), axis=0)


def mape(predicted, actual):
    """Mean absolute percentage error; NaN where the actual values include 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((actual == 0).any(axis=0), np.nan, 100 * np.mean(np.abs((predicted - actual) / actual), axis=0))
