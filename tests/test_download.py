"""The downloader against a real HTTP server on 127.0.0.1 that can misbehave on cue."""
import http.server
import random
import re
import socket
import threading
import time
import types
from contextlib import contextmanager

import pytest

from workshop.download import download, download_from_mirrors
from workshop.errors import UserError

PAYLOAD = random.Random(2016).randbytes(300_000)
HALF = len(PAYLOAD) // 2
STALL = 2.0  # seconds a stalling handler waits at most (the test's end wakes it earlier)
HINT = "Offline? Use --source DIR with the two archives, or --synthetic."


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; `state.script` says how to answer the next requests:
    an HTTP status, "drop" (half the body, then close), "stall" (no answer), "stall-body"
    (half the body, then nothing), "ignore-range" (200 with the whole file) or "other-file" (200
    with a file one byte longer); then "ok"."""

    def do_GET(self):
        state = self.server.state
        state.requests.append((self.path, self.headers.get("Range")))
        how = state.script.pop(0) if state.script else "ok"
        try:
            self.answer(how, state)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on us, as it should

    def answer(self, how, state):
        if isinstance(how, int):
            return self.send_error(how)
        if how == "stall":
            state.stop.wait(STALL)
            return
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(asked[1]) if asked and how not in ("ignore-range", "other-file") else 0
        if start >= len(PAYLOAD):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
        elif asked and how not in ("ignore-range", "other-file"):
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:] + b"x" * (how == "other-file")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if how in ("drop", "stall-body"):
            self.wfile.write(body[:len(body) // 2])
            if how == "stall-body":
                state.stop.wait(STALL)
            return  # HTTP/1.0: the connection closes after the handler returns
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serving():
    """A Handler server on 127.0.0.1; yields its state (`url`: of a file, `base`: of its folder)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_port}/"
    httpd.state = types.SimpleNamespace(requests=[], script=[], stop=threading.Event(), base=base,
                                        url=base + "notMNIST.tgz")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd.state
    httpd.state.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server():
    with serving() as state:
        yield state


@pytest.fixture
def mirrors():
    """Two servers with the same files: a first mirror and a second."""
    with serving() as first, serving() as second:
        yield first, second


def fetch(url, dest, **options):
    settings = dict(timeout=0.5, retries=2, backoff=0.01, offline_hint=HINT, show_progress=False)
    return download(url, dest, **{**settings, **options})


def fails(url, dest, **options):
    """The UserError that fetch raises; checks that its message is one line with the hint."""
    with pytest.raises(UserError) as caught:
        fetch(url, dest, **options)
    message = str(caught.value)
    assert "\n" not in message and url in message and message.endswith(HINT)
    assert caught.value.__suppress_context__  # no chained traceback behind the one line
    return message


def leftovers(folder):
    return sorted(path.name for path in folder.iterdir())


def test_downloads_the_exact_bytes_into_a_new_folder(server, tmp_path, capsys):
    dest = tmp_path / "deep" / "data" / "notMNIST.tgz"
    assert fetch(server.url, dest, expected_size=len(PAYLOAD), show_progress=True) == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["notMNIST.tgz"] and leftovers(tmp_path) == ["deep"]
    assert server.requests == [("/notMNIST.tgz", None)]
    assert "notMNIST.tgz: 100%|" in capsys.readouterr().err


def test_resumes_after_the_connection_drops_mid_file(server, tmp_path, capsys):
    server.script = ["drop"]
    dest = fetch(server.url, tmp_path / "a.tgz")
    assert dest.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["a.tgz"]
    assert [r for _, r in server.requests] == [None, f"bytes={HALF}-"]
    assert f"(retry 1 of 2): connection closed after {HALF:,} of {len(PAYLOAD):,} bytes" \
        in capsys.readouterr().err


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_missing_file_fails_at_once(server, tmp_path, status):
    server.script = [status]
    message = fails(server.url, tmp_path / "a.tgz")
    assert f"HTTP {status} " in message and (status != 404 or "HTTP 404 Not Found" in message)
    assert len(server.requests) == 1 and leftovers(tmp_path) == []


@pytest.mark.parametrize("expected", [len(PAYLOAD) - 1, len(PAYLOAD) + 1])
def test_a_size_mismatch_keeps_nothing(server, tmp_path, expected):
    message = fails(server.url, tmp_path / "a.tgz", expected_size=expected)
    assert f"{len(PAYLOAD):,}" in message and f"{expected:,}" in message
    assert leftovers(tmp_path) == [] and len(server.requests) == 1


def test_a_size_mismatch_found_on_resume_keeps_nothing(server, tmp_path):
    (tmp_path / "a.tgz").write_bytes(PAYLOAD[:1000])  # short: resumed, then found to be wrong
    fails(server.url, tmp_path / "a.tgz", expected_size=len(PAYLOAD) + 1)
    assert leftovers(tmp_path) == [] and server.requests == [("/notMNIST.tgz", "bytes=1000-")]


@pytest.mark.parametrize("how", ["stall", "stall-body"])
def test_a_stalled_server_times_out(server, tmp_path, how):
    server.script = [how, how]
    message = fails(server.url, tmp_path / "a.tgz", timeout=0.3, retries=1)
    assert "timed out" in message and "after 2 attempts" in message
    assert len(server.requests) == 2 and not (tmp_path / "a.tgz").exists()
    if how == "stall-body":  # what arrived is kept for the next run, and the message says so
        assert (tmp_path / "a.tgz.part").read_bytes() == PAYLOAD[:HALF + HALF // 2]
        assert f"{HALF + HALF // 2:,} bytes kept in" in message


@pytest.mark.parametrize("how", ["stall", "stall-body"])
def test_a_stall_once_is_retried(server, tmp_path, how):
    server.script = [how]
    assert fetch(server.url, tmp_path / "a.tgz", timeout=0.3).read_bytes() == PAYLOAD
    ranges = [r for _, r in server.requests]
    assert ranges == [None, None if how == "stall" else f"bytes={HALF}-"]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_retried(server, tmp_path, status, capsys):
    server.script = [status, status]
    assert fetch(server.url, tmp_path / "a.tgz").read_bytes() == PAYLOAD
    assert len(server.requests) == 3 and leftovers(tmp_path) == ["a.tgz"]
    assert capsys.readouterr().err.count(f": HTTP {status}") == 2


def test_a_complete_file_is_used_without_a_request(server, tmp_path):
    dest = tmp_path / "a.tgz"
    dest.write_bytes(b"anything")
    assert fetch(server.url, dest) == dest  # no size to check: any file will do
    dest.write_bytes(PAYLOAD)
    assert fetch(server.url, dest, expected_size=len(PAYLOAD)) == dest
    assert server.requests == [] and dest.read_bytes() == PAYLOAD


def test_a_short_file_is_resumed(server, tmp_path, capsys):
    dest = tmp_path / "a.tgz"
    dest.write_bytes(PAYLOAD[:12345])
    assert fetch(server.url, dest, expected_size=len(PAYLOAD)).read_bytes() == PAYLOAD
    assert server.requests == [("/notMNIST.tgz", "bytes=12345-")]
    assert f"has 12,345 of {len(PAYLOAD):,} bytes: resuming it" in capsys.readouterr().err


def test_a_too_long_file_is_replaced(server, tmp_path, capsys):
    dest = tmp_path / "a.tgz"
    dest.write_bytes(PAYLOAD + b"junk")
    assert fetch(server.url, dest, expected_size=len(PAYLOAD)).read_bytes() == PAYLOAD
    assert server.requests == [("/notMNIST.tgz", None)] and leftovers(tmp_path) == ["a.tgz"]
    assert "downloading it again" in capsys.readouterr().err


def test_a_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    (tmp_path / "a.tgz.part").write_bytes(b"x" * 5000)  # wrong bytes: must not survive
    server.script = ["ignore-range"]
    assert fetch(server.url, tmp_path / "a.tgz").read_bytes() == PAYLOAD
    assert server.requests == [("/notMNIST.tgz", "bytes=5000-")]
    assert leftovers(tmp_path) == ["a.tgz"]


def test_a_complete_part_answered_with_416_is_accepted(server, tmp_path):
    (tmp_path / "a.tgz.part").write_bytes(PAYLOAD)
    assert fetch(server.url, tmp_path / "a.tgz").read_bytes() == PAYLOAD
    assert server.requests == [("/notMNIST.tgz", f"bytes={len(PAYLOAD)}-")]


def test_a_stale_part_answered_with_416_is_replaced(server, tmp_path, capsys):
    (tmp_path / "a.tgz.part").write_bytes(PAYLOAD + b"more")
    assert fetch(server.url, tmp_path / "a.tgz").read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [f"bytes={len(PAYLOAD) + 4}-", None]
    assert "starting again" in capsys.readouterr().err and leftovers(tmp_path) == ["a.tgz"]


def test_a_closed_port_fails_after_the_retries(tmp_path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/a.tgz"
    message = fails(url, tmp_path / "a.tgz", retries=2)
    assert "Connection refused after 3 attempts" in message
    assert capsys.readouterr().err.count("retrying in") == 2 and leftovers(tmp_path) == []


def test_unknown_host_fails_at_once(tmp_path, monkeypatch):
    """No such host (or no network at all): one attempt, no waiting for retries."""
    real_getaddrinfo, attempts, waits = socket.getaddrinfo, [], []

    def getaddrinfo(host, *args, **kwargs):  # as a resolver answers for a name that does not exist
        if host == "no-such-host.invalid":
            attempts.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(time, "sleep", waits.append)
    with pytest.raises(UserError, match="cannot resolve the host name"):
        download("http://no-such-host.invalid/x.tar.gz", tmp_path / "x.tar.gz", retries=3, backoff=5)
    assert len(attempts) == 1 and waits == [] and list(tmp_path.iterdir()) == []


# --- mirrors ----------------------------------------------------------------------------

FILES = {"a.tgz": len(PAYLOAD), "b.tgz": len(PAYLOAD)}


def from_mirrors(mirrors, folder):
    return download_from_mirrors([server.base for server in mirrors], FILES, folder, timeout=0.5, retries=1,
                                 backoff=0.01, offline_hint=HINT, show_progress=False)


def test_a_mirror_that_answers_404_gives_way_to_the_next(mirrors, tmp_path, capsys):
    first, second = mirrors
    first.script = [404]
    paths = from_mirrors(mirrors, tmp_path)
    assert paths == {name: tmp_path / name for name in FILES} and all(p.read_bytes() == PAYLOAD for p in paths.values())
    assert [path for path, _ in first.requests] == ["/a.tgz"] and [path for path, _ in second.requests] == [
        "/a.tgz", "/b.tgz"]
    assert capsys.readouterr().err.splitlines() == [
        f"cannot download {first.base}a.tgz: HTTP 404 Not Found; trying the next mirror, {second.base}"]
    assert leftovers(tmp_path) == ["a.tgz", "b.tgz"]


def test_files_a_mirror_completed_are_kept_and_sizes_are_checked_on_each(mirrors, tmp_path, capsys):
    first, second = mirrors
    first.script = ["ok", "other-file"]  # a.tgz right, b.tgz of another size
    from_mirrors(mirrors, tmp_path)
    assert [path for path, _ in second.requests] == ["/b.tgz"]  # a.tgz is not fetched again
    assert f"cannot download {first.base}b.tgz: the server offers {len(PAYLOAD) + 1:,} bytes, not the expected " \
        f"{len(PAYLOAD):,}" in capsys.readouterr().err
    assert (tmp_path / "b.tgz").read_bytes() == PAYLOAD
    first.script, second.script = [404, 404], ["other-file", "other-file"]
    with pytest.raises(UserError) as caught:
        from_mirrors(mirrors, tmp_path / "none")
    message = str(caught.value)
    assert message.startswith(f"none of the 2 mirrors served the files (cannot download {first.base}a.tgz: HTTP 404 "
                              f"Not Found; cannot download {second.base}a.tgz: the server offers ")
    assert "\n" not in message and message.endswith(HINT) and leftovers(tmp_path / "none") == []


def test_a_part_from_one_mirror_is_not_continued_from_another(mirrors, tmp_path):
    first, second = mirrors
    first.script = ["stall-body", "stall-body"]  # half of a.tgz, then silence: given up after the retry
    from_mirrors(mirrors, tmp_path)
    assert [r for _, r in second.requests] == [None, None]  # both files from byte 0
    assert (tmp_path / "a.tgz").read_bytes() == PAYLOAD and leftovers(tmp_path) == ["a.tgz", "b.tgz"]
