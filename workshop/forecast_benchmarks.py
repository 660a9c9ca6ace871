"""The classical forecasts load_forecasting.py's LSTM is compared with, all fitted on the training part only.

- persistence: the value LAG steps before the target;
- seasonal naive: the value whole seasons (at least LAG steps) before the target;
- Tao Hong's "vanilla" multiple linear regression, the GEFCom2012 organisers' benchmark: trend,
  month, day of week × hour, and month × (T, T², T³) and hour × (T, T², T³) of the temperature T
  at the target's hour;
- vanilla + recency effect (Wang, Liu & Hong, "Electric load forecasting with recency effect: a big
  data approach", IJF 2016): the same temperature terms f(T) also for the temperature of each of
  the `hours` before the target and for the daily moving averages of the `days` before it (the
  mean of hours 1-24 before, 25-48 before, ...). As in the paper, how many of each is chosen on
  validation hours (the last tenth of the training part), then refitted on all of it;
- recency + loads, for the forecast LAG steps ahead: the recency model plus the lagged loads per
  hour of the day (the last value, the value one season and one week before the target);
- without temperatures, `linear`: calendar × lagged loads (per slot of the season an intercept and
  weights for those three values, plus day of week × hour); and `calendar` from the start of a
  stretch: trend, month, day of week × hour.

T is the mean of the input columns. Every array here has one row per step of the file and of its
future; a forecast that would need a value nobody has is NaN.
"""
import numpy as np

from workshop.series import extended_times, seasons_back

RECENCY_DAYS = (0, 1, 2, 3)  # daily moving averages tried (the paper: 0-7)
RECENCY_HOURS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24)  # lagged hourly temperatures tried (the paper: 0-24)
RIDGE = 1e-7  # a touch of ridge: the month and hour interactions are collinear by design


def extended(real, steps):
    """The times of the first `steps` steps of the file and of the steps after it."""
    return extended_times(real, max(0, steps - len(real.times)))[:steps]


def padded(inputs, steps):
    """The input rows of the first `steps` steps, NaN past the file."""
    return np.concatenate([inputs, np.full((max(0, steps - len(inputs)), inputs.shape[1]), np.nan)])[:steps]


def one_hot(codes, size):
    return np.eye(size)[codes]


def shifted(values, back):
    """values[t - back] at row t; NaN before the first."""
    return np.concatenate([np.full((back,) + values.shape[1:], np.nan), values[:len(values) - back]]) if back else values


def calendar_terms(times, origin):
    """Intercept, trend (years since `origin`), month, day of week × hour."""
    trend = ((times - origin) / np.timedelta64(365, "D")).to_numpy(np.float64)[:, None]
    week_hour = one_hot(times.day_of_week * 24 + times.hour, 168)
    return np.concatenate([np.ones_like(trend), trend, one_hot(times.month - 1, 12), week_hour], axis=1)


def temperature_terms(times, temperature):
    """Hong's f(T): month × (T, T², T³) and hour × (T, T², T³)."""
    powers = np.stack([temperature, temperature ** 2, temperature ** 3], axis=1)
    return np.concatenate([(group[:, :, None] * powers[:, None, :]).reshape(len(times), -1)
                           for group in (one_hot(times.month - 1, 12), one_hot(times.hour, 24))], axis=1)


def recency_terms(times, temperature, days, hours):
    """[f(T_t-h) for h = 1..hours] + [f(daily mean of the d-th day before) for d = 1..days]."""
    sums = np.concatenate([[0.0], np.cumsum(temperature)])  # NaN from the first NaN on: none before the data
    rows = np.arange(len(temperature))
    blocks = [temperature_terms(times, shifted(temperature, h)) for h in range(1, hours + 1)]
    for d in range(1, days + 1):
        first, end = rows - 24 * d, rows - 24 * d + 24  # hours 24d-23 .. 24d before
        mean = np.where(first >= 0, (sums[np.clip(end, 0, None)] - sums[np.clip(first, 0, None)]) / 24, np.nan)
        blocks.append(temperature_terms(times, mean))
    return blocks


def lagged_loads(values, lag, slots, season, week, week_slots):
    """Per slot of the season an intercept and weights for the last value, the value one season and one
    week before the target; plus one intercept per slot of the week (day of week × hour)."""
    lags = [shifted(values, lag)] + ([shifted(values, seasons_back(lag, season))] if season else [])
    if week:
        lags.append(shifted(values, week))
    lags = np.stack([np.ones(len(values))] + lags, axis=1)
    per_slot = one_hot(slots, season)[:, :, None] * lags[:, None, :] if season else lags[:, None, :]
    return np.concatenate([per_slot.reshape(len(values), -1)] + ([one_hot(week_slots, week)] if week_slots is not None
                                                                 else []), axis=1)


def least_squares(design, targets, rows):
    """Weights fitted on `rows` (those with every term and a target), with equal column scales. -> predict(design)"""
    rows = rows[np.isfinite(design[rows]).all(axis=1) & np.isfinite(targets[rows])]
    scale = np.abs(design[rows]).max(axis=0) + 1e-12
    a = design[rows] / scale
    gram = a.T @ a
    gram[np.diag_indices_from(gram)] += RIDGE * len(rows)
    weights = np.linalg.solve(gram, a.T @ targets[rows])
    return lambda new: (new / scale) @ weights  # NaN where a term is NaN


def chosen_recency(times, temperature, values, fit):
    """(days, hours) of the recency model with the lowest error on the last tenth of `fit`, fitted on the
    rest: one Gram matrix of every term, then one small solve per combination."""
    blocks = recency_terms(times, temperature, max(RECENCY_DAYS), max(RECENCY_HOURS))
    base = np.concatenate([calendar_terms(times, times[0]), temperature_terms(times, temperature)], axis=1)
    design = np.concatenate([base] + blocks, axis=1)
    rows = fit[np.isfinite(design[fit]).all(axis=1) & np.isfinite(values[fit])]
    train, valid = rows[:-len(rows) // 10], rows[-len(rows) // 10:]
    scale = np.abs(design[train]).max(axis=0) + 1e-12
    a = design[train] / scale
    gram, moments = a.T @ a, a.T @ values[train]
    width, hours_max = blocks[0].shape[1], max(RECENCY_HOURS)
    errors = {}
    for days in RECENCY_DAYS:
        for hours in RECENCY_HOURS:
            used = [*range(base.shape[1] + width * hours),
                    *range(base.shape[1] + width * hours_max, base.shape[1] + width * (hours_max + days))]
            g = gram[np.ix_(used, used)] + RIDGE * len(train) * np.eye(len(used))
            weights = np.linalg.solve(g, moments[used])
            predicted = (design[np.ix_(valid, used)] / scale[used]) @ weights
            errors[days, hours] = np.sqrt(np.mean((predicted - values[valid]) ** 2))
    return min(errors, key=errors.get)


class Benchmarks:
    """The benchmarks of one series, fitted on the target steps `fit`. `ahead(...)` and `whole(...)` give
    {label: forecast at every step}: with the load LAG steps before, and without any load."""

    def __init__(self, real, lag, season, week, fit, steps):
        self.lag, self.season, self.steps = lag, season, steps
        values = padded(real.values, steps)[:, 0]  # interpolated hours as inputs, never as targets:
        targets = np.where(padded(real.observed[:, None], steps)[:, 0] == 1, values, np.nan)
        self.values, self.times = values, None if real.times is None else extended(real, steps)
        self.temperatures = len(real.inputs[0]) > 0 and self.times is not None
        self.notes = []
        if self.temperatures:
            mean = padded(real.inputs, steps).mean(axis=1)
            self.center, self.spread = mean[fit].mean(), mean[fit].std() + 1e-12  # T standardised: same model
            self.days, self.hours = chosen_recency(self.times, self.standard(mean), targets, fit)
            self.notes.append(f"Recency effect: the {self.hours} hours and the {self.days} days before the target, "
                              "chosen on the last tenth of the training part")
        slots = week_slots = None
        if season and self.times is not None:
            slots = ((self.times - self.times.normalize()) // real.step).to_numpy() % season
            if week and week != season:
                week_slots = self.times.day_of_week.to_numpy() * season + slots
        elif season:
            slots = np.arange(steps) % season
        self.loads = lagged_loads(values, lag, slots, season, week if week and week >= lag else None, week_slots)
        if self.times is None and len(real.inputs[0]):  # no calendar: the inputs as they are
            self.loads = np.concatenate([self.loads, padded(real.inputs, steps)], axis=1)
        self._designs = self.designs(self.standard(mean) if self.temperatures else None)
        self.models = {label: least_squares(design, targets, fit) for label, design in self._designs.items()}

    def standard(self, mean):
        return (mean - self.center) / self.spread

    def designs(self, temperature):
        """{label: design matrix}, with `temperature` (standardised) where the model has it."""
        if self.times is None:
            return {"linear": self.loads}
        calendar = calendar_terms(self.times, self.times[0])
        if not self.temperatures:
            return {"linear": np.concatenate([calendar[:, :1], self.loads], axis=1), "calendar": calendar}
        vanilla = np.concatenate([calendar, temperature_terms(self.times, temperature)], axis=1)
        recency = np.concatenate([vanilla] + recency_terms(self.times, temperature, self.days, self.hours), axis=1)
        return {"vanilla": vanilla, "recency": recency, "recency + loads": np.concatenate([recency, self.loads], 1)}

    def forecasts(self, inputs=None):
        """{label: forecast at every step}; with `inputs` (e.g. weather forecasts) in place of the file's."""
        temperature = self.standard(padded(inputs, self.steps).mean(axis=1)) if inputs is not None else None
        designs = self.designs(temperature) if inputs is not None else self._designs
        return {label: self.models[label](design) for label, design in designs.items()}

    def ahead(self):
        naive = {"persistence": shifted(self.values, self.lag)}
        if self.season:
            naive["seasonal naive"] = shifted(self.values, seasons_back(self.lag, self.season))
        return {**naive, **self.forecasts()}

    def whole(self, inputs=None):
        """The models that need no load: from the start of a stretch as far as the inputs go."""
        return {k: v for k, v in self.forecasts(inputs).items() if k in ("vanilla", "recency", "calendar")}
