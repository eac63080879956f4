"""Sweep expansion (run ids) and combining per-run NetCDF files into the sweep file."""

import json
import shutil
import subprocess
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import rnn_lyapunov
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.storage import write_netcdf_atomic
from rnn_lyapunov.config.sweep import check_available, combine_runs, describe_schema_error, discard_stale_checkpoint, expand_sweep, load_sweep, write_sweep


def sweep_config(**sweep_overrides):
    sweep = {
        "datasets": ["signal_copy"], "architectures": ["rnn", "lstm"], "hidden_sizes": [8],
        "num_layers": [1], "init_scales": [0.5, 2.0], "learning_rates": [0.01], "seeds": [0],
    }
    sweep.update(sweep_overrides)
    return {
        "sweep": sweep,
        "training": {"init": "uniform", "optimizer": "adam", "epochs": 2},
        "spectrum": {"n_exponents": 4},
        "datasets": {"signal_copy": {"options": {"delay": 3}}},
    }


def per_run_dataset(run_id, *, n_epochs=3, n_exponents=4, n_trajectories=2, n_steps=5, seed=0,
                    architecture="rnn", hidden_size=4, init_scale=1.0):
    """A per-run file as training.train_run writes it (docs/design.md), filled with seeded numbers."""
    generator = np.random.default_rng(seed)
    # Descending along exponent, like every spectrum the package writes.
    per_trajectory = np.sort(generator.normal(size=(n_epochs, n_trajectories, n_exponents)), axis=-1)[..., ::-1]
    return xr.Dataset(
        {
            "lyapunov_exponents": (("epoch", "exponent"), per_trajectory.mean(axis=1), {"units": "nats per time step"}),
            "lyapunov_exponents_per_trajectory": (("epoch", "trajectory", "exponent"), per_trajectory),
            "lyapunov_stderr": (("epoch", "exponent"), per_trajectory.std(axis=1)),
            "kaplan_yorke_dimension": (("epoch",), generator.random(n_epochs)),
            "lyapunov_running_estimate": (
                ("convergence_step", "trajectory", "exponent"), generator.random((n_steps, n_trajectories, n_exponents))),
            "train_loss": (("epoch",), np.r_[np.nan, generator.random(n_epochs - 1)]),
            "val_loss": (("epoch",), generator.random(n_epochs)),
            "val_accuracy": (("epoch",), generator.random(n_epochs)),
        },
        coords={
            "epoch": np.arange(n_epochs), "exponent": np.arange(1, n_exponents + 1),
            "trajectory": np.arange(n_trajectories), "convergence_step": np.arange(1, n_steps + 1),
            "run_id": run_id, "architecture": architecture, "dataset": "signal_copy",
            "hidden_size": hidden_size, "num_layers": 1, "init": "uniform", "init_scale": init_scale,
            "learning_rate": 0.01, "seed": seed,
        },
        attrs={"config": json.dumps({"run_id": run_id}), "created": f"now-{seed}"},
    )


def write_runs(tmp_path, datasets):
    paths = []
    for dataset in datasets:
        path = tmp_path / f"{dataset.run_id.item()}.nc"
        write_netcdf_atomic(dataset, path)
        paths.append(path)
    return paths


def test_expand_sweep_gives_one_run_per_combination():
    runs = expand_sweep(sweep_config())
    assert len(runs) == 2 * 2
    assert {(run["architecture"], run["init_scale"]) for run in runs} == {
        ("rnn", 0.5), ("rnn", 2.0), ("lstm", 0.5), ("lstm", 2.0)}


def test_expand_sweep_copies_shared_settings_into_each_run():
    run = expand_sweep(sweep_config())[0]
    assert run["optimizer"] == "adam" and run["epochs"] == 2
    assert run["spectrum"] == {"n_exponents": 4}
    assert run["dataset_options"] == {"delay": 3}
    assert run["data_dir"] == "results/data/signal_copy"


def test_run_id_is_readable():
    runs = expand_sweep(sweep_config(architectures=["lstm"], hidden_sizes=[32], init_scales=[0.5],
                                     learning_rates=[0.001]))
    assert [run["run_id"] for run in runs] == ["signal_copy-lstm-h32-l1-uniform0.5-lr0.001-s0"]


def test_runs_differing_only_in_seed_get_different_ids():
    runs = expand_sweep(sweep_config(architectures=["gru"], init_scales=[1.0], seeds=[0, 1]))
    assert runs[0]["run_id"] != runs[1]["run_id"]
    assert runs[0]["run_id"].endswith("-s0") and runs[1]["run_id"].endswith("-s1")


@settings(max_examples=40, deadline=None)
@given(
    hidden_sizes=st.lists(st.integers(1, 1024), min_size=1, max_size=3, unique=True),
    init_scales=st.lists(st.floats(1e-3, 10, allow_nan=False), min_size=1, max_size=3, unique=True),
    learning_rates=st.lists(st.floats(1e-6, 1, allow_nan=False), min_size=1, max_size=3, unique=True),
    seeds=st.lists(st.integers(0, 10**6), min_size=1, max_size=3, unique=True),
)
def test_run_ids_are_unique_for_distinct_values(hidden_sizes, init_scales, learning_rates, seeds):
    runs = expand_sweep(sweep_config(hidden_sizes=hidden_sizes, init_scales=init_scales,
                                     learning_rates=learning_rates, seeds=seeds))
    ids = [run["run_id"] for run in runs]
    assert len(ids) == len(set(ids)) == len(hidden_sizes) * len(init_scales) * len(learning_rates) * len(seeds) * 2
    assert all("/" not in name for name in ids)


def test_value_listed_twice_is_an_error_naming_the_run():
    with pytest.raises(InputError, match="same id 'signal_copy-rnn-h8"):
        expand_sweep(sweep_config(architectures=["rnn"], hidden_sizes=[8, 8]))


def test_empty_sweep_axis_is_an_error_naming_the_key():
    with pytest.raises(InputError, match="seeds"):
        expand_sweep(sweep_config(seeds=[]))


def schema_error(config):
    """The error Snakemake's validate would raise for ``config`` against the workflow's schema."""
    import jsonschema
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    return jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))


@pytest.mark.parametrize(("change", "message"), [
    ({"hidden_sizes": [8, 0]}, "config key 'sweep.hidden_sizes[1]' = 0 is not allowed; must be >= 1."),
    ({"learning_rates": [-0.1]}, "config key 'sweep.learning_rates[0]' = -0.1 is not allowed; must be > 0."),
    ({"seeds": ["zero"]}, "config key 'sweep.seeds[0]' = 'zero' is not allowed; must be of type integer."),
    ({"lr": [0.1]}, "config key 'sweep': unknown key(s) 'lr'; allowed keys: architectures, datasets, "
                    "hidden_sizes, init_scales, learning_rates, num_layers, seeds."),
])
def test_schema_errors_name_key_value_and_what_is_allowed(change, message):
    config = sweep_config(**change)
    assert describe_schema_error(schema_error(config)) == message


def test_schema_error_for_a_bad_choice_lists_the_choices():
    config = sweep_config()
    config["training"]["optimizer"] = "adamw"
    assert describe_schema_error(schema_error(config)) == (
        "config key 'training.optimizer' = 'adamw' is not allowed; must be one of 'adam', 'sgd'.")


def test_schema_error_for_a_bad_pattern_says_what_is_allowed():
    config = sweep_config()
    config["training"]["device"] = "tpu"
    assert describe_schema_error(schema_error(config)) == (
        "config key 'training.device' = 'tpu' is not allowed; allowed: 'auto', 'cpu', 'cuda' or 'cuda:N'.")


def test_check_available_lists_known_architectures_for_an_unknown_one():
    with pytest.raises(InputError, match=r"unknown architectures 'transformer'; known architectures: .*gru, lstm.*rnn"):
        check_available(sweep_config(architectures=["rnn", "transformer"]))


def test_check_available_names_an_unknown_dataset_option():
    config = sweep_config()
    config["datasets"]["signal_copy"]["options"] = {"dealy": 3}
    with pytest.raises(InputError, match=r"datasets\.signal_copy\.options.*'dealy'.*delay"):
        check_available(config)


def test_combine_runs_stacks_runs_with_hyperparameters_as_run_coordinates(tmp_path):
    paths = write_runs(tmp_path, [per_run_dataset("a", seed=0, architecture="rnn"),
                                  per_run_dataset("b", seed=1, architecture="gru", hidden_size=8)])
    combined = combine_runs(paths)
    assert list(combined.run.values) == ["a", "b"]
    assert combined.lyapunov_exponents.dims == ("run", "epoch", "exponent")
    assert combined.lyapunov_exponents_per_trajectory.dims == ("run", "epoch", "trajectory", "exponent")
    assert combined.lyapunov_running_estimate.dims == ("run", "convergence_step", "trajectory", "exponent")
    assert list(combined.architecture.values) == ["rnn", "gru"]
    assert list(combined.hidden_size.values) == [4, 8]
    assert list(combined.seed.values) == [0, 1]
    assert combined.dataset.dims == ("run",)  # equal across runs, still one value per run
    assert combined.attrs["rnn_lyapunov_sweep"] == 1
    assert combined.lyapunov_exponents.attrs["units"] == "nats per time step"
    assert json.loads(combined.run_config.values[1]) == {"run_id": "b"}
    assert list(combined.run_created.values) == ["now-0", "now-1"]


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
        assert set(handle.dimensions) >= {"run", "epoch", "exponent", "trajectory", "convergence_step"}
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


def checkpoint_of(run, path, epoch=1):
    """A checkpoint file holding what discard_stale_checkpoint reads: the run's validated config."""
    import torch

    from rnn_lyapunov.config.run_config import validate_run_config

    path.mkdir(parents=True, exist_ok=True)
    torch.save({"format": 1, "config": validate_run_config(run), "epoch": epoch}, path / "checkpoint.pt")


def tiny_run(**changes):
    run = expand_sweep(sweep_config(architectures=["rnn"], init_scales=[0.5]))[0]
    run.update(changes)
    return run


def test_checkpoint_of_the_same_settings_is_kept_for_resuming(tmp_path):
    checkpoint_of(tiny_run(), tmp_path)
    assert discard_stale_checkpoint(tiny_run(), tmp_path) is False
    assert (tmp_path / "checkpoint.pt").is_file()


def test_checkpoint_differing_only_in_epochs_is_kept(tmp_path):
    checkpoint_of(tiny_run(epochs=2), tmp_path)
    assert discard_stale_checkpoint(tiny_run(epochs=5), tmp_path) is False


def test_checkpoint_beyond_fewer_epochs_is_discarded(tmp_path):
    checkpoint_of(tiny_run(epochs=5), tmp_path, epoch=4)
    assert discard_stale_checkpoint(tiny_run(epochs=3), tmp_path) is True


def test_checkpoint_of_other_settings_is_discarded(tmp_path):
    checkpoint_of(tiny_run(learning_rate=0.01), tmp_path)
    assert discard_stale_checkpoint(tiny_run(learning_rate=0.02), tmp_path) is True
    assert not (tmp_path / "checkpoint.pt").exists()


def test_no_checkpoint_means_nothing_to_discard(tmp_path):
    assert discard_stale_checkpoint(tiny_run(), tmp_path) is False
