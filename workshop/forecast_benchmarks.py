"""The forecasts a load forecaster compares a model with: naive ones and least-squares linear ones.

- persistence: the value LAG steps before the target;
- seasonal naive: the value whole seasons (at least LAG steps) before the target, e.g. the same
  hour the day before;
- linear: a least-squares linear regression (numpy's lstsq) fitted on the training targets.
  With extra inputs (temperatures) it is the GEFCom2012 organisers' benchmark, Tao Hong's
  "vanilla" multiple linear regression: trend, month, day of week × hour, and month × T, T², T³
  and hour × T, T², T³ of the temperature T at the target's hour. Without them it gets what the
  network gets from the series: the last value, the value one season and one week before the
  target, each per slot of the season (e.g. per hour of the day), with day of week × hour.

`at` is always the targets' places in the series; every function reads only values LAG or more
steps before them (and, for Hong's model, the inputs at the target itself).
"""
import numpy as np

from workshop.series import extended_times, seasons_back


def persistence(values, at, lag):
    return values[at - lag]


def seasonal_naive(values, at, lag, season):
    return values[at - seasons_back(lag, season)]


def one_hot(codes, size):
    return np.eye(size)[codes]


def hong_vanilla_design(times, temperature, origin):
    """Tao Hong's vanilla MLR (GEFCom2012 benchmark) as a design matrix, one row per target:
    trend + month + day of week × hour + month × (T, T², T³) + hour × (T, T², T³).
    `temperature` is standardised by the caller (same model, better conditioned powers)."""
    trend = ((times - origin) / np.timedelta64(365, "D")).to_numpy(np.float64)[:, None]
    month, hour = one_hot(times.month - 1, 12), one_hot(times.hour, 24)
    week_hour = one_hot(times.day_of_week * 24 + times.hour, 168)
    powers = np.stack([temperature, temperature ** 2, temperature ** 3], axis=1)
    cross = [(group[:, :, None] * powers[:, None, :]).reshape(len(times), -1) for group in (month, hour)]
    return np.concatenate([np.ones_like(trend), trend, month, week_hour, powers, *cross], axis=1)


def lagged_design(values, at, lag, slots, season, week, week_slots):
    """Calendar × lagged values: per slot of the season (e.g. hour of the target) an intercept
    and weights for the last value, the value one season and the value one week before the
    target; plus one intercept per slot of the week (day of week × hour)."""
    lags = [persistence(values, at, lag)]
    if season:
        lags.append(seasonal_naive(values, at, lag, season))
    if week:
        lags.append(values[at - week])
    lags = np.stack([np.ones(len(at))] + lags, axis=1)
    per_slot = one_hot(slots, season)[:, :, None] * lags[:, None, :] if season else lags[:, None, :]
    columns = [per_slot.reshape(len(at), -1)]
    if week_slots is not None:
        columns.append(one_hot(week_slots, week))
    return np.concatenate(columns, axis=1)


def fit_predict(design, targets, train):
    """Least squares on the rows `train` (a boolean mask or indices); predictions for all rows."""
    scale = np.abs(design[train]).max(axis=0) + 1e-12  # equal column scales: a better-conditioned fit
    weights, *_ = np.linalg.lstsq(design[train] / scale, targets[train], rcond=None)
    return (design / scale) @ weights


def benchmarks(real, at, lag, season, week, fit, input_names):
    """{label: forecasts for the steps `at`, a column} (NaN where a forecast would need values after the
    last observation), fitted on the steps `fit`; and a line that says what the linear model is."""
    past_file = max(lag, at.max() + 1 - len(real.inputs))  # steps asked for after the end of the file
    values = np.concatenate([real.values[:, 0], np.full(len(real.inputs) - len(real.values) + past_file, np.nan)])
    extra = np.concatenate([real.inputs, np.full((past_file, real.inputs.shape[1]), np.nan)])  # none after it
    times = None if real.times is None else extended_times(real, past_file)
    forecasts = {"persistence": persistence(values, at, lag)}
    if season:
        forecasts["seasonal naive"] = seasonal_naive(values, at, lag, season)
    everything = np.concatenate([fit, at])
    if real.inputs.shape[1] and times is not None:
        mean = extra.mean(axis=1)
        temperature = (mean - mean[fit].mean()) / (mean[fit].std() + 1e-12)
        design = hong_vanilla_design(times[everything], temperature[everything], times[0])
        what = ("Tao Hong's vanilla MLR (GEFCom2012 benchmark) on the target's calendar and "
                f"{'the mean of ' + ','.join(input_names) if len(input_names) > 1 else input_names[0]}")
    else:
        week_slots = None
        if times is not None and season:
            slots = ((times - times.normalize()) // real.step).to_numpy() % season
            if week and week != season:
                week_slots = times.day_of_week.to_numpy() * season + slots
        else:
            slots = np.arange(len(extra)) % season if season else None
        design = lagged_design(values, everything, lag, slots[everything] if season else None, season,
                               week if week and week >= lag else None,
                               week_slots[everything] if week_slots is not None else None)
        if real.inputs.shape[1]:
            design = np.concatenate([design, extra[everything]], axis=1)
        what = ("least squares on the last value" + (", the values one season" if season else "")
                + (" and one week before the target" if week and week >= lag else (" before" if season else ""))
                + (", per slot of the season" if season else "")
                + (", with day of week × hour" if week_slots is not None else "")
                + (f", and {','.join(input_names)}" if input_names else ""))
    usable = np.isfinite(design).all(axis=1)
    fitted = fit_predict(np.nan_to_num(design), values[everything], np.flatnonzero(usable[:len(fit)]))
    forecasts["linear"] = np.where(usable, fitted, np.nan)[len(fit):]
    return {label: values[:, None] for label, values in forecasts.items()}, what
