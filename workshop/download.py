"""Downloading large files so that an interruption costs little and a bad file is never used.

The 2016 script wrote straight into the archive's name: an interrupted download left a
truncated file there that later "failed to verify", and starting again began at byte 0.
Here the bytes go to `<name>.part`; the next attempt resumes it with an HTTP Range request;
transient failures (timeouts, dropped connections, 5xx) are retried with back-off; and the
file gets its real name only once its size is right. A file of the wrong size is refused
and deleted, never kept under the real name. A full disk stops the download with one line,
and the `.part` keeps what arrived, for the next run to resume. Files kept on several
servers (mirrors) come from the first that serves them all: `download_from_mirrors`.
"""
import http.client
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from workshop.errors import DiskFull, UserError
from workshop.files import full_disk_reported
from workshop.progress import progress_bar

CHUNK = 1 << 20  # most bytes taken from the socket at once


class _Transient(Exception):
    """A failure that another attempt may not meet; the message says what happened."""


def download(url: str, dest: Path, *, expected_size: int | None = None, timeout: float = 30.0,
             retries: int = 5, backoff: float = 1.0, offline_hint: str = "",
             show_progress: bool = True) -> Path:
    """Fetches `url` into `dest` unless a file of the right size is there already.

    `timeout` bounds every wait for the server; after a transient failure, up to `retries`
    more attempts follow, `backoff`, 2·`backoff`, 4·`backoff`... seconds later. Every failure
    is a UserError of one line ending with `offline_hint`.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.is_file():
        size = dest.stat().st_size
        if expected_size is None or size == expected_size:
            return dest
        if size < expected_size:
            _say(f"{dest} has {size:,} of {expected_size:,} bytes: resuming it")
            os.replace(dest, part)
        else:
            _say(f"{dest} has {size:,} bytes, more than {expected_size:,}: downloading it again")
            dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)

    def failure(what):  # one line, whatever the reason's text holds
        return UserError(" ".join(f"cannot download {url}: {what}. {offline_hint}".split()))

    for attempt in range(retries + 1):
        try:
            _attempt(url, part, expected_size, timeout, show_progress)
            break
        except _Transient as problem:
            if attempt == retries:
                kept = part.stat().st_size if part.exists() else 0
                note = f" ({kept:,} bytes kept in {part} for the next run)" if kept else ""
                raise failure(f"{problem} after {attempt + 1} attempts{note}") from None
            wait = backoff * 2 ** attempt
            _say(f"retrying in {wait:.1f} s (retry {attempt + 1} of {retries}): {problem}")
            time.sleep(wait)
        except DiskFull as error:
            kept = part.stat().st_size if part.exists() else 0
            raise DiskFull(f"{error}: the {kept:,} bytes received stay in {part.name}, and the next run "
                           "resumes from there") from None
        except UserError as error:
            raise failure(error) from None
    os.replace(part, dest)  # atomic: `dest` is either absent or complete
    return dest


def download_from_mirrors(mirrors, files, folder, *, offline_hint="", **options) -> dict[str, Path]:
    """Fetches `files` ({name: expected size, or None}) into `folder` from the first of the base URLs
    `mirrors` that serves them all; returns {name: path}. Options as for download().

    A mirror that fails (a missing file, a wrong size, no answer after the retries) gets one line,
    and the next one is tried: the files it completed stay (and are not fetched again), the one it
    failed on starts afresh (a part from one server is not continued from another). If none serves
    them all, the UserError names each mirror's failure, on one line ending with `offline_hint`.
    A full disk stops at once (DiskFull)."""
    folder, failures = Path(folder), []
    for n, base in enumerate(mirrors):
        paths = {}
        try:
            for name, size in files.items():
                paths[name] = download(base + name, folder / name, expected_size=size, **options)
            return paths
        except DiskFull:
            raise
        except UserError as error:
            failures.append(str(error).rstrip("."))
            if n + 1 < len(mirrors):
                (folder / (name + ".part")).unlink(missing_ok=True)
                _say(f"{failures[-1]}; trying the next mirror, {mirrors[n + 1]}")
    if len(failures) == 1:
        raise UserError(f"{failures[0]}. {offline_hint}".strip()) from None
    raise UserError(f"none of the {len(mirrors)} mirrors served the files ({'; '.join(failures)}). "
                    f"{offline_hint}".strip()) from None


def _attempt(url, part, expected_size, timeout, show_progress):
    """One request that resumes `part` from its size (or starts it) and reads to the end.

    Returns once `part` is complete; raises _Transient for a failure worth another attempt,
    UserError (after deleting `part` if its bytes are wrong) for one that is not.
    """
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:  # nothing from `offset` on: the part is complete, or stale
            _, total = _content_range(error.headers.get("Content-Range"))
            if offset == (total if expected_size is None else expected_size):
                return
            return _start_again(url, part, expected_size, timeout, show_progress)
        if error.code >= 500 or error.code == 429:
            raise _Transient(f"HTTP {error.code} {error.reason}") from None
        raise UserError(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:  # could not connect or send the request
        if isinstance(error.reason, socket.gaierror):  # no such host, or no network: offline
            raise UserError(f"cannot resolve the host name ({error.reason.strerror})") from None
        if not isinstance(error.reason, OSError):
            raise UserError(error.reason) from None
        raise _Transient(_why(error.reason)) from None
    except (OSError, http.client.HTTPException) as error:  # no answer, or a broken one
        raise _Transient(_why(error)) from None

    with response:
        length = response.headers.get("Content-Length")
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                response.close()  # before the next request
                return _start_again(url, part, expected_size, timeout, show_progress)
            if total is None and length is not None:
                total = offset + int(length)
        else:
            offset = 0  # no Range asked, or the server ignored it: the body is the whole file
            total = int(length) if length is not None else None
        if expected_size is not None:
            if total is not None and total != expected_size:
                part.unlink(missing_ok=True)
                raise UserError(f"the server offers {total:,} bytes, not the expected "
                                f"{expected_size:,} (wrong URL or changed file; nothing kept)")
            total = expected_size

        progress = progress_bar(part.name.removesuffix(".part"), total=total, unit="B",
                                start=offset) if show_progress else None
        try:
            with full_disk_reported(part, None if total is None else total - offset), \
                    open(part, "ab" if offset else "wb") as file:
                while True:
                    try:  # read1: at most one socket read, so every byte received is kept
                        chunk = response.read1(CHUNK)
                    except (OSError, http.client.HTTPException) as error:
                        raise _Transient(f"{_why(error)} during the transfer") from None
                    if not chunk:
                        break
                    file.write(chunk)
                    if progress:
                        progress.update(len(chunk))
        finally:
            if progress:
                progress.close()

    size = part.stat().st_size
    if total is not None and size < total:  # the connection ended early
        raise _Transient(f"connection closed after {size:,} of {total:,} bytes")
    if total is not None and size > total:
        part.unlink()
        raise UserError(f"received {size:,} bytes, more than the expected {total:,} "
                        "(nothing kept)")


def _start_again(url, part, expected_size, timeout, show_progress):
    """The server's file does not continue `part`: drop it and download from byte 0."""
    if not part.exists() or not part.stat().st_size:  # no range asked, yet a wrong one came
        raise UserError("the server answered with a range that was not asked for")
    _say(f"{part} does not match the server's file: starting again")
    part.unlink()
    _attempt(url, part, expected_size, timeout, show_progress)


def _content_range(header):
    """`bytes 100-299/300` -> (100, 300); `bytes */300` -> (None, 300); unknown parts are None."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (header or "").strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _why(error):
    """A short reason for a network error: `timed out`, `Connection refused`, ..."""
    if isinstance(error, TimeoutError):
        return "timed out"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _say(line):
    print(line, file=sys.stderr, flush=True)
