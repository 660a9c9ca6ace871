"""`make spark-env`: the Python environment that travels with a Spark job to a cluster's workers.

A cluster's machines have Spark and Java, not this project's packages. PySpark's documented way
("Python Package Management"): pack a virtual environment into an archive, ship it with the job
(`spark.archives=dist/spark-env.tar.gz#env`), and let the executors run `./env/bin/python`.

    python -m workshop.spark_env dist/spark-env.tar.gz

builds a plain `venv` with requirements.txt's packages (TensorFlow's CPU build, a third of the
size; no PySpark: the cluster's Spark brings its own) and the `workshop` package, and tars it.
The packages are installed as requirements-spark-env.lock pins them (exact versions and hashes,
Linux x86_64, where tensorflow-cpu has wheels); `make lock` compiles that lock from

    python -m workshop.spark_env --requirements      (requirements.txt with tensorflow-cpu)

A venv holds the packages, not the interpreter: its bin/python links to the Python that built
it, so every worker needs the same Python version at that same path (e.g. workers made from the
same image). Where that is not so, use the Docker image (Kubernetes) or build the env on a
machine of the cluster.
"""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

from workshop.errors import UserError
from workshop.files import atomic_write

REPOSITORY = Path(__file__).resolve().parent.parent
LOCK = REPOSITORY / "requirements-spark-env.lock"
LEFT_OUT = ("pip", "setuptools", "tensorflow/include")  # installers, and C++ headers for building TF ops
STRIPPED = "tensorflow"  # its libraries carry symbol tables no worker reads (a sixth of the env)


def requirements_for_executors(text):
    """requirements.txt for the workers: TensorFlow's CPU-only build (the GPU build is 3× larger)."""
    return re.sub(r"^tensorflow(\[[^]]*\])?==", "tensorflow-cpu==", text, flags=re.M)


def strip_libraries(folder):
    """`strip --strip-unneeded` on the shared libraries under `folder`: drops the symbol tables
    that only debuggers read, keeps what the dynamic linker needs. Only TensorFlow's: numpy's
    and Pillow's vendored libraries (auditwheel's *.libs) no longer load once stripped."""
    strip = shutil.which("strip")
    if not strip:
        print(f"No `strip` command (binutils): {folder.name}'s libraries are packed with their symbol tables, "
              "about 240 MB more")
        return
    libraries = sorted(str(p) for p in folder.rglob("*.so*") if p.is_file() and not p.is_symlink())
    done = subprocess.run([strip, "--strip-unneeded", *libraries], capture_output=True, text=True)
    if done.returncode:
        raise UserError(f"strip failed on {folder}'s libraries: {done.stderr.strip().splitlines()[-1]}")


def build(archive):
    """The workers' venv, packed into the gzipped tar `archive` (Spark unpacks a .tar.gz with the
    system's tar, which keeps the files' modes and the venv's links)."""
    archive = Path(archive)
    with tempfile.TemporaryDirectory(prefix="spark-env-", dir=archive.parent) as folder:
        env = Path(folder) / "env"
        venv.create(env, with_pip=True, symlinks=True)
        print(f"Installing {LOCK} (requirements.txt with TensorFlow's CPU build) into a new venv", flush=True)
        pip = subprocess.run([env / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--require-hashes", "--no-deps", "-r", LOCK])
        if pip.returncode:
            raise UserError(f"pip could not install the packages for the Spark workers (exit status "
                            f"{pip.returncode}, see above); {archive} was not written")
        site = next((env / "lib").glob("python3*/site-packages"))
        shutil.copytree(REPOSITORY / "workshop", site / "workshop", ignore=shutil.ignore_patterns("__pycache__"))
        strip_libraries(site / STRIPPED)
        left_out = [str((site / name).relative_to(env)) for name in LEFT_OUT]

        def keep(member):
            return None if any(member.name == p or member.name.startswith(p + "/") for p in left_out) else member
        with atomic_write(archive) as file, tarfile.open(fileobj=file, mode="w:gz", compresslevel=6) as tar:
            for child in sorted(env.iterdir()):
                tar.add(child, arcname=child.name, filter=keep)
    python = f"Python {sys.version_info.major}.{sys.version_info.minor} at {os.path.realpath(sys._base_executable)}"
    print(f"Wrote {archive}: {archive.stat().st_size / 2 ** 20:.0f} MB; its workers need {python}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--requirements"]:  # what `make lock` compiles into requirements-spark-env.lock
        sys.stdout.write(requirements_for_executors((REPOSITORY / "requirements.txt").read_text()))
        sys.exit()
    if len(sys.argv) != 2 or not sys.argv[1].endswith(".tar.gz"):
        sys.exit("usage: python -m workshop.spark_env dist/spark-env.tar.gz\n"
                 "       python -m workshop.spark_env --requirements")
    try:
        Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
        build(sys.argv[1])
    except UserError as error:
        sys.exit(f"spark_env: error: {error}")
