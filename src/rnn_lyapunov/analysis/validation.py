"""The engine against systems with known exponents: the data of the ``validation`` figure.

:func:`compute_validation` runs :func:`rnn_lyapunov.engine.lyapunov.lyapunov_spectrum` on

* the Henon map (a=1.4, b=0.3), reference exponents (0.41922, -1.62319) nats/step
  (e.g. Sprott, *Chaos and Time-Series Analysis*, 2003, table of Lyapunov exponents);
* the logistic map at r=4, reference ln 2 nats/step (exact);
* products of iid Gaussian N x N matrices with entry variance 1/N, reference Newman's (1986)
  closed form ``lambda_i = (ln(2/N) + digamma((N - i + 1) / 2)) / 2``;
* a random tanh RNN in float32 and float64 with re-orthonormalisation every 1, 5 and 10 steps,
  compared with float64 re-orthonormalised every step;

and returns everything as one ``xarray.Dataset`` (written by the workflow's ``validate_engine``
rule to ``results/validation/validation.nc``). Exponents are in nats per time step. At the
default settings the computation takes about 5-30 s on one CPU core (the engine's per-step
overhead dominates: 2 x 6,000 map steps, 2,000 Gaussian-product steps, 6 x 400 tanh-RNN steps).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from scipy.special import digamma

from rnn_lyapunov.devices import FLOAT_DTYPES
from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.engine.systems import GaussianProductMap, HenonMap, LogisticMap, TanhRNN

UNITS = "nats per time step"
HENON_REFERENCE = (0.41922, -1.62319)
REORTHONORMALIZE_INTERVALS = (1, 5, 10)


def newman_exponents(n: int) -> np.ndarray:
    """Newman's closed form for products of Gaussian n x n matrices (entry variance 1/n), (n,)."""
    index = np.arange(1, n + 1)
    return 0.5 * (math.log(2.0 / n) + digamma((n - index + 1) / 2.0))


def _autonomous(system, trajectories: int, steps: int, warmup_steps: int, record_every: int):
    inputs = torch.zeros(trajectories, steps, 0, dtype=torch.float64)
    return lyapunov_spectrum(system, inputs, warmup_steps=warmup_steps, record_every=record_every)


def _map_variables(prefix, spectrum, reference, exponent_dim):
    """Mean, stderr, reference and running estimate (mean over trajectories) of one map."""
    mean_history = spectrum.history.mean(dim=1).numpy()  # (step, exponent)
    dims = (exponent_dim,) if exponent_dim else ()
    squeeze = (lambda values: values) if exponent_dim else (lambda values: values[..., 0])
    return {
        f"{prefix}_exponents": (dims, squeeze(spectrum.exponents.numpy()), {"units": UNITS}),
        f"{prefix}_stderr": (dims, squeeze(spectrum.stderr.numpy()), {"units": UNITS}),
        f"{prefix}_reference": (dims, squeeze(np.asarray(reference, dtype=float)), {"units": UNITS}),
        f"{prefix}_running_estimate": (("step", *dims), squeeze(mean_history), {"units": UNITS}),
    }


def _tanh_precision(hidden_size, trajectories, steps, warmup_steps, gain, seed):
    system = TanhRNN(hidden_size, input_size=1, gain=gain, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    inputs = system.random_inputs(trajectories, steps, generator=generator)
    spectra = np.empty((len(FLOAT_DTYPES), len(REORTHONORMALIZE_INTERVALS), hidden_size))
    for row, dtype in enumerate(FLOAT_DTYPES.values()):
        for column, interval in enumerate(REORTHONORMALIZE_INTERVALS):
            # the frame in the same dtype, Householder QR: this panel is about that dtype's precision
            result = lyapunov_spectrum(system, inputs.to(dtype), warmup_steps=warmup_steps,
                                       reorthonormalize_every=interval, factorization="qr", tangent_dtype=dtype)
            spectra[row, column] = result.exponents.numpy()
    reference = spectra[list(FLOAT_DTYPES).index("float64"), REORTHONORMALIZE_INTERVALS.index(1)]
    errors = np.abs(spectra - reference)  # (dtype, reorthonormalize_every, tanh_exponent)
    return {
        "tanh_exponents": (("dtype", "reorthonormalize_every", "tanh_exponent"), spectra, {"units": UNITS}),
        "tanh_reference_exponents": (("tanh_exponent",), reference, {
            "units": UNITS, "long_name": "float64, re-orthonormalised every step"}),
        "tanh_abs_error": (("dtype", "reorthonormalize_every", "tanh_exponent"), errors, {
            "units": UNITS, "long_name": "|lambda_i - lambda_i(float64, every step)|"}),
        "tanh_max_abs_error": (("dtype", "reorthonormalize_every"), errors.max(axis=-1), {
            "units": UNITS, "long_name": "max over exponents of |lambda - lambda(float64, every step)|"}),
        "tanh_mean_abs_error": (("dtype", "reorthonormalize_every"), errors.mean(axis=-1), {"units": UNITS}),
    }


def compute_validation(
    *,
    map_steps: int = 6_000,
    map_trajectories: int = 32,
    record_every: int = 50,
    gaussian_size: int = 10,
    gaussian_steps: int = 2_000,
    gaussian_trajectories: int = 32,
    tanh_hidden_size: int = 16,
    tanh_steps: int = 400,
    tanh_trajectories: int = 8,
    tanh_gain: float = 2.0,
    warmup_steps: int = 50,
    seed: int = 0,
) -> xr.Dataset:
    """Run the engine on the known systems; see the module docstring. Exponents in nats/step.

    Dims: ``henon_exponent`` (2), ``gaussian_exponent`` (gaussian_size), ``tanh_exponent``
    (tanh_hidden_size), ``step`` (running estimates of the two maps, every ``record_every``
    averaged steps after warm-up), ``dtype`` (float32, float64), ``reorthonormalize_every``
    (1, 5, 10). Each ``*_reference`` variable holds the independent answer.
    """
    started = time.perf_counter()
    henon = _autonomous(HenonMap(1.4, 0.3, seed=seed), map_trajectories, map_steps, warmup_steps, record_every)
    logistic = _autonomous(LogisticMap(4.0, seed=seed), map_trajectories, map_steps, warmup_steps, record_every)
    gaussian_system = GaussianProductMap(gaussian_size)
    generator = torch.Generator().manual_seed(seed)
    gaussian = lyapunov_spectrum(
        gaussian_system,
        gaussian_system.random_inputs(gaussian_trajectories, gaussian_steps, generator=generator),
        warmup_steps=warmup_steps,
    )
    data_vars = {}
    data_vars.update(_map_variables("henon", henon, HENON_REFERENCE, "henon_exponent"))
    data_vars.update(_map_variables("logistic", logistic, [math.log(2.0)], None))
    data_vars.update({
        "gaussian_exponents": (("gaussian_exponent",), gaussian.exponents.numpy(), {"units": UNITS}),
        "gaussian_stderr": (("gaussian_exponent",), gaussian.stderr.numpy(), {"units": UNITS}),
        "gaussian_reference": (("gaussian_exponent",), newman_exponents(gaussian_size), {
            "units": UNITS, "long_name": "Newman (1986) closed form"}),
    })
    data_vars.update(_tanh_precision(tanh_hidden_size, tanh_trajectories, tanh_steps, warmup_steps,
                                     tanh_gain, seed))
    coords = {
        "henon_exponent": [1, 2],
        "gaussian_exponent": np.arange(1, gaussian_size + 1),
        "tanh_exponent": np.arange(1, tanh_hidden_size + 1),
        "step": henon.history_steps.numpy(),
        "dtype": list(FLOAT_DTYPES),
        "reorthonormalize_every": list(REORTHONORMALIZE_INTERVALS),
    }
    attributes = {
        "map_steps": map_steps, "map_trajectories": map_trajectories, "warmup_steps": warmup_steps,
        "gaussian_size": gaussian_size, "gaussian_steps": gaussian_steps,
        "gaussian_trajectories": gaussian_trajectories, "tanh_hidden_size": tanh_hidden_size,
        "tanh_steps": tanh_steps, "tanh_trajectories": tanh_trajectories, "tanh_gain": tanh_gain,
        "seed": seed, "exponent_units": UNITS, "rnn_lyapunov_validation": 1,
    }
    dataset = xr.Dataset(data_vars, coords=coords, attrs=attributes)
    dataset.attrs["compute_seconds"] = round(time.perf_counter() - started, 2)
    return dataset


def load_validation(path) -> xr.Dataset:
    """Open a validation dataset written by the ``validate_engine`` rule (loaded into memory)."""
    from rnn_lyapunov.io.readers import read_netcdf

    return read_netcdf(path, what="validation file", marker="rnn_lyapunov_validation",
                       remedy=f"Delete it and run `snakemake {path}` (rnn_lyapunov.analysis.validation.compute_validation).")
