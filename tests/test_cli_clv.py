"""``rnn-lyapunov clv``: a saved model's CLVs written to NetCDF, against a closed form and the library call."""

import math

import numpy as np
import torch
import xarray as xr

from rnn_lyapunov import cli, covariant_lyapunov_vectors, create_model


def run(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_clv_of_an_rnn_at_its_fixed_point_are_the_axes_growing_at_log_weights(capsys, tmp_path):
    """nn.RNN with W = diag(0.5, 0.25), zero bias and zero input stays at h = 0: J = W exactly, so the CLVs are
    the coordinate axes and the growth rates ln 0.5, ln 0.25 at every step."""
    module = torch.nn.RNN(1, 2).double()
    with torch.no_grad():
        module.weight_hh_l0.copy_(torch.diag(torch.tensor([0.5, 0.25], dtype=torch.float64)))
        module.bias_hh_l0.zero_()
        module.bias_ih_l0.zero_()
    torch.save(module.state_dict(), tmp_path / "rnn.pt")
    np.save(tmp_path / "zeros.npy", np.zeros((3, 80, 1)))
    # the warm-up converges like 2^-steps (the gap is ln 2): 50 steps for 1e-15
    code, out, err = run(capsys, "clv", "--architecture", "rnn", "--state-dict", tmp_path / "rnn.pt", "--inputs",
                         tmp_path / "zeros.npy", "--warmup-steps", 50, "--backward-steps", 10, "--keep-every", 5,
                         "--out", tmp_path / "clv.nc", "--threads", 1)
    assert code == 0, err
    with xr.open_dataset(tmp_path / "clv.nc") as written:
        np.testing.assert_array_equal(written["step"].values, [50, 55, 60, 65])
        np.testing.assert_allclose(np.abs(written["vectors"].values), np.broadcast_to(np.eye(2), (3, 4, 2, 2)), atol=1e-12)
        np.testing.assert_allclose(written["local_growth_rates"].values,
                                   np.broadcast_to([math.log(0.5), math.log(0.25)], (3, 4, 2)), atol=1e-12)
        assert written.attrs["command"] == "clv" and written.attrs["architecture"] == "rnn"
        assert written["local_growth_rates"].attrs["units"] == "nats per time step"
    assert f"{math.log(0.5):+.6f}" in out and "wrote" in out


def test_clv_command_equals_the_library_call_on_a_saved_model(capsys, tmp_path):
    model = create_model("gru", input_size=2, hidden_size=3, output_size=1).double()
    torch.save(model.state_dict(), tmp_path / "gru.pt")
    inputs = torch.randn(2, 50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.save(inputs, tmp_path / "inputs.pt")
    code, _, err = run(capsys, "clv", "--architecture", "gru", "--state-dict", tmp_path / "gru.pt", "--inputs",
                       tmp_path / "inputs.pt", "--n-vectors", 2, "--warmup-steps", 15, "--backward-steps", 15,
                       "--out", tmp_path / "clv.nc", "-q")
    assert code == 0, err
    expected = covariant_lyapunov_vectors(model.system().requires_grad_(False), inputs, n_vectors=2, warmup_steps=15,
                                          backward_steps=15)
    with xr.open_dataset(tmp_path / "clv.nc") as written:
        np.testing.assert_allclose(written["vectors"].values, expected["vectors"].values, atol=1e-12)


def test_clv_command_refuses_transients_longer_than_the_sequences_naming_the_flags(capsys, tmp_path):
    model = create_model("rnn", input_size=1, hidden_size=2, output_size=1)
    torch.save(model.state_dict(), tmp_path / "rnn.pt")
    np.save(tmp_path / "zeros.npy", np.zeros((1, 30, 1)))
    code, _, err = run(capsys, "clv", "--architecture", "rnn", "--state-dict", tmp_path / "rnn.pt", "--inputs",
                       tmp_path / "zeros.npy", "--warmup-steps", 20, "--backward-steps", 10, "--out", tmp_path / "clv.nc")
    assert code == 2 and "--warmup-steps 20 + --backward-steps 10" in err
    assert not (tmp_path / "clv.nc").exists()
