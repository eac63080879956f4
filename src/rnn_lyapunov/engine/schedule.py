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

LU (:mod:`~rnn_lyapunov.engine.factorizations`) loses more per factorization than Householder
QR, by up to :func:`~rnn_lyapunov.engine.factorizations.error_factor` (the dimension), which divides
its budget. When LU is allowed, each QR step also chooses the factorization of the next one: LU at
the longest interval its own budget allows, unless that interval is under a third of QR's (a QR
of a square frame costs about three LUs).

Where LU's margined budget cannot cover even one step, LU may still take the next step on credit
(:meth:`AdaptiveInterval._lu_on_credit`): the spread of one step is then measured, not
extrapolated, so the margin is replaced by an account of the errors actually incurred. Every
factorization earns ``tolerance`` and is charged its estimated error at the spread it really had
(``eps * error_factor * exp(spread)``); LU takes one step while the last step's spread is within
LU's unmargined budget and the account is not overdrawn, and QR otherwise, until the account is
repaid. The average error per factorization stays within the tolerance, up to one burst's
overdraw, which is itself under the tolerance whenever the step before it was. Without it, a chaotic
256-unit tanh RNN's full float64 spectrum (10-16 nats of spread per step against LU's margined
11) alternated LU and QR and cost 1.5-2.5x factorizing by LU every step.

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

import itertools
import math

import torch

from rnn_lyapunov.engine.factorizations import LU, QR, error_factor

AUTO = "auto"
DEFAULT_TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-4}
SPREAD_MARGIN = 1.5  # factor on the predicted spread: finite-time spreads burst above the recent window
MAX_INTERVAL = 64  # beyond this the QR cost is already negligible
# fraction of log(largest float) a column may grow or shrink between QRs (the rest is headroom)
RANGE_FRACTION = 0.25
QR_COST_IN_LUS = 3  # a Householder QR of a square frame costs about this many LUs (with P L unpacked)


class FixedInterval:
    """A factorization every ``every`` steps (and at the end of warm-up, at each record step and at
    the last step), always ``factorization`` ("qr" or "lu")."""

    adaptive = False

    def __init__(self, every: int, factorization: str = QR):
        self.every = int(every)
        self.factorization = factorization

    def summed_windows(self, log_growth: torch.Tensor, steps: int) -> torch.Tensor:
        """Only the latest QR's log|diag R|: (1, batch, k)."""
        return log_growth.unsqueeze(0)


class AdaptiveInterval:
    """The longest interval at which the smallest tracked direction keeps a relative error <= ``tolerance``.

    The diagonal of a product of triangular matrices is the product of their diagonals, so the
    sums of ``log |diag R|`` over the last few QRs are exactly the ``log |diag R|`` that one QR
    after all those steps would have seen: their spread over a window of about the candidate
    interval predicts what that interval would lose, fluctuations of that window length included.

    Args:
        tolerance: relative error allowed per QR in the growth of every tracked direction; the
            exponents then differ from QR-every-step by at most this many nats per step.
        dtype: dtype of the tangent frame; its machine epsilon and range set the budget.
        factorization: "qr", or "lu" to use LU wherever its budget allows (``factorization``
            then says which the next factorization is). The first factorization, one step, is LU for a
            float64 frame, as factorizing by LU every step does, charged to the account like a step
            on credit (a first step beyond LU's budget overdraws it, and QR steps repay it); QR for
            a float32 frame, whose LU budget is a few nats (the tests' wide float32 spectra failed
            their bound when it was LU).
        rows: the tangent dimension n (LU's error factor).
    """

    adaptive = True

    def __init__(self, tolerance: float, dtype: torch.dtype, factorization: str = QR, rows: int = 1):
        information = torch.finfo(dtype)
        self.tolerance = float(tolerance)
        # nats of spread one interval may reach, with QR and (when allowed) with LU
        self.budget = math.log(self.tolerance / information.eps)
        self.lu_budget = (math.log(self.tolerance / (information.eps * error_factor(LU, rows)))
                          if factorization == LU else None)
        self.range_budget = RANGE_FRACTION * math.log(information.max)
        self.window: list[tuple[int, torch.Tensor]] = []  # (steps, log|diag R| (batch, k)), oldest first
        self.interval = 1
        self.factorization = LU if factorization == LU and dtype == torch.float64 else QR
        self.eps, self.rows = information.eps, rows
        self.account = 0.0  # tolerance earned minus estimated error charged, relative (see _lu_on_credit)

    def summed_windows(self, log_growth: torch.Tensor, steps: int) -> torch.Tensor:
        """The summed log|diag R| of the latest 1, 2, ... QRs (back to about twice the interval):
        (windows, batch, k), latest first. Their lengths in steps stay on the host."""
        self.window.append((steps, log_growth))
        while len(self.window) > 1 and sum(length for length, _ in self.window[1:]) >= 2 * self.interval:
            self.window.pop(0)
        if len(self.window) == 1:
            return log_growth.unsqueeze(0)
        return torch.stack([growth for _, growth in reversed(self.window)]).cumsum(0)

    def next_interval(self, spreads: list[float], sizes: list[float]) -> int:
        """The next interval (and ``factorization`` for it) from each window of :meth:`summed_windows`:
        the worst-case spread over the batch, and the largest |summed log R_ii|, read back as floats."""
        lengths = list(itertools.accumulate(length for length, _ in reversed(self.window)))
        windows = list(zip(lengths, spreads, sizes))
        if not all(math.isfinite(value) for window in windows for value in window[1:]):
            self.factorization, self.interval = QR, 1  # a direction died or blew up: QR every step
            return 1
        cap = min(2 * self.interval, MAX_INTERVAL)  # the interval at most doubles from one QR to the next
        lu_longest = 0 if self.lu_budget is None else self._longest(windows, self.lu_budget, cap)
        if self.lu_budget is not None:
            lu_longest = max(lu_longest, self._lu_on_credit(windows[0]))
        if lu_longest and lu_longest * QR_COST_IN_LUS >= cap:  # QR's interval, at most cap, cannot beat it: not searched
            self.factorization, self.interval = LU, lu_longest
            return self.interval
        # QR every step even where the dtype cannot meet the tolerance: nothing does better
        qr_longest = max(1, self._longest(windows, self.budget, cap))
        if lu_longest and lu_longest * QR_COST_IN_LUS >= qr_longest:
            self.factorization, self.interval = LU, lu_longest
        else:
            self.factorization, self.interval = QR, qr_longest
        return self.interval

    def _lu_on_credit(self, latest: tuple[int, float, float]) -> int:
        """1 if LU may take the next single step on credit, else 0 (see the module docstring).

        ``latest``: (steps, spread, size) of the factorization just done. It is charged at the
        error factor of the factorization the schedule had chosen for it (LU's when that was LU,
        also when the engine closed a window with a QR instead: charging more is safe).
        """
        length, spread, _ = latest
        charged = self.eps * error_factor(self.factorization, self.rows) * math.exp(min(spread, 700.0))
        # the account saves at most one factorization's tolerance: credit never outlasts a quiet stretch
        self.account = min(self.account + self.tolerance - charged, self.tolerance)
        return int(length == 1 and spread <= self.lu_budget and self.account >= 0.0)

    def _longest(self, windows: list[tuple[int, float, float]], budget: float, cap: int) -> int:
        """The longest interval up to ``cap`` whose predicted loss stays within ``budget`` nats; 0 when not even one step."""
        longest = 0
        for candidate in range(1, cap + 1):
            # the measured window nearest the candidate's length, scaled to it (never shortened below it)
            length, spread, size = min(windows, key=lambda window: (abs(window[0] - candidate), -window[0]))
            scale = SPREAD_MARGIN * candidate / length
            if spread * scale > budget or size * scale > self.range_budget:
                break
            longest = candidate
        return longest


def default_tolerance(state_dtype: torch.dtype) -> float:
    """The tolerance of "auto" when none is given: set by the precision of the states, not of the frame.

    A float32 network's states round at about 6e-8 per step, which moves its exponents by up to
    ~3e-5 nats per step against the same network in float64 (measured on a 128-unit LSTM), so a
    float64 frame along float32 states need not be held to float64's 1e-6.
    """
    return DEFAULT_TOLERANCE[state_dtype]


def schedule_for(reorthonormalize_every, tolerance, dtype: torch.dtype, factorization: str = QR, rows: int = 1,
                 state_dtype: torch.dtype | None = None):
    """The schedule for a checked ``reorthonormalize_every`` (an int or ``"auto"``), a frame of ``dtype``
    and n ``rows`` along states of ``state_dtype`` (default ``dtype``), and the factorization asked for."""
    if reorthonormalize_every == AUTO:
        if tolerance is None:
            tolerance = default_tolerance(dtype if state_dtype is None else state_dtype)
        return AdaptiveInterval(tolerance, dtype, factorization, rows)
    return FixedInterval(reorthonormalize_every, factorization)


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
