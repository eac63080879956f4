"""Checkpoints: which settings may change on resume, and discarding a stale checkpoint."""

import torch

from rnn_lyapunov.config.run_config import validate_run_config
from rnn_lyapunov.config.sweep import expand_sweep
from rnn_lyapunov.training.checkpoints import discard_stale_checkpoint


def checkpoint_of(run, path, epoch=1):
    """A checkpoint file holding what discard_stale_checkpoint reads: the run's validated config."""
    path.mkdir(parents=True, exist_ok=True)
    torch.save({"format": 1, "config": validate_run_config(run), "epoch": epoch}, path / "checkpoint.pt")


def tiny_run(**changes):
    config = {"training": {"architecture": "rnn", "init": "uniform", "init_scale": 0.5, "epochs": 2, "hidden_size": 8},
              "spectrum": {"n_exponents": 4}, "datasets": {"signal_copy": {"options": {"delay": 3}}}}
    run = expand_sweep(config)[0]
    run.update(changes)
    return run


def test_checkpoint_of_the_same_settings_is_kept_for_resuming(tmp_path):
    checkpoint_of(tiny_run(), tmp_path)
    assert discard_stale_checkpoint(tiny_run(), tmp_path) is False
    assert (tmp_path / "checkpoint.pt").is_file()


def test_checkpoint_differing_only_in_epochs_is_kept(tmp_path):
    checkpoint_of(tiny_run(epochs=2), tmp_path)
    assert discard_stale_checkpoint(tiny_run(epochs=5), tmp_path) is False


def test_checkpoint_beyond_fewer_epochs_is_discarded(tmp_path):
    checkpoint_of(tiny_run(epochs=5), tmp_path, epoch=4)
    assert discard_stale_checkpoint(tiny_run(epochs=3), tmp_path) is True


def test_checkpoint_of_other_settings_is_discarded(tmp_path):
    checkpoint_of(tiny_run(learning_rate=0.01), tmp_path)
    assert discard_stale_checkpoint(tiny_run(learning_rate=0.02), tmp_path) is True
    assert not (tmp_path / "checkpoint.pt").exists()


def test_no_checkpoint_means_nothing_to_discard(tmp_path):
    assert discard_stale_checkpoint(tiny_run(), tmp_path) is False
