"""When to re-orthonormalise: a fixed interval, or one adapted to an error target ("auto").

Between two QR decompositions the frame is propagated unnormalised for ``m`` steps. Column ``k``
then carries its own direction with size ``R_kk`` next to components along the leading directions
of size up to ``R_11``; Householder QR is backward stable, so it recovers ``R_kk`` with a relative
error of about ``eps * R_11 / R_kk`` (Golub & Van Loan, Matrix Computations, sec. 5.2; the loss of
the small directions is why Benettin et al. 1980 re-orthonormalise at all). A relative error
``tolerance`` per QR therefore allows intervals over which the spread of ``log |diag R|`` stays
below ``log(tolerance / eps)`` nats. Each QR contributes that error to ``m`` steps of the time
average, so every exponent differs from QR-every-step by at most ``tolerance / m <= tolerance``
nats per step (on top of the roundoff that QR every step has itself).

The spread is measured, not assumed. The diagonal of a product of triangular matrices is the
product of their diagonals, so the summed ``log |diag R|`` of the last few QRs is exactly what one
QR after all those steps would have seen: the window nearest in length to a candidate interval,
worst case over the batch, scaled to the candidate's length and times ``SPREAD_MARGIN`` for bursts
(a near-singular step of a random product, a unit saturating), predicts what it would lose. The
interval at most doubles from one QR to the next and is capped so that no column can overflow
or underflow. The tests (tests/test_engine_auto_interval.py) check the bound against QR every step
on linear maps with narrow, moderate and wide spreads, products of Gaussian matrices and chaotic
tanh RNNs, in float32 and float64.
"""

from __future__ import annotations

import math

import torch

AUTO = "auto"
DEFAULT_TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-4}
SPREAD_MARGIN = 1.5  # factor on the predicted spread: finite-time spreads burst above the recent window
MAX_INTERVAL = 64  # beyond this the QR cost is already negligible
# fraction of log(largest float) a column may grow or shrink between QRs (the rest is headroom)
RANGE_FRACTION = 0.25


class FixedInterval:
    """QR every ``every`` steps (and at the end of warm-up, at each record step and at the last step)."""

    adaptive = False

    def __init__(self, every: int):
        self.every = int(every)

    def statistics(self, log_growth: torch.Tensor, steps: int) -> None:
        return None


class AdaptiveInterval:
    """The longest interval at which the smallest tracked direction keeps a relative error <= ``tolerance``.

    The diagonal of a product of triangular matrices is the product of their diagonals, so the
    sums of ``log |diag R|`` over the last few QRs are exactly the ``log |diag R|`` that one QR
    after all those steps would have seen: their spread over a window of about the candidate
    interval predicts what that interval would lose, fluctuations of that window length included.

    Args:
        tolerance: relative error allowed per QR in the growth of every tracked direction; the
            exponents then differ from QR-every-step by at most this many nats per step.
        dtype: compute dtype; its machine epsilon and range set the budget.
    """

    adaptive = True

    def __init__(self, tolerance: float, dtype: torch.dtype):
        information = torch.finfo(dtype)
        self.tolerance = float(tolerance)
        self.budget = math.log(self.tolerance / information.eps)  # nats of spread one interval may reach
        self.range_budget = RANGE_FRACTION * math.log(information.max)
        self.window: list[tuple[int, torch.Tensor]] = []  # (steps, log|diag R| (batch, k)), oldest first
        self.interval = 1

    def statistics(self, log_growth: torch.Tensor, steps: int) -> torch.Tensor:
        """For each window of the latest QRs (latest first): [steps, worst-case spread of the summed
        log|diag R|, largest |summed log R_ii|], flattened; read back with the engine's other checks."""
        self.window.append((steps, log_growth))
        while len(self.window) > 1 and sum(length for length, _ in self.window[1:]) >= 2 * self.interval:
            self.window.pop(0)
        rows, total, summed = [], 0, None
        for length, growth in reversed(self.window):
            total += length
            summed = growth if summed is None else summed + growth
            spread = (summed.amax(dim=1) - summed.amin(dim=1)).amax()
            rows.append(torch.stack((summed.new_tensor(float(total)), spread, summed.abs().amax())))
        return torch.stack(rows).flatten()

    def next_interval(self, statistics: list[float]) -> int:
        """The next interval from :meth:`statistics` read back as floats."""
        windows = [statistics[index:index + 3] for index in range(0, len(statistics), 3)]
        if self.budget <= 0 or not all(math.isfinite(value) for window in windows for value in window[1:]):
            self.interval = 1  # the dtype cannot meet the tolerance even at one step, or a direction died
            return 1
        longest = 1
        for candidate in range(2, min(2 * self.interval, MAX_INTERVAL) + 1):
            # the measured window nearest the candidate's length, scaled to it (never shortened below it)
            length, spread, size = min(windows, key=lambda window: (abs(window[0] - candidate), -window[0]))
            scale = SPREAD_MARGIN * candidate / length
            if spread * scale > self.budget or size * scale > self.range_budget:
                break
            longest = candidate
        self.interval = longest
        return longest


def schedule_for(reorthonormalize_every, tolerance, dtype: torch.dtype):
    """The schedule object for a checked ``reorthonormalize_every`` (an int or ``"auto"``)."""
    if reorthonormalize_every == AUTO:
        return AdaptiveInterval(DEFAULT_TOLERANCE[dtype] if tolerance is None else tolerance, dtype)
    return FixedInterval(reorthonormalize_every)


def closing_step(time_index: int, interval: int, *, warmup_steps: int, record_every: int | None, time_steps: int) -> int:
    """The time index of the next QR after one at ``time_index`` (-1 before the first step).

    ``interval`` steps on, but never past the last warm-up step, the next record step or the last step.
    """
    closing = time_index + interval
    if time_index < warmup_steps - 1:
        closing = min(closing, warmup_steps - 1)
    elif record_every is not None:
        averaged = time_index - warmup_steps + 1
        closing = min(closing, warmup_steps - 1 + (averaged // record_every + 1) * record_every)
    return min(closing, time_steps - 1)
