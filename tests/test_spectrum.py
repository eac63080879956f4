"""Quantities derived from a spectrum and its NetCDF round trip."""

import math

import pytest
import torch
import xarray as xr

from rnn_lyapunov import Spectrum, lyapunov_spectrum
from rnn_lyapunov.engine.spectrum import kaplan_yorke_dimension
from rnn_lyapunov.io.storage import write_netcdf_atomic
from rnn_lyapunov.engine.systems import TanhRNN


@pytest.mark.parametrize(
    ("exponents", "expected"),
    [
        ([0.5, -1.0], 1.5),  # 1 + 0.5 / 1
        ([0.3, 0.1, -0.8, -2.0], 2.5),  # 2 + 0.4 / 0.8
        ([-0.1, -0.2], 0.0),
        ([0.2, 0.1], 2.0),
        ([0.4, -math.inf], 1.0),
    ],
)
def test_kaplan_yorke_dimension_closed_form(exponents, expected):
    assert kaplan_yorke_dimension(torch.tensor(exponents, dtype=torch.float64)) == pytest.approx(expected)


def test_mean_stderr_and_entropy_from_per_trajectory_values():
    per_trajectory = torch.tensor([[0.3, -0.5], [0.1, -0.7], [0.2, -0.9]], dtype=torch.float64)
    spectrum = Spectrum(per_trajectory=per_trajectory, steps=10)
    assert spectrum.exponents.tolist() == pytest.approx([0.2, -0.7])
    assert spectrum.stderr.tolist() == pytest.approx([0.1 / math.sqrt(3), 0.2 / math.sqrt(3)])
    assert spectrum.entropy == pytest.approx(0.2)


def test_single_trajectory_has_undefined_stderr():
    spectrum = Spectrum(per_trajectory=torch.tensor([[0.1, -0.2]], dtype=torch.float64))
    assert spectrum.stderr.isnan().all()


def test_dataset_round_trips_through_netcdf(tmp_path):
    rnn = TanhRNN(hidden_size=5, input_size=2, seed=0)
    inputs = rnn.random_inputs(3, 40, generator=torch.Generator().manual_seed(0))
    dataset = lyapunov_spectrum(rnn, inputs, warmup_steps=5, record_every=10).to_dataset()
    assert dataset["lyapunov_exponents_per_trajectory"].dims == ("trajectory", "exponent")
    assert dataset["lyapunov_running_estimate"].dims == ("step", "trajectory", "exponent")
    assert dataset["lyapunov_exponents"].attrs["units"] == "nats per time step"
    path = tmp_path / "spectrum.nc"
    write_netcdf_atomic(dataset, path)
    with xr.open_dataset(path) as reopened:
        xr.testing.assert_identical(reopened.load(), dataset)


def test_bits_are_nats_divided_by_ln_2_and_the_dimension_is_unchanged():
    import math

    spectrum = Spectrum(per_trajectory=torch.tensor([[0.3, -0.1, -1.2], [0.1, -0.3, -1.0]], dtype=torch.float64))
    nats, bits = spectrum.to_dataset("nats"), spectrum.to_dataset("bits")
    for name in ("lyapunov_exponents", "lyapunov_exponents_per_trajectory", "lyapunov_stderr", "entropy"):
        assert torch.allclose(torch.as_tensor(bits[name].values) * math.log(2), torch.as_tensor(nats[name].values),
                              rtol=1e-15, atol=0)
    assert bits.lyapunov_exponents.attrs["units"] == bits.attrs["exponent_units"] == "bits per time step"
    assert float(bits.kaplan_yorke_dimension) == float(nats.kaplan_yorke_dimension)
