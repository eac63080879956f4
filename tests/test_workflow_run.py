"""The whole workflow on config/tests/tiny.yaml: data, training sweep, spectra, sweep.nc, figures.

One run of about a minute on two cores; then a second run has nothing to do, and a changed init
scale reruns only the runs it names.
"""

import re

import netCDF4
import numpy as np
import pytest
import yaml

from rnn_lyapunov import load_sweep
from test_workflow import copy_workflow, job_counts, snakemake

TINY = ["--configfile", "config/tests/tiny.yaml"]
HYPERPARAMETERS = ("run_id", "architecture", "dataset", "hidden_size", "num_layers", "state_size", "init",
                   "init_scale", "learning_rate", "optimizer", "dropout", "seed")


@pytest.fixture(scope="module")
def finished_workflow(tmp_path_factory):
    directory = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = snakemake(directory, "--cores", "2", *TINY, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    return directory


@pytest.mark.slow
def test_sweep_file_has_every_run_with_finite_spectra(finished_workflow):
    sweep = load_sweep(finished_workflow / "results/spectra/sweep.nc")
    config = yaml.safe_load((finished_workflow / "config/tests/tiny.yaml").read_text())["sweep"]["cross"]
    assert sweep.sizes["run"] == len(config["architecture"]) * len(config["init_scale"])
    assert set(sweep.architecture.values) == {"rnn", "lstm", "gru"}
    assert set(sweep.init_scale.values) == set(config["init_scale"])
    for name in HYPERPARAMETERS:
        assert sweep[name].dims == ("run",), name
    assert list(sweep.epoch.values) == [0, 1, 2]
    assert sweep.lyapunov_exponents.dims == ("run", "epoch", "exponent")
    assert sweep.sizes["exponent"] == 4
    assert np.isfinite(sweep.lyapunov_exponents.values).all()
    # Exponents come sorted in descending order.
    assert (np.diff(sweep.lyapunov_exponents.values, axis=-1) <= 1e-12).all()
    assert sweep.attrs["rnn_lyapunov_sweep"] == 1
    assert {"rnn_lyapunov_version", "git_revision", "torch_version", "created"} <= set(sweep.attrs)


@pytest.mark.slow
def test_sweep_file_opens_without_rnn_lyapunov(finished_workflow):
    with netCDF4.Dataset(finished_workflow / "results/spectra/sweep.nc") as handle:
        assert handle.dimensions["run"].size == 6
        assert handle.variables["lyapunov_exponents"].dimensions == ("run", "epoch", "exponent")


@pytest.mark.slow
def test_workflow_writes_runs_and_figures(finished_workflow):
    results = finished_workflow / "results"
    assert (results / "data/signal_copy/metadata.json").is_file()
    run_dirs = sorted(path.name for path in (results / "runs").iterdir())
    assert len(run_dirs) == 6
    for run in run_dirs:
        assert (results / "runs" / run / "checkpoint.pt").is_file()
        assert "wrote results/spectra" in (results / "runs" / run / "train.log").read_text()
    assert list((results / "figures").glob("*.png")) and list((results / "figures").glob("*.pdf"))


@pytest.mark.slow
def test_second_run_has_nothing_to_do(finished_workflow):
    result = snakemake(finished_workflow, "--cores", "2", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_changing_one_init_scale_reruns_only_its_runs(finished_workflow):
    config = yaml.safe_load((finished_workflow / "config/tests/tiny.yaml").read_text())
    config["sweep"]["cross"]["init_scale"] = [0.5, 1.5]  # 2.0 -> 1.5: three runs change, three stay
    (finished_workflow / "config/tests/changed.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(finished_workflow, "-n", "--cores", "2", "--configfile", "config/tests/changed.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["train_run"] == 3
    assert "prepare_data" not in counts
    assert counts["combine_spectra"] == 1
    assert not re.search(r"p0\.5", " ".join(re.findall(r"wildcards: run_id=(\S+)", result.stdout)))


@pytest.mark.slow
def test_a_rerun_keeps_the_runs_history_where_snakemake_does_not_delete_it(finished_workflow):
    """Snakemake deletes a job's log before rerunning it; the run's own history survives."""
    run = sorted(path.name for path in (finished_workflow / "results/runs").iterdir())[0]
    (finished_workflow / f"results/spectra/{run}.nc").unlink()
    result = snakemake(finished_workflow, f"results/spectra/{run}.nc", "--cores", "2", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    history = (finished_workflow / f"results/runs/{run}/train.log").read_text()
    assert f"starting run {run}" in history and f"resuming run {run} after epoch 2" in history
    assert history.count("wrote results/spectra") == 2


@pytest.mark.slow
def test_report_holds_the_figures(finished_workflow):
    result = snakemake(finished_workflow, "--report", "results/report.html", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (finished_workflow / "results/report.html").stat().st_size > 10_000


@pytest.mark.slow
def test_a_damaged_run_file_keeps_the_last_sweep_and_its_error_gives_the_command_that_repairs_it(finished_workflow):
    import shlex

    sweep = finished_workflow / "results/spectra/sweep.nc"
    good = sweep.read_bytes()
    damaged = sorted((finished_workflow / "results/spectra").glob("*.nc"))[0]
    assert damaged.name != "sweep.nc"
    damaged.write_bytes(b"\x89HDF\r\n this file was cut short by a full disk")
    failed = snakemake(finished_workflow, "--cores", "2", *TINY, timeout=600)
    assert failed.returncode != 0
    assert sweep.read_bytes() == good, "the last good sweep.nc must survive a failed combine"
    log = (finished_workflow / "results/logs/combine_spectra.log").read_text()
    match = re.search(r"with: (snakemake .*--forcerun \S+)", log)
    assert match and str(damaged.relative_to(finished_workflow)) in match.group(1), log
    repaired = snakemake(finished_workflow, *shlex.split(match.group(1))[1:], timeout=600)
    assert repaired.returncode == 0, repaired.stderr[-5000:]
    assert load_sweep(sweep).sizes["run"] == 6


BATCHED = ["--config", 'resources={"train": {"runs_per_job": 4}}']


@pytest.mark.slow
def test_runs_trained_four_per_job_equal_the_runs_trained_one_per_job(finished_workflow, tmp_path):
    """resources.train.runs_per_job only changes how many runs share a process, never a result."""
    import xarray as xr

    directory = copy_workflow(tmp_path)
    result = snakemake(directory, "results/spectra/sweep.nc", "--cores", "2", *TINY, *BATCHED, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.findall(r"rule (train_\w+):", result.stdout + result.stderr).count("train_run") == 0
    per_run = sorted(path.name for path in (finished_workflow / "results/spectra").glob("*.nc"))
    assert sorted(path.name for path in (directory / "results/spectra").glob("*.nc")) == per_run
    for name in per_run:
        if name == "sweep.nc":
            continue
        with xr.open_dataset(finished_workflow / "results/spectra" / name) as alone, \
                xr.open_dataset(directory / "results/spectra" / name) as batched:
            for variable in ("lyapunov_exponents", "val_loss", "train_loss"):
                np.testing.assert_array_equal(alone[variable].values, batched[variable].values, err_msg=name)


FAILING_PLUGIN = """
from rnn_lyapunov.plugins.rnn import ElmanRNN
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("failing_rnn")
class FailingRNN(ElmanRNN):
    description = "test plugin: passes planning (meta tensors), fails in its job"

    def forward_sequence(self, inputs, state):  # what training runs
        if state.device.type != "meta":
            raise RuntimeError("planted failure")
        return super().forward_sequence(inputs, state)
"""


@pytest.mark.slow
def test_a_failing_run_does_not_stop_the_other_runs_of_its_job(tmp_path):
    directory = copy_workflow(tmp_path)
    (directory / "failing.py").write_text(FAILING_PLUGIN)
    sweep = ['plugin_paths=["failing.py"]', 'sweep={"cross": {"architecture": ["failing_rnn", "rnn"], "init_scale": [0.5]}}',
             'resources={"train": {"runs_per_job": 2}}']
    result = snakemake(directory, "results/spectra/sweep.nc", "--cores", "2", *TINY, "--config", *sweep, timeout=600)
    assert result.returncode != 0
    log = (directory / "results/logs/train/batch_1.log").read_text()
    assert "1 of this job's 2 runs failed: failing_rnn (RuntimeError: planted failure)" in log
    # the other run trained to its end; its checkpoint makes the rerun a rewrite, not a retraining
    assert "epoch 2:" in (directory / "results/runs/rnn/train.log").read_text()
    fixed = ['plugin_paths=["failing.py"]', 'sweep={"cross": {"architecture": ["rnn"], "init_scale": [0.5]}}']
    result = snakemake(directory, "results/spectra/sweep.nc", "--cores", "2", *TINY, "--config", *fixed, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming run rnn after epoch 2" in (directory / "results/runs/rnn/train.log").read_text()
