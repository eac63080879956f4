"""Validating training-run configs: defaults, and errors naming the key path and what is allowed."""

import copy
import json

import pytest

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.config.run_config import DEFAULTS, load_run_config, validate_run_config


def test_an_empty_config_gets_every_default():
    assert validate_run_config({}) == {**DEFAULTS, "spectrum": dict(DEFAULTS["spectrum"])}


def test_nested_spectrum_keys_override_only_the_keys_given():
    config = validate_run_config({"spectrum": {"warmup_steps": 5}, "hidden_size": 8})
    assert config["spectrum"]["warmup_steps"] == 5 and config["hidden_size"] == 8
    assert config["spectrum"]["trajectories"] == DEFAULTS["spectrum"]["trajectories"]


def test_validation_does_not_modify_the_callers_dict():
    given = {"spectrum": {"steps": 50}}
    snapshot = copy.deepcopy(given)
    validate_run_config(given)
    assert given == snapshot


@pytest.mark.parametrize("config, message", [
    ({"spectrum": {"warmup_steps": -1}}, r"spectrum\.warmup_steps = -1 .*allowed: integer >= 0"),
    ({"hidden_size": 3.0}, r"hidden_size = 3\.0 .*allowed: integer >= 1"),
    ({"hidden_size": True}, r"hidden_size = True"),
    ({"learning_rate": 0}, r"learning_rate = 0 .*allowed: number > 0"),
    ({"dropout": 1.0}, r"dropout = 1\.0 .*< 1"),
    ({"init": "xavier"}, r"init = 'xavier' .*one of 'default', 'uniform', 'orthogonal'"),
    ({"optimizer": "rmsprop"}, r"optimizer = 'rmsprop' .*'adam', 'sgd'"),
    ({"device": "tpu"}, r"device = 'tpu' .*'auto', 'cpu', 'cuda'"),
    ({"spectrum": {"dtype": "float16"}}, r"spectrum\.dtype .*'float32', 'float64'"),
    ({"spectrum": {"epochs": [1, "two"]}}, r"spectrum\.epochs .*'all' or a list"),
    ({"run_id": "a/b"}, r"run_id = 'a/b' .*letters, digits"),
])
def test_a_bad_value_is_reported_with_its_key_path_and_what_is_allowed(config, message):
    with pytest.raises(InputError, match=message):
        validate_run_config(config)


def test_a_tangent_frame_narrower_than_the_states_is_refused_with_the_config_key():
    with pytest.raises(InputError, match=r"config key spectrum\.tangent_dtype float32 is narrower .*spectrum\.tangent_dtype float64"):
        validate_run_config({"spectrum": {"dtype": "float64", "tangent_dtype": "float32"}})
    validate_run_config({"spectrum": {"dtype": "float32", "tangent_dtype": "float64"}})  # wider is allowed


def test_unknown_keys_are_listed_with_the_allowed_ones():
    with pytest.raises(InputError, match=r"unknown config key\(s\) optimiser; allowed keys: .*optimizer"):
        validate_run_config({"optimiser": "adam"})
    with pytest.raises(InputError, match=r"spectrum\.warmup; allowed keys under spectrum: .*warmup_steps"):
        validate_run_config({"spectrum": {"warmup": 3}})


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(InputError) as raised:
        validate_run_config({"hidden_size": 0, "spectrum": {"trajectories": 0}})
    assert "hidden_size" in str(raised.value) and "spectrum.trajectories" in str(raised.value)


def test_unknown_architecture_gets_the_registrys_error_listing_known_ones():
    with pytest.raises(InputError, match=r"config key architecture: unknown architecture 'lstn'.*lstm.*rnn"):
        validate_run_config({"architecture": "lstn"})


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(InputError, match=r"config key dataset: unknown dataset 'mnist'.*char_text"):
        validate_run_config({"dataset": "mnist"})


def test_spectrum_epochs_after_the_last_epoch_are_refused():
    with pytest.raises(InputError, match=r"spectrum\.epochs lists \[7\].*epochs = 5"):
        validate_run_config({"epochs": 5, "spectrum": {"epochs": [2, 7]}})


def test_spectrum_epochs_list_is_sorted_and_deduplicated():
    assert validate_run_config({"spectrum": {"epochs": [3, 1, 3]}})["spectrum"]["epochs"] == [1, 3]


def test_record_every_must_be_a_multiple_of_reorthonormalize_every():
    with pytest.raises(InputError, match=r"config key spectrum\.record_every \(3\) must be a multiple of spectrum\.reorthonormalize_every \(2\)"):
        validate_run_config({"spectrum": {"record_every": 3, "reorthonormalize_every": 2}})


def test_warmup_must_be_shorter_than_the_spectrum_steps():
    with pytest.raises(InputError, match=r"config key spectrum\.warmup_steps \(10\) must be smaller than the number of time steps .*\(10\)"):
        validate_run_config({"spectrum": {"steps": 10, "warmup_steps": 10}})


def test_load_run_config_reads_yaml_and_json(tmp_path):
    (tmp_path / "run.yaml").write_text("hidden_size: 12\nspectrum:\n  warmup_steps: 4\n")
    (tmp_path / "run.json").write_text(json.dumps({"hidden_size": 12, "spectrum": {"warmup_steps": 4}}))
    from_yaml, from_json = load_run_config(tmp_path / "run.yaml"), load_run_config(tmp_path / "run.json")
    assert from_yaml == from_json
    assert from_yaml["hidden_size"] == 12 and from_yaml["spectrum"]["warmup_steps"] == 4


def test_load_run_config_reports_a_missing_file_or_bad_yaml(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_run_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("hidden_size: [1, 2\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_run_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="must be a mapping"):
        load_run_config(tmp_path / "list.yaml")
