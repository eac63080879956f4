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
EXPECTED_RUNS = {"architectures": 11 * 10, "grid": 11 * 10, "initialisation": 2 * 4 * 60,
                 "architectures-small": 11 * 10, "grid-small": 11 * 10, "initialisation-small": 2 * 4 * 8}
FULL_SCALE = [name for name in EXPECTED_RUNS if not name.endswith("-small")]


def load(name: str) -> dict:
    return yaml.safe_load((REPOSITORY / f"config/paper/{name}.yaml").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED_RUNS))
def test_the_experiment_expands_to_every_run_and_each_run_validates(name):
    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.config.sweep import expand_sweep

    config = load(name)
    runs = expand_sweep(config)
    assert len(runs) == len({run["run_id"] for run in runs}) == EXPECTED_RUNS[name]
    # device: cuda is planned as the workflow plans it: its jobs ask the cluster for a GPU; the
    # laptop-scale versions run where they are (device auto, no GPU asked).
    gpu = config["resources"]["train"]["gpu"] >= 1
    assert gpu == (name in FULL_SCALE)
    for run in runs[:: max(1, len(runs) // 10)]:
        validate_run_config(run, gpu_requested=gpu)


@pytest.mark.parametrize("name", FULL_SCALE)
def test_the_laptop_scale_version_keeps_the_design_and_shrinks_the_sizes(name):
    full, small = load(name), load(f"{name}-small")
    # The same axes, figures, LSTM convention, units, architectures and optimiser.
    def axes(config):
        sweep = config["sweep"]
        return (sorted(sweep.get("cross", {})), [sorted(group) for group in sweep.get("zip", [])],
                sorted(sweep.get("sample", {})))
    assert axes(small) == axes(full)
    assert small["figures"]["extra"] == full["figures"]["extra"]
    for key in ("lstm_state", "units", "n_exponents"):
        assert small["spectrum"][key] == full["spectrum"][key]
    for key in ("dataset", "architecture", "num_layers", "bias", "init", "init_scale", "optimizer", "learning_rate",
                "dropout", "batch_size", "lr_decay"):
        assert small["training"].get(key) == full["training"].get(key), key
    # Smaller: every network, the text, the epochs.
    def sizes(config):
        sweep = config["sweep"]
        listed = [size for group in sweep.get("zip", []) for size in group.get("hidden_size", [])]
        return listed + sweep.get("cross", {}).get("hidden_size", []) + [config["training"].get("hidden_size", 0)]
    assert max(sizes(small)) < max(sizes(full)) and sum(sizes(small)) < sum(sizes(full))
    assert small["training"]["epochs"] < full["training"]["epochs"]
    assert small["datasets"]["char_text"]["options"]["max_characters"] < 3_202_303
    assert small["datasets"]["char_text"]["options"]["corpus"] == full["datasets"]["char_text"]["options"]["corpus"]


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


@pytest.mark.parametrize("name", FULL_SCALE)
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
