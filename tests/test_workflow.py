"""The Snakemake workflow: lint, dry runs (default, paper, SLURM profile) and configs refused up front.

Each test runs Snakemake in a subprocess on a copy of the repository's workflow (Snakefile,
workflow/, config/) in a temporary directory, so nothing is written into the repository.
"""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test starts Snakemake, which imports torch (several seconds)


def copy_workflow(destination: Path) -> Path:
    shutil.copy(REPOSITORY / "Snakefile", destination / "Snakefile")
    for folder in ("workflow", "config"):
        shutil.copytree(REPOSITORY / folder, destination / folder)
    return destination


def snakemake(directory: Path, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *arguments], cwd=directory, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table of a dry run: rule name -> number of jobs."""
    table = output[output.rindex("Job stats:"):]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)}


def planned_run_files(output: str) -> list[str]:
    """Every per-run file the training jobs of a dry run write (a file twice if two jobs write it)."""
    jobs = re.findall(r"rule (?:train_run|train_batch_\d+):\s+input:[^\n]*\n\s+output: ([^\n]*)", output)
    return [name for outputs in jobs for name in outputs.split(", ")]


@pytest.fixture
def workflow_copy(tmp_path):
    return copy_workflow(tmp_path)


def test_lint_is_clean(workflow_copy):
    result = snakemake(workflow_copy, "--lint")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_dry_run_of_the_default_config_lists_data_sweep_and_combine_jobs(workflow_copy):
    result = snakemake(workflow_copy, "-n", "--cores", "2")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    # config/config.yaml: 1 dataset x 2 architectures x 4 init scales x 3 learning rates x 3 seeds,
    # trained 4 runs per job (resources.train.runs_per_job).
    assert counts["prepare_data"] == 1
    batches = {rule: count for rule, count in counts.items() if rule.startswith("train_batch_")}
    assert len(batches) == 2 * 4 * 3 * 3 // 4 and set(batches.values()) == {1}
    trained = planned_run_files(result.stdout)
    assert len(trained) == len(set(trained)) == 2 * 4 * 3 * 3
    assert "results/spectra/gru-p0.15-lr0.005-s2.nc" in trained
    assert counts["combine_spectra"] == 1
    assert counts["all"] == 1
    assert counts["figure_table"] == 2  # stability_readout.csv, readout_comparison.csv
    assert not (workflow_copy / "results").exists()


SLURM_PLUGIN = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


def test_dry_run_of_the_paper_config_lists_every_run_with_a_gpu(workflow_copy):
    """With the SLURM plugin installed this goes through workflow/profiles/slurm, needing no cluster."""
    profile = ["--profile", "workflow/profiles/slurm"] if SLURM_PLUGIN else ["--cores", "2"]
    result = snakemake(workflow_copy, "-n", *profile, "--configfile", "config/paper.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    assert counts["prepare_data"] == 2
    # 2 datasets x 3 architectures x 4 hidden sizes x 6 init scales x 2 learning rates x 3 seeds.
    assert counts["train_run"] == 2 * 3 * 4 * 6 * 2 * 3
    assert re.search(r"rule train_run:.*?resources:[^\n]*gpu=1", result.stdout, flags=re.DOTALL)


PLUGIN = """
from rnn_lyapunov.plugins.rnn import ElmanRNN
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("renamed_rnn")
class RenamedRNN(ElmanRNN):
    description = "test plugin: the Elman RNN under another name"
"""


def test_architecture_from_plugin_paths_joins_the_sweep(workflow_copy):
    (workflow_copy / "my_plugin.py").write_text(PLUGIN)
    result = snakemake(workflow_copy, "-n", "--cores", "2", "--config", 'plugin_paths=["my_plugin.py"]',
                       'sweep={"cross": {"architecture": ["renamed_rnn"]}}')
    assert result.returncode == 0, result.stderr + result.stdout
    # --config merges into the default sweep: the architecture axis replaced, init scale x rate x seed kept.
    trained = planned_run_files(result.stdout)
    assert len(trained) == 4 * 3 * 3
    assert "results/spectra/renamed_rnn-p0.4-lr0.005-s0.nc" in trained


def test_one_run_per_job_gives_a_train_run_job_per_run(workflow_copy):
    """resources.train.runs_per_job: 1, what a cluster wants: the wildcard rule train_run."""
    result = snakemake(workflow_copy, "-n", "--cores", "2", "--config", 'resources={"train": {"runs_per_job": 1}}')
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    assert counts["train_run"] == 2 * 4 * 3 * 3
    assert not [rule for rule in counts if rule.startswith("train_batch_")]
    assert "run_id=gru-p0.15-lr0.005-s2" in result.stdout


def test_the_readme_plugin_example_trains_through_the_workflow(workflow_copy):
    """The `leaky-rnn` of docs/architectures.md (a hyphenated name) joins a sweep and trains, spectra included."""
    from test_registry_readme_plugin import _readme_plugin_source

    (workflow_copy / "leaky_rnn.py").write_text(_readme_plugin_source())
    overrides = ["--config", 'plugin_paths=["leaky_rnn.py"]', 'sweep={"cross": {"architecture": ["leaky-rnn", "rnn"], "init_scale": [0.5]}}']
    result = snakemake(workflow_copy, "results/spectra/leaky-rnn.nc", "--cores", "2",
                       "--configfile", "config/tests/tiny.yaml", *overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    import xarray as xr

    with xr.open_dataset(workflow_copy / "results/spectra/leaky-rnn.nc") as run:
        assert str(run.architecture.values) == "leaky-rnn"
        assert np.isfinite(run.lyapunov_exponents.values).all()


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("unknown_architecture", r"unknown architecture\(s\) 'transformer'; known: .*gru, .*lstm, .*rnn"),
        ("negative_hidden_size", r"config key sweep\.cross\.hidden_size\.0 = -4 is not allowed; allowed: integer >= 1"),
        ("unknown_key", r"unknown config key\(s\) sweep\.cross\.learning_rates; allowed keys under sweep\.cross: .*learning_rate"),
    ],
)
def test_invalid_config_stops_before_any_job_naming_the_problem(workflow_copy, scenario, message):
    result = snakemake(workflow_copy, "--cores", "2", "--configfile", f"config/tests/{scenario}.yaml")
    assert result.returncode != 0
    assert re.search(message, result.stderr + result.stdout), result.stderr + result.stdout
    assert not (workflow_copy / "results").exists()
