"""The authors' experiments (config/paper/*.yaml): the right number of runs, and each runs at smoke scale.

The smoke runs shrink every size, epoch count and list of a config but keep its structure (zip
groups, sampled axes, the h-only LSTM, bits, War and Peace), so a config that no longer validates
or trains fails here rather than on a GPU cluster.
"""

import copy

import pytest
import xarray as xr
import yaml

from test_workflow import REPOSITORY, copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.slow
# experiment -> training runs (docs/paper.md)
EXPECTED_RUNS = {"architectures": 11 * 10, "grid": 11 * 10, "initialisation": 2 * 4 * 60}


def load(name: str) -> dict:
    return yaml.safe_load((REPOSITORY / f"config/paper/{name}.yaml").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED_RUNS))
def test_the_experiment_expands_to_every_run_and_each_run_validates(name):
    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.config.sweep import expand_sweep

    config = load(name)
    runs = expand_sweep(config)
    assert len(runs) == len({run["run_id"] for run in runs}) == EXPECTED_RUNS[name]
    # device: cuda is planned as the workflow plans it: its jobs ask the cluster for a GPU.
    assert config["resources"]["train"]["gpu"] >= 1
    for run in runs[:: max(1, len(runs) // 10)]:
        validate_run_config(run, gpu_requested=True)


def test_dry_run_of_the_grid_lists_its_110_training_jobs(tmp_path):
    """The three configs were dry-run too (110, 110 and 480 jobs); one stays in the suite for time."""
    directory = copy_workflow(tmp_path)
    result = snakemake(directory, "-n", "--cores", "2", "--configfile", "config/paper/grid.yaml")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert job_counts(result.stdout)["train_run"] == EXPECTED_RUNS["grid"]


def smoke_scale(config: dict) -> dict:
    """The same experiment with two values per axis, 4 units, 2 epochs, short spectra, on the CPU."""
    config = copy.deepcopy(config)
    sweep = config["sweep"]
    for key, values in sweep.get("cross", {}).items():
        sweep["cross"][key] = [4, 6] if key == "hidden_size" else values[:2]
    for group in sweep.get("zip", []):
        for key, values in group.items():
            group[key] = [4, 6] if key == "hidden_size" else values[-2:]
    for spec in sweep.get("sample", {}).values():
        spec["n"] = 1
    training = config["training"]
    training.update(epochs=2, batch_size=32, device="cpu", threads=1)
    if "hidden_size" in training:
        training["hidden_size"] = 4
    config["spectrum"].update(epochs=[1, 2], trajectories=2, steps=20)
    config.pop("figures", None)
    for settings in config["datasets"].values():
        settings["options"]["max_characters"] = 40_000
    config["resources"]["train"] = {"mem_mb": 500, "runtime": 5, "gpu": 0}
    return config


@pytest.mark.parametrize("name", sorted(EXPECTED_RUNS))
def test_the_experiment_trains_at_smoke_scale(tmp_path, name):
    directory = copy_workflow(tmp_path)
    (directory / "smoke.yaml").write_text(yaml.safe_dump(smoke_scale(load(name))))
    result = snakemake(directory, "results/spectra/sweep.nc", "--cores", "2", "--configfile", "smoke.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    with xr.open_dataset(directory / "results/spectra/sweep.nc") as sweep:
        assert sweep.lyapunov_exponents.attrs["units"] == "bits per time step"
        lstm_runs = sweep.architecture.values == "lstm"
        # h-only LSTM: one exponent per unit, not two.
        assert (sweep.state_size.values[lstm_runs] == sweep.hidden_size.values[lstm_runs]).all()
        assert str(sweep.dataset.values[0]) == "char_text"
