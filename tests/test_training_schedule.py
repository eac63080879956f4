"""The learning-rate schedule and bias-free networks of Vogt et al. (2022) as run settings."""

import pytest
import torch

from rnn_lyapunov.training.loop import learning_rate_at, train_run

TINY_RUN = {"dataset": "signal_copy", "dataset_options": {"n_train": 32, "n_validation": 8, "n_test": 4, "delay": 2},
            "architecture": "rnn", "hidden_size": 4, "batch_size": 16, "device": "cpu",
            "spectrum": {"trajectories": 2, "n_exponents": 2, "record_every": None}}


@pytest.mark.parametrize(("epoch", "factor"), [(1, 1.0), (9, 1.0), (10, 0.95), (11, 0.95**2), (15, 0.95**6)])
def test_learning_rate_decays_by_the_factor_per_epoch_from_the_start_epoch(epoch, factor):
    config = {"learning_rate": 0.002, "lr_decay": 0.95, "lr_decay_start": 10}
    assert learning_rate_at(config, epoch) == pytest.approx(0.002 * factor, rel=1e-12)


def test_the_optimizer_trains_each_epoch_at_the_scheduled_rate(tmp_path):
    run = {**TINY_RUN, "epochs": 3, "learning_rate": 0.01, "lr_decay": 0.5, "lr_decay_start": 2}
    train_run(run, tmp_path / "run", tmp_path / "run.nc", progress=False)
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01 * 0.5**2)


def test_bias_false_trains_a_core_without_biases(tmp_path):
    train_run({**TINY_RUN, "epochs": 1, "bias": False}, tmp_path / "run", tmp_path / "run.nc", progress=False)
    names = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"]
    assert not [name for name in names if name.startswith("core.bias")]
    assert "core.weight_hh_l0" in names
