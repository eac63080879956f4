"""The ``rnn-lyapunov`` command: listings, the spectrum command against closed forms and torch.nn, exit codes."""

import json
import math
import os
import re

import numpy as np
import pytest
import torch
import xarray as xr

from rnn_lyapunov.cli import commands as cli
from rnn_lyapunov.datasets import describe_datasets, prepare_dataset
from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum
from rnn_lyapunov.architectures.model import create_model
from rnn_lyapunov.architectures.registry import describe_architectures
from rnn_lyapunov.engine.spectrum import UNITS
from rnn_lyapunov.architectures.torch_interop import from_torch


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``rnn-lyapunov argv`` run in this process."""
    code = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def diagonal_rnn(weights=(0.5, 0.25), input_size=1):
    """nn.RNN whose state stays at the fixed point 0 under zero input: J = diag(weights), exactly."""
    rnn = torch.nn.RNN(input_size, len(weights))
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.diag(torch.tensor(weights)))
        rnn.bias_hh_l0.zero_()
        rnn.bias_ih_l0.zero_()
    return rnn


@pytest.fixture
def files(tmp_path):
    """A plain nn.RNN state dict and zero inputs (3 sequences x 100 steps x 1 feature)."""
    torch.save(diagonal_rnn().state_dict(), tmp_path / "rnn.pt")
    np.save(tmp_path / "zeros.npy", np.zeros((3, 100, 1)))
    return tmp_path


def spectrum_argv(files, *extra, out=None):
    """The spectrum command on ``files``; 60 warm-up steps align the random frame with the eigenvectors
    to within 0.5 ** 60, so the exponents equal ln 0.5 and ln 0.25 to rounding."""
    return ["spectrum", "--architecture", "rnn", "--state-dict", files / "rnn.pt", "--inputs", files / "zeros.npy",
            "--warmup-steps", 60, "--out", out or files / "out.nc", "--threads", 1, "--quiet", *extra]


@pytest.mark.parametrize("command", [[], ["architectures"], ["datasets"], ["spectrum"], ["train"]])
def test_every_subcommand_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: rnn-lyapunov" in capsys.readouterr().out


def test_architectures_lists_every_registered_name_with_its_description(capsys):
    code, out, _ = run(capsys, "architectures")
    assert code == 0
    lines = out.splitlines()
    for name, description in describe_architectures().items():
        assert any(line.split()[0] == name and line.endswith(description) for line in lines), name


def test_datasets_lists_every_registered_name_with_its_description(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    for name, description in describe_datasets().items():
        assert f"{name}  " in out and description in out


def test_spectrum_of_rnn_at_a_fixed_point_is_log_of_the_recurrent_weights(capsys, files):
    code, _, _ = run(capsys, *spectrum_argv(files))
    assert code == 0
    with xr.open_dataset(files / "out.nc") as written:
        exponents = written["lyapunov_exponents"].values
        assert written["lyapunov_exponents"].attrs["units"] == UNITS
    np.testing.assert_allclose(exponents, [math.log(0.5), math.log(0.25)], rtol=0, atol=1e-12)


def test_spectrum_prints_exponents_with_stderr_and_kaplan_yorke_dimension(capsys, files):
    code, out, _ = run(capsys, *[arg for arg in spectrum_argv(files) if arg != "--quiet"])
    assert code == 0
    assert f"{math.log(0.5):+.6f} +- 0.000000" in out
    assert "nats per time step" in out and "Kaplan-Yorke dimension 0.0000" in out


def test_quiet_spectrum_prints_nothing(capsys, files):
    code, out, err = run(capsys, *spectrum_argv(files))
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("module_type", [torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU])
def test_spectrum_of_a_torch_state_dict_equals_that_of_from_torch(capsys, tmp_path, module_type):
    module = module_type(3, 4, num_layers=2).double()
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    inputs = torch.randn(4, 30, 3, dtype=torch.float64)
    torch.save(inputs, tmp_path / "inputs.pt")
    name = module_type.__name__.lower()
    code, _, err = run(capsys, "spectrum", "--architecture", name, "--state-dict", tmp_path / "weights.pt",
                       "--inputs", tmp_path / "inputs.pt", "--warmup-steps", 5, "--out", tmp_path / "out.nc", "--threads", 1, "-q",
                       "--reorthonormalize-every", 1)  # as the reference below (the flag's default is auto)
    assert code == 0, err
    expected = lyapunov_spectrum(from_torch(module).requires_grad_(False), inputs, warmup_steps=5)
    with xr.open_dataset(tmp_path / "out.nc") as written:
        np.testing.assert_allclose(written["lyapunov_exponents_per_trajectory"].values,
                                   expected.per_trajectory.numpy(), rtol=0, atol=1e-12)
        assert (written.attrs["architecture"], written.attrs["hidden_size"], written.attrs["num_layers"]) == (name, 4, 2)
        assert written.attrs["weights_layout"] == "torch_module"


def test_spectrum_of_a_sequence_model_state_dict_equals_that_of_the_model(capsys, tmp_path):
    model = create_model("lstm", input_size=2, hidden_size=5, output_size=3).double()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    inputs = torch.randn(2, 25, 2, dtype=torch.float64)
    np.save(tmp_path / "inputs.npy", inputs.numpy())
    code, _, err = run(capsys, "spectrum", "--architecture", "lstm", "--state-dict", tmp_path / "model.pt",
                       "--inputs", tmp_path / "inputs.npy", "--n-exponents", 4, "--out", tmp_path / "out.nc", "--threads", 1, "-q")
    assert code == 0, err
    expected = lyapunov_spectrum(model.system().requires_grad_(False), inputs, n_exponents=4)
    with xr.open_dataset(tmp_path / "out.nc") as written:
        np.testing.assert_allclose(written["lyapunov_exponents"].values, expected.exponents.numpy(), rtol=0, atol=1e-12)
        assert written.attrs["weights_layout"] == "sequence_model"


def test_spectrum_reads_inputs_from_netcdf(capsys, files):
    xr.Dataset({"inputs": (("batch", "time", "feature"), np.zeros((2, 100, 1)))}).to_netcdf(files / "zeros.nc")
    argv = spectrum_argv(files)
    argv[argv.index("--inputs") + 1] = files / "zeros.nc"
    assert run(capsys, *argv)[0] == 0
    with xr.open_dataset(files / "out.nc") as written:
        np.testing.assert_allclose(written["lyapunov_exponents"].values, [math.log(0.5), math.log(0.25)], atol=1e-12)
        assert written.sizes["trajectory"] == 2


def test_spectrum_netcdf_carries_provenance_and_hyperparameters(capsys, files):
    run(capsys, *spectrum_argv(files, "--seed", 4, "--trajectories", 2))
    with xr.open_dataset(files / "out.nc") as written:
        for key in ("rnn_lyapunov_version", "git_revision", "torch_version", "device", "config", "created"):
            assert key in written.attrs
        assert (written.attrs["state_size"], written.attrs["seed"], written.attrs["trajectories"]) == (2, 4, 2)
        assert written.attrs["dtype"] == "float64"
        assert (written.attrs["time_steps"], written.attrs["warmup_steps"], written.attrs["steps"]) == (100, 60, 40)


def test_spectrum_with_a_prepared_dataset_uses_its_validation_sequences(capsys, tmp_path):
    data_dir = prepare_dataset("adding", tmp_path / "adding", n_train=4, n_validation=9, n_test=2, sequence_length=10)
    torch.save(diagonal_rnn(input_size=2).state_dict(), tmp_path / "rnn.pt")
    code, _, err = run(capsys, "spectrum", "--architecture", "rnn", "--state-dict", tmp_path / "rnn.pt",
                       "--dataset", "adding", "--data-dir", data_dir, "--trajectories", 3, "--steps", 25,
                       "--out", tmp_path / "out.nc", "--threads", 1, "-q")
    assert code == 0, err
    with xr.open_dataset(tmp_path / "out.nc") as written:
        # 25 steps join three 10-step validation sequences per trajectory; 3 trajectories use all 9.
        assert written.sizes["trajectory"] == 3 and written.attrs["time_steps"] == 25


def test_unprepared_default_dataset_is_built_in_memory_with_a_note(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(diagonal_rnn(input_size=2).state_dict(), tmp_path / "rnn.pt")
    code, _, err = run(capsys, "spectrum", "--architecture", "rnn", "--state-dict", "rnn.pt", "--dataset", "adding",
                       "--trajectories", 2, "--steps", 5, "--out", "out.nc", "--threads", 1)
    assert code == 0
    assert "not prepared in results/data/adding" in err and "building it in memory" in err


def test_internal_error_exits_1_with_a_hint_and_no_traceback(capsys, files, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("rnn_lyapunov.engine.lyapunov.lyapunov_spectrum", broken)
    code, _, err = run(capsys, *spectrum_argv(files))
    assert code == 1
    assert "internal error: RuntimeError: boom" in err and "--debug" in err and "Traceback" not in err


def test_debug_shows_the_traceback(capsys, files, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("rnn_lyapunov.engine.lyapunov.lyapunov_spectrum", broken)
    code, _, err = run(capsys, "--debug", *spectrum_argv(files))
    assert code == 1 and "Traceback" in err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["spectrum", "--architecture", "rnn"])
    assert exit_info.value.code == 2
    assert "required" in capsys.readouterr().err


PLUGIN = """
import torch
from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("leaky_probe")
class LeakyProbe(RecurrentArchitecture):
    description = "leaky tanh RNN defined in a local plugin file"

    def step(self, state, x):
        return 0.5 * state + 0.5 * torch.tanh(x @ self.weight_ih_l0.T + state @ self.weight_hh_l0.T)
"""


def test_console_script_lists_a_plugin_loaded_from_a_file(tmp_path):
    # In a child process, so the plugin does not join this session's registry.
    import shutil
    import subprocess
    import sys

    (tmp_path / "leaky_probe.py").write_text(PLUGIN)
    script = shutil.which("rnn-lyapunov", path=os.path.dirname(sys.executable))
    assert script is not None, "the console script rnn-lyapunov is not installed next to python"
    finished = subprocess.run([script, "architectures", "--plugin", str(tmp_path / "leaky_probe.py")],
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    # names are padded to the longest registered one
    assert re.search(r"^leaky_probe +leaky tanh RNN defined in a local plugin file$", finished.stdout, re.MULTILINE)
    assert "lstm" in finished.stdout


def test_train_writes_to_the_default_paths_and_prints_a_summary(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"run_id": "cli_probe", "dataset": "signal_copy", "architecture": "rnn", "hidden_size": 4, "epochs": 1,
              "batch_size": 16, "device": "cpu", "threads": 1,
              "dataset_options": {"n_train": 32, "n_validation": 8, "n_test": 4, "delay": 2},
              "spectrum": {"trajectories": 2, "record_every": None}}
    (tmp_path / "run.json").write_text(json.dumps(config))
    code, out, err = run(capsys, "train", "--config", "run.json")
    assert code == 0, err
    assert (tmp_path / "results" / "spectra" / "cli_probe.nc").is_file()
    assert (tmp_path / "results" / "runs" / "cli_probe").is_dir()
    assert "run cli_probe: 1 epochs" in out and "nats/step" in out


def test_dead_directions_give_minus_infinity_and_a_single_warning_line(capsys, tmp_path):
    # relu of a negative pre-activation: the state stays 0 and the Jacobian is 0, so every exponent is -inf.
    rnn = torch.nn.RNN(1, 2, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_ih_l0.fill_(1.0)
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
    torch.save(rnn.state_dict(), tmp_path / "relu.pt")
    np.save(tmp_path / "negative.npy", -np.ones((2, 10, 1)))
    code, _, err = run(capsys, "spectrum", "--architecture", "rnn", "--architecture-option", "nonlinearity=relu",
                       "--state-dict", tmp_path / "relu.pt", "--inputs", tmp_path / "negative.npy",
                       "--out", tmp_path / "out.nc", "--threads", 1)
    assert code == 0, err
    warning_lines = [line for line in err.splitlines() if "warning:" in line]
    assert len(warning_lines) == 1 and "collapsed to zero" in warning_lines[0]
    with xr.open_dataset(tmp_path / "out.nc") as written:
        assert np.isneginf(written["lyapunov_exponents"].values).all()


def test_spectrum_reads_the_model_from_a_training_checkpoint(capsys, tmp_path):
    from rnn_lyapunov.training.loop import train_run

    config = {"run_id": "ckpt", "dataset": "adding", "architecture": "gru", "hidden_size": 3, "epochs": 1,
              "batch_size": 16, "device": "cpu", "threads": 1,
              "dataset_options": {"n_train": 32, "n_validation": 4, "n_test": 2, "sequence_length": 12},
              "spectrum": {"trajectories": 2, "record_every": None}}
    train_run(config, tmp_path / "run", tmp_path / "run.nc")
    inputs = torch.rand(2, 12, 2, dtype=torch.float64)
    torch.save(inputs, tmp_path / "inputs.pt")
    code, _, err = run(capsys, "spectrum", "--architecture", "gru", "--state-dict", tmp_path / "run" / "checkpoint.pt",
                       "--inputs", tmp_path / "inputs.pt", "--out", tmp_path / "out.nc", "--threads", 1, "-q")
    assert code == 0, err
    model = create_model("gru", input_size=2, hidden_size=3, output_size=1).double()
    model.load_state_dict(torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"])
    expected = lyapunov_spectrum(model.system().requires_grad_(False), inputs)
    with xr.open_dataset(tmp_path / "out.nc") as written:
        np.testing.assert_allclose(written["lyapunov_exponents"].values, expected.exponents.numpy(), rtol=0, atol=1e-12)


def test_library_deprecation_notices_are_hidden_but_runtime_warnings_shown(capsys, monkeypatch):
    import warnings

    def warn_twice(descriptions):
        warnings.warn("some library API is deprecated", DeprecationWarning)
        warnings.warn("something odd happened", RuntimeWarning)

    monkeypatch.setattr(cli, "_print_table", warn_twice)
    code, _, err = run(capsys, "datasets")
    assert code == 0
    assert "something odd happened" in err and "deprecated" not in err


def test_output_piped_into_a_closed_reader_exits_quietly(capsys, monkeypatch):
    def closed_pipe(descriptions):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_print_table", closed_pipe)
    assert run(capsys, "datasets") == (0, "", "")


def test_ctrl_c_exits_130_with_a_note_that_no_file_is_partial(capsys, files, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rnn_lyapunov.engine.lyapunov.lyapunov_spectrum", interrupted)
    code, _, err = run(capsys, *spectrum_argv(files))
    assert code == 130 and "interrupted" in err and "atomically" in err
    assert not (files / "out.nc").exists()
