"""LyapunovSpectrumCallback(flossing=...): flossing episodes before and during a Lightning fit."""

import copy

import pytest
import torch

pytest.importorskip("lightning")

from rnn_lyapunov import from_torch, lyapunov_spectrum  # noqa: E402
from rnn_lyapunov.errors import InputError  # noqa: E402
from rnn_lyapunov.lightning import LyapunovSpectrumCallback  # noqa: E402
from test_lightning_callback import Summer, loaders, quiet_lightning, trainer  # noqa: E402


@quiet_lightning
def test_episodes_run_before_training_and_after_each_epoch(tmp_path):
    inputs, train, validation = loaders()
    flossing_inputs = torch.randn(4, 20, 3)
    model = Summer()
    initial = copy.deepcopy(model.encoder)
    callback = LyapunovSpectrumCallback("encoder", inputs[:4], tmp_path / "run.nc", n_exponents=3, flossing={
        "inputs": flossing_inputs, "n_exponents": 2, "learning_rate": 0.01, "before_training": 3, "every_epochs": 1,
        "updates_per_episode": 2, "batch_size": 2, "warmup_steps": 5})
    trainer(tmp_path, callback, epochs=2).fit(model, train, validation)
    assert [(epoch, len(result.losses)) for epoch, result in callback.flossing_history] == [(0, 3), (1, 2), (2, 2)]
    first = callback.flossing_history[0][1]
    expected = lyapunov_spectrum(from_torch(initial), flossing_inputs[:2], n_exponents=2, warmup_steps=5,
                                 reorthonormalize_every=1, factorization="qr").exponents
    torch.testing.assert_close(first.before, expected, rtol=0, atol=1e-5)  # flossing began at the initial weights
    state = callback.state_dict()["flossing_optimizer"]["state"]
    assert {int(entry["step"]) for entry in state.values()} == {7}  # Adam counted every update: 3 + 2 + 2


def test_bad_flossing_options_are_refused_naming_the_key(tmp_path):
    with pytest.raises(InputError, match="unknown \\['updates'\\]"):
        LyapunovSpectrumCallback("encoder", torch.randn(2, 5, 3), tmp_path / "run.nc", flossing={
            "inputs": torch.randn(2, 5, 3), "n_exponents": 1, "learning_rate": 0.1, "updates": 3})
    with pytest.raises(InputError, match="every_epochs must be an int >= 0"):
        LyapunovSpectrumCallback("encoder", torch.randn(2, 5, 3), tmp_path / "run.nc", flossing={
            "inputs": torch.randn(2, 5, 3), "n_exponents": 1, "learning_rate": 0.1, "every_epochs": -1})
    with pytest.raises(InputError, match="target"):
        LyapunovSpectrumCallback("encoder", torch.randn(2, 5, 3), tmp_path / "run.nc", flossing={
            "inputs": torch.randn(2, 5, 3), "n_exponents": 1, "learning_rate": 0.1, "target": float("nan")})
