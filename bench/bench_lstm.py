"""LSTM.py: the compiled online loop against one call per pair, and the forecast on real load.

1. Speed. Runs LSTM.py on the synthetic waves as it is (PROGRESS_EVERY pairs per graph call)
   and with --progress-every 1, which calls the same compiled step once per pair from
   Python, as the 2016 script called session.run once per pair. Target: >= 10× the pairs/s.
2. Real data. Runs the README's `--csv` example on the hourly DAYTON load (23 h ahead), if
   ../shared/data/DAYTON_hourly.csv.gz is there, on the default 1,000 test hours and on all
   the hours after training. Target: test RMSE >= 10 % below the better of persistence and
   seasonal naive, training in under 2 minutes.

    python bench/bench_lstm.py [--pairs 100000 --per-step-pairs 3000] [--dayton PATH]
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
DAYTON = str(REPO.parent / "shared/data/DAYTON_hourly.csv.gz")  # real hourly load, if there
WORK_DIR = "bench/_work/lstm"  # figures of the runs


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
    return [line for line in stdout.splitlines() if line.startswith("Test ")]


def main():
    compiled = lstm("--train-size", PAIRS)
    per_step = lstm("--train-size", PER_STEP_PAIRS, "--progress-every", 1)
    fast, slow = trained(compiled)[1], trained(per_step)[1]
    print(f"compiled loop ({PAIRS:,} pairs, 10,000 per graph call): {fast:,.0f} pairs/s")
    print(f"one tf.function call per pair ({PER_STEP_PAIRS:,} pairs):      {slow:,.0f} pairs/s")
    print(f"speed-up {fast / slow:.1f}× (target >= 10×): {'PASS' if fast >= 10 * slow else 'FAIL'}")
    row("LSTM.py, compiled loop against one call per pair", f"{fast / slow:.1f}x", ">= 10x", fast >= 10 * slow)
    print("\n".join(results(compiled)))

    if not Path(DAYTON).is_file():
        print(f"\n{DAYTON} not found: the real-data check is skipped")
        return
    for label, extra in (("default test stretch (1,000 h)", []), ("every hour after training", ["--test-size", 20000])):
        stdout = lstm("--csv", DAYTON, "--column", "DAYTON_MW", "--time-column", "Datetime", *extra)
        seconds = trained(stdout)[0]
        rmse_line = next(line for line in results(stdout) if line.startswith("Test RMSE"))
        margin = re.search(r"(\d+) % (better|worse) than the best baseline", rmse_line)
        better = int(margin.group(1)) * (1 if margin.group(2) == "better" else -1)
        print(f"\nDAYTON, 23 h ahead, {label}: trained in {seconds:.0f} s (target < 120 s), "
              f"RMSE {better} % below the best baseline (target >= 10 %): "
              f"{'PASS' if better >= 10 and seconds < 120 else 'FAIL'}")
        print("\n".join(results(stdout)))
        row(f"LSTM.py on DAYTON, {label}", f"RMSE {better} % below the best baseline, trained in {seconds:.0f} s",
            ">= 10 %, < 120 s", better >= 10 and seconds < 120)


if __name__ == "__main__":
    cli.run(main, globals())
