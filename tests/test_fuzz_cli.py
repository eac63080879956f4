"""Fuzzing the ``spectrum`` command line: random flag values never give an internal error.

Every combination either succeeds (exit 0, a NetCDF file without NaN exponents) or is refused as
bad usage or input (exit 2, one message, the previous output untouched). Exit code 1 would mean an
unexpected exception: a bug. Run with ``--hypothesis-show-statistics`` for the case count.
"""

import math

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rnn_lyapunov.cli import commands as cli

PREVIOUS = b"previous result\n"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz_cli")
    torch.manual_seed(0)
    torch.save(torch.nn.GRU(2, 3, num_layers=2).state_dict(), directory / "gru.pt")
    np.save(directory / "inputs.npy", np.random.default_rng(0).normal(size=(4, 12, 2)))
    return directory


def flag_values(minimum):
    """Mostly sensible integers, sometimes out of range or not a number at all."""
    sensible = st.integers(minimum, 6)
    return st.one_of(sensible, sensible, sensible, sensible, st.integers(-2, 40), st.sampled_from(["x", "1.5", "", "1e3", "-0"]))


OPTIONAL_FLAGS = {
    "--n-exponents": flag_values(1), "--warmup-steps": flag_values(0), "--steps": flag_values(1),
    "--trajectories": flag_values(1), "--reorthonormalize-every": flag_values(1), "--record-every": flag_values(1),
    "--hidden-size": st.sampled_from([3, 3, 3, 4, 0]), "--num-layers": st.sampled_from([2, 2, 2, 1, 3]),
    "--input-size": st.sampled_from([2, 2, 2, 3]), "--seed": flag_values(0),
    "--dtype": st.sampled_from(["float32", "float64", "float32", "float64", "float16"]),
    "--device": st.sampled_from(["cpu", "auto", "cpu", "auto", "tpu"]),
    "--architecture-option": st.sampled_from(["nonlinearity=relu", "bogus=1", "novalue"]),
}


@st.composite
def spectrum_argvs(draw):
    architecture = draw(st.sampled_from(["gru"] * 6 + ["lstm", "rnn", "nope"]))
    argv = ["spectrum", "--architecture", architecture, "--threads", "1", "-q"]
    for flag in draw(st.lists(st.sampled_from(sorted(OPTIONAL_FLAGS)), unique=True, max_size=6)):
        argv += [flag, str(draw(OPTIONAL_FLAGS[flag]))]
    return argv


@pytest.mark.slow
@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spectrum_argvs())
def test_spectrum_command_succeeds_or_refuses_with_exit_2_never_exit_1(workspace, capsys, argv):
    out = workspace / "out.nc"
    out.write_bytes(PREVIOUS)
    argv = argv + ["--state-dict", str(workspace / "gru.pt"), "--inputs", str(workspace / "inputs.npy"), "--out", str(out)]
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:  # argparse refuses bad usage itself
        code = exit_info.code
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert out.read_bytes() == PREVIOUS
        event(f"exit 2: {err.strip().splitlines()[-1][:60] if err.strip() else ''}")
        return
    with xr.open_dataset(out) as written:
        exponents = written["lyapunov_exponents_per_trajectory"].values
    assert not np.isnan(exponents).any() and not np.isposinf(exponents).any()
    event("exit 0")
