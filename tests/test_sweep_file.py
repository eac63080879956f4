"""The sweep NetCDF file: combining per-run files along ``run``, writing and reading it back."""

import json
import shutil
import subprocess

import netCDF4
import numpy as np
import pytest
import torch
import xarray as xr

import rnn_lyapunov
from rnn_lyapunov.engine.spectrum import Spectrum
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.run_file import run_dataset
from rnn_lyapunov.io.storage import write_netcdf_atomic
from rnn_lyapunov.io.sweep_file import combine_runs, load_sweep, write_sweep


def per_run_dataset(run_id, *, n_epochs=3, n_exponents=4, n_trajectories=2, n_steps=5, seed=0,
                    architecture="rnn", hidden_size=4, init_scale=1.0):
    """A per-run dataset built by the per-run layout builder from seeded spectra and metrics."""
    generator = np.random.default_rng(seed)
    spectra = {}
    for epoch in range(n_epochs):
        # Descending along exponent, like every spectrum the package writes.
        values = np.sort(generator.normal(size=(n_trajectories, n_exponents)), axis=-1)[..., ::-1].copy()
        last = epoch == n_epochs - 1
        spectra[epoch] = Spectrum(
            per_trajectory=torch.from_numpy(values),
            history=torch.from_numpy(generator.random((n_steps, n_trajectories, n_exponents))) if last else None,
            history_steps=torch.arange(1, n_steps + 1) if last else None)
    metrics = {"train_loss": np.r_[np.nan, generator.random(n_epochs - 1)], "val_loss": generator.random(n_epochs),
               "val_accuracy": generator.random(n_epochs)}
    hyperparameters = {"run_id": run_id, "architecture": architecture, "dataset": "signal_copy",
                       "hidden_size": hidden_size, "num_layers": 1, "init": "uniform", "init_scale": init_scale,
                       "learning_rate": 0.01, "seed": seed}
    return run_dataset(spectra, metrics, n_trajectories=n_trajectories, n_exponents=n_exponents,
                       hyperparameters=hyperparameters,
                       attributes={"config": json.dumps({"run_id": run_id}), "created": f"now-{seed}"})


def write_runs(tmp_path, datasets):
    paths = []
    for dataset in datasets:
        path = tmp_path / f"{dataset.run_id.item()}.nc"
        write_netcdf_atomic(dataset, path)
        paths.append(path)
    return paths


def test_combine_runs_stacks_runs_with_hyperparameters_as_run_coordinates(tmp_path):
    paths = write_runs(tmp_path, [per_run_dataset("a", seed=0, architecture="rnn"),
                                  per_run_dataset("b", seed=1, architecture="gru", hidden_size=8)])
    combined = combine_runs(paths)
    assert list(combined.run.values) == ["a", "b"]
    assert combined.lyapunov_exponents.dims == ("run", "epoch", "exponent")
    assert combined.lyapunov_exponents_per_trajectory.dims == ("run", "epoch", "trajectory", "exponent")
    assert combined.lyapunov_running_estimate.dims == ("run", "step", "trajectory", "exponent")
    assert list(combined.architecture.values) == ["rnn", "gru"]
    assert list(combined.hidden_size.values) == [4, 8]
    assert list(combined.seed.values) == [0, 1]
    assert combined.dataset.dims == ("run",)  # equal across runs, still one value per run
    assert combined.attrs["rnn_lyapunov_sweep"] == 1
    assert combined.lyapunov_exponents.attrs["units"] == "nats per time step"
    assert json.loads(combined.run_config.values[1]) == {"run_id": "b"}
    assert list(combined.run_created.values) == ["now-0", "now-1"]


def test_combine_runs_accepts_datasets_in_memory():
    combined = combine_runs([per_run_dataset("a"), per_run_dataset("b", seed=1)])
    assert list(combined.run.values) == ["a", "b"]


def test_combine_runs_keeps_each_runs_values(tmp_path):
    runs = [per_run_dataset("a", seed=3), per_run_dataset("b", seed=4)]
    combined = combine_runs(write_runs(tmp_path, runs))
    for run in runs:
        np.testing.assert_array_equal(
            combined.lyapunov_exponents.sel(run=run.run_id.item()).values, run.lyapunov_exponents.values)


def test_combine_runs_pads_differing_exponent_counts_with_nan(tmp_path):
    paths = write_runs(tmp_path, [per_run_dataset("small", n_exponents=2, n_epochs=2),
                                  per_run_dataset("large", n_exponents=5, n_epochs=3)])
    combined = combine_runs(paths)
    assert combined.sizes["exponent"] == 5 and combined.sizes["epoch"] == 3
    small = combined.lyapunov_exponents.sel(run="small")
    assert np.isnan(small.sel(exponent=[3, 4, 5])).all()
    assert np.isnan(small.sel(epoch=2)).all()
    assert np.isfinite(small.sel(epoch=[0, 1], exponent=[1, 2])).all()


def test_combine_runs_refuses_duplicate_run_ids(tmp_path):
    (tmp_path / "other").mkdir()
    first = write_runs(tmp_path / "other", [per_run_dataset("a")])
    second = write_runs(tmp_path, [per_run_dataset("a", seed=1)])
    with pytest.raises(InputError, match="more than one file: a"):
        combine_runs(first + second)


def test_combine_runs_refuses_a_file_that_is_not_a_run(tmp_path):
    path = tmp_path / "other.nc"
    write_netcdf_atomic(xr.Dataset({"x": ("t", [1.0])}), path)
    with pytest.raises(InputError, match="not a per-run spectrum file"):
        combine_runs([path])


def test_sweep_file_round_trips_through_load_sweep(tmp_path):
    paths = write_runs(tmp_path, [per_run_dataset("a"), per_run_dataset("b", seed=1)])
    written = write_sweep(paths, tmp_path / "out" / "sweep.nc")
    loaded = load_sweep(tmp_path / "out" / "sweep.nc")
    xr.testing.assert_identical(loaded, written)
    assert rnn_lyapunov.load_sweep is load_sweep


def test_sweep_file_opens_with_plain_netcdf4(tmp_path):
    write_sweep(write_runs(tmp_path, [per_run_dataset("a")]), tmp_path / "sweep.nc")
    with netCDF4.Dataset(tmp_path / "sweep.nc") as handle:
        assert handle.getncattr("rnn_lyapunov_sweep") == 1
        assert set(handle.dimensions) >= {"run", "epoch", "exponent", "trajectory", "step"}
        assert handle.variables["lyapunov_exponents"].dimensions == ("run", "epoch", "exponent")


@pytest.mark.skipif(shutil.which("ncdump") is None, reason="ncdump (netcdf-bin) is not installed")
def test_sweep_file_header_reads_with_ncdump(tmp_path):
    write_sweep(write_runs(tmp_path, [per_run_dataset("a")]), tmp_path / "sweep.nc")
    header = subprocess.run(["ncdump", "-h", str(tmp_path / "sweep.nc")], capture_output=True, text=True,
                            check=True).stdout
    assert "double lyapunov_exponents(run, epoch, exponent)" in header
    assert ":rnn_lyapunov_sweep = 1" in header


def test_load_sweep_refuses_a_netcdf_file_that_is_not_a_sweep(tmp_path):
    path = tmp_path / "run.nc"
    write_netcdf_atomic(per_run_dataset("a"), path)
    with pytest.raises(InputError, match="not an rnn-lyapunov sweep"):
        load_sweep(path)


def test_load_sweep_refuses_a_corrupted_file(tmp_path):
    write_sweep(write_runs(tmp_path, [per_run_dataset("a")]), tmp_path / "sweep.nc")
    data = (tmp_path / "sweep.nc").read_bytes()
    (tmp_path / "sweep.nc").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="not a readable NetCDF file"):
        load_sweep(tmp_path / "sweep.nc")


def test_load_sweep_names_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_sweep(tmp_path / "nothing.nc")


def test_combine_runs_refuses_runs_in_different_units():
    bits = per_run_dataset("b", seed=1)
    bits["lyapunov_exponents"].attrs["units"] = "bits per time step"
    with pytest.raises(InputError, match="different units"):
        combine_runs([per_run_dataset("a"), bits])
