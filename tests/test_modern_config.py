"""config/modern.yaml: lru and selective_ssm trained beside rnn and gru, their spectra in the architecture figure."""

import pytest
import yaml

from test_workflow import REPOSITORY, copy_workflow, job_counts, snakemake


def load() -> dict:
    return yaml.safe_load((REPOSITORY / "config/modern.yaml").read_text())


def test_modern_config_expands_to_each_architecture_and_seed_and_every_run_validates():
    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.config.sweep import expand_sweep

    runs = expand_sweep(load())
    assert sorted((run["architecture"], run["seed"]) for run in runs) == sorted(
        (name, seed) for name in ("rnn", "gru", "lru", "selective_ssm") for seed in (0, 1))
    for run in runs:
        validate_run_config(run)
    assert {run["init"] for run in runs if run["architecture"] in ("lru", "selective_ssm")} == {"default"}
    assert all(run["spectrum"]["clv_angles"] for run in runs)  # the figure clv_angles needs them


@pytest.mark.slow
def test_dry_run_trains_eight_networks_and_draws_the_architecture_figure(tmp_path):
    directory = copy_workflow(tmp_path)
    result = snakemake(directory, "-n", "--cores", "2", "--configfile", "config/modern.yaml")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert job_counts(result.stdout)["train_run"] == 8
    assert "architecture_spectra.png" in result.stdout
    assert "clv_angles.png" in result.stdout
