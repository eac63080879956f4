"""The result of a Lyapunov-spectrum computation and the quantities derived from it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

UNITS = "nats per time step"
# Units a spectrum can be written in: name -> (units attribute, factor applied to nats per step).
EXPONENT_UNITS = {"nats": (UNITS, 1.0), "bits": ("bits per time step", 1.0 / math.log(2.0))}
# The one name of the running-estimate dimension (steps averaged after warm-up) in every file.
STEP_DIM = "step"


def kaplan_yorke_dimension(exponents: torch.Tensor) -> float:
    """Kaplan-Yorke (Lyapunov) dimension of a spectrum sorted in descending order.

    ``D = j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}|`` where ``j`` is the largest index whose
    partial sum is non-negative (Kaplan & Yorke 1979). ``D = 0`` when ``lambda_1 < 0``; ``D = n``
    when every partial sum of the ``n`` given exponents is non-negative (then the spectrum given
    is too short to bound the dimension, or the system does not contract volumes).

    exponents: (n_exponents,), nats per step, descending.
    """
    values = [float(value) for value in exponents]
    if any(math.isnan(value) for value in values):
        return float("nan")
    partial_sum = 0.0
    for index, value in enumerate(values):
        if partial_sum + value < 0.0:
            return float(index) + (partial_sum / abs(value) if math.isfinite(value) else 0.0)
        partial_sum += value
    return float(len(values))


def positive_exponent_sum(exponents: torch.Tensor) -> float:
    """Sum of the positive exponents (Pesin's bound on the Kolmogorov-Sinai entropy), nats per step.

    NaN entries (padding) are skipped; a spectrum with no finite exponent gives NaN.
    """
    if bool(exponents.isnan().all()):
        return float("nan")
    return float(exponents.clamp(min=0.0).nan_to_num(nan=0.0).sum())


def standard_error(per_trajectory: torch.Tensor) -> torch.Tensor:
    """Standard error of the mean across trajectories (dim 0); NaN with a single trajectory or a non-finite value.

    per_trajectory: (n_trajectories, n_exponents) -> (n_exponents,).
    """
    n_trajectories = per_trajectory.shape[0]
    if n_trajectories < 2:
        return torch.full(per_trajectory.shape[1:], float("nan"), dtype=torch.float64)
    finite = per_trajectory.isfinite().all(dim=0)
    spread = per_trajectory.where(per_trajectory.isfinite(), 0.0).std(dim=0, unbiased=True)
    return (spread / math.sqrt(n_trajectories)).where(finite, float("nan"))


@dataclass(frozen=True)
class Spectrum:
    """Lyapunov exponents of a system driven by a batch of input sequences.

    All values are float64 CPU tensors in nats per time step, sorted in descending order.

    Attributes:
        per_trajectory: (batch, n_exponents), one spectrum per input sequence.
        history: (n_records, batch, n_exponents) running estimates, or None if not recorded.
        history_steps: (n_records,) number of accumulated steps (after warm-up) at each record.
        steps: number of steps accumulated per trajectory (after warm-up).
        warmup_steps, reorthonormalize_every: the settings used (``reorthonormalize_every`` an int or "auto").
        reorthonormalize_tolerance: with "auto", the relative error allowed per QR; else None.
        interval_counts: {steps between two QRs: how many QRs closed an interval that long}, in
            increasing interval; None when not known (a spectrum built from stored numbers).
        factorization: "qr" or "lu", how the frame was to be re-triangularised between the ends of
            averaging windows; factorization_counts: {"qr": how many QRs, "lu": how many LUs} were
            done (with "lu" and "auto" intervals, a QR wherever LU's error bound did not allow a
            step); tangent_dtype: "float32" or "float64", the frame's dtype (None when not known).
    """

    per_trajectory: torch.Tensor
    history: torch.Tensor | None = None
    history_steps: torch.Tensor | None = None
    steps: int = 0
    warmup_steps: int = 0
    reorthonormalize_every: int | str = 1
    reorthonormalize_tolerance: float | None = None
    interval_counts: dict[int, int] | None = None
    factorization: str | None = None
    tangent_dtype: str | None = None
    factorization_counts: dict[str, int] | None = None
    exponents: torch.Tensor = field(init=False)
    stderr: torch.Tensor = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "exponents", self.per_trajectory.mean(dim=0))
        object.__setattr__(self, "stderr", standard_error(self.per_trajectory))

    @property
    def n_exponents(self) -> int:
        return self.per_trajectory.shape[1]

    @property
    def mean_interval(self) -> float:
        """Mean number of steps between QRs (NaN when ``interval_counts`` is not known)."""
        if not self.interval_counts:
            return float("nan")
        return sum(m * count for m, count in self.interval_counts.items()) / sum(self.interval_counts.values())

    @property
    def kaplan_yorke_dimension(self) -> float:
        """Kaplan-Yorke dimension of the mean spectrum."""
        return kaplan_yorke_dimension(self.exponents)

    @property
    def entropy(self) -> float:
        """Sum of the positive mean exponents (nats per step)."""
        return positive_exponent_sum(self.exponents)

    def to_dataset(self, units: str = "nats"):
        """The spectrum as a labelled ``xarray.Dataset``.

        Dims ``trajectory``, ``exponent`` (1-based index) and, when a history was recorded,
        ``step``; units in each variable's attributes and in the attribute ``exponent_units``.
        ``units="bits"`` writes exponents in bits per step (log2; Vogt et al. 2022 report those);
        the Kaplan-Yorke dimension does not depend on the units.
        """
        import xarray as xr

        if units not in EXPONENT_UNITS:
            from rnn_lyapunov.errors import InputError

            raise InputError(f"units must be one of {', '.join(EXPONENT_UNITS)}, got {units!r}", arguments=("units",))
        label, factor = EXPONENT_UNITS[units]

        exponent_index = range(1, self.n_exponents + 1)
        data_vars = {
            "lyapunov_exponents": (
                "exponent", (factor * self.exponents).numpy(),
                {"units": label, "long_name": "Lyapunov exponent, mean over trajectories"}),
            "lyapunov_exponents_per_trajectory": (
                ("trajectory", "exponent"), (factor * self.per_trajectory).numpy(),
                {"units": label, "long_name": "Lyapunov exponent of each input sequence"}),
            "lyapunov_stderr": (
                "exponent", (factor * self.stderr).numpy(),
                {"units": label, "long_name": "standard error of the mean across trajectories"}),
            "kaplan_yorke_dimension": (
                (), self.kaplan_yorke_dimension,
                {"units": "1", "long_name": "Kaplan-Yorke dimension of the mean spectrum"}),
            "entropy": (
                (), factor * self.entropy,
                {"units": label, "long_name": "sum of positive exponents (Pesin bound)"}),
        }
        coords = {"exponent": ("exponent", list(exponent_index), {"long_name": "exponent index, descending"}),
                  "trajectory": ("trajectory", list(range(self.per_trajectory.shape[0])),
                                 {"long_name": "input sequence"})}
        if self.history is not None:
            data_vars["lyapunov_running_estimate"] = (
                (STEP_DIM, "trajectory", "exponent"), (factor * self.history).numpy(),
                {"units": label, "long_name": "running estimate of the Lyapunov exponents"})
            coords[STEP_DIM] = (STEP_DIM, self.history_steps.numpy(), {"long_name": "steps averaged after warm-up"})
        attributes = {
            "steps": self.steps,
            "warmup_steps": self.warmup_steps,
            "reorthonormalize_every": self.reorthonormalize_every,
            "exponent_units": label,
            **self._interval_attributes(),
            "exponent_order": "descending",
        }
        return xr.Dataset(data_vars, coords=coords, attrs=attributes)

    def _interval_attributes(self) -> dict:
        """The reorthonormalisation actually used, as NetCDF-safe attributes."""
        attributes = {name: value for name, value in (("factorization", self.factorization),
                                                       ("tangent_dtype", self.tangent_dtype)) if value is not None}
        if self.factorization_counts:
            attributes["factorization_counts"] = " ".join(f"{name}:{count}" for name, count in self.factorization_counts.items())
        if self.reorthonormalize_tolerance is not None:
            attributes["reorthonormalize_tolerance"] = float(self.reorthonormalize_tolerance)
        if self.interval_counts:
            # "interval:count" pairs in one string: a one-element list would come back from NetCDF as a scalar
            attributes["qr_interval_counts"] = " ".join(f"{m}:{count}" for m, count in self.interval_counts.items())
            attributes["qr_interval_mean"] = self.mean_interval
        return attributes
