"""Same config and seed -> bitwise-identical NetCDF data on the CPU; a different seed -> a different file."""

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from rnn_lyapunov.cli import commands as cli
from rnn_lyapunov.config.sweep import expand_sweep


def data_variables(path) -> dict:
    with xr.open_dataset(path) as opened:
        return {name: opened[name].values.copy() for name in opened.data_vars}


def assert_bitwise_equal(first_path, second_path):
    first, second = data_variables(first_path), data_variables(second_path)
    assert set(first) == set(second)
    for name in first:
        # Compare the raw bytes: equal floats, NaN in the same places, same dtype and shape.
        assert first[name].dtype == second[name].dtype and first[name].shape == second[name].shape, name
        assert first[name].tobytes() == second[name].tobytes(), name


@pytest.fixture
def lstm_files(tmp_path):
    torch.manual_seed(11)
    torch.save(torch.nn.LSTM(2, 6).state_dict(), tmp_path / "lstm.pt")
    torch.save(torch.randn(8, 40, 2), tmp_path / "inputs.pt")
    return tmp_path


def spectrum(files, out, seed):
    argv = ["spectrum", "--architecture", "lstm", "--state-dict", files / "lstm.pt", "--inputs", files / "inputs.pt",
            "--trajectories", 3, "--warmup-steps", 5, "--record-every", 5, "--dtype", "float32", "--seed", seed,
            "--threads", 1, "--out", files / out, "-q"]
    assert cli.main([str(arg) for arg in argv]) == 0


def test_spectrum_twice_with_the_same_seed_gives_bitwise_identical_data(lstm_files):
    spectrum(lstm_files, "first.nc", seed=3)
    spectrum(lstm_files, "second.nc", seed=3)
    assert_bitwise_equal(lstm_files / "first.nc", lstm_files / "second.nc")


def test_spectrum_with_another_seed_uses_other_trajectories(lstm_files):
    spectrum(lstm_files, "seed3.nc", seed=3)
    spectrum(lstm_files, "seed4.nc", seed=4)
    first, second = data_variables(lstm_files / "seed3.nc"), data_variables(lstm_files / "seed4.nc")
    assert not np.array_equal(first["lyapunov_exponents_per_trajectory"], second["lyapunov_exponents_per_trajectory"])


def sweep_runs(tmp_path, seeds):
    """Run configs from ``expand_sweep`` for a tiny signal_copy sweep over ``seeds``, data built in memory."""
    config = {
        "datasets": {"signal_copy": {"options": {"n_train": 64, "n_validation": 16, "n_test": 4, "delay": 3}}},
        "sweep": {"cross": {"seed": seeds}},
        "training": {"dataset": "signal_copy", "architecture": "gru", "hidden_size": 6, "init": "uniform",
                     "init_scale": 0.5, "learning_rate": 0.01, "epochs": 1, "batch_size": 16, "device": "cpu",
                     "threads": 1},
        "spectrum": {"trajectories": 2, "n_exponents": 3, "record_every": None},
    }
    runs = expand_sweep(config, results_dir=tmp_path)
    for run in runs:
        run["data_dir"] = None
    return runs


def train(tmp_path, run, name):
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(run))
    argv = ["train", "--config", tmp_path / f"{name}.yaml", "--run-dir", tmp_path / name,
            "--out", tmp_path / f"{name}.nc", "-q"]
    assert cli.main([str(arg) for arg in argv]) == 0
    return tmp_path / f"{name}.nc"


def test_training_twice_with_the_same_config_gives_bitwise_identical_data(tmp_path):
    (run,) = sweep_runs(tmp_path, seeds=[0])
    assert_bitwise_equal(train(tmp_path, run, "first"), train(tmp_path, run, "second"))


def test_sweep_runs_differing_only_in_seed_write_different_files_with_different_data(tmp_path):
    runs = sweep_runs(tmp_path, seeds=[0, 1])
    assert runs[0]["run_id"] != runs[1]["run_id"]
    paths = [train(tmp_path, run, run["run_id"]) for run in runs]
    assert paths[0] != paths[1]
    first, second = data_variables(paths[0]), data_variables(paths[1])
    assert not np.array_equal(first["lyapunov_exponents"], second["lyapunov_exponents"])
    assert not np.array_equal(first["val_loss"], second["val_loss"])


@pytest.mark.slow
def test_spectrum_in_two_processes_with_different_hash_seeds_gives_bitwise_identical_data(lstm_files):
    # Separate interpreters catch what repeating the command in one process cannot: state that
    # differs per process, such as the order of sets and dicts keyed by strings.
    import os
    import shutil
    import subprocess
    import sys

    script = shutil.which("rnn-lyapunov", path=os.path.dirname(sys.executable))
    for hash_seed, out in (("1", "process1.nc"), ("2", "process2.nc")):
        argv = [script, "spectrum", "--architecture", "lstm", "--state-dict", lstm_files / "lstm.pt",
                "--inputs", lstm_files / "inputs.pt", "--trajectories", 3, "--seed", 5, "--threads", 1,
                "--out", lstm_files / out, "-q"]
        finished = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=300,
                                  env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert finished.returncode == 0, finished.stderr
    assert_bitwise_equal(lstm_files / "process1.nc", lstm_files / "process2.nc")
