"""Sweep expansion: crossed, zipped and sampled axes over any run-config key, and run ids."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_lyapunov.config.schema import describe_schema_error, validator, workflow_schema
from rnn_lyapunov.config.sweep import check_available, expand_sweep
from rnn_lyapunov.errors import InputError


def workflow_config(**sweep):
    return {
        "sweep": sweep,
        "training": {"init": "uniform", "optimizer": "adam", "epochs": 2, "hidden_size": 8},
        "spectrum": {"n_exponents": 4},
        "datasets": {"signal_copy": {"options": {"delay": 3}}},
    }


def test_crossed_axes_give_one_run_per_combination():
    runs = expand_sweep(workflow_config(cross={"architecture": ["rnn", "lstm"], "init_scale": [0.5, 2.0]}))
    assert {(run["architecture"], run["init_scale"]) for run in runs} == {
        ("rnn", 0.5), ("rnn", 2.0), ("lstm", 0.5), ("lstm", 2.0)}


def test_each_run_gets_the_shared_settings_and_its_datasets_options():
    run = expand_sweep(workflow_config(cross={"seed": [0, 1]}))[0]
    assert run["optimizer"] == "adam" and run["epochs"] == 2
    assert run["spectrum"] == {"n_exponents": 4}
    assert run["dataset_options"] == {"delay": 3}
    assert run["data_dir"] == "results/data/signal_copy"


def test_zipped_axes_move_together_for_matched_sizes():
    config = workflow_config(zip=[{"architecture": ["rnn", "lstm", "gru"], "hidden_size": [157, 64, 78]}],
                             cross={"learning_rate": [0.001, 0.01]})
    del config["training"]["hidden_size"]
    runs = expand_sweep(config)
    assert len(runs) == 6
    assert {(run["architecture"], run["hidden_size"]) for run in runs} == {("rnn", 157), ("lstm", 64), ("gru", 78)}


def test_zip_groups_of_unequal_length_are_refused_naming_the_group():
    with pytest.raises(InputError, match=r"sweep\.zip\[0\].*same length.*architecture: 2, hidden_size: 3"):
        expand_sweep({"sweep": {"zip": [{"architecture": ["rnn", "lstm"], "hidden_size": [1, 2, 3]}]}})


def test_sampled_axis_draws_n_reproducible_values_within_bounds():
    config = workflow_config(sample={"init_scale": {"low": 0.04, "high": 0.24, "n": 60, "seed": 3}})
    first, second = expand_sweep(config), expand_sweep(config)
    scales = [run["init_scale"] for run in first]
    assert len(set(scales)) == 60 and all(0.04 <= value <= 0.24 for value in scales)
    assert scales == [run["init_scale"] for run in second]


def test_log_uniform_sample_is_uniform_in_the_log():
    config = workflow_config(sample={"learning_rate": {"low": 1e-4, "high": 1e-1, "n": 2000, "scale": "log"}})
    logs = np.log10([run["learning_rate"] for run in expand_sweep(config)])
    assert logs.min() >= -4 and logs.max() <= -1
    # A uniform variable on [-4, -1] has mean -2.5 and standard deviation 3 / sqrt(12).
    assert abs(logs.mean() + 2.5) < 4 * (3 / math.sqrt(12)) / math.sqrt(2000)


@pytest.mark.parametrize(("spec", "message"), [
    ({"low": 0.5, "high": 0.1, "n": 3}, r"sweep\.sample\.init_scale: low \(0\.5\) must be below high"),
    ({"low": 0.0, "high": 0.1, "n": 3, "scale": "log"}, r"sweep\.sample\.init_scale: scale 'log' needs low > 0"),
])
def test_bad_sample_ranges_name_the_key(spec, message):
    with pytest.raises(InputError, match=message):
        expand_sweep(workflow_config(sample={"init_scale": spec}))


def test_any_sweepable_key_can_be_an_axis_including_spectrum_and_plugin_options():
    runs = expand_sweep(workflow_config(cross={"dropout": [0.0, 0.2], "spectrum.trajectories": [4, 8],
                                               "architecture_options.nonlinearity": ["tanh", "relu"]}))
    assert len(runs) == 8
    assert {run["spectrum"]["trajectories"] for run in runs} == {4, 8}
    assert {run["architecture_options"]["nonlinearity"] for run in runs} == {"tanh", "relu"}
    assert all(run["spectrum"]["n_exponents"] == 4 for run in runs)


def test_unknown_axis_is_refused_listing_the_allowed_ones():
    with pytest.raises(InputError, match=r"sweep\.cross\.lr is not a sweep axis; allowed: .*learning_rate"):
        expand_sweep(workflow_config(cross={"lr": [0.1]}))


def test_a_key_both_shared_and_swept_is_refused():
    with pytest.raises(InputError, match="hidden_size is both a shared setting and a sweep axis"):
        expand_sweep(workflow_config(cross={"hidden_size": [4, 8]}))


def test_run_ids_name_the_architecture_and_the_values_that_vary():
    runs = expand_sweep(workflow_config(cross={"architecture": ["lstm", "gru"], "learning_rate": [0.001],
                                               "dropout": [0.0, 0.1]}))
    assert [run["run_id"] for run in runs] == ["lstm-do0", "lstm-do0.1", "gru-do0", "gru-do0.1"]


def test_a_hyphenated_architecture_name_makes_a_valid_run_id():
    runs = expand_sweep(workflow_config(cross={"architecture": ["leaky-rnn", "rnn"]}))
    assert [run["run_id"] for run in runs] == ["leaky-rnn", "rnn"]


def test_a_sweep_that_varies_only_the_seed_still_names_the_architecture():
    runs = expand_sweep({"sweep": {"cross": {"seed": [0, 1]}}, "training": {"architecture": "gru"}})
    assert [run["run_id"] for run in runs] == ["gru-s0", "gru-s1"]


def test_value_listed_twice_is_an_error_naming_the_run():
    with pytest.raises(InputError, match="same id 'rnn-h8"):
        expand_sweep({"sweep": {"cross": {"hidden_size": [8, 8]}}})


@settings(max_examples=40, deadline=None)
@given(
    hidden_sizes=st.lists(st.integers(1, 1024), min_size=1, max_size=3, unique=True),
    init_scales=st.lists(st.floats(1e-3, 10, allow_nan=False), min_size=1, max_size=3, unique=True),
    seeds=st.lists(st.integers(0, 10**6), min_size=1, max_size=3, unique=True),
)
def test_run_ids_are_unique_for_distinct_values(hidden_sizes, init_scales, seeds):
    runs = expand_sweep({"sweep": {"cross": {"hidden_size": hidden_sizes, "init_scale": init_scales, "seed": seeds}}})
    ids = [run["run_id"] for run in runs]
    assert len(ids) == len(set(ids)) == len(hidden_sizes) * len(init_scales) * len(seeds)
    assert all("/" not in name for name in ids)


def schema_errors(config):
    return [describe_schema_error(error) for error in validator(workflow_schema()).iter_errors(config)]


@pytest.mark.parametrize(("sweep", "message"), [
    ({"cross": {"hidden_size": [8, 0]}}, "config key sweep.cross.hidden_size.1 = 0 is not allowed; allowed: integer >= 1."),
    ({"cross": {"learning_rate": [-0.1]}},
     "config key sweep.cross.learning_rate.0 = -0.1 is not allowed; allowed: number > 0."),
    ({"cross": {"optimizer": ["adamw"]}},
     "config key sweep.cross.optimizer.0 = 'adamw' is not allowed; allowed: one of 'adam', 'sgd'."),
    ({"sample": {"dropout": {"low": 0, "high": 0.3}}}, "config key sweep.sample.dropout: 'n' is a required property."),
    ({"architectures": ["rnn"]}, "unknown config key(s) sweep.architectures; allowed keys under sweep: cross, sample, zip."),
])
def test_schema_errors_name_the_key_the_value_and_what_is_allowed(sweep, message):
    assert schema_errors({"sweep": sweep}) == [message]


def test_check_available_lists_known_architectures_for_an_unknown_one():
    config = workflow_config(cross={"architecture": ["rnn", "transformer"]})
    with pytest.raises(InputError, match=r"unknown architecture\(s\) 'transformer'; known: .*gru, .*lstm, .*rnn"):
        check_available(expand_sweep(config), config)


def test_check_available_names_an_unknown_dataset_option():
    config = workflow_config(cross={"seed": [0]})
    config["datasets"]["signal_copy"]["options"] = {"dealy": 3}
    with pytest.raises(InputError, match=r"datasets\.signal_copy\.options.*'dealy'.*delay"):
        check_available(expand_sweep(config), config)
