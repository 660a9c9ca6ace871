"""Progress lines: a bar redrawn in place on a terminal, a line of its own per update in a log."""
import io

import pytest

from workshop import progress as progress_module


class Clock:
    """The clock tqdm reads, moved by hand."""
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("tqdm.std.time", clock)
    return clock


def test_in_a_log_each_update_is_a_line_of_its_own(clock, monkeypatch):
    log = io.StringIO()  # no terminal
    monkeypatch.setattr("sys.stderr", log)
    bar = progress_module.progress_bar("notMNIST.tgz", total=300_000, unit="B", start=60_000)
    for _ in range(4):
        clock.now += progress_module.LOG_EVERY
        bar.update(60_000)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and all(line.startswith("notMNIST.tgz: ") for line in lines)
    assert [line.split("|")[0] for line in lines] == ["notMNIST.tgz:  20%", "notMNIST.tgz:  40%", "notMNIST.tgz:  60%",
                                                     "notMNIST.tgz:  80%", "notMNIST.tgz: 100%", "notMNIST.tgz: 100%"]
    assert "300k/300k" in lines[-1] and "12.0kB/s" in lines[-1]  # 240 kB in 20 s: the resumed part not counted


def test_in_a_log_updates_closer_than_log_every_make_no_line(clock, monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = progress_module.progress_bar("rendering a.tar.gz", total=1000, unit="img")
    for _ in range(10):
        clock.now += progress_module.LOG_EVERY / 4
        bar.update(100)
    bar.close()
    assert len(log.getvalue().splitlines()) == 1 + 2 + 1  # the start, every fourth update, the end


def test_on_a_terminal_the_bar_redraws_in_place(clock, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    bar = progress_module.progress_bar("reading a.tar.gz", total=1000, unit="B")
    clock.now += 1
    bar.update(1000)
    bar.close()
    assert terminal.getvalue().count("\r") >= 2 and terminal.getvalue().count("\n") == 1
