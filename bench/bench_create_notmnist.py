"""create_notmnist.py at full scale, against the 2016 procedure on the same archives.

1. Makes (once, cached in WORK_DIR/archives) a notMNIST_large-sized archive of 529,114 PNGs
   and a notMNIST_small-sized one of 18,724, in the official layout. The PNGs are the real
   notMNIST files of ../shared/data/notMNIST_large_sample.tar.gz, cycled, when that sample
   is there; otherwise PNGs of generated strokes.
2. Runs `create_notmnist.py --source <those> --force` and `bench/legacy_2016.py` (unpack to
   disk, decode file by file, pickle per letter, merge) on them, each as a subprocess, and
   measures wall time, peak memory (the sum of PSS over the process and its children, sampled
   every 50 ms) and the bytes each leaves on disk.
3. Checks the targets: <= 30 s, >= 10x faster than 2016, peak memory <= 1.3x the pickle.

    python bench/bench_create_notmnist.py [--skip-legacy] [--scale 0.1]
"""
import base64
import gzip
import io
import json
import os
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
from workshop import cli  # noqa: E402

WORK_DIR = "bench/_work"  # archives, outputs and the 2016 procedure's temporary files
REAL_SAMPLE = str(REPO.parent / "shared/data/notMNIST_large_sample.tar.gz")  # real PNGs to cycle, if present
SCALE = 1.0  # fraction of the full archive sizes (for a quick try)
SKIP_LEGACY = False  # measure only create_notmnist.py
LARGE, SMALL = 529_114, 18_724  # PNG files in the official archives


def sample_pngs():
    if Path(REAL_SAMPLE).is_file():
        with tarfile.open(REAL_SAMPLE) as tar:
            return [tar.extractfile(m).read() for m in tar if m.isfile()], "real notMNIST PNGs, cycled"
    from PIL import Image, ImageDraw
    rng, pngs = np.random.default_rng(0), []
    for _ in range(3000):
        image = Image.new("L", (28, 28))
        ImageDraw.Draw(image).line([tuple(rng.integers(0, 28, 2)) for _ in range(4)], fill=255, width=3)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pngs, "generated stroke PNGs, cycled"


def make_archive(path, root, count, pngs):
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file, gzip.GzipFile(fileobj=file, mode="wb", compresslevel=6) as packed, \
            tarfile.open(fileobj=packed, mode="w") as tar:
        for n in range(count):
            letter = "ABCDEFGHIJ"[n * 10 // count]
            data = pngs[n % len(pngs)]
            info = tarfile.TarInfo(f"{root}/{letter}/{base64.b64encode(f'font{n}.ttf'.encode()).decode()}.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.replace(temporary, path)


def tree_pss(pid):
    """Sum of PSS (kB) of a process and all its descendants (Linux /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def measure(command, output_dir):
    """Runs `command`; returns wall seconds, peak memory (MB) and bytes left in output_dir."""
    started = time.perf_counter()
    process = subprocess.Popen(list(map(str, command)), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample():
        while process.poll() is None:
            peak[0] = max(peak[0], tree_pss(process.pid))
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0]
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{output[-3000:]}")
    written = sum(p.stat().st_size for p in Path(output_dir).rglob("*") if p.is_file())
    return {"seconds": round(seconds, 2), "peak_mb": round(peak[0] / 1024, 1), "bytes_on_disk": written}


def main():
    if not Path("/proc/self/smaps_rollup").exists():
        sys.exit("this benchmark measures memory through Linux's /proc")
    work = REPO / WORK_DIR
    archives = work / f"archives-{SCALE:g}"
    archives.mkdir(parents=True, exist_ok=True)
    large, small = round(LARGE * SCALE), round(SMALL * SCALE)
    pngs, kind = sample_pngs()
    for name, count in (("notMNIST_large", large), ("notMNIST_small", small)):
        if not (archives / f"{name}.tar.gz").is_file():
            print(f"making {name}.tar.gz: {count:,} {kind} ...", flush=True)
            make_archive(archives / f"{name}.tar.gz", name, count, pngs)
    sizes = [round(s * SCALE) for s in (200000, 10000, 10000)]
    flags = ["--train-size", sizes[0], "--valid-size", sizes[1], "--test-size", sizes[2]]
    results = {"archives": {"large": large, "small": small, "content": kind}}

    new_dir = work / "new"
    shutil.rmtree(new_dir, ignore_errors=True)
    results["create_notmnist"] = measure([sys.executable, "create_notmnist.py", "--source", archives,
                                          "--data-dir", new_dir, "--force", *flags], new_dir)
    pickle_mb = (new_dir / "notMNIST.pickle").stat().st_size / 2 ** 20
    steps = json.loads((new_dir / "notMNIST.json").read_text())["timings_s"]
    if not SKIP_LEGACY:
        legacy_dir = work / "legacy"
        shutil.rmtree(legacy_dir, ignore_errors=True)
        results["legacy_2016"] = measure([sys.executable, "bench/legacy_2016.py", "--source", archives,
                                          "--work-dir", legacy_dir, *flags], legacy_dir)
        shutil.rmtree(legacy_dir)

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"\nMachine: {cpu}, {os.cpu_count()} cores. Archives: {large:,} + {small:,} PNGs ({kind}).")
    print(f"Output pickle: {pickle_mb:,.0f} MB. create_notmnist.py steps (s): {steps}")
    print(f"{'procedure':18} {'wall s':>8} {'peak MB':>9} {'peak/pickle':>12} {'MB on disk':>11}")
    for name in ("create_notmnist", "legacy_2016"):
        if name in results:
            r = results[name]
            print(f"{name:18} {r['seconds']:8.1f} {r['peak_mb']:9.0f} {r['peak_mb'] / pickle_mb:12.2f} "
                  f"{r['bytes_on_disk'] / 2 ** 20:11,.0f}")
    new = results["create_notmnist"]
    checks = {"peak <= 1.3x pickle": new["peak_mb"] <= 1.3 * pickle_mb}
    if SCALE == 1:
        checks["<= 30 s"] = new["seconds"] <= 30
    if "legacy_2016" in results:
        speedup = results["legacy_2016"]["seconds"] / new["seconds"]
        results["speedup"] = round(speedup, 1)
        print(f"speed-up over the 2016 procedure: {speedup:.1f}x")
        checks[">= 10x faster than 2016"] = speedup >= 10
    for target, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {target}")
    results["targets"] = checks
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    cli.run(main, globals())
