"""Reading a user's series from a CSV: every common date format, and the repairs real exports need."""
import gzip
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from workshop.errors import UserError
from workshop.series import calendar_inputs, mape, read_csv_series, season_of

START = datetime(2010, 3, 27, 0)  # 24 h before Europe's clocks go forward, the 28th, 2:00


def write_csv(path, times, values, time_format, header="Time,LOAD_MW"):
    """A CSV of `times` (formatted by `time_format`, a strftime string or a function) and `values`."""
    show = time_format if callable(time_format) else (lambda t: t.strftime(time_format))
    text = header + "\n" + "".join(f"{show(t)},{v}\n" for t, v in zip(times, values))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as file:
        file.write(text)
    return path


def hours(count, start=START):
    return [start + timedelta(hours=h) for h in range(count)]


def us_format(t):  # what Excel and US exports write: no leading zeros, 24 h clock
    return f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}"


def excel_days(t):
    return f"{(t - datetime(1899, 12, 30)) / timedelta(days=1):.8f}"


@pytest.mark.parametrize("name, time_format", [
    ("ISO", "%Y-%m-%d %H:%M:%S"),
    ("ISO with T", "%Y-%m-%dT%H:%M"),
    ("ISO, UTC", "%Y-%m-%dT%H:%M:%SZ"),
    ("US m/d/Y H:MM", us_format),
    ("US with AM/PM", "%m/%d/%Y %I:%M %p"),
    ("d.m.Y", "%d.%m.%Y %H:%M"),
    ("d/m/Y", "%d/%m/%Y %H:%M"),
    ("Excel serial days", excel_days),
])
def test_each_common_date_format_is_read_without_flags(tmp_path, name, time_format):
    times = hours(24 * 20)  # 20 days: past the 12th, so day and month order show in the data
    csv = write_csv(tmp_path / "load.csv", times, np.arange(len(times)), time_format)
    series = read_csv_series(csv, "LOAD_MW", "Time", report=pytest.fail)
    assert [t.replace(tzinfo=None) for t in series.times.to_pydatetime()] == times
    assert series.step == pd.Timedelta(hours=1) and series.values[:, 0].tolist() == list(range(len(times)))


def test_utc_offsets_that_change_with_daylight_saving_are_read_in_order(tmp_path):
    berlin = [t.astimezone(timezone(timedelta(hours=1 if t.day < 28 or t.hour < 1 else 2)))
              for t in (datetime(2010, 3, 27, tzinfo=timezone.utc) + timedelta(hours=h) for h in range(72))]
    csv = write_csv(tmp_path / "load.csv", berlin, np.arange(72), lambda t: t.isoformat())
    series = read_csv_series(csv, "LOAD_MW", "Time", report=pytest.fail)
    assert len(series.values) == 72 and series.step == pd.Timedelta(hours=1)
    assert series.values[:, 0].tolist() == list(range(72))


def test_day_and_month_order_is_taken_from_the_data_or_from_time_format(tmp_path):
    days = [datetime(2010, 1, 1) + timedelta(days=d) for d in range(12)]  # every day <= 12
    csv = write_csv(tmp_path / "load.csv", days[::-1][:1] + days, np.arange(13.0), "%d/%m/%Y")
    # Both readings parse; only day first puts the rows one day apart.
    assert read_csv_series(csv, "LOAD_MW", "Time", report=lambda line: None).step == pd.Timedelta(days=1)
    two = write_csv(tmp_path / "two.csv", days[:2], [1.0, 2.0], "%d/%m/%Y")
    with pytest.raises(UserError, match="could be read as %d/%m/%Y or %m/%d/%Y; say which with --time-format"):
        read_csv_series(two, "LOAD_MW", "Time")
    three = write_csv(tmp_path / "three.csv", days[:3], [1.0, 2.0, 4.0], "%d/%m/%Y")
    series = read_csv_series(three, "LOAD_MW", "Time", "%d/%m/%Y")
    assert series.times[-1] == pd.Timestamp("2010-01-03") and season_of(series.step) == 7


def test_shuffled_rows_dst_duplicates_and_gaps_are_repaired_and_reported_one_line_each(tmp_path):
    times = hours(100)
    values = np.arange(100.0)
    rows = list(zip(times, values))
    rows.append((times[50], 51.0))  # the hour that happens twice in autumn: averaged with 50.0
    del rows[70:73]  # three hours missing: interpolated
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    csv = write_csv(tmp_path / "load.csv.gz", *zip(*rows), "%Y-%m-%d %H:%M:%S")
    lines = []
    series = read_csv_series(csv, "LOAD_MW", "Time", report=lines.append)
    assert len(lines) == 3
    assert re.search(r"rows out of order; sorted 98 rows by Time", lines[0])
    assert re.search(r"1 repeated times \(daylight saving\?\); averaged", lines[1])
    assert re.search(r"3 missing times in 1 gaps \(at most 3 in a row\); filled by linear interpolation", lines[2])
    expected = values.copy()
    expected[50] = 50.5
    assert np.allclose(series.values[:, 0], expected)


def test_empty_cells_are_filled_and_reported(tmp_path):
    csv = write_csv(tmp_path / "load.csv", hours(10), [1, 2, "", 4, 5, 6, 7, 8, 9, 10], "%Y-%m-%d %H:%M")
    lines = []
    series = read_csv_series(csv, "LOAD_MW", "Time", report=lines.append)
    assert series.values[2, 0] == 3 and lines == [f"{csv}: 1 empty LOAD_MW cells; filled by linear interpolation"]


@pytest.mark.parametrize("case, message", [
    ("constant", "LOAD_MW is constant \\(7\\); there is nothing to forecast"),
    ("text", "line 5: LOAD_MW is 'n/a', not a number \\(fix or remove the row\\)"),
    ("column", "--column POWER: .* has no such column \\(it has: Time, LOAD_MW\\)"),
    ("time column", "--time-column When: .* has no such column"),
    ("bad time", "line 4: Time is 'soon', not a time in the format %Y-%m-%d %H:%M of the rows before"),
    ("unknown format", "line 2: Time is 'week 0', a date format I cannot recognise; give it with --time-format"),
    ("uneven", "the times in Time are not evenly spaced \\(most are 1:00:00 apart"),
    ("mostly gaps", "60 of 100 steps of LOAD_MW are missing"),
    ("missing", "no such file"),
    ("not a csv", "cannot read it as CSV"),
])
def test_bad_files_are_one_clear_error(tmp_path, case, message):
    times, values = hours(40), list(np.arange(40.0))
    time_format, column, time_column = "%Y-%m-%d %H:%M", "LOAD_MW", "Time"
    if case == "constant":
        values = [7.0] * 40
    elif case == "text":
        values[3] = "n/a"
    elif case == "bad time":
        times[2] = "soon"
    elif case == "unknown format":
        time_format = lambda t: f"week {t.hour}"  # noqa: E731
    elif case == "uneven":
        times = times[:30] + [t + timedelta(minutes=30) for t in times[30:]]
        times[-1] += timedelta(minutes=10)
    elif case == "mostly gaps":
        times = hours(100)[:20] + hours(100)[80:]
    column, time_column = {"column": ("POWER", "Time"), "time column": ("LOAD_MW", "When")}.get(
        case, (column, time_column))
    fmt = time_format if callable(time_format) else (lambda t: t if isinstance(t, str) else t.strftime(time_format))
    csv = tmp_path / "load.csv"
    if case == "not a csv":
        csv.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50)
    elif case != "missing":
        write_csv(csv, times, values, fmt)
    with pytest.raises(UserError, match=message):
        read_csv_series(csv, column, time_column, report=lambda line: None)


def test_season_and_calendar_inputs():
    assert [season_of(pd.Timedelta(x)) for x in ("1h", "30min", "15min", "1D", "1h 7min", "8D")] == \
        [24, 48, 96, 7, None, None]
    week = pd.date_range("2024-01-01", periods=24 * 7, freq="h")  # a Monday
    inputs = calendar_inputs(week)
    assert inputs.shape == (168, 4) and np.allclose(inputs[0], [0, 1, 0, 1])
    assert np.allclose(inputs[6], [1, 0, np.sin(2 * np.pi * 0.25 / 7), np.cos(2 * np.pi * 0.25 / 7)])
    assert np.allclose(inputs[24, 2:], [np.sin(2 * np.pi / 7), np.cos(2 * np.pi / 7)])  # Tuesday


def test_mape_is_undefined_where_the_series_has_zeros():
    actual = np.array([[100.0, 0.0], [200.0, 5.0]])
    assert np.isclose(mape(actual * 1.1, actual)[0], 10) and np.isnan(mape(actual * 1.1, actual)[1])
