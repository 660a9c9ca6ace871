"""Faults: two runs at once, a kill at any moment, a full disk.

The faults happen for real where a test can make them: processes started together, SIGKILL,
a small tmpfs in a user namespace (skipped where the system allows none). A full disk is also
simulated at each write point, so that those checks run everywhere. (A Spark worker that dies:
tests/test_model_selection.py.)
"""
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from conftest import QUICK, REPO, run_script
from workshop import download as download_module, files, notmnist
from workshop.errors import DiskFull
from workshop.files import atomic_write, new_run_dir

SMALL = ["--train-size", 300, "--valid-size", 60, "--test-size", 100, "--workers", 1]


def build_command(source, data, *args):
    """create_notmnist.py on the small archives of `source`, into `data`."""
    return [sys.executable, str(REPO / "create_notmnist.py"), "--source", str(source),
            "--data-dir", str(data), *map(str, [*SMALL, *args])]


def pair_state(data):
    """"none" (no pickle), the SEED its notMNIST.json records (when it describes the pickle),
    or "MISMATCH"."""
    path = data / "notMNIST.pickle"
    if not path.exists():
        return "none"
    record = notmnist.provenance_path(path)
    if not record.is_file():
        return "MISMATCH"
    provenance = json.loads(record.read_text())
    return "MISMATCH" if notmnist.mismatch(path, provenance) else provenance["settings"]["SEED"]


def names(folder):
    return sorted(p.name for p in folder.iterdir())


OUTPUTS = ["notMNIST.json", "notMNIST.lock", "notMNIST.pickle", "notMNIST_samples.png"]  # the lock file stays


# --- two builds at once ------------------------------------------------------------------

@pytest.mark.slow
def test_a_second_build_waits_for_the_first_or_stops_with_no_wait(source_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with FileLock(data / "notMNIST.lock"):  # as a build in progress holds it
        stopped = run_script("create_notmnist.py", "--source", source_dir, "--data-dir", data, *SMALL, "--no-wait")
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
        assert stopped.stderr.strip().splitlines()[-1] == (
            f"create_notmnist.py: error: another create_notmnist.py is writing {data}; "
            "wait for it to finish (or run without --no-wait, which waits)")
        assert names(data) == ["notMNIST.lock"]  # it wrote nothing
        waiting = subprocess.Popen(build_command(source_dir, data), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        first_line = waiting.stderr.readline()  # blocks until it waits (or ends)
    out, err = waiting.communicate(timeout=300)
    assert first_line == f"another create_notmnist.py is writing {data}: waiting for it to finish ...\n"
    assert waiting.returncode == 0, err
    assert names(data) == OUTPUTS and pair_state(data) == 133


@pytest.mark.slow
def test_two_builds_at_once_with_different_seeds_leave_one_matching_pair(source_dir, tmp_path):
    data = tmp_path / "data"
    builds = [subprocess.Popen(build_command(source_dir, data, "--seed", seed), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for build in builds:
        _, err = build.communicate(timeout=300)
        assert build.returncode == 0, err
    assert names(data) == OUTPUTS and pair_state(data) in (1, 2)


def test_a_pickle_and_a_record_that_do_not_match_are_told(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "notMNIST.pickle"
    stage(path, seed=1).commit({"settings": {"SEED": 1}, "synthetic": False})
    assert "real notMNIST" in notmnist.load_notmnist(path).describe() and capsys.readouterr().err == ""
    notmnist.write_pickle(path, splits(seed=2))  # another pickle, beside the first one's record
    loaded = notmnist.load_notmnist(path)
    assert "unknown origin" in loaded.describe() and loaded.provenance == {}
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and f"warning: {path}: notMNIST.json describes another pickle" in warning
    notmnist.provenance_path(path).unlink()
    notmnist.load_notmnist(path)
    assert f"warning: {path}: no notMNIST.json beside it" in capsys.readouterr().err


# --- a kill at any moment ----------------------------------------------------------------

def splits(seed, size=30):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (size, 28, 28), dtype=np.uint8)
    labels = np.arange(size, dtype=np.int32) % 10
    return {name: (lambda part: images[part.start:part.stop], labels) for name in ("train", "valid", "test")}


def stage(path, seed):
    return notmnist.stage_pickle(path, splits(seed))


def test_each_step_of_putting_a_new_pair_in_place_leaves_a_matching_pair_or_none(tmp_path, monkeypatch):
    """The state of the folder before and after each rename or deletion: where a kill can stop it."""
    path = tmp_path / "notMNIST.pickle"
    stage(path, seed=1).commit({"settings": {"SEED": 1}})
    states = []
    real_replace, real_unlink = os.replace, Path.unlink

    def replace(*args):
        states.append(pair_state(tmp_path))
        return real_replace(*args)

    def unlink(self, *args, **kwargs):
        states.append(pair_state(tmp_path))
        return real_unlink(self, *args, **kwargs)
    staged = stage(path, seed=2)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "unlink", unlink)
    staged.commit({"settings": {"SEED": 2}})
    monkeypatch.undo()
    states.append(pair_state(tmp_path))
    assert states == [1, "none", "none", 2]  # old pair; old pickle gone; new record; new pair


# Runs create_notmnist.py (argv[2:]) and kills it (SIGKILL) just before its Nth (argv[1]) rename or
# deletion of a file: the steps that change what the folder holds (deleting the temporaries that
# killed builds left is not counted: it comes first, and only when there are some). With 0 it runs
# to the end; either way it lists the steps it took on stderr, one `step: ...` line each.
_KILLED_AT = """import atexit, os, runpy, signal, sys
from pathlib import Path
point, steps = int(sys.argv[1]), []
def step(real, name):
    def call(path, *args, **kwargs):
        if not (Path(path).name.endswith(".tmp") and f".{os.getpid()}." not in Path(path).name):
            steps.append(f"{name} {path}")
            if len(steps) == point:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(path, *args, **kwargs)
    return call
os.replace, Path.unlink = step(os.replace, "os.replace"), step(Path.unlink, "Path.unlink")
atexit.register(lambda: print("".join(f"step: {step}\\n" for step in steps), end="", file=sys.stderr))
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
def test_builds_killed_before_each_step_leave_a_matching_pair_or_none(source_dir, tmp_path):
    data = tmp_path / "data"

    def build(point, seed):
        return subprocess.run([sys.executable, "-c", _KILLED_AT, str(point),
                               *build_command(source_dir, data, "--seed", seed, "--force")[1:]],
                              capture_output=True, text=True, timeout=300)
    finished = build(0, 1)
    assert finished.returncode == 0, finished.stderr
    steps = [line.removeprefix("step: ") for line in finished.stderr.splitlines() if line.startswith("step: ")]
    assert sum("notMNIST.pickle" in step for step in steps) >= 2  # the old pickle goes, the new one takes its name
    for point, step in enumerate(steps, 1):
        killed = build(point, 1 + point)  # a seed of its own: its pickle differs from every other build's
        where = f"killed before step {point} of {len(steps)}, {step}"
        assert killed.returncode == -signal.SIGKILL, f"{where}: {killed.stderr[-2000:]}"
        assert pair_state(data) != "MISMATCH", where
    finished = subprocess.run(build_command(source_dir, data), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert names(data) == OUTPUTS and pair_state(data) == 133  # the killed builds' temporaries are gone


# --- run folders -------------------------------------------------------------------------

def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    barrier = threading.Barrier(8)
    folders = []

    def start():
        barrier.wait()
        folders.append(new_run_dir(tmp_path, "lstm"))
    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(folders)) == 8 and all(folder.is_dir() for folder in folders)


@pytest.mark.slow
def test_resume_of_a_folder_that_a_live_run_writes_is_refused(easy_pickle, tmp_path):
    folder = tmp_path / "notmnist_classifier" / "20260101-000000"
    folder.mkdir(parents=True)
    (folder / "ckpt.index").touch()
    with FileLock(folder / "run.lock"):  # as a live run holds it
        result = run_script("notmnist_classifier.py", "--data", easy_pickle, "--runs-dir", tmp_path,
                            "--device", "cpu", *QUICK["notmnist_classifier.py"], "--resume", folder)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"notmnist_classifier.py: error: --resume {folder}: another run is writing to that folder; "
        "wait for it to finish, or resume another folder")


# --- a full disk, simulated at each write point ------------------------------------------

class _Disk:
    """A disk with `free` bytes left: plenty, unless a test says otherwise."""
    free = 1 << 40


class _FillingFile(io.FileIO):
    """A file on `disk`: a write fails with ENOSPC once the disk is full, as on a real one."""

    def __init__(self, path, mode, disk):
        super().__init__(path, mode)
        self.disk = disk

    def write(self, data):
        if self.disk.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.name)
        written = super().write(memoryview(data).cast("B")[:self.disk.free])
        self.disk.free -= written
        return written


@pytest.fixture
def disk(monkeypatch):
    """The disk that the workshop's files (and downloads) are written to."""
    disk = _Disk()

    def filling_open(path, mode="r", *args, **kwargs):
        if not set(mode) & set("wax+"):
            return open(path, mode, *args, **kwargs)
        buffered = io.BufferedWriter(_FillingFile(path, mode.replace("b", "").replace("t", ""), disk))
        return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding=kwargs.get("encoding"))
    for module in (files, download_module):
        monkeypatch.setattr(module, "open", filling_open, raising=False)
    return disk


def one_line(error):
    message = str(error.value)
    assert "\n" not in message and message.startswith("the disk is full: cannot write ")
    return message


def test_a_full_disk_while_writing_the_pickle_keeps_no_part_of_it(tmp_path, disk):
    disk.free = 100_000
    with pytest.raises(DiskFull) as error:
        notmnist.write_pickle(tmp_path / "notMNIST.pickle", splits(1, size=100))
    assert f"cannot write {tmp_path / 'notMNIST.pickle'} (it needs 0.9 MB, " in one_line(error)
    assert names(tmp_path) == []


def test_a_full_disk_while_writing_the_record_keeps_the_old_pair(tmp_path, disk):
    path = tmp_path / "notMNIST.pickle"
    with notmnist.one_writer(tmp_path):
        stage(path, seed=1).commit({"settings": {"SEED": 1}})
    with pytest.raises(DiskFull) as error, notmnist.one_writer(tmp_path):
        staged = stage(path, seed=2)
        disk.free = 0
        staged.commit({"settings": {"SEED": 2}})
    assert f"cannot write {tmp_path / 'notMNIST.json'}" in one_line(error)
    assert names(tmp_path) == ["notMNIST.json", "notMNIST.lock", "notMNIST.pickle"] and pair_state(tmp_path) == 1


def test_a_full_disk_while_writing_a_figure_or_an_archive_keeps_nothing(tmp_path, disk):
    from workshop.plots import pyplot, save_figure
    import gzip
    import tarfile
    disk.free = 1000
    with pytest.raises(DiskFull) as error:
        save_figure(pyplot().subplots()[0], tmp_path / "curves.png")
    assert str(tmp_path / "curves.png") in one_line(error)
    with pytest.raises(DiskFull), atomic_write(tmp_path / "a.tar.gz") as file, \
            gzip.GzipFile(fileobj=file, mode="wb") as packed, tarfile.open(fileobj=packed, mode="w") as tar:
        data = os.urandom(5000)  # as workshop/synthetic.py writes its archives
        info = tarfile.TarInfo("a.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert names(tmp_path) == []


def test_a_full_disk_while_downloading_keeps_the_part_for_the_next_run(tmp_path, disk, file_server):
    served, url, ranges = file_server
    payload = os.urandom(300_000)
    (served / "a.tgz").write_bytes(payload)
    dest = tmp_path / "data" / "a.tgz"
    disk.free = 100_000
    with pytest.raises(DiskFull) as error:
        download_module.download(url + "a.tgz", dest, expected_size=len(payload), show_progress=False)
    message = one_line(error)
    assert f"cannot write {dest}.part (it needs 0.3 MB, " in message
    assert message.endswith("the 100,000 bytes received stay in a.tgz.part, and the next run resumes from there")
    assert names(dest.parent) == ["a.tgz.part"] and (dest.parent / "a.tgz.part").read_bytes() == payload[:100_000]
    disk.free = 1 << 40
    download_module.download(url + "a.tgz", dest, expected_size=len(payload), show_progress=False)
    assert dest.read_bytes() == payload and names(dest.parent) == ["a.tgz"]
    assert ranges == [None, "bytes=100000-"]  # it asked for the rest (this server sends it all)


# --- a full disk, for real: a small tmpfs in a user and mount namespace --------------------

def _namespaces_allowed():
    return shutil.which("unshare") and subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True).returncode == 0


needs_a_small_filesystem = pytest.mark.skipif(not _namespaces_allowed(),
                                              reason="this system lets no user mount a small tmpfs (unshare)")


def on_small_filesystem(mount_point, steps):
    """Runs `steps` (shell commands) where `mount_point` is a tmpfs, in a namespace of their own;
    each step's output follows a line `== step N`. -> list of the steps' outputs"""
    script = "export LC_ALL=C\n" + "\n".join(f"echo '== step {n}'; {step} 2>&1; echo \"rc=$?\""
                                             for n, step in enumerate(steps))
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("== step ")[1:]


def error_line(output):
    lines = [line for line in output.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.mark.slow
@needs_a_small_filesystem
def test_a_full_disk_for_real_stops_create_notmnist_with_one_line(source_dir, tmp_path, file_server):
    served, url, ranges = file_server
    for archive in source_dir.iterdir():
        shutil.copy(archive, served)
    fs = tmp_path / "fs"
    fs.mkdir()
    data = fs / "data"
    build = " ".join(build_command(url, data))
    outputs = on_small_filesystem(fs, [
        f"mount -t tmpfs -o size=200k tmpfs {fs}", build, f"ls -a {data}",  # the large archive does not fit
        f"mount -o remount,size=1000k {fs}", build, f"ls -a {data}",  # the archives fit, the pickle not
        f"mount -o remount,size=4m {fs}", build, f"ls -a {data}"])
    assert all(output.rstrip().endswith("rc=0") for n, output in enumerate(outputs) if n not in (1, 4))
    assert error_line(outputs[1]).startswith(
        f"create_notmnist.py: error: the disk is full: cannot write {data}/notMNIST_large.tar.gz.part")
    assert outputs[2].split()[3:6] == ["notMNIST.lock", "notMNIST_large.tar.gz.part", "rc=0"]  # kept, and nothing else
    assert f"cannot write {data}/notMNIST.pickle (it needs 1.4 MB, " in error_line(outputs[4])
    assert outputs[5].split()[3:7] == ["notMNIST.lock", "notMNIST_large.tar.gz", "notMNIST_small.tar.gz", "rc=0"]
    assert "Wrote" in outputs[7] and outputs[8].split()[3:-1] == [
        "notMNIST.json", "notMNIST.lock", "notMNIST.pickle", "notMNIST_large.tar.gz", "notMNIST_samples.png",
        "notMNIST_small.tar.gz"]
    assert ranges[1].startswith("bytes=")  # the second run asked for the rest of the .part


@pytest.mark.slow
@needs_a_small_filesystem
def test_a_full_disk_for_real_stops_a_classifier_with_one_line(easy_pickle, tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    train = " ".join(map(str, [sys.executable, REPO / "notmnist_classifier.py", "--data", easy_pickle,
                               "--runs-dir", fs, "--device", "cpu", *QUICK["notmnist_classifier.py"],
                               "--steps", 3, "--eval-every", 2]))
    outputs = on_small_filesystem(fs, [f"mount -t tmpfs -o size=100k tmpfs {fs}", train,
                                       f"ls -a {fs}/notmnist_classifier/*"])
    line = error_line(outputs[1])
    assert line.startswith(f"notmnist_classifier.py: error: the disk is full: cannot write {fs}/notmnist_classifier/")
    assert "/ckpt (it needs " in line
    assert "ckpt_temp" not in outputs[2] and "ckpt.index" not in outputs[2]  # no half-written checkpoint

