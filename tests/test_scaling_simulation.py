"""bench/bench_model_selection_scaling.py: the simulation of Spark's scheduling, alone (no training)."""
import importlib.util
import math
import random

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("bench_model_selection_scaling",
                                              REPO / "bench/bench_model_selection_scaling.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
simulate = bench.simulate

ORDERS = ["partition", "longest"]


@pytest.mark.parametrize("order", ORDERS)
def test_equal_trials_divide_into_whole_waves(order):
    twelve = [3.0] * 12
    assert simulate(twelve, 4, order) == 9.0  # 3 waves of 4
    assert simulate(twelve, 5, order) == 9.0  # 5 + 5 + 2: the last wave is short of tasks, not of time
    assert simulate(twelve, 12, order) == 3.0
    assert simulate(twelve, 100, order) == 3.0  # idle executors do not help


@pytest.mark.parametrize("order", ORDERS)
def test_one_long_trial_bounds_the_wall_time(order):
    durations = [10.0, 1.0, 1.0, 1.0]
    assert simulate(durations, 2, order) == 10.0  # the other slot runs the three short ones meanwhile
    assert simulate(durations, 4, order) == 10.0
    assert bench.lower_bound(durations, 2) == 10.0


def test_a_long_trial_that_starts_late_keeps_the_others_waiting():
    # 1 1 10 1 on 2 slots: the 10 starts at 1, when the first slot frees: 11; longest first: 10.
    assert simulate([1.0, 1.0, 10.0, 1.0], 2) == 11.0
    assert simulate([1.0, 1.0, 10.0, 1.0], 2, "longest") == 10.0


def test_partition_order_against_longest_first():
    # 2 slots, tasks 1 1 2 2 4 in partition order: both take a 1, then a 2 (free at 3), then one
    # takes the 4 (free at 7). Longest first: 4 | 2, then 2 on the second slot (free at 4 each),
    # then a 1 on each: 5, which is the lower bound, total 10 / 2.
    durations = [1.0, 1.0, 2.0, 2.0, 4.0]
    assert simulate(durations, 2) == 7.0
    assert simulate(durations, 2, "longest") == 5.0
    assert bench.lower_bound(durations, 2) == 5.0


def test_longest_first_is_not_always_optimal():
    # 3 3 2 2 2 on 2 slots: LPT gives 3+2+2 | 3+2 = 7; the best is 3+3 | 2+2+2 = 6 (within 4/3).
    assert simulate([3.0, 3.0, 2.0, 2.0, 2.0], 2, "longest") == 7.0


@pytest.fixture
def durations():
    rng = random.Random(0)
    return [rng.uniform(1, 30) for _ in range(48)]


@pytest.mark.parametrize("order", ORDERS)
def test_one_executor_runs_them_one_after_another(durations, order):
    assert math.isclose(simulate(durations, 1, order), sum(durations))


def test_more_executors_are_never_slower_longest_first(durations):
    walls = [simulate(durations, executors, "longest") for executors in range(1, 70)]
    assert all(later <= earlier + 1e-9 for earlier, later in zip(walls, walls[1:]))
    assert walls[-1] == max(durations)  # more executors than trials: the longest one is the wall


@pytest.mark.parametrize("executors", [1, 2, 5, 13, 48, 64])
def test_no_order_beats_the_lower_bound(durations, executors):
    bound = bench.lower_bound(durations, executors)
    assert simulate(durations, executors, "longest") >= bound - 1e-9
    assert simulate(durations, executors, "partition") >= simulate(durations, executors, "longest") - 1e-9


def test_partition_order_is_the_order_given():
    # 4 1 1 2 2 on 2 slots: 4 | 1, 1, 2 (free at 4 both), then the last 2: 6. Sorted, the same tasks give 5.
    assert simulate([4.0, 1.0, 1.0, 2.0, 2.0], 2) == 6.0
    assert simulate([4.0, 1.0, 1.0, 2.0, 2.0], 2, "longest") == 5.0
    assert simulate([], 3) == 0.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        simulate([1.0], 0)
    with pytest.raises(ValueError):
        simulate([1.0], 2, "shortest")


def test_halving_stages_keep_the_best_and_charge_each_rung_its_new_steps(monkeypatch):
    import spark_model_selection as lesson
    monkeypatch.setattr(lesson, "STEPS", lesson.STEPS)  # halving_stages sets the lesson's: put back after
    monkeypatch.setattr(bench, "STEPS", 900)  # 9 settings, eta 3: all 9 to 300 steps, the best 3 on to 900
    rows = [{"seconds": str(9.0 * (i + 1)), "validation_accuracy": str(50 + i)} for i in range(8)]
    rows.append({"seconds": "1.0", "validation_accuracy": ""})  # a failed trial: ranked last
    stages = bench.halving_stages(rows)
    assert [len(stage) for stage in stages] == [9, 3]  # the last rung still ranks 2 settings or more
    assert stages[0][0] == pytest.approx(24.0)  # the best (72 s for 900 steps) for 300 steps
    assert stages[1] == pytest.approx([s * 600 / 900 for s in (72.0, 63.0, 54.0)])  # the best three, 600 more
    assert simulate(stages[1], 3) == pytest.approx(48.0)  # a rung waits for its slowest trial
