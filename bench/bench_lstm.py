"""LSTM.py's online training: the whole loop compiled vs one tf.function call per pair (2016 style).

Runs LSTM.py twice on the synthetic waves: as it is (PROGRESS_EVERY pairs per graph call) and
with --progress-every 1, which calls the same compiled step once per pair from Python, as the
2016 script called session.run once per pair. Compares the pairs/s each reports. Target: >= 10×.

    python bench/bench_lstm.py [--pairs 100000 --per-step-pairs 3000]
"""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from workshop import cli  # noqa: E402

PAIRS = 100000  # training pairs of the compiled run
PER_STEP_PAIRS = 3000  # training pairs of the one-call-per-pair run (slow)
WORK_DIR = "bench/_work/lstm"  # figures of both runs


def pairs_per_second(*args):
    result = subprocess.run([sys.executable, str(REPO / "LSTM.py"), "--runs-dir", str(REPO / WORK_DIR),
                             *map(str, args)], capture_output=True, text=True, cwd=REPO)
    if result.returncode:
        sys.exit(f"LSTM.py failed:\n{result.stderr[-2000:]}")
    rate = re.search(r"Trained on \d+ pairs in [\d.]+ s \(([\d,]+) pairs/s\)", result.stdout).group(1)
    return float(rate.replace(",", "")), [line for line in result.stdout.splitlines() if line.startswith("Test RMSE")]


def main():
    compiled, quality = pairs_per_second("--train-size", PAIRS)
    per_step, _ = pairs_per_second("--train-size", PER_STEP_PAIRS, "--progress-every", 1)
    print(f"compiled loop ({PAIRS:,} pairs, 10,000 per graph call): {compiled:,.0f} pairs/s")
    print(f"one tf.function call per pair ({PER_STEP_PAIRS:,} pairs):      {per_step:,.0f} pairs/s")
    print(f"speed-up {compiled / per_step:.1f}× (target >= 10×): {'PASS' if compiled >= 10 * per_step else 'FAIL'}")
    print("\n".join(quality))


if __name__ == "__main__":
    cli.run(main, globals())
