"""Successive halving against the grid, measured in one run: spark_model_selection.py's MLP grid
at 1000 steps with --search grid, then with --search halving, on the same data and the same
local Spark. For each: the best setting's test accuracy, the seconds of every trial (of every
rung) and the Spark stages' wall time.

Target: halving within 0.5 points of the grid's test accuracy, with at most a third of its
trial-seconds (with --eta 3 and 48 settings it trains 48 settings to 37 steps, 16 to 111, 6 to 333
and 2 to 1000: an eighth of the grid's steps, the 2 × 1024 networks costing most).

    python bench/bench_model_selection_halving.py                  # the whole MLP grid (~5 min on 2 cores)
    python bench/bench_model_selection_halving.py --steps 300      # a quick look
"""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.summary import row  # noqa: E402
from workshop import cli  # noqa: E402
from workshop.errors import UserError  # noqa: E402

DATA = "data/notMNIST.pickle"  # the notMNIST pickle both searches read
STEPS = 1000  # SGD steps of the settings that train to the end
ETA = 3  # halving keeps the best 1/ETA of each rung
MASTER = "local[*]"  # the Spark both searches run on
WORK_DIR = "bench/_work/model_selection_halving"  # each search's CSV and figure
ACCURACY_POINTS = 0.5  # target: halving's test accuracy at most this far below the grid's
TRIAL_SHARE = 1 / 3  # target: halving's trial-seconds at most this share of the grid's


def measure(search):
    """Runs the lesson with --search `search`. -> {test accuracy, trial seconds, wall seconds}"""
    run = subprocess.run([sys.executable, "spark_model_selection.py", "--search", search, "--eta", str(ETA),
                          "--data", DATA, "--steps", str(STEPS), "--master", MASTER,
                          "--results", f"{WORK_DIR}/{search}"], cwd=REPO, capture_output=True, text=True)
    wall = re.search(r"^spark: wall time ([\d.]+) s for ([\d.]+) s of trials", run.stdout, re.M)
    test = re.search(r"^Test accuracy: ([\d.]+)%$", run.stdout, re.M)
    if run.returncode or not (wall and test):
        raise UserError(f"--search {search} failed: {(run.stderr.strip() or run.stdout.strip())[-500:]}")
    best = re.search(r"^Best setting: (.*)$", run.stdout, re.M).group(1)
    print(f"--search {search}: best setting {best}: test accuracy {test.group(1)}%, "
          f"{wall.group(2)} s of trials, wall time {wall.group(1)} s", flush=True)
    return {"test": float(test.group(1)), "trials": float(wall.group(2)), "wall": float(wall.group(1))}


def main():
    figures = {search: measure(search) for search in ("grid", "halving")}
    grid, halving = figures["grid"], figures["halving"]
    print(f"\n{'search':>8} {'test accuracy':>13} {'trial-seconds':>13} {'wall (s)':>9}")
    for search, found in figures.items():
        print(f"{search:>8} {found['test']:12.1f}% {found['trials']:13.1f} {found['wall']:9.1f}")
    share = halving["trials"] / grid["trials"]
    row("model selection, halving's test accuracy against the grid's", f"{halving['test']:.1f}% vs {grid['test']:.1f}%",
        f">= grid - {ACCURACY_POINTS} points", halving["test"] >= grid["test"] - ACCURACY_POINTS)
    row("model selection, halving's trial-seconds against the grid's", f"{share:.0%}", f"<= {TRIAL_SHARE:.0%}",
        share <= TRIAL_SHARE)
    row("model selection, halving's wall time against the grid's", f"{halving['wall']:.0f} s vs {grid['wall']:.0f} s")


if __name__ == "__main__":
    cli.run(main, globals())
