"""Angles between covariant Lyapunov vectors at a run's spectrum epochs (the ``spectrum.clv_angles`` setting).

At every epoch with a spectrum, :func:`compute_clv_angles` runs
:func:`~rnn_lyapunov.engine.covariant.covariant_lyapunov_vectors` on the same fixed inputs, for the
leading ``spectrum.clv_vectors`` CLVs, with ``spectrum.warmup_steps`` as both the forward warm-up and
the backward transient, and keeps two numbers per trajectory (radians; names and meanings in
:data:`rnn_lyapunov.io.run_file.CLV_ANGLE_VARIABLES`): the median over the steps of the angle
between CLV 1 and CLV 2, and the smallest angle over the steps between the unstable and the stable
subspaces (Ginelli et al. 2007; Kuptsov & Parlitz 2012), NaN when no computed CLV grows on average
or all of them do (no split into the two).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from rnn_lyapunov.devices import FLOAT_DTYPES
from rnn_lyapunov.errors import NonFiniteStateError
from rnn_lyapunov.config.run_checks import check_clv_settings  # noqa: F401  (train_run checks the built inputs with it)


def angle_summaries(clvs) -> dict[str, np.ndarray]:
    """``{"clv_angle_1_2", "clv_unstable_stable_angle"}`` -> (trajectory,) float64 radians from a CLV dataset."""
    from rnn_lyapunov.engine.covariant_result import clv_angles, unstable_stable_angle, unstable_subspace_size

    pair = clv_angles(clvs, [(1, 2)]).isel(pair=0)
    n_unstable = unstable_subspace_size(clvs)
    if 0 < n_unstable < clvs.sizes["vector"]:
        smallest = unstable_stable_angle(clvs, n_unstable).min("step").values
    else:
        smallest = np.full(clvs.sizes["trajectory"], np.nan)
    return {"clv_angle_1_2": pair.median("step").values.astype(np.float64),
            "clv_unstable_stable_angle": np.asarray(smallest, dtype=np.float64)}


def compute_clv_angles(core, inputs: torch.Tensor, spectrum_config: dict, logger=None) -> dict | None:
    """The angle summaries (float64 tensors of shape (trajectories,), radians) of a copy of ``core`` on
    ``inputs`` (trajectories, steps, input_size), in ``spectrum.dtype``; None if the CLVs diverged."""
    from rnn_lyapunov.architectures.hidden_only import spectrum_system
    from rnn_lyapunov.engine.covariant import covariant_lyapunov_vectors

    dtype = FLOAT_DTYPES[spectrum_config["dtype"]]
    system = spectrum_system(copy.deepcopy(core).to(dtype).requires_grad_(False), spectrum_config["lstm_state"])
    transient = spectrum_config["warmup_steps"]
    try:
        clvs = covariant_lyapunov_vectors(system, inputs.to(dtype), n_vectors=spectrum_config["clv_vectors"],
                                          warmup_steps=transient, backward_steps=transient,
                                          tangent_dtype=spectrum_config["tangent_dtype"])
    except NonFiniteStateError as error:
        if logger is not None:
            logger.warning("CLV angles not computed, recording NaN: %s", error)
        return None
    # tensors: the checkpoint is loaded with weights_only, which refuses numpy arrays
    return {name: torch.from_numpy(values) for name, values in angle_summaries(clvs).items()}
