"""Reading a user's series from a CSV: every common date format, and the repairs real exports need."""
import gzip
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from workshop.errors import UserError
from workshop.forecast_benchmarks import benchmarks, fit_predict, hong_vanilla_design
from workshop.series import calendar_inputs, forecast_inputs, mape, read_csv_series, season_of

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
    assert len(lines) == 4
    assert re.search(r"rows out of order; sorted 98 rows by Time", lines[0])
    assert re.search(r"1 repeated times \(daylight saving\?\); averaged", lines[1])
    assert re.search(r"3 missing times in 1 gaps \(at most 3 in a row\)$", lines[2])
    assert re.search(r"3 empty LOAD_MW cells in 1 gaps \(the longest 3 steps, from 2010-03-29 22:00:00\); filled by "
                     r"linear interpolation; not scored$", lines[3])
    expected = values.copy()
    expected[50] = 50.5
    assert np.allclose(series.values[:, 0], expected)
    assert np.flatnonzero(~series.observed).tolist() == [70, 71, 72] and series.future == 0


def test_empty_cells_are_filled_and_reported(tmp_path):
    csv = write_csv(tmp_path / "load.csv", hours(10), [1, 2, "", 4, 5, 6, 7, 8, 9, 10], "%Y-%m-%d %H:%M")
    lines = []
    series = read_csv_series(csv, "LOAD_MW", "Time", report=lines.append)
    assert series.values[2, 0] == 3 and not series.observed[2] and series.observed.sum() == 9
    assert lines == [f"{csv}: 1 empty LOAD_MW cells in 1 gaps (the longest 1 steps, from 2010-03-27 02:00:00); "
                     "filled by linear interpolation; not scored"]


@pytest.mark.parametrize("case, message", [
    ("constant", "LOAD_MW is constant \\(7\\); there is nothing to forecast"),
    ("text", "line 5: LOAD_MW is 'n/a', not a number \\(fix or remove the row\\)"),
    ("column", "--column POWER: .* has no such column \\(it has: Time, LOAD_MW\\)"),
    ("time column", "--time-column When: .* has no such column"),
    ("bad time", "line 4: Time is 'soon', not a time in the format %Y-%m-%d %H:%M of the rows before"),
    ("unknown format", "line 2: Time is 'week 0', a date format I cannot recognise; give it with --time-format"),
    ("uneven", "the times in Time are not evenly spaced \\(most are 1:00:00 apart"),
    ("mostly gaps", "60 of 100 steps of LOAD_MW are missing"),
    ("long gap", "LOAD_MW has a gap of 25 steps from 2010-03-27 10:00:00, longer than a season \\(24 steps\\); "
                 "interpolating it would invent data"),
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
    elif case == "long gap":
        times, values = hours(80), list(np.arange(80.0))
        values[10:35] = [""] * 25
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
    assert inputs.shape == (168, 31) and inputs.sum(axis=1).tolist() == [2] * 168
    assert np.flatnonzero(inputs[6]).tolist() == [6, 24] and np.flatnonzero(inputs[24 + 5]).tolist() == [5, 25]


def utility_csv(path, days=6, hour_base=1, date_format="%d-%b-%y", lead=0, tail=0, gap=None):
    """A utility's export: a date column, an hour column (1-24 or 0-23), load and a temperature;
    `lead` rows before the load begins and `tail` after it ends (temperature only)."""
    rows = ["DATE,Hour,LOAD,T"]
    for h in range(24 * days):
        day = datetime(2015, 1, 1) + timedelta(days=h // 24)
        load = "" if h < lead or h >= 24 * days - tail or (gap and gap[0] <= h < gap[1]) else f"{100 + h}"
        rows.append(f"{day.strftime(date_format)},{h % 24 + hour_base},{load},{30 + h % 7}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("date_format", ["%d-%b-%y", "%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y"])
@pytest.mark.parametrize("hour_base", [1, 0])
def test_a_date_and_an_hour_column_are_read_as_utilities_publish_them(tmp_path, date_format, hour_base):
    csv = utility_csv(tmp_path / "load.csv", days=14, hour_base=hour_base, date_format=date_format)
    lines = []
    series = read_csv_series(csv, "LOAD", "DATE", hour_column="Hour", inputs=["T"], report=lines.append)
    assert series.times[0] == pd.Timestamp("2015-01-01 00:00") and series.times[-1] == pd.Timestamp("2015-01-14 23:00")
    assert series.step == pd.Timedelta(hours=1) and series.values[:3, 0].tolist() == [100, 101, 102]
    assert series.inputs[:3, 0].tolist() == [30, 31, 32]
    assert lines == [f"{csv}: Hour is " + ("1-24, hour ending (hour 1 is 0:00-1:00, shown as 0:00)" if hour_base
                                           else "0-23 (hour 0 is 0:00-1:00)")]


def test_rows_before_the_first_value_are_dropped_and_those_after_the_last_are_the_future(tmp_path):
    csv = utility_csv(tmp_path / "load.csv", lead=5, tail=30, gap=(60, 63))
    lines = []
    series = read_csv_series(csv, "LOAD", "DATE", hour_column="Hour", inputs=["T"], report=lines.append)
    assert lines[1] == (f"{csv}: 5 rows before the first LOAD value with every input (2015-01-01 05:00:00) dropped; "
                        "30 rows after the last LOAD value (2015-01-05 17:00:00) are the future to forecast; "
                        "they are not data to learn from or score on")
    assert "3 empty LOAD cells in 1 gaps (the longest 3 steps, from 2015-01-03 12:00:00)" in lines[2]
    assert len(series.values) == 144 - 5 - 30 and series.future == 30 and len(series.inputs) == len(series.times) == 139
    assert series.values[0, 0] == 105 and series.values[-1, 0] == 100 + 143 - 30  # nothing invented at either end
    assert np.flatnonzero(~series.observed).tolist() == [55, 56, 57]
    assert series.values[55:58, 0].tolist() == [160, 161, 162]  # interpolated inside


@pytest.mark.parametrize("hours, message", [
    ([1] * 24, "Hour has neither 0 nor 24, so it is neither hours 0-23 nor 1-24"),
    ([0, 24] * 12, "Hour has both 0 and 24"),
    (["1.5"] + [1] * 23, "line 2: Hour is '1.5', not an hour 0-23 or 1-24"),
])
def test_an_hour_column_that_is_neither_0_23_nor_1_24_is_refused(tmp_path, hours, message):
    csv = tmp_path / "load.csv"
    csv.write_text("DATE,Hour,LOAD\n" + "".join(f"2015-01-01,{h},{i}\n" for i, h in enumerate(hours)))
    with pytest.raises(UserError, match=message):
        read_csv_series(csv, "LOAD", "DATE", hour_column="Hour", report=lambda line: None)


def test_hongs_vanilla_mlr_fits_a_load_that_is_in_its_model_space_exactly():
    times = pd.date_range("2015-01-01", periods=24 * 60, freq="h")
    rng = np.random.default_rng(0)
    temperature = rng.standard_normal(len(times))
    load = (500 + 20 * times.hour + 50 * (times.day_of_week >= 5) + 8 * temperature - 3 * temperature ** 2
            + 0.5 * temperature ** 3 * (times.hour % 3) + 2 * temperature * times.month).to_numpy()
    design = hong_vanilla_design(times, temperature, times[0])
    train = rng.permutation(len(times))[:24 * 45]
    assert np.allclose(fit_predict(design, load, train), load, atol=1e-6)


def test_the_lagged_linear_benchmark_fits_a_linear_trend_exactly_and_never_looks_ahead(tmp_path):
    csv = utility_csv(tmp_path / "load.csv", days=40)  # LOAD = 100 + step: exactly linear in its lags
    series = read_csv_series(csv, "LOAD", "DATE", hour_column="Hour", report=lambda line: None)
    at, fit = np.arange(700, 960), np.arange(170, 700)
    forecasts, what = benchmarks(series, at, 23, 24, 168, fit, [])
    assert np.allclose(forecasts["linear"][:, 0], 100 + at) and what.startswith("least squares on the last value")
    assert np.allclose(forecasts["persistence"][:, 0], 100 + at - 23)
    assert np.allclose(forecasts["seasonal naive"][:, 0], 100 + at - 24)
    ahead, _ = benchmarks(series, np.arange(960, 960 + 24), 23, 24, 168, fit, [])  # past the last value
    assert np.allclose(ahead["linear"][:23, 0], 100 + np.arange(960, 960 + 23))
    assert np.isnan(ahead["linear"][23:]).all() and np.isnan(ahead["persistence"][23:]).all()  # 24 h: unknown


def test_the_networks_inputs_are_the_past_and_the_targets_calendar_and_inputs(tmp_path):
    csv = utility_csv(tmp_path / "load.csv", days=10, tail=5)
    series = read_csv_series(csv, "LOAD", "DATE", hour_column="Hour", inputs=["T"], report=lambda line: None)
    inputs, first = forecast_inputs(series, 23, 24, 4)
    assert first == 168 - 23 + 4 - 1 and inputs.shape == (235, 3 + 2 + 31 + 1)
    t = first + 10
    assert inputs[t, :5].tolist() == [100 + t, 1, 0, 100 + t + 23 - 24, 100 + t + 23 - 168]
    assert np.isnan(inputs[:168 - 23, 4]).all()  # a week before the target: not in the file, not invented
    hour, day = series.times[t + 23].hour, series.times[t + 23].day_of_week
    assert np.flatnonzero(inputs[t, 5:36]).tolist() == [hour, 24 + day] and inputs[t, -1] == 30 + (t + 23) % 7
    assert inputs[216, -1] == 30 + 239 % 7 and np.isnan(inputs[217:, -1]).all()  # targets past the file's inputs


def test_mape_is_undefined_where_the_series_has_zeros():
    actual = np.array([[100.0, 0.0], [200.0, 5.0]])
    assert np.isclose(mape(actual * 1.1, actual)[0], 10) and np.isnan(mape(actual * 1.1, actual)[1])
