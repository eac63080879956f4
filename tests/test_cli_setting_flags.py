"""Command-line flags generated from the settings table: they override a config file and are checked."""

import pytest
import xarray as xr
import yaml

from rnn_lyapunov.cli import commands as cli
from rnn_lyapunov.config.settings import SETTINGS

RUN = {"dataset": "signal_copy", "dataset_options": {"n_train": 32, "n_validation": 8, "n_test": 4, "delay": 2},
       "architecture": "gru", "hidden_size": 4, "epochs": 1, "batch_size": 16, "device": "cpu",
       "spectrum": {"trajectories": 2, "record_every": None}}


def test_every_scalar_setting_is_a_train_flag():
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for setting in SETTINGS:
        if setting.schema.get("type") not in ("object", "array") and setting.key != "run_id":
            assert setting.flag in help_text, setting.flag


def test_train_flags_override_the_config_file(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(RUN))
    argv = ["train", "--config", tmp_path / "run.yaml", "--run-dir", tmp_path / "run", "--out", tmp_path / "out.nc",
            "--hidden-size", "3", "--n-exponents", "2", "--units", "bits", "-q"]
    assert cli.main([str(arg) for arg in argv]) == 0, capsys.readouterr().err
    with xr.open_dataset(tmp_path / "out.nc") as run:
        assert int(run.hidden_size) == 3 and run.sizes["exponent"] == 2
        assert run.lyapunov_exponents.attrs["units"] == "bits per time step"


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--learning-rate", "-1", "--learning-rate: '-1' is not allowed; allowed: number > 0"),
    ("--optimizer", "adamw", "--optimizer: 'adamw' is not allowed; allowed: one of 'adam', 'sgd'"),
    ("--lstm-state", "c", "--lstm-state: 'c' is not allowed; allowed: one of 'full', 'h_only'"),
])
def test_a_bad_flag_value_is_a_usage_error_saying_what_is_allowed(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--config", str(tmp_path / "run.yaml"), flag, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
