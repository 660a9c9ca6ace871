"""Reading a user's series from a CSV: every common date format, and the repairs real exports need."""
import bz2
import gzip
import lzma
import re
import zipfile
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from workshop.errors import UserError
from workshop.series import calendar_inputs, compared, mape, read_csv_series, season_of

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


def test_mape_is_undefined_where_the_series_has_zeros():
    actual = np.array([[100.0, 0.0], [200.0, 5.0]])
    assert np.isclose(mape(actual * 1.1, actual)[0], 10) and np.isnan(mape(actual * 1.1, actual)[1])


LOAD_DE = "Netzlast gemäß ENTSO-E [MW]"
LOADS = [15867.0, 1234567.25, 12.5, -3.25, 980.0, 20000.5]  # then twice these, three times...


def european(value):
    """15867.0 as a German export writes it: '15.867,0', points between thousands and a decimal comma."""
    return f"{value:,}".translate(str.maketrans(",.", ".,"))


def grid_export(path, separator, date_and_time=False, encoding="utf-8", hours=72):
    """Hourly load and temperature as a grid publishes them, times day first, in one column or as a date
    and a time of day; with `separator` ';' the numbers have a decimal comma and points between thousands."""
    number = european if separator == ";" else repr
    rows = [(["Datum", "Uhrzeit"] if date_and_time else ["Zeit"]) + [LOAD_DE, "Temperatur"]]
    for h in range(hours):
        t = datetime(2019, 1, 1) + timedelta(hours=h)
        when = [f"{t:%d.%m.%Y}", f"{t:%H:%M}"] if date_and_time else [f"{t:%d.%m.%Y %H:%M}"]
        rows.append(when + [number(LOADS[h % 6] * (1 + h // 6)), number(round(h / 10 - 5, 1))])
    data = "".join(separator.join(row) + "\n" for row in rows).encode(encoding)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("load.csv", data)
    else:
        with {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix, open)(path, "wb") as file:
            file.write(data)
    return path


def read_grid_export(csv, date_and_time=False, report=pytest.fail):
    return read_csv_series(csv, LOAD_DE, "Datum" if date_and_time else "Zeit", None,
                           "Uhrzeit" if date_and_time else None, ["Temperatur"], report=report)


def assert_same_series(ours, twin):
    for field in ("values", "observed", "inputs", "times"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(twin, field))


@pytest.mark.parametrize("date_and_time", [False, True], ids=["dd.mm.yyyy HH:MM", "a date and a time column"])
def test_a_european_export_reads_as_its_comma_utf8_twin(tmp_path, date_and_time):
    ours = grid_export(tmp_path / "de.csv", ";", date_and_time, "cp1252")
    twin = grid_export(tmp_path / "twin.csv", ",", date_and_time)
    assert "15.867,0;" in ours.read_text("cp1252") and "1.234.567,25;" in ours.read_text("cp1252")
    assert "gemäß".encode("cp1252") in ours.read_bytes()  # not UTF-8
    lines = []
    series = read_grid_export(ours, date_and_time, lines.append)
    assert lines == [f"{ours}: not UTF-8; read as cp1252 (Windows Western European)"]
    assert_same_series(series, read_grid_export(twin, date_and_time))
    assert series.values[:6, 0].tolist() == LOADS and series.inputs[:2, 0].tolist() == [-5, -4.9]
    assert series.times[0] == pd.Timestamp("2019-01-01 00:00") and series.step == pd.Timedelta(hours=1)


@pytest.mark.parametrize("separator, name", [
    ("\t", "load.tsv"), (";", "load.csv.gz"), (";", "load.csv.bz2"), (";", "load.csv.xz"), (";", "load.csv.zip")])
def test_the_separator_is_sniffed_in_plain_and_compressed_files(tmp_path, separator, name):
    csv = grid_export(tmp_path / name, separator)
    assert_same_series(read_grid_export(csv), read_grid_export(grid_export(tmp_path / "twin.csv", ",")))


def test_in_a_semicolon_file_each_column_says_whether_a_point_alone_groups_thousands(tmp_path):
    csv = tmp_path / "load.csv"
    csv.write_text("A;B;C\n15.867;15.867;12,5\n1.234;12.5;15.867\n2.000.500;0.125;1.234.567,25\n-1.000;7;3\n")
    lines = []
    series = read_csv_series(csv, "A", inputs=["B", "C"], report=lines.append)
    assert series.values[:, 0].tolist() == [15867, 1234, 2000500, -1000]  # every point between thousands
    assert series.inputs[:, 0].tolist() == [15.867, 12.5, 0.125, 7]  # 12.5 and 0.125: decimal points
    assert series.inputs[:, 1].tolist() == [12.5, 15867, 1234567.25, 3]  # a decimal comma: points are thousands
    assert lines == [f"{csv}: A has no decimal comma and its points all separate groups of three digits ('15.867' "
                     "on line 2); read them as thousands separators"]
    csv.write_text("A;B\n12,5;1\n1.5;2\n3;3\n")
    with pytest.raises(UserError, match=r"line 3: A is '1.5', a decimal point in a column of decimal commas "
                                        r"\('12,5' on line 2\); write it as the others$"):
        read_csv_series(csv, "A", report=pytest.fail)


@pytest.mark.parametrize("encoding, note, line", [
    ("utf-8-sig", "Störung", None),  # a byte order mark before the first column's name
    ("cp1252", "Störung", "not UTF-8; read as cp1252 (Windows Western European)"),
    ("latin-1", "St\x81rung", "neither UTF-8 nor cp1252; read as Latin-1 (ISO 8859-1)"),  # no \x81 in cp1252
])
def test_the_encoding_is_utf8_else_cp1252_else_latin1_and_said(tmp_path, encoding, note, line):
    csv = tmp_path / "load.csv"  # the note in the last row, some 100 KB down the file
    csv.write_text("Last,Notiz\n" + "".join(f"{i},\n" for i in range(15000)) + f"15000,{note}\n", encoding=encoding)
    lines = []
    series = read_csv_series(csv, "Last", report=lines.append)
    assert series.values[-1, 0] == 15000 and lines == ([f"{csv}: {line}"] if line else [])


def test_a_folder_named_in_csv_is_said_to_be_one(tmp_path):
    with pytest.raises(UserError, match=rf"^--csv {re.escape(str(tmp_path))}: a folder, not a file "
                                        r"\(name the CSV file in it\)$"):
        read_csv_series(tmp_path, "LOAD")


@pytest.mark.parametrize("cell, message", [
    ("inf", "not a number \\(fix or remove the row\\)"),
    ("-inf", "not a number"),
    ("nan", "not a number"),
    ("NaN", "not a number"),
    ("1e300", "beyond ±1e\\+30 and too large to compute with; rescale the column \\(e.g. from W to MW\\)"),
    ("-1e400", "beyond ±1e\\+30"),  # more than a float holds
], ids=["inf", "-inf", "nan", "NaN", "1e300", "-1e400"])
@pytest.mark.parametrize("column", ["LOAD", "T"])
def test_a_cell_that_is_not_a_finite_number_or_too_large_is_refused_with_its_line(tmp_path, cell, message, column):
    csv = tmp_path / "load.csv"
    cells = {"LOAD": list(range(10)), "T": [30] * 10}
    cells[column][4] = cell
    csv.write_text("Time,LOAD,T\n" + "".join(f"2019-01-01 {h:02d}:00,{load},{t}\n"
                                             for h, (load, t) in enumerate(zip(*cells.values()))))
    with pytest.raises(UserError, match=f"load.csv, line 6: {column} is '{cell}', {message}"):
        read_csv_series(csv, "LOAD", "Time", inputs=["T"], report=pytest.fail)


def test_a_time_of_day_that_is_not_one_is_refused_with_its_line(tmp_path):
    csv = tmp_path / "load.csv"
    csv.write_text("Datum;Uhrzeit;Last\n" + "".join(f"13.01.2019;{h};{i}\n" for i, h in
                                                     enumerate(["00:00", "01:00", "2", "03:00"])))
    with pytest.raises(UserError, match=r"line 4: Uhrzeit is '2', not a time of day \(H:MM\) as in the rows before"):
        read_csv_series(csv, "Last", "Datum", hour_column="Uhrzeit", report=pytest.fail)


def test_compared_says_not_finite_rather_than_failing():
    assert compared(140.2, {"persistence": 180.0, "seasonal naive": 171.6}, "RMSE", True) == \
        "140.2 (persistence: 180.0, seasonal naive: 171.6, 18 % better than the best benchmark)"
    assert compared(np.inf, {"persistence": 180.0, "seasonal naive": np.inf}, "RMSE", True) == \
        "not finite (persistence: 180.0, seasonal naive: not finite)"
    assert compared(140.2, {"persistence": np.inf}, "MAE", True) == "140.2 (persistence: not finite)"
    assert compared(np.nan, {"persistence": np.nan}, "RMSE", True) == "not finite (persistence: not finite)"
    assert compared(np.nan, {"persistence": np.nan}, "MAPE", True) == "undefined: the test stretch has values of 0"
