"""The locks agree with the ranges: every package that a requirements*.txt names is pinned in its lock
(`==`, with the hashes that pip's --require-hashes needs) at a version the range allows, every lock
entry is exact and hashed, and the packages the locks share have the same versions. Run `make lock`
after editing a range; no network here, only the files are read."""
import re

import pytest

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # packaging is in the locks; pip vendors it too
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

from workshop.spark_env import requirements_for_executors

from conftest import REPO


def ranges(text, folder=REPO):
    """The requirements of a requirements file's text, following its `-r` lines."""
    found = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        if line.startswith(("-r ", "--requirement ")):
            found += ranges((folder / line.split(None, 1)[1]).read_text(), folder)
        elif line:
            found.append(Requirement(line))
    return found


def lock_entries(path):
    """A lock's entries: (Requirement, its hashes), one per line of `name==version ; marker`."""
    text = re.sub(r"\\\n", " ", path.read_text())  # pip's continuation lines joined
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *hashes = re.split(r"\s+--hash=", line)
        entries.append((Requirement(requirement), hashes))
    return entries


def pins(path):
    """{name: {(version, marker), ...}} of a lock."""
    found = {}
    for requirement, _ in lock_entries(path):
        (spec,) = requirement.specifier
        marker = f" ; {requirement.marker}" if requirement.marker else ""
        found.setdefault(canonicalize_name(requirement.name), set()).add((spec.version, marker))
    return found


LOCKS = {  # each lock and the text of the ranges it is compiled from (make lock)
    "requirements.lock": lambda: (REPO / "requirements.txt").read_text(),
    "requirements-test.lock": lambda: (REPO / "requirements-test.txt").read_text(),
    "requirements-jupyter.lock": lambda: (REPO / "requirements-jupyter.txt").read_text(),
    "requirements-spark-env.lock": lambda: requirements_for_executors((REPO / "requirements.txt").read_text()),
}


def out_of_sync(lock, ranges_text):
    """What in `lock` disagrees with the ranges of `ranges_text`: one line per problem."""
    locked = pins(REPO / lock)
    problems = []
    for wanted in ranges(ranges_text):
        versions = locked.get(canonicalize_name(wanted.name))
        if not versions:
            problems.append(f"{wanted.name} is not in {lock}")
        for version, marker in sorted(versions or ()):
            if not wanted.specifier.contains(version, prereleases=True):
                problems.append(f"{lock} pins {wanted.name}=={version}{marker}, outside the range {wanted}")
    return problems


@pytest.mark.parametrize("lock", LOCKS)
def test_every_range_is_pinned_in_its_lock_at_a_version_it_allows(lock):
    assert out_of_sync(lock, LOCKS[lock]()) == [], "run make lock"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_entry_of_a_lock_is_exact_and_hashed(lock):
    entries = lock_entries(REPO / lock)
    assert len(entries) > 20
    for requirement, hashes in entries:
        assert [spec.operator for spec in requirement.specifier] == ["=="], requirement
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), requirement


def test_the_locks_share_their_versions():
    """make test installs requirements-test.lock over requirements.lock (make jupyter its lock), and the
    Spark workers run what the driver runs: a package in two locks has the same versions in both."""
    def versions(lock):  # {name: {version, ...}}: a package's markers may differ between locks
        return {name: {version for version, _ in pinned} for name, pinned in pins(REPO / lock).items()}
    test = versions("requirements-test.lock")
    for lock in ("requirements.lock", "requirements-spark-env.lock", "requirements-jupyter.lock"):
        locked = versions(lock)
        locked["tensorflow"] = locked.pop("tensorflow-cpu", locked.get("tensorflow"))
        if lock == "requirements-jupyter.lock":  # JupyterLab's own packages are in no other lock
            locked = {name: found for name, found in locked.items() if name in test}
        assert {name: found for name, found in locked.items() if found != test.get(name)} == {}, lock


def test_a_range_that_its_lock_does_not_meet_is_found():
    (tqdm,) = pins(REPO / "requirements.lock")["tqdm"]
    assert out_of_sync("requirements.lock", "numpy>=1.26\ntqdm>=99  # a comment\nno-such-package==1.0\n") == [
        f"requirements.lock pins tqdm=={tqdm[0]}, outside the range tqdm>=99",
        "no-such-package is not in requirements.lock",
    ]
