"""Downloading large files so that an interruption costs nothing and a bad file is never used.

The 2016 script wrote straight into the archive's name: an interrupted download left a
truncated file there that later "failed to verify", and starting again began at byte 0.
Here the bytes go to `<name>.part`; a new attempt resumes it with an HTTP Range request;
transient failures (timeouts, dropped connections, 5xx) are retried with back-off; and the
file gets its real name only once its size is right.
"""
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from workshop.errors import UserError
from workshop.progress import Progress

CHUNK = 1 << 20


class _Transient(Exception):
    """A failure worth another attempt (the message says what happened)."""


def download(url, dest, *, expected_size=None, timeout=30.0, retries=5, backoff=1.0,
             offline_hint="", show_progress=True):
    """Fetches `url` into `dest` (a Path) unless a file of the right size is already there."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")

    def fail(what):
        part.unlink(missing_ok=True)
        return UserError(f"cannot download {url}: {what}. {offline_hint}".strip())

    if dest.is_file():
        size = dest.stat().st_size
        if expected_size is None or size == expected_size:
            return dest
        if size < expected_size:
            print(f"{dest} has {size:,} of {expected_size:,} bytes: resuming it", file=sys.stderr)
            os.replace(dest, part)
        else:
            print(f"{dest} has {size:,} bytes, more than the expected {expected_size:,}: "
                  "downloading it again", file=sys.stderr)
            dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        try:
            total = _fetch(url, part, expected_size, timeout, show_progress)
            break
        except _Transient as problem:
            if attempt == retries:
                raise fail(f"{problem} (after {attempt + 1} attempts)") from None
            wait = backoff * 2 ** attempt
            print(f"retrying in {wait:.1f} s (attempt {attempt + 2} of {retries + 1}): {problem}",
                  file=sys.stderr)
            time.sleep(wait)
        except UserError as error:
            raise fail(str(error)) from None
    if part.stat().st_size != total:
        raise fail(f"got {part.stat().st_size:,} bytes, expected {total:,}")
    os.replace(part, dest)
    return dest


def _fetch(url, part, expected_size, timeout, show_progress):
    """One attempt: resumes `part` from its current size; returns the file's full size."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset and offset == expected_size:
            return offset  # we already have it all
        if error.code == 416:
            part.unlink()
            raise _Transient("the partial file did not match the server's; starting again")
        if error.code >= 500 or error.code == 429:
            raise _Transient(f"HTTP {error.code} {error.reason}")
        raise UserError(f"HTTP {error.code} {error.reason}")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise _Transient("timed out" if isinstance(reason, (socket.timeout, TimeoutError))
                         else str(reason))
    with response:
        if response.status == 206 and not response.headers.get("Content-Range", "").startswith(
                f"bytes {offset}-"):
            raise UserError(f"the server answered the resume request with the wrong range "
                            f"({response.headers.get('Content-Range')})")
        if response.status != 206:
            offset = 0  # the server ignored the Range: start from scratch
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else expected_size
        if expected_size is not None and total is not None and total != expected_size:
            raise UserError(f"the server offers {total:,} bytes, but the file has {expected_size:,}"
                            " (a wrong or damaged file; nothing was kept)")
        progress = Progress(part.name.removesuffix(".part"), total, "B", start=offset) \
            if show_progress else None
        try:
            with open(part, "ab" if offset else "wb") as file:
                while chunk := response.read1(CHUNK):  # what has arrived, up to 1 MiB
                    file.write(chunk)
                    if progress:
                        progress.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            raise _Transient("timed out" if isinstance(error, (socket.timeout, TimeoutError))
                             else f"connection lost ({error or type(error).__name__})")
        finally:
            if progress:
                progress.close()
    size = part.stat().st_size
    if total is not None and size < total:
        raise _Transient(f"connection closed after {size:,} of {total:,} bytes")
    return size if total is None else total
