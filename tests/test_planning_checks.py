"""What a job would refuse is refused when the workflow is planned (and by validate_run_config,
which the jobs, the CLI and a search's trials share), naming the key: the architecture's options,
more exponents than the spectrum has, init without its scale, a run too large for memory,
misspelt dataset names, NaN thresholds, epochs and grid axes the sweep never has."""

import copy
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnn_lyapunov.config.run_checks import check_runnable
from rnn_lyapunov.config.run_config import validate_run_config
from rnn_lyapunov.config.workflow_checks import check_workflow_config
from rnn_lyapunov.errors import InputError

REPOSITORY = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPOSITORY / "config" / "tests" / "tiny.yaml").read_text())


@pytest.mark.parametrize("architecture, layers, lstm_state, dimension", [
    ("rnn", 1, "full", 6), ("gru", 2, "full", 12), ("lstm", 1, "full", 12), ("lstm", 2, "h_only", 12),
    ("cornn", 1, "full", 12),
])
def test_more_exponents_than_the_spectrum_has_is_refused_naming_its_dimension(architecture, layers, lstm_state,
                                                                              dimension):
    # The dimension is the state's length: layers x blocks per layer x units ([h, c] for the LSTM,
    # [y, z] for coRNN; h alone for the authors' h-only LSTM), counted here by hand.
    config = {"architecture": architecture, "hidden_size": 6, "num_layers": layers,
              "spectrum": {"n_exponents": dimension, "lstm_state": lstm_state}}
    validate_run_config(config)
    config["spectrum"]["n_exponents"] = dimension + 1
    with pytest.raises(InputError, match=rf"spectrum.n_exponents = {dimension + 1} .* has {dimension} exponents"):
        validate_run_config(config)


def test_an_unknown_architecture_option_is_refused_listing_the_options():
    with pytest.raises(InputError, match=r"architecture_options has unknown option\(s\) nonlinearty .*nonlinearity"):
        validate_run_config({"architecture": "rnn", "architecture_options": {"nonlinearty": "relu"}})


def test_a_bad_architecture_option_value_is_refused_by_the_architecture():
    with pytest.raises(InputError, match=r"config key architecture_options: .*nonlinearity.*sigmoid"):
        validate_run_config({"architecture": "rnn", "architecture_options": {"nonlinearity": "sigmoid"}})


def test_uniform_init_without_its_scale_is_refused():
    with pytest.raises(InputError, match=r"init = 'uniform' needs init_scale"):
        validate_run_config({"init": "uniform"})
    validate_run_config({"init": "uniform", "init_scale": 0.5})


def test_a_network_too_large_for_memory_is_refused_with_its_parameter_count():
    # torch.nn.RNN's parameters: W_ih (H x 1), W_hh (H x H), two biases (H each); H = 10^7.
    hidden = 10**7
    expected = hidden * hidden + hidden * 1 + 2 * hidden
    with pytest.raises(InputError, match=rf"hidden_size = {hidden}.* has {expected:,} parameters"):
        validate_run_config({"hidden_size": hidden})


def test_the_memory_bound_is_the_estimate_against_the_limit():
    config = validate_run_config({"hidden_size": 64, "spectrum": {"trajectories": 4}})
    # 4 trajectories x 64 x 64 float64 frame x 3 copies = 393,216 bytes; parameters 64 x 66 + 64 x 1.
    check_runnable(config, memory_limit=400_000)
    with pytest.raises(InputError, match="spectrum's frame needs about"):
        check_runnable(config, memory_limit=390_000)


def runs_of(config):
    from rnn_lyapunov.config.sweep import expand_sweep

    return {run["run_id"]: validate_run_config(run) for run in expand_sweep(config)}


def workflow_config(**changes):
    config = copy.deepcopy(TINY)
    for key, value in changes.items():
        config[key] = value
    return config


def test_a_misspelt_dataset_under_datasets_is_refused_with_a_suggestion():
    config = workflow_config(datasets={"signal_copyy": {"seed": 0, "options": {}}})
    with pytest.raises(InputError, match=r"datasets.signal_copyy: .*did you mean 'signal_copy'"):
        check_workflow_config(config, runs_of(workflow_config()))


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_failure_threshold_is_refused(value):
    config = workflow_config(figures={"failure_threshold": value})
    with pytest.raises(InputError, match=r"figures.failure_threshold = (nan|inf) is not allowed"):
        check_workflow_config(config, runs_of(workflow_config()))


def test_an_early_epoch_after_every_runs_last_epoch_is_refused():
    runs = runs_of(workflow_config())  # tiny.yaml trains 2 epochs
    check_workflow_config(workflow_config(figures={"early_epoch": 2}), runs)
    with pytest.raises(InputError, match=r"figures.early_epoch = 3 is after every run's last epoch .*allowed: 0 to 2"):
        check_workflow_config(workflow_config(figures={"early_epoch": 3}), runs)


def test_grid_axes_naming_what_no_run_records_are_refused_with_a_suggestion():
    runs = runs_of(workflow_config())
    check_workflow_config(workflow_config(figures={"grid_axes": ["architecture", "init_scale"]}), runs)
    with pytest.raises(InputError, match=r"grid_axes names 'init_scal'.*did you mean 'init_scale'"):
        check_workflow_config(workflow_config(figures={"grid_axes": ["architecture", "init_scal"]}), runs)


def dry_run(tmp_path, config: dict) -> subprocess.CompletedProcess:
    shutil.copy(REPOSITORY / "Snakefile", tmp_path / "Snakefile")
    for folder in ("workflow", "config"):
        shutil.copytree(REPOSITORY / folder, tmp_path / folder)
    (tmp_path / "planned.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "planned.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    ({"datasets": {"signal_copyy": {"seed": 0}}}, r"datasets.signal_copyy: no dataset 'signal_copyy'"),
    ({"figures": {"failure_threshold": math.nan}}, r"figures.failure_threshold = nan is not allowed"),
    ({"spectrum": {**TINY["spectrum"], "n_exponents": 5}}, r"spectrum.n_exponents = 5 is more than the spectrum"),
    ({"plugin_paths": ["2024"]}, r"plugin_paths.*'2024'"),
])
def test_snakemake_dry_run_refuses_what_a_job_would_refuse(tmp_path, change, message):
    import re

    result = dry_run(tmp_path, workflow_config(**change))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(message, output), output
    assert "is not of type" not in output
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("spectrum, message", [
    ({"clv_angles": True, "warmup_steps": 0}, r"spectrum.clv_angles needs spectrum.warmup_steps >= 1"),
    ({"clv_angles": True, "warmup_steps": 5, "clv_vectors": 7}, r"spectrum.clv_vectors is 7 but the dynamics have 6"),
    ({"clv_angles": True, "warmup_steps": 10, "steps": 20}, r"needs more than 2 x spectrum.warmup_steps = 20 steps"),
])
def test_clv_angle_settings_that_cannot_run_are_refused_when_the_config_is_validated(spectrum, message):
    # A 6-unit RNN has 6 dimensions; CLVs need both transients inside the spectrum's steps.
    with pytest.raises(InputError, match=message):
        validate_run_config({"architecture": "rnn", "hidden_size": 6, "spectrum": spectrum})
    validate_run_config({"architecture": "rnn", "hidden_size": 6,
                         "spectrum": {"clv_angles": True, "warmup_steps": 5, "clv_vectors": 4, "steps": 40}})
