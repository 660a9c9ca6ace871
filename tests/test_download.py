"""The downloader against a real HTTP server on 127.0.0.1 that misbehaves on purpose."""
import http.server
import random
import socket
import threading
import time

import pytest

from workshop.download import download
from workshop.errors import UserError

PAYLOAD = random.Random(7).randbytes(300_000)
HINT = "Offline? Use --source DIR or --synthetic."


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        attempt = len(server.requests)
        server.requests.append(self.headers.get("Range"))
        mode = server.modes[min(attempt, len(server.modes) - 1)]
        if mode == "404":
            return self.send_error(404, "Not Found")
        if mode == "500":
            return self.send_error(500, "Internal Server Error")
        if mode == "stall":
            time.sleep(1.0)  # longer than the client's timeout; bounded
            return
        start = 0
        ranged = self.headers.get("Range")
        if ranged and mode != "ignore_range":
            start = int(ranged.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop":  # half the body, then the connection dies
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "stall_body":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(1.0)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.requests, httpd.modes = [], ["ok"]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/notMNIST_small.tar.gz"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def get(server, dest, **options):
    options = {"timeout": 0.3, "backoff": 0.01, "offline_hint": HINT, "show_progress": False, **options}
    return download(server.url, dest, **options)


def left_over(folder):
    return sorted(p.name for p in folder.iterdir())


def test_full_download(server, tmp_path):
    dest = get(server, tmp_path / "a.tar.gz", expected_size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and left_over(tmp_path) == ["a.tar.gz"]


def test_resumes_after_the_server_drops_the_connection(server, tmp_path):
    server.modes = ["drop", "ok"]
    dest = get(server, tmp_path / "a.tar.gz", expected_size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0] is None and server.requests[1] == f"bytes={len(PAYLOAD) // 2}-"


def test_404_fails_at_once_naming_the_url_and_the_offline_choices(server, tmp_path):
    server.modes = ["404"]
    with pytest.raises(UserError) as error:
        get(server, tmp_path / "a.tar.gz")
    message = str(error.value)
    assert server.url in message and "HTTP 404" in message and HINT in message and "\n" not in message
    assert len(server.requests) == 1 and left_over(tmp_path) == []


def test_size_mismatch_keeps_nothing(server, tmp_path):
    with pytest.raises(UserError, match="server offers 300,000 bytes, but the file has 299,999"):
        get(server, tmp_path / "a.tar.gz", expected_size=len(PAYLOAD) - 1)
    assert left_over(tmp_path) == []


@pytest.mark.parametrize("stall", ["stall", "stall_body"])
def test_a_stalling_server_times_out(server, tmp_path, stall):
    server.modes = [stall]
    with pytest.raises(UserError, match="timed out .after 2 attempts."):
        get(server, tmp_path / "a.tar.gz", retries=1)
    assert not (tmp_path / "a.tar.gz").exists()


def test_one_stall_is_retried_and_resumed(server, tmp_path):
    server.modes = ["stall_body", "ok"]
    assert get(server, tmp_path / "a.tar.gz").read_bytes() == PAYLOAD
    assert server.requests[1] == "bytes=1000-"


def test_server_error_is_retried(server, tmp_path):
    server.modes = ["500", "ok"]
    assert get(server, tmp_path / "a.tar.gz").read_bytes() == PAYLOAD and len(server.requests) == 2


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.modes = ["drop", "ignore_range"]
    assert get(server, tmp_path / "a.tar.gz").read_bytes() == PAYLOAD


def test_existing_files(server, tmp_path):
    dest = tmp_path / "a.tar.gz"
    dest.write_bytes(PAYLOAD)
    assert get(server, dest, expected_size=len(PAYLOAD)) == dest and server.requests == []
    dest.write_bytes(PAYLOAD[:1234])  # an interrupted 2016-style download: resumed
    assert get(server, dest, expected_size=len(PAYLOAD)).read_bytes() == PAYLOAD
    assert server.requests == ["bytes=1234-"]
    dest.write_bytes(PAYLOAD + b"junk")  # too long: replaced
    assert get(server, dest, expected_size=len(PAYLOAD)).read_bytes() == PAYLOAD
    assert left_over(tmp_path) == ["a.tar.gz"]


def test_connection_refused_after_retries(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.tar.gz"
    with pytest.raises(UserError, match=r"cannot download .*x.tar.gz: .*refused.*after 3 attempts"):
        download(url, tmp_path / "x.tar.gz", retries=2, backoff=0.01, timeout=0.3, show_progress=False)
    assert left_over(tmp_path) == []
