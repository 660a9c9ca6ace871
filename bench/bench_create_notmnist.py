"""create_notmnist.py against the 2016 procedure, on the same full-size archives (`make bench`).

  new:  create_notmnist.py --source ARCHIVES --force, default sizes (200,000/10,000/10,000):
        decodes the PNGs straight out of the .tar.gz on all cores, writes the pickle in chunks;
  2016: bench/legacy_2016.py: unpack to disk, decode file by file, pickle per letter, merge
        (its 4.4 GB of unpacked files and pickles in WORK_DIR/legacy are deleted afterwards).
Both run as subprocesses on one pair of archives shaped like the official ones, made once and
cached in WORK_DIR/archives (archives-<scale> for --scale): notMNIST_large.tar.gz with 529,114
PNGs and notMNIST_small.tar.gz with 18,724, laid out <root>/A..J/<base64>.png. The PNGs are
the real notMNIST files of --real-sample when it exists (exact byte copies, cycled within each
letter, each under its own name), else generated stroke images.

Measured per run (Linux only: it reads /proc): wall time; CPU time (user and system) of the
run's whole process tree, which other work on the machine disturbs far less; peak memory, the
peak of the sum of PSS (/proc/PID/smaps_rollup, or RSS from /proc/PID/status) over the process
and all its descendants, sampled every 50 ms; bytes written to disk, the change in write_bytes of
/proc/self/io across the run (the kernel adds a reaped child's I/O counters, including those
of the children it reaped, to its parent's; page-granular: a small file counts 4 KiB), of
which "temp" is what was not kept as output; the output pickle's size. Then it judges the
issue's targets at full scale (<= 30 s, >= 10x faster than 2016, peak <= 1.3x the pickle),
checks that both pickles agree (keys, shapes, dtypes, labels per class, pixel values) and
writes WORK_DIR/results.json. Exit status 1 if a run fails or the pickles disagree.

    python bench/bench_create_notmnist.py                # full scale: ~5 minutes on 2 cores
    python bench/bench_create_notmnist.py --scale 0.02   # 2 % of the images, a quick try
    python bench/bench_create_notmnist.py --skip-legacy  # create_notmnist.py only
"""
import base64
import gzip
import io
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.summary import machine, row  # noqa: E402
from workshop import cli, notmnist  # noqa: E402
from workshop.errors import UserError  # noqa: E402
from workshop.synthetic import tar_end, tar_member  # noqa: E402

WORK_DIR = "bench/_work"  # everything this writes goes here (relative to the repo root)
REAL_SAMPLE = "../shared/data/notMNIST_large_sample.tar.gz"  # real PNGs to reuse, if there (from the repo root)
SCALE = 1.0  # fraction of the full-size archives and splits (e.g. 0.02 for a quick try)
SKIP_LEGACY = False  # measure create_notmnist.py only

_MEMBERS = {"notMNIST_large": 529_114, "notMNIST_small": 18_724}  # as in the official archives
_SIZES = (200_000, 10_000, 10_000)  # create_notmnist.py's default train, valid, test sizes
_GENERATOR = 2  # version of the archive recipe below; bump it to rebuild cached archives
_LETTERS = notmnist.LETTERS


def source_pngs():
    """PNG files per letter to fill the archives with, and what they are."""
    sample, pngs = REPO / REAL_SAMPLE, [[] for _ in _LETTERS]
    if sample.is_file():
        with tarfile.open(sample) as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 3 and parts[1] in _LETTERS:
                    pngs[_LETTERS.index(parts[1])].append(tar.extractfile(member).read())
        return pngs, (f"real notMNIST PNGs of {sample.name} ({sum(map(len, pngs)):,}), cycled within each "
                      "letter as exact byte copies under new names")
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(0)
    for letter in pngs:  # antialiased strokes: about the size and grey levels of real glyph PNGs
        for _ in range(350):
            image, buffer = Image.new("L", (112, 112)), io.BytesIO()
            for _ in range(rng.integers(2, 5)):
                ImageDraw.Draw(image).line([tuple(rng.integers(8, 104, 2)) for _ in range(3)],
                                           fill=int(rng.integers(96, 256)), width=int(rng.integers(6, 20)))
            image.resize((28, 28), Image.LANCZOS).save(buffer, "PNG")
            letter.append(buffer.getvalue())
    return pngs, "generated PNGs of random strokes (3,500), cycled within each letter"


def write_archive(path, root, count, pngs):
    """Writes <root>/A..J/<base64>.png, count PNGs balanced over the letters, as a .tar.gz, atomically."""
    temporary = path.with_name(path.name + ".partial")  # renamed only once complete
    # gzip -6, as `tar czf` does (Python 3.11's tarfile "w|gz" knows only level 9: slower)
    with open(temporary, "wb") as file, gzip.GzipFile(fileobj=file, mode="wb", compresslevel=6, mtime=0) as gz:
        for letter, per_letter, n in zip(_LETTERS, pngs, notmnist.balanced(count)):
            gz.write(tar_member(f"{root}/{letter}"))
            for i in range(n):
                name = base64.b64encode(f"Font {letter}{i:05d} Regular.ttf".encode()).decode()
                gz.write(tar_member(f"{root}/{letter}/{name}.png", per_letter[i % len(per_letter)]))
        gz.write(tar_end(gz.tell()))
    os.replace(temporary, path)


def archives(folder):
    """Describes the two archives in `folder`; makes them unless a complete pair of this recipe is there."""
    pngs, content = source_pngs()
    recipe = {"generator": _GENERATOR, "members": {name: round(n * SCALE) for name, n in _MEMBERS.items()},
              "content": content}
    record = folder / "recipe.json"
    if record.is_file():
        made = json.loads(record.read_text())
        if {key: made.get(key) for key in recipe} == recipe and all(
                (folder / f"{name}.tar.gz").is_file() and (folder / f"{name}.tar.gz").stat().st_size == size
                for name, size in made["bytes"].items()):
            print(f"Reusing the archives in {folder}.")
            return made
    folder.mkdir(parents=True, exist_ok=True)
    record.unlink(missing_ok=True)
    started = time.perf_counter()
    for name, count in recipe["members"].items():
        print(f"Making {folder / name}.tar.gz: {count:,} PNGs, {content} ...", flush=True)
        write_archive(folder / f"{name}.tar.gz", name, count, pngs)
    recipe |= {"bytes": {name: (folder / f"{name}.tar.gz").stat().st_size for name in _MEMBERS},
               "seconds_to_make": round(time.perf_counter() - started, 1)}
    record.write_text(json.dumps(recipe, indent=1))
    return recipe


def process_tree(pid):
    """pid and all its descendants (from the parent ids in /proc/*/stat)."""
    children = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as file:
                    parent = int(file.read().rsplit(b")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass  # gone meanwhile
    tree, stack = [], [pid]
    while stack:
        tree.append(stack.pop())
        stack += children.get(tree[-1], [])
    return tree


def memory_kb(pid):
    """PSS of one process in kB (RSS where smaps_rollup is missing); 0 once it has gone."""
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as file:
                return next(int(line.split()[1]) for line in file if line.startswith(key))
        except (OSError, StopIteration):
            pass
    return 0


def written_bytes():
    with open("/proc/self/io") as file:
        return next(int(line.split()[1]) for line in file if line.startswith("write_bytes:"))


def cpu_seconds():
    """User and system CPU time of this process's reaped children (and theirs), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command, log):
    """Runs command; returns wall and CPU seconds, peak memory of its process tree and the bytes it wrote."""
    before, cpu, started, peak, done = written_bytes(), cpu_seconds(), time.perf_counter(), [0], threading.Event()
    with open(log, "w") as output:
        process = subprocess.Popen(list(map(str, command)), cwd=REPO, stdout=output, stderr=subprocess.STDOUT)

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], sum(memory_kb(pid) for pid in process_tree(process.pid)))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        process.wait()  # reaps it: what its whole tree wrote now counts in our /proc/self/io
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    if process.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise UserError(f"{command[1]} failed (exit status {process.returncode}); the end of {log}:\n{tail}")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds() - cpu, 2),
            "peak_mb": round(peak[0] * 1024 / 1e6, 1),
            "written_mb": round((written_bytes() - before) / 1e6, 1)}


def run(name, command, output, work, label=None):
    """measure() plus the output pickle's size and what was written besides the files kept."""
    print(f"Running {label or command[0]} ...", flush=True)
    result = measure([sys.executable, *command], work / f"{name}.log")
    kept = [output / "notMNIST.pickle"] if name == "2016" else list(output.iterdir())  # 2016: rest is scratch
    kept = sum(path.stat().st_size for path in kept)
    result["output_mb"] = round((output / "notMNIST.pickle").stat().st_size / 1e6, 1)
    result["temp_written_mb"] = round(max(result["written_mb"] - kept / 1e6, 0), 1)
    return result


def run_2016(source, flags, work):
    """run() of the 2016 procedure into work/legacy, emptied first; delete_2016(work) removes its scratch after."""
    delete_2016(work)
    return run("2016", ["bench/legacy_2016.py", "--source", source, "--work-dir", work / "legacy", *flags],
               work / "legacy", work)


def delete_2016(work):
    if (work / "legacy").exists():  # at full scale 4.4 GB of unpacked files and pickles
        print(f"Deleting {work / 'legacy'} (the 2016 procedure's scratch files) ...", flush=True)
        shutil.rmtree(work / "legacy", ignore_errors=True)


def summary(path):
    """What both pickles must agree on: keys, shapes, dtypes, labels per class, pixel values."""
    with open(path, "rb") as file:
        data = pickle.load(file)  # both made just now, by this benchmark
    result = {"keys": sorted(data)}
    for split in ("train", "valid", "test"):
        images, labels = data[f"{split}_dataset"], data[f"{split}_labels"]
        some = images[::max(1, len(images) // 5000)]
        result[split] = {"shape": list(images.shape), "dtype": str(images.dtype), "labels": str(labels.dtype),
                         "per_class": np.bincount(labels, minlength=10).tolist(),
                         "on_2016_levels": bool(np.isin(np.unique(some), notmnist.NORMALISED).all()),
                         "range": [float(images.min()), float(images.max())] if len(images) else [0, 0],
                         "mean": round(float(some.mean()), 3) if len(images) else 0}
    return result


def disagreements(new, old):
    """How two summaries differ, besides the images drawn (their mean pixel may differ a little)."""
    problems = [f"keys {new['keys']} vs {old['keys']}"] * (new["keys"] != old["keys"])
    for split in ("train", "valid", "test"):
        a, b = new[split], old[split]
        problems += [f"{split} {key}: {a[key]} vs {b[key]}" for key in ("shape", "dtype", "labels", "per_class")
                     if a[key] != b[key]]
        for name, s in (("new", a), ("2016", b)):
            if not s["on_2016_levels"] or not -0.5 <= s["range"][0] <= s["range"][1] <= 0.5:
                problems.append(f"{split} ({name}): values not all (pixel - 127.5) / 255, range {s['range']}")
        if abs(a["mean"] - b["mean"]) > 0.05:
            problems.append(f"{split} mean pixel value {a['mean']} vs {b['mean']}")
    return problems


def main():
    if not Path("/proc/self/io").exists():
        raise UserError("this benchmark measures memory and disk writes through Linux's /proc: run it on Linux")
    work, host = REPO / WORK_DIR, machine()
    print(f"Machine: {host['cpu']} ({host['flags']}), {host['cores']} cores ({host['usable_cores']} usable), "
          f"{host['memory']}, load average {host['load_average']}; Python {host['python']}, Linux {host['kernel']}")
    source = work / ("archives" if SCALE == 1 else f"archives-{SCALE:g}")
    made = archives(source)
    sizes = [10 * round(size * SCALE / 10) for size in _SIZES]
    flags = ["--train-size", sizes[0], "--valid-size", sizes[1], "--test-size", sizes[2]]
    new_dir, legacy_dir, runs, problems = work / "new", work / "legacy", {}, []
    runs["new"] = run("new", ["create_notmnist.py", "--source", source, "--data-dir", new_dir, "--force",
                              *(flags if SCALE != 1 else [])], new_dir, work)  # full scale: its defaults
    steps = json.loads((new_dir / "notMNIST.json").read_text())["timings_s"]
    results = {"machine": host, "scale": SCALE, "archives": made, "runs": runs, "new_steps_s": steps}
    try:
        if not SKIP_LEGACY:
            runs["2016"] = run_2016(source, flags, work)
            print("Comparing the two pickles ...", flush=True)
            new, old = summary(new_dir / "notMNIST.pickle"), summary(legacy_dir / "notMNIST.pickle")
            problems = disagreements(new, old)
            results["outputs"] = {"new": new, "2016": old, "problems": problems}
        report(results, made, steps, problems)
    finally:
        delete_2016(work)
    if problems:
        sys.exit(1)


def report(results, made, steps, problems):
    runs, host = results["runs"], results["machine"]
    host["load_average_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"\nArchives: {' + '.join(f'{n:,}' for n in made['members'].values())} PNGs, "
          f"{' + '.join(f'{b / 1e6:.1f}' for b in made['bytes'].values())} MB; {made['content']}.")
    print(f"create_notmnist.py's own timings (s): {steps}")
    print(f"\n{'procedure':20}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}{'peak/output':>13}{'written MB':>12}"
          f"{'temp MB':>9}{'output MB':>11}{'speed-up':>10}")
    for name, label in (("new", "create_notmnist.py"), ("2016", "2016 procedure")):
        if name in runs:
            r = runs[name]
            r["peak_over_output"] = round(r["peak_mb"] / r["output_mb"], 2)
            r["speedup"] = round(runs["2016"]["seconds"] / r["seconds"], 1) if "2016" in runs else None
            print(f"{label:20}{r['seconds']:8.1f}{r['cpu_seconds']:8.1f}{r['peak_mb']:9.0f}{r['peak_over_output']:13.2f}"
                  f"{r['written_mb']:12,.0f}{r['temp_written_mb']:9,.0f}{r['output_mb']:11.0f}"
                  + (f"{r['speedup']:9.1f}x" if r["speedup"] else ""))
    new, judged = runs["new"], SCALE == 1
    targets = [("create_notmnist.py, whole run", f"{new['seconds']:.1f} s", "<= 30 s", new["seconds"] <= 30),
               ("create_notmnist.py, peak memory / pickle", f"{new['peak_over_output']}x", "<= 1.3x",
                new["peak_over_output"] <= 1.3)]
    if new["speedup"]:
        targets.append(("create_notmnist.py against the 2016 procedure", f"{new['speedup']}x faster", ">= 10x",
                        new["speedup"] >= 10))
    print(f"\nTargets{'' if judged else f' (set for full scale, so not judged at --scale {SCALE:g})'}:")
    for what, figure, target, ok in targets:
        row(what, figure, target, ok if judged else None)
    if not SKIP_LEGACY:
        row("both pickles agree: keys, shapes, dtypes, labels per class, (pixel - 127.5) / 255, mean pixel within 0.05",
            "; ".join(problems) or "they agree", "", not problems)
    results["targets"] = {what: ok if judged else None for what, _, _, ok in targets}
    if max(map(float, host["load_average_after"].split())) > host["usable_cores"] + 0.5:
        print(f"  Note: the machine was busy (load average {host['load_average_after']} after the runs, on "
              f"{host['usable_cores']} cores): other processes likely slowed these timings.")
    (REPO / WORK_DIR / "results.json").write_text(json.dumps(results, indent=1))
    print(f"Results: {REPO / WORK_DIR / 'results.json'}")


if __name__ == "__main__":
    cli.run(main, globals())
