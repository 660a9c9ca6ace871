"""The classical benchmarks: each fits a load in its own model space, and none looks ahead."""
import numpy as np
import pandas as pd

from workshop.forecast_benchmarks import Benchmarks, calendar_terms, least_squares, temperature_terms
from workshop.series import RealSeries


def hourly(load, temperature, measured=None, start="2015-01-01"):
    """A RealSeries of hourly `load` (measured for the first `measured` steps) and one input column."""
    measured = measured or len(load)
    times = pd.date_range(start, periods=len(temperature), freq="h")
    return RealSeries(np.asarray(load[:measured], float)[:, None], np.ones(measured, bool),
                      np.asarray(temperature, float)[:, None], times, pd.Timedelta(hours=1), len(temperature) - measured)


def test_hongs_vanilla_mlr_fits_a_load_that_is_in_its_model_space_exactly():
    times = pd.date_range("2015-01-01", periods=24 * 60, freq="h")
    rng = np.random.default_rng(0)
    temperature = rng.standard_normal(len(times))
    load = (500 + 20 * times.hour + 50 * (times.day_of_week >= 5) + 8 * temperature - 3 * temperature ** 2
            + 0.5 * temperature ** 3 * (times.hour % 3) + 2 * temperature * times.month).to_numpy()
    design = np.concatenate([calendar_terms(times, times[0]), temperature_terms(times, temperature)], axis=1)
    train = rng.permutation(len(times))[:24 * 45]
    assert np.allclose(least_squares(design, load, train)(design), load, atol=0.2)  # 0.02 %: the touch of ridge


def test_the_recency_effect_is_found_on_validation_hours_and_beats_vanilla():
    """A load that answers to the temperature 3 hours before and to yesterday's mean: the recency model
    chooses at least those terms and fits it; vanilla, which sees only the hour's temperature, cannot."""
    rng = np.random.default_rng(1)
    steps = 24 * 120
    temperature = np.convolve(rng.standard_normal(steps + 47), np.ones(6) / 6, "same")[47:]
    lagged = np.concatenate([[0, 0, 0], temperature[:-3]])
    yesterday = pd.Series(temperature).shift(1).rolling(24).mean().fillna(0).to_numpy()
    load = 1000 + 40 * lagged + 60 * yesterday + rng.normal(0, 0.5, steps)
    fit, test = np.arange(200, 24 * 100), np.arange(24 * 100, steps)
    benchmarks = Benchmarks(hourly(load, temperature), 23, 24, 168, fit, steps)
    assert benchmarks.hours >= 3 and benchmarks.days >= 1
    whole = benchmarks.whole()
    error = {label: np.sqrt(np.mean((forecast[test] - load[test]) ** 2)) for label, forecast in whole.items()}
    assert error["recency"] < 1 < 10 < error["vanilla"], error
    assert "recency + loads" in benchmarks.ahead()


def test_the_lagged_benchmark_fits_a_linear_trend_exactly_and_never_looks_ahead():
    load = 100 + np.arange(24 * 40, dtype=float)  # exactly linear in its lags
    real = RealSeries(load[:, None], np.ones(len(load), bool), np.zeros((len(load), 0)),
                      pd.date_range("2015-01-01", periods=len(load), freq="h"), pd.Timedelta(hours=1), 0)
    at, fit = np.arange(700, 960), np.arange(170, 700)
    ahead = Benchmarks(real, 23, 24, 168, fit, len(load) + 23).ahead()
    assert set(ahead) == {"persistence", "seasonal naive", "linear", "calendar"}
    assert np.allclose(ahead["linear"][at], 100 + at, atol=1e-4)
    assert np.allclose(ahead["persistence"][at], 100 + at - 23) and np.allclose(ahead["seasonal naive"][at], 76 + at)
    after = np.arange(960, 960 + 23)  # past the last value: the first 23 steps have their load 23 before
    assert np.allclose(ahead["linear"][after], 100 + after, atol=1e-4)
    changed = load.copy()
    changed[900:] += 1000  # the future of the fit rows changes nothing fitted on them
    again = Benchmarks(RealSeries(changed[:, None], real.observed, real.inputs, real.times, real.step, 0),
                       23, 24, 168, fit, len(load) + 23).ahead()
    assert np.allclose(again["linear"][at[:900 - 700 + 23]], ahead["linear"][at[:900 - 700 + 23]])


def test_weather_forecasts_in_place_of_the_measured_inputs_change_only_the_hours_they_cover():
    rng = np.random.default_rng(2)
    steps = 24 * 55  # all in January and February, both months in the training part
    temperature = rng.standard_normal(steps)
    load = 500 + 30 * temperature + rng.normal(0, 1, steps)
    benchmarks = Benchmarks(hourly(load, temperature, measured=24 * 50), 23, 24, 168, np.arange(200, 24 * 45), steps)
    measured, forecasts = benchmarks.whole(), temperature[:, None].copy()
    forecasts[24 * 50:] += 1.0  # a forecast one degree off, from hour 1200 on
    ex_ante = benchmarks.whole(forecasts)
    assert np.allclose(ex_ante["vanilla"][:24 * 50], measured["vanilla"][:24 * 50])
    assert 25 < np.mean(ex_ante["vanilla"][24 * 50:] - measured["vanilla"][24 * 50:]) < 35  # 30 per degree
    assert np.isfinite(measured["recency"][24 * 50:]).all()  # the whole future: the inputs are there
