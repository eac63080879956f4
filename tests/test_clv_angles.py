"""Angles between CLVs and between the unstable and stable subspaces, against scipy and closed forms."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import xarray as xr

from rnn_lyapunov import clv_angles, covariant_lyapunov_vectors, unstable_stable_angle
from rnn_lyapunov.engine.systems import HenonMap
from rnn_lyapunov.errors import InputError


def _random_clvs(trajectories=2, steps=3, size=5, k=4, rates=(0.3, 0.1, -0.2, -0.5), seed=0):
    """A Dataset laid out as covariant_lyapunov_vectors returns it, with random unit vectors."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((trajectories, steps, size, k))
    vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
    growth = np.broadcast_to(np.array(rates[:k]), (trajectories, steps, k)).copy()
    return xr.Dataset({"vectors": (("trajectory", "step", "state", "vector"), vectors),
                       "local_growth_rates": (("trajectory", "step", "vector"), growth)},
                      coords={"trajectory": np.arange(trajectories), "step": np.arange(10, 10 + steps),
                              "state": np.arange(size), "vector": np.arange(1, k + 1)})


@pytest.mark.parametrize("n_unstable", [1, 2, 3])
def test_subspace_angle_is_scipys_smallest_principal_angle(n_unstable):
    clvs = _random_clvs()
    angle = unstable_stable_angle(clvs, n_unstable=n_unstable)
    vectors = clvs["vectors"].values
    for trajectory in range(2):
        for step in range(3):
            columns = vectors[trajectory, step]
            expected = scipy.linalg.subspace_angles(columns[:, :n_unstable], columns[:, n_unstable:]).min()
            assert angle.values[trajectory, step] == pytest.approx(expected, abs=1e-12)
    assert angle.dims == ("trajectory", "step") and angle.attrs["units"] == "radians"


def test_subspace_angle_keeps_its_digits_for_nearly_tangent_subspaces():
    """Two lines at angle 1e-9: arccos of the cosine would give 0 or 2e-8; the arcsin form gives 1e-9."""
    clvs = _random_clvs(trajectories=1, steps=1, size=2, k=2)
    clvs["vectors"].values[0, 0] = np.array([[1.0, math.cos(1e-9)], [0.0, math.sin(1e-9)]])
    assert unstable_stable_angle(clvs, n_unstable=1).item() == pytest.approx(1e-9, rel=1e-6)


def test_pair_angles_are_the_angles_between_lines():
    clvs = _random_clvs()
    angles = clv_angles(clvs, [(1, 2), (4, 2)])
    vectors = clvs["vectors"].values
    for (first, second), label in zip([(1, 2), (4, 2)], ["1-2", "4-2"]):
        cosine = np.einsum("tsn,tsn->ts", vectors[..., first - 1], vectors[..., second - 1])
        # the angle of the lines: the smaller of the angle of the vectors and its supplement
        line_angle = np.minimum(np.arccos(cosine), math.pi - np.arccos(cosine))
        np.testing.assert_allclose(angles.sel(pair=label).values, line_angle, atol=1e-12)
    assert list(angles["first"].values) == [1, 4] and list(angles["second"].values) == [2, 2]


def test_henon_unstable_stable_angle_with_auto_split_is_the_angle_between_its_two_clvs():
    clvs = covariant_lyapunov_vectors(HenonMap(), torch.zeros(2, 200, 0, dtype=torch.float64), warmup_steps=50,
                                      backward_steps=50)
    angle = unstable_stable_angle(clvs)  # one positive exponent: u = 1
    assert angle.attrs["n_unstable"] == 1
    np.testing.assert_allclose(angle.values, clv_angles(clvs, [(1, 2)]).values[0], atol=1e-12)
    assert float(angle.min()) > 0  # the Henon attractor's tangencies are rare: none on 100 steps of these orbits


@pytest.mark.parametrize("call, named", [
    (lambda clvs: unstable_stable_angle(clvs, n_unstable=0), "n_unstable"),
    (lambda clvs: unstable_stable_angle(clvs, n_unstable=4), "n_unstable"),
    (lambda clvs: unstable_stable_angle(clvs.assign(local_growth_rates=-abs(clvs.local_growth_rates))), "n_unstable"),
    (lambda clvs: clv_angles(clvs, [(1, 1)]), "pairs"),
    (lambda clvs: clv_angles(clvs, [(0, 2)]), "pairs"),
    (lambda clvs: clv_angles(clvs, [(1, 5)]), "pairs"),
    (lambda clvs: clv_angles(clvs, [1, 2]), "pairs"),
    (lambda clvs: clv_angles(clvs.drop_vars("vectors")), "clvs"),
])
def test_bad_angle_arguments_raise_input_error_naming_them(call, named):
    with pytest.raises(InputError, match=named) as error:
        call(_random_clvs())
    assert named in error.value.arguments
