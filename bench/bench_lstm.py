"""LSTM.py: the compiled online loop against one call per pair, and the forecast on real load.

1. Speed. Runs LSTM.py on the synthetic waves as it is (PROGRESS_EVERY pairs per graph call)
   and with --progress-every 1, which calls the same compiled step once per pair from
   Python, as the 2016 script called session.run once per pair. Target: >= 10× the pairs/s.
2. Real data. Runs LSTM.py with its defaults for a CSV, 23 h ahead, on every development series
   that is there (../shared/data: DAYTON; BigDEAL2022 LDC1, LDC2, LDC3 without and with
   --inputs T1,...,T6), each with SEEDS, on the file's default test stretch (the last 10 % of
   its observed hours). Targets, on every series and seed: test RMSE below the linear
   benchmark's; without temperatures also >= 10 % below the better naive forecast; training
   in under 2 minutes. Prints the table that docs/lstm.md holds.

    python bench/bench_lstm.py [--pairs 100000 --per-step-pairs 3000] [--seeds 0,1] [--data DIR]
"""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.summary import row  # noqa: E402
from workshop import cli  # noqa: E402

PAIRS = 100000  # training pairs of the compiled run
PER_STEP_PAIRS = 3000  # training pairs of the one-call-per-pair run (slow)
DATA = str(REPO.parent / "shared/data")  # the development data, if there
SEEDS = "0,1"  # seeds of every real-data run
WORK_DIR = "bench/_work/lstm"  # figures of the runs
TEMPERATURES = "T1,T2,T3,T4,T5,T6"
SERIES = [  # (label, file, flags)
    ("DAYTON", "DAYTON_hourly.csv.gz", ["--column", "DAYTON_MW", "--time-column", "Datetime"]),
    *[(f"BigDEAL {ldc}{with_t}", "BigDEAL2022_hourly.csv.gz",
       ["--column", ldc, "--time-column", "DATE", "--hour-column", "Hour"]
       + (["--inputs", TEMPERATURES] if with_t else []))
      for ldc in ("LDC1", "LDC2", "LDC3") for with_t in ("", " + T1-T6")],
]


def lstm(*args):
    """LSTM.py's stdout, with the `--runs-dir` of this benchmark."""
    result = subprocess.run([sys.executable, str(REPO / "LSTM.py"), "--runs-dir", str(REPO / WORK_DIR),
                             *map(str, args)], capture_output=True, text=True, cwd=REPO)
    if result.returncode:
        sys.exit(f"LSTM.py failed:\n{result.stderr[-2000:]}")
    return result.stdout


def trained(stdout):
    """(seconds, pairs/s) from `Trained on N pairs in S s (R pairs/s)`."""
    seconds, rate = re.search(r"Trained on \d+ pairs in ([\d.]+) s \(([\d,]+) pairs/s\)", stdout).groups()
    return float(seconds), float(rate.replace(",", ""))


def results(stdout):
    return [line for line in stdout.splitlines() if line.startswith(("Test RMSE", "Test MAE", "Test MAPE"))]


def rmse(stdout):
    """{'LSTM': x, 'persistence': y, ...} from the `Test RMSE` line."""
    line = next(line for line in results(stdout) if line.startswith("Test RMSE"))
    ours, rest = re.match(r"Test RMSE [^:]+: ([\d.]+) \((.*)\)$", line).groups()
    return {"LSTM": float(ours), **{k: float(v) for k, v in (part.split(": ") for part in rest.split(", ")[:-1])}}


def main():
    compiled = lstm("--train-size", PAIRS)
    per_step = lstm("--train-size", PER_STEP_PAIRS, "--progress-every", 1)
    fast, slow = trained(compiled)[1], trained(per_step)[1]
    print(f"compiled loop ({PAIRS:,} pairs, 10,000 per graph call): {fast:,.0f} pairs/s")
    print(f"one tf.function call per pair ({PER_STEP_PAIRS:,} pairs):      {slow:,.0f} pairs/s")
    print(f"speed-up {fast / slow:.1f}× (target >= 10×): {'PASS' if fast >= 10 * slow else 'FAIL'}")
    row("LSTM.py, compiled loop against one call per pair", f"{fast / slow:.1f}x", ">= 10x", fast >= 10 * slow)
    print("\n".join(results(compiled)))

    table = ["| series | seed | LSTM | persistence | seasonal naive | linear | LSTM / linear | LSTM / best naive "
             "| training |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, name, flags in SERIES:
        path = Path(DATA) / name
        if not path.is_file():
            print(f"\n{path} not found: {label} is skipped")
            continue
        for seed in SEEDS.split(","):
            stdout = lstm("--csv", path, *flags, "--seed", seed)
            seconds, errors = trained(stdout)[0], rmse(stdout)
            linear = errors["LSTM"] / errors["linear"]
            naive = errors["LSTM"] / min(errors["persistence"], errors["seasonal naive"])
            ok = linear < 1 and seconds < 120 and ("T1" in label or naive <= 0.9)
            print(f"\n{label}, seed {seed}: trained in {seconds:.0f} s; LSTM/linear {linear:.3f}, "
                  f"LSTM/best naive {naive:.3f}: {'PASS' if ok else 'FAIL'}")
            print("\n".join(results(stdout)))
            table.append(f"| {label} | {seed} | " + " | ".join(f"{errors[k]:.4g}" for k in
                                                               ("LSTM", "persistence", "seasonal naive", "linear"))
                         + f" | {linear:.3f} | {naive:.3f} | {seconds:.0f} s |")
            target = "< 1 vs linear, < 120 s" + ("" if "T1" in label else ", <= 0.9 vs best naive")
            row(f"LSTM.py on {label}, seed {seed}", f"RMSE {linear:.3f}x linear, {naive:.3f}x best naive, "
                f"trained in {seconds:.0f} s", target, ok)
    print("\nTest RMSE, 23 h ahead, defaults for a CSV:\n" + "\n".join(table))


if __name__ == "__main__":
    cli.run(main, globals())
