"""LSTM.py: the compiled online loop against one call per pair.

Runs LSTM.py on the synthetic waves as it is (PROGRESS_EVERY pairs per graph call) and with
--progress-every 1, which calls the same compiled step once per pair from Python, as the 2016
script called session.run once per pair. Target: >= 10× the pairs/s. (Real load:
bench/bench_load_forecasting.py.)

    python bench/bench_lstm.py [--pairs 100000 --per-step-pairs 3000]
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
    return [line for line in stdout.splitlines() if line.startswith(("Test RMSE", "Test MAE"))]


def main():
    compiled = lstm("--train-size", PAIRS)
    per_step = lstm("--train-size", PER_STEP_PAIRS, "--progress-every", 1)
    fast, slow = trained(compiled)[1], trained(per_step)[1]
    print(f"compiled loop ({PAIRS:,} pairs, 10,000 per graph call): {fast:,.0f} pairs/s")
    print(f"one tf.function call per pair ({PER_STEP_PAIRS:,} pairs):      {slow:,.0f} pairs/s")
    print(f"speed-up {fast / slow:.1f}× (target >= 10×): {'PASS' if fast >= 10 * slow else 'FAIL'}")
    row("LSTM.py, compiled loop against one call per pair", f"{fast / slow:.1f}x", ">= 10x", fast >= 10 * slow)
    print("\n".join(results(compiled)))


if __name__ == "__main__":
    cli.run(main, globals())
