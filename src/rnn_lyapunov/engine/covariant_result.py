"""The covariant Lyapunov vectors as a labelled ``xarray.Dataset``, and the angles read from them.

Angles are in radians. CLVs are defined up to sign, so the angle between two of them is taken
between the lines they span: ``arccos |v_i . v_j|`` in [0, pi/2]. The angle between the unstable
and stable subspaces is the smallest principal angle between ``span(v_1..v_u)`` and the span of
the other computed vectors; bounded away from 0 along a trajectory, it says the dynamics there are
hyperbolic (Ginelli et al. 2007; Kuptsov & Parlitz 2012, sec. 8).
"""

from __future__ import annotations

import numpy as np

from rnn_lyapunov.engine.spectrum import UNITS
from rnn_lyapunov.errors import InputError

REFERENCES = ("Ginelli et al., PRL 99, 130601 (2007); Kuptsov & Parlitz, J. Nonlinear Sci. 22, 727 (2012)")


def clv_dataset(vectors, growth_rates, plan, *, tangent_dtype: str):
    """vectors (batch, kept, n, k) and growth rates (batch, kept, k), float64 CPU tensors -> Dataset."""
    import xarray as xr

    batch, kept, size, k = vectors.shape
    coords = {
        "trajectory": ("trajectory", np.arange(batch), {"long_name": "input sequence"}),
        "step": ("step", np.array(plan.kept_steps, dtype=np.int64),
                 {"long_name": "input index t (0-based); the vector lives at the state after input t"}),
        "state": ("state", np.arange(size), {"long_name": "tangent-space coordinate"}),
        "vector": ("vector", np.arange(1, k + 1), {"long_name": "CLV index, in order of decreasing exponent"}),
    }
    data_vars = {
        "vectors": (("trajectory", "step", "state", "vector"), vectors.numpy(),
                    {"units": "1", "long_name": "covariant Lyapunov vector (unit norm, sign arbitrary)"}),
        "local_growth_rates": (("trajectory", "step", "vector"), growth_rates.numpy(),
                               {"units": UNITS, "long_name": "log of the stretch of each CLV over step t"}),
    }
    attributes = {
        "method": "Ginelli", "references": REFERENCES, "growth_rate_units": UNITS,
        "n_vectors": k, "warmup_steps": plan.warmup_steps, "backward_steps": plan.backward_steps,
        "time_steps": plan.time_steps, "tangent_dtype": tangent_dtype, "segment_steps": plan.segment_steps,
        "recomputed_steps": plan.recomputed_steps, "stored_r_factor_bytes": plan.stored_r_factor_bytes,
        "checkpoint_bytes": plan.checkpoint_bytes,
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attributes)


def _vectors(clvs) -> np.ndarray:
    if not hasattr(clvs, "data_vars") or "vectors" not in clvs:
        raise InputError("clvs must be the Dataset returned by covariant_lyapunov_vectors (with a `vectors` variable)",
                         arguments=("clvs",))
    return clvs["vectors"].transpose("trajectory", "step", "state", "vector").values


def clv_angles(clvs, pairs=((1, 2),)):
    """Angles between pairs of CLVs, radians in [0, pi/2]: DataArray (pair, trajectory, step).

    pairs: (i, j) 1-based vector indices, e.g. ``[(1, 2), (1, 3)]``; the coordinate ``pair`` labels
    them ``"1-2"``, with ``first`` and ``second`` as coordinates too.
    """
    import xarray as xr

    vectors = _vectors(clvs)
    k = vectors.shape[-1]
    try:
        pairs = [(int(i), int(j)) for i, j in pairs]
    except (TypeError, ValueError):
        raise InputError(f"pairs must be a sequence of (i, j) vector indices, got {pairs!r}", arguments=("pairs",)) from None
    bad = [pair for pair in pairs if not (1 <= pair[0] <= k and 1 <= pair[1] <= k and pair[0] != pair[1])]
    if not pairs or bad:
        raise InputError(f"pairs must be non-empty, of two different vector indices in 1..{k}; bad: {bad}",
                         arguments=("pairs",))
    cosines = np.stack([np.abs(np.einsum("tsn,tsn->ts", vectors[..., i - 1], vectors[..., j - 1]))
                        for i, j in pairs])
    angles = np.arccos(np.clip(cosines, 0.0, 1.0))
    return xr.DataArray(
        angles, dims=("pair", "trajectory", "step"),
        coords={"pair": [f"{i}-{j}" for i, j in pairs], "first": ("pair", [i for i, _ in pairs]),
                "second": ("pair", [j for _, j in pairs]), "trajectory": clvs["trajectory"].values,
                "step": clvs["step"].values},
        attrs={"units": "radians", "long_name": "angle between the lines of two CLVs"})


def unstable_subspace_size(clvs) -> int:
    """How many CLVs have a positive mean local growth rate (over trajectories and steps)."""
    return int((clvs["local_growth_rates"].mean(("trajectory", "step")).values > 0).sum())


def unstable_stable_angle(clvs, n_unstable="auto"):
    """Smallest principal angle between span(v_1..v_u) and span(v_{u+1}..v_k): DataArray (trajectory, step), radians.

    n_unstable: u, or "auto": the number of CLVs whose local growth rates average to > 0 over all
    trajectories and steps. With k < state_size vectors the second span holds only the computed ones.
    Computed as arcsin of the smallest singular value of the part of the second (orthonormalised)
    span orthogonal to the first, which keeps its digits for small angles, unlike arccos.
    """
    import xarray as xr

    vectors = _vectors(clvs)
    k = vectors.shape[-1]
    if n_unstable == "auto":
        n_unstable = unstable_subspace_size(clvs)
        if not 0 < n_unstable < k:
            raise InputError(
                f"n_unstable='auto' found {n_unstable} of {k} CLVs with a positive mean growth rate: there is no split "
                "into unstable and stable subspaces; pass n_unstable as an int in 1..n_vectors-1.",
                arguments=("n_unstable",))
    elif isinstance(n_unstable, bool) or not isinstance(n_unstable, (int, np.integer)) or not 0 < n_unstable < k:
        raise InputError(f"n_unstable must be 'auto' or an int in 1..{k - 1}, got {n_unstable!r}", arguments=("n_unstable",))
    unstable, _ = np.linalg.qr(vectors[..., :n_unstable])
    stable, _ = np.linalg.qr(vectors[..., n_unstable:])
    outside = stable - unstable @ (np.swapaxes(unstable, -1, -2) @ stable)
    sines = np.linalg.svd(outside, compute_uv=False)[..., -1]
    return xr.DataArray(
        np.arcsin(np.clip(sines, 0.0, 1.0)), dims=("trajectory", "step"),
        coords={"trajectory": clvs["trajectory"].values, "step": clvs["step"].values},
        attrs={"units": "radians", "n_unstable": int(n_unstable),
               "long_name": "smallest angle between the unstable and stable CLV subspaces"})
