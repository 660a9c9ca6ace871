"""What distribution costs and gains on this machine: tf.distribute strategies and Spark.

1. Training throughput of the MLP: notmnist_classifier.py on one device, and
   notmnist_distributed.py with --strategy mirrored (2 replicas: on a CPU-only machine, 2
   logical CPUs sharing the same cores) and multiworker (2 processes on 127.0.0.1, gradients
   all-reduced over TCP every step). Measured as in
   bench_classifiers.py: two runs with few and many steps, speed from the difference.
   On one CPU these cannot be faster (the same cores do the same work plus the
   synchronisation); the figure is the overhead. On several GPUs or machines each
   replica brings its own compute.
2. spark_model_selection.py --backend both: the same trials as Spark tasks and one after
   another; prints the speed-ups.

    python bench/bench_distributed.py [--trials 8 --steps 300]
"""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench_classifiers import random_pickle  # noqa: E402
from bench.summary import row  # noqa: E402
from workshop import cli  # noqa: E402

WORK_DIR = "bench/_work/distributed"  # generated data and run folders
IMAGES = 50000  # training images generated (random pixels: speed does not depend on them)
FEW = 100  # steps of the short run
MANY = 600  # steps of the long run
BATCH_SIZE = 128  # global minibatch, split over the replicas
TRIALS = 8  # model-selection settings (drawn from the MLP grid)
STEPS = 300  # SGD steps per model-selection trial


def run(args):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=REPO)
    if result.returncode:
        sys.exit(f"{args[0]} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def training_seconds(strategy, data, steps, work):
    script, flags = (("notmnist_classifier.py", ["--device", "cpu"]) if strategy == "none" else
                     ("notmnist_distributed.py", ["--strategy", strategy, "--replicas", 2, "--workers", 2]))
    out = run([REPO / script, "--data", data, "--steps", steps, "--eval-every", steps,
               "--batch-size", BATCH_SIZE, "--runs-dir", work / "runs", *flags])
    return float(re.search(r"Trained \d+ steps in ([\d.]+) s", out).group(1))


def main():
    work = REPO / WORK_DIR
    data, _, _ = random_pickle(work, IMAGES, valid=5000)

    print(f"MLP training, global batch {BATCH_SIZE}, steps {FEW + 1} and {MANY + 1}:")
    baseline = None
    for strategy in ("none", "mirrored", "multiworker"):
        few, many = (training_seconds(strategy, data, steps, work) for steps in (FEW + 1, MANY + 1))
        rate = (MANY - FEW) * BATCH_SIZE / (many - few)
        baseline = baseline or rate
        name = "notmnist_classifier.py" if strategy == "none" else f"notmnist_distributed.py --strategy {strategy}"
        print(f"  {name:45} {rate:9,.0f} examples/s  ({rate / baseline:.2f}× one device)")
        if strategy != "none":
            row(f"{name} against notmnist_classifier.py, examples/s", f"{rate / baseline:.2f}x")

    print(f"\nModel selection, {TRIALS} MLP settings × {STEPS} steps:")
    out = run([REPO / "spark_model_selection.py", "--data", data, "--backend", "both", "--max-trials", TRIALS,
               "--steps", STEPS, "--results", work / "model_selection"])
    for line in out.splitlines():
        if line.startswith(("Spark ", "spark:", "local:")):
            print("  " + line)
    row("spark_model_selection.py, Spark against one after another",
        re.search(r"one after another: (\S+ (?:faster|slower))$", out, re.M).group(1))


if __name__ == "__main__":
    cli.run(main, globals())
