"""`make bench`'s summary: the headline figure of every benchmark in one table at the end.

A benchmark reports each figure that matters with `row(what, figure, target, ok)`, which prints
one line of its own output:

    summary: create_notmnist.py, whole run | 11.6 s | <= 30 s | PASS

Run as a script, this module runs the benchmarks named on its command line one after another,
passes their output on as it comes, collects those lines and ends with them as one table, under
the date and the machine (a benchmark that fails gets a FAIL row of its own). Its exit status is
1 if a benchmark failed to run; a target that was missed is a FAIL row, not an error.

    python bench/summary.py bench/bench_create_notmnist.py bench/bench_lstm.py
"""
import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

MARK = "summary: "


def row(what, figure, target="", ok=None):
    """Prints one row of the summary: what was measured, the figure, its target and PASS/FAIL (if it has one)."""
    print(f"{MARK}{what} | {figure} | {target} | {'' if ok is None else 'PASS' if ok else 'FAIL'}", flush=True)


def machine():
    """The machine the figures come from: CPU, cores, memory, CPU flags that matter for speed, load."""
    def field(path, key):
        return next(line.split(":", 1)[1].strip() for line in open(path) if line.startswith(key))
    flags = set(field("/proc/cpuinfo", "flags").split())
    return {"cpu": field("/proc/cpuinfo", "model name"), "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)),
            "memory": f"{int(field('/proc/meminfo', 'MemTotal').split()[0]) / 2 ** 20:.1f} GiB",
            "flags": " ".join(flag for flag in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags),
            "load_average": " ".join(open("/proc/loadavg").read().split()[:3]),
            "python": platform.python_version(), "kernel": platform.release()}


def main(benches):
    rows, failed = [], False
    for bench in benches:
        print(f"\n==> {bench}", flush=True)
        process = subprocess.Popen([sys.executable, "-u", bench], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith(MARK):
                rows.append([Path(bench).name, *(part.strip() for part in line[len(MARK):].split(" | ", 3))])
        if process.wait():
            rows.append([Path(bench).name, "the benchmark itself", f"exit status {process.returncode}", "", "FAIL"])
            failed = True
    host = machine()
    print(f"\nSummary, {date.today()}: {host['cpu']}, {host['usable_cores']} of {host['cores']} cores usable "
          f"({host['flags']}), {host['memory']}, load average {host['load_average']} at the end")
    header = ["benchmark", "measured", "figure", "target", ""]
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    for cells in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
