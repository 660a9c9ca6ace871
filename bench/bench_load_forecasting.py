"""load_forecasting.py on every development series, against the strongest classical models.

Runs the lesson with its defaults, 23 h ahead, on every development series that is there
(../shared/data: DAYTON; BigDEAL 2022 LDC1, LDC2, LDC3 without and with --inputs T1,...,T6 and
their --forecast-inputs), each with SEEDS, and prints one table per line of the report: the LSTM
against the best linear benchmark with the same information.

- On the file's default test stretch (the last 10 % of its measured hours), or with --validation
  on validation hours: the last tenth of the training part, the test stretch left out (how the
  defaults were chosen).
- Targets, on every series and seed: with temperatures, both the 23-steps-ahead line and the
  whole-test-from-its-start line below the best linear benchmark; without, the 23-steps-ahead
  line below the linear benchmark; each run in under 2 minutes.

    python bench/bench_load_forecasting.py [--seeds 0,1] [--validation] [--data DIR]
"""
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.summary import row  # noqa: E402
from workshop import cli  # noqa: E402
from workshop.series import read_csv_series  # noqa: E402

DATA = str(REPO.parent / "shared/data")  # the development data, if there
SEEDS = "0,1"  # seeds of every run
VALIDATION = False  # score on the last tenth of the training part instead of the test stretch
WORK_DIR = "bench/_work/load_forecasting"  # the runs' files
TEMPERATURES = "T1,T2,T3,T4,T5,T6"
SERIES = [  # (label, file, flags)
    ("DAYTON", "DAYTON_hourly.csv.gz", ["--column", "DAYTON_MW", "--time-column", "Datetime"]),
    *[(f"BigDEAL {ldc}{with_t}", "BigDEAL2022_hourly.csv.gz",
       ["--column", ldc, "--time-column", "DATE", "--hour-column", "Hour"]
       + (["--inputs", TEMPERATURES, "--forecast-inputs", TEMPERATURES.replace(",", "_forecast,") + "_forecast"]
          if with_t else []))
      for ldc in ("LDC1", "LDC2", "LDC3") for with_t in ("", " + T1-T6")],
]
HISTORY = 168  # steps before the first pair, hourly data with --lag 23 and --window 24 (the lesson's origin)


def lines(stdout):
    """{line name: {'LSTM': x, benchmark: y, ...}} from the `Test RMSE <column>, <line>: ...` lines."""
    found = {}
    for line, ours, rest in re.findall(r"^Test RMSE [^,]+, (.+?): ([\d.]+) \((.*)\)$", stdout, re.M):
        found[line] = {"LSTM": float(ours), **{k: float(v) for k, v in (p.split(": ") for p in rest.split(", ")[:-1])}}
    return found


def validation_sizes(path, flags):
    """--train-size, --test-size that make the last tenth of the training part the test."""
    column = flags[flags.index("--column") + 1]
    real = read_csv_series(path, column, flags[flags.index("--time-column") + 1], None,
                           flags[flags.index("--hour-column") + 1] if "--hour-column" in flags else None,
                           report=lambda line: None)
    pairs = len(real.values) - 23 - HISTORY
    train = pairs - pairs // 10
    return ["--train-size", train - train // 10, "--test-size", train // 10]


def main():
    tables = {}
    for label, name, flags in SERIES:
        path = Path(DATA) / name
        if not path.is_file():
            print(f"{path} not found: {label} is skipped")
            continue
        sizes = validation_sizes(path, flags) if VALIDATION else []
        for seed in SEEDS.split(","):
            started = time.perf_counter()
            result = subprocess.run([sys.executable, str(REPO / "load_forecasting.py"), "--runs-dir",
                                     str(REPO / WORK_DIR), "--csv", str(path), *flags, *map(str, sizes),
                                     "--seed", seed], capture_output=True, text=True, cwd=REPO)
            seconds = time.perf_counter() - started
            if result.returncode:
                sys.exit(f"load_forecasting.py failed on {label}:\n{result.stderr[-2000:]}")
            print(f"\n{label}, seed {seed}, {seconds:.0f} s:")
            scores = [line for line in result.stdout.splitlines() if line.startswith(("Test RMSE", "Test MAE", "Test MAPE"))]
            print("\n".join(scores), flush=True)
            for line, errors in lines(result.stdout).items():
                linear = {k: v for k, v in errors.items() if k not in ("LSTM", "persistence", "seasonal naive")}
                best = min(linear, key=linear.get)
                ratio = errors["LSTM"] / linear[best]
                scored = "T1" in label and "forecasts" not in line or line.endswith("ahead")
                ok = ratio < 1 and seconds < 120 if scored else None
                tables.setdefault(line, []).append(
                    f"| {label} | {seed} | {errors['LSTM']:.4g} | " + ", ".join(f"{k} {v:.4g}" for k, v in errors.items()
                                                                       if k != "LSTM")
                    + f" | {best} | {ratio:.3f} | {seconds:.0f} s |")
                row(f"load_forecasting.py {'validation' if VALIDATION else 'test'}, {label}, seed {seed}, {line}",
                    f"RMSE {ratio:.3f}x {best}, run {seconds:.0f} s", "< 1x, < 120 s" if scored else "", ok)
    for line, table in tables.items():
        print(f"\nTest RMSE, {line}{' (validation hours)' if VALIDATION else ''}:\n"
              "| series | seed | LSTM | benchmarks | best linear | LSTM / best linear | run |\n"
              "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(table))


if __name__ == "__main__":
    cli.run(main, globals())
