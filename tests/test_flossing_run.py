"""The run config's ``flossing`` section: validation, flossing inside ``train_run``, the per-run
file's flossing variables, bitwise resumption and a NaN update stopping the run."""

import math

import numpy as np
import pytest
import torch

from rnn_lyapunov import lyapunov_spectrum
from rnn_lyapunov.config.run_config import validate_run_config
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.training.checkpoints import load_checkpoint
from rnn_lyapunov.training.flossing_run import EVALUATION_SEQUENCES, FlossingStoppedError
from rnn_lyapunov.training.loop import build_model, load_training_data, train_run

FLOSSING = {"n_exponents": 2, "steps": 12, "warmup_steps": 4, "batch_size": 2, "learning_rate": 0.01,
            "before_training": 3, "every_epochs": 1, "updates_per_episode": 2}
CONFIG = {
    "run_id": "flossed", "dataset": "delayed_xor",
    "dataset_options": {"delay": 2, "sequence_length": 16, "n_train": 64, "n_validation": 16, "n_test": 8},
    "architecture": "rnn", "hidden_size": 6, "epochs": 3, "batch_size": 32, "learning_rate": 0.01, "seed": 3,
    "device": "cpu", "threads": 1,
    "spectrum": {"trajectories": 2, "n_exponents": 3, "epochs": [1]}, "flossing": FLOSSING,
}


def _with(**flossing):
    return {**CONFIG, "flossing": {**FLOSSING, **flossing}}


@pytest.mark.parametrize("flossing, words", [
    ({"target": math.nan}, ["flossing.target", "nan", "finite number"]),
    ({"target": math.inf}, ["flossing.target", "inf", "finite number"]),
    ({"n_exponents": 7}, ["flossing.n_exponents = 7", "tangent dimension is 6", "1 to 6"]),
    ({"steps": 4, "warmup_steps": 4}, ["flossing.steps = 4", "flossing.warmup_steps = 4", "steps > warmup_steps"]),
    ({"target": [0.0, 0.1, 0.2]}, ["flossing.target lists 3", "flossing.n_exponents = 2", "a list of 2 numbers"]),
    ({"learning_rate": 0}, ["flossing.learning_rate = 0", "> 0"]),
    ({"optimizer": "rmsprop"}, ["flossing.optimizer = 'rmsprop'", "'adam', 'sgd'"]),
])
def test_a_bad_flossing_section_is_refused_when_the_config_is_validated(flossing, words):
    with pytest.raises(InputError) as caught:
        validate_run_config(_with(**flossing))
    for word in words:
        assert word in str(caught.value)


def test_the_flossing_section_defaults_to_off():
    filled = validate_run_config({k: v for k, v in CONFIG.items() if k != "flossing"})
    assert filled["flossing"]["before_training"] == 0 and filled["flossing"]["updates_per_episode"] == 0
    assert validate_run_config(_with(target=[0.0, -0.1]))["flossing"]["target"] == [0.0, -0.1]


def test_a_run_without_flossing_has_no_flossing_variables_and_its_config_has_no_section(tmp_path):
    plain = {k: v for k, v in CONFIG.items() if k != "flossing"}
    result = train_run({**plain, "epochs": 1}, tmp_path / "plain", tmp_path / "plain.nc")
    assert not [name for name in result.data_vars if name.startswith("flossing")]
    assert '"flossing"' not in result.attrs["config"]


@pytest.fixture(scope="module")
def flossed(tmp_path_factory):
    directory = tmp_path_factory.mktemp("flossed")
    return train_run(CONFIG, directory / "run", directory / "run.nc"), directory


def test_the_run_file_records_each_episode(flossed):
    result, _ = flossed
    # before training (after epoch 0) and after epochs 1 and 2; none after the last epoch 3
    np.testing.assert_array_equal(result["flossing_epoch"].values, [0, 1, 2])
    np.testing.assert_array_equal(result["flossing_updates"].values, [3, 2, 2])
    assert result["flossing_exponents_before"].dims == ("flossing_episode", "flossing_exponent")
    assert result["flossing_exponents_before"].shape == (3, 2)
    assert np.all(np.diff(result["flossing_exponents_after"].values, axis=1) <= 0)  # descending
    assert np.all(np.isfinite(result["flossing_loss"].values)) and np.all(result["flossing_loss"].values > 0)


def test_the_exponents_before_flossing_are_those_of_the_initial_network(flossed):
    result, _ = flossed
    config = validate_run_config(CONFIG)
    dataset = load_training_data(config)
    torch.manual_seed(config["seed"])  # build_model draws the initialisation from the global RNG
    import random
    random.seed(config["seed"])
    np.random.seed(config["seed"])
    model = build_model(config, dataset)
    windows = dataset.encode_inputs(dataset.train.inputs)[:EVALUATION_SEQUENCES, :FLOSSING["steps"]]
    # the engine's estimate, not the differentiable one: QR every step over the same windows
    expected = lyapunov_spectrum(model.system(), windows, n_exponents=2, warmup_steps=4,
                                 reorthonormalize_every=1, factorization="qr").per_trajectory.mean(dim=0)
    np.testing.assert_allclose(result["flossing_exponents_before"].values[0], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_flossing_draws_nothing_from_the_training_rng_streams(tmp_path, monkeypatch):
    """The flossed run's data order is the plain run's: the shuffle and global generators are untouched."""
    from rnn_lyapunov.training import flossing_run

    drawn = []
    original = flossing_run.RunFlossing.run_episode

    def watched(self, epoch, updates, logger):
        before = torch.get_rng_state().clone(), np.random.get_state()[1].copy()
        original(self, epoch, updates, logger)
        drawn.append(not torch.equal(before[0], torch.get_rng_state())
                     or not np.array_equal(before[1], np.random.get_state()[1]))

    monkeypatch.setattr(flossing_run.RunFlossing, "run_episode", watched)
    train_run({**CONFIG, "epochs": 2}, tmp_path / "run", tmp_path / "run.nc")
    assert drawn == [False, False]


def test_a_killed_flossed_run_resumes_bitwise(flossed, tmp_path):
    uninterrupted, _ = flossed

    def stop(epoch, metrics, spectrum):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(CONFIG, tmp_path / "run", tmp_path / "stopped.nc", on_epoch=stop)
    assert load_checkpoint(tmp_path / "run", validate_run_config(CONFIG))["epoch"] == 1
    resumed = train_run(CONFIG, tmp_path / "run", tmp_path / "resumed.nc")
    for name in uninterrupted.data_vars:
        np.testing.assert_array_equal(resumed[name].values, uninterrupted[name].values, err_msg=name, strict=True)


def test_a_nan_flossing_update_stops_the_run_at_its_last_good_checkpoint(tmp_path, monkeypatch):
    from rnn_lyapunov.training.flossing import Flosser

    calls = {"count": 0}
    original = Flosser.exponents

    def poisoned(self, inputs):
        exponents = original(self, inputs)
        calls["count"] += 1
        # episode 0: a measurement, 3 updates, a measurement; episode 1: a measurement, then its first update
        return exponents * math.nan if calls["count"] == 7 else exponents

    monkeypatch.setattr(Flosser, "exponents", poisoned)
    with pytest.raises(FlossingStoppedError) as caught:
        train_run(CONFIG, tmp_path / "run", tmp_path / "run.nc")
    message = str(caught.value)
    assert "episode 1 (after epoch 1)" in message and "flossing.learning_rate" in message
    assert load_checkpoint(tmp_path / "run", validate_run_config(CONFIG))["epoch"] == 0
    assert not (tmp_path / "run.nc").exists()


def test_flossed_and_plain_runs_combine_into_one_sweep(flossed, tmp_path):
    from rnn_lyapunov.io.sweep_file import combine_runs

    plain = {k: v for k, v in CONFIG.items() if k != "flossing"}
    runs = [flossed[0],
            train_run({**plain, "run_id": "plain", "epochs": 1}, tmp_path / "plain", tmp_path / "plain.nc"),
            train_run({**_with(every_epochs=0), "run_id": "before", "epochs": 1}, tmp_path / "b", tmp_path / "b.nc")]
    sweep = combine_runs(runs)
    episodes = sweep["flossing_epoch"].sel(run=["flossed", "plain", "before"]).values
    np.testing.assert_array_equal(episodes, [[0, 1, 2], [np.nan] * 3, [0, np.nan, np.nan]])


# A plugin whose step hides its weights from autograd (they enter detached): the flossing loss has
# no graph back to any parameter, so flossing can never move it.
DETACHED_PLUGIN = '''
import torch
import torch.nn.functional as F
from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("detached_rnn")
class DetachedRNN(RecurrentArchitecture):
    description = "tanh RNN whose weights enter its step detached (a flossing-refusal test)"

    def cell(self, layer, layer_input, h):
        weight_ih, weight_hh, bias_ih, bias_hh = (w.detach() for w in self.layer_weights(layer))
        return torch.tanh(F.linear(layer_input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh))
'''
NOT_FLOSSABLE = ["config key architecture = 'detached_rnn' cannot be flossed", "flossing.before_training = 3",
                 "not differentiable", "flossing.before_training: 0 and flossing.updates_per_episode: 0"]


@pytest.fixture
def detached_plugin(tmp_path, monkeypatch):
    """``detached_rnn`` registered from a plugin file for this test only; the file's path."""
    from rnn_lyapunov.architectures import registry
    from rnn_lyapunov.config import run_checks

    registry.available_architectures()
    monkeypatch.setattr(registry.ARCHITECTURES, "entries", dict(registry.ARCHITECTURES.entries))
    monkeypatch.setattr(registry, "_LOADED_PATHS", set(registry._LOADED_PATHS))
    monkeypatch.setattr(run_checks, "_FLOSSABLE", {})
    path = tmp_path / "detached_rnn.py"
    path.write_text(DETACHED_PLUGIN)
    registry.load_plugin_paths([str(path)])
    return path


def test_flossing_an_architecture_autograd_cannot_differentiate_is_refused_when_the_config_is_validated(
        detached_plugin):
    plain = {k: v for k, v in CONFIG.items() if k != "flossing"}
    validate_run_config({**plain, "architecture": "detached_rnn"})  # measuring its spectrum is fine
    with pytest.raises(InputError) as caught:
        validate_run_config({**CONFIG, "architecture": "detached_rnn"})
    for words in NOT_FLOSSABLE:
        assert words in str(caught.value)
    validate_run_config(CONFIG)  # the same section on an RNN whose step autograd differentiates


def test_planning_a_workflow_that_flosses_an_undifferentiable_architecture_names_the_run_and_the_key(
        detached_plugin):
    from test_planning_checks import workflow_config

    from rnn_lyapunov.config.workflow_checks import plan_workflow

    # tiny.yaml: signal_copy sequences of 5 steps, init uniform (its scale swept)
    config = workflow_config(flossing={**FLOSSING, "steps": 4, "warmup_steps": 1},
                             sweep={"cross": {"architecture": ["rnn", "detached_rnn"], "init_scale": [0.5]}})
    with pytest.raises(InputError) as caught:
        plan_workflow(config)
    assert "(run " in str(caught.value)
    for words in NOT_FLOSSABLE:
        assert words in str(caught.value)


@pytest.mark.slow  # snakemake's own start-up: ~10 s
def test_snakemake_dry_run_refuses_flossing_an_undifferentiable_architecture(detached_plugin, tmp_path):
    from test_planning_checks import dry_run, workflow_config

    config = workflow_config(plugin_paths=[str(detached_plugin)], flossing={**FLOSSING, "steps": 4, "warmup_steps": 1},
                             sweep={"cross": {"architecture": ["detached_rnn"], "init_scale": [0.5]}})
    (tmp_path / "workflow_copy").mkdir()
    result = dry_run(tmp_path / "workflow_copy", config)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for words in NOT_FLOSSABLE:
        assert words in output, output


def test_flossing_windows_longer_than_the_dataset_sequences_are_refused_when_the_config_is_validated():
    # delayed_xor's sequences here are 16 steps long; windows of 16 fit, 17 do not.
    validate_run_config(_with(steps=16))
    with pytest.raises(InputError) as caught:
        validate_run_config(_with(steps=17))
    for words in ["flossing.steps = 17", "sequences of dataset 'delayed_xor' (16 steps", "allowed: "
                  "flossing.warmup_steps + 1 to 16"]:
        assert words in str(caught.value)
    validate_run_config({**_with(steps=17), "flossing": {**FLOSSING, "steps": 17, "before_training": 0,
                                                         "updates_per_episode": 0}})  # no flossing: no windows
