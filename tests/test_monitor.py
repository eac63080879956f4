"""SpectrumMonitor: spectra in a hand-written training loop, written in the layout train_run writes."""

import copy
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from rnn_lyapunov import SpectrumMonitor, from_torch, lyapunov_spectrum
from rnn_lyapunov.architectures.model import create_model
from rnn_lyapunov.config.run_config import validate_run_config
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.training import spectra

TRAINING_PAGE = Path(__file__).resolve().parents[1] / "docs" / "training.md"


def train(encoder, head, inputs, targets, monitor, epochs=3, **metrics_of_epoch):
    """A plain loop: full-batch SGD on a regression target, one ``record`` per epoch."""
    optimizer = torch.optim.SGD([*encoder.parameters(), *head.parameters()], lr=0.05)
    monitor.record(0)
    for epoch in range(1, epochs + 1):
        loss = torch.nn.functional.mse_loss(head(encoder(inputs)[0][:, -1]), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        monitor.record(epoch, train_loss=loss, val_loss=loss.item() + 1)


def reference_spectrum(module, inputs, **arguments):
    """``from_torch`` + ``lyapunov_spectrum`` in float64 on an independent copy of the module."""
    return lyapunov_spectrum(from_torch(copy.deepcopy(module).double().eval()), inputs.double(), **arguments)


@pytest.fixture
def data():
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(16, 20, 3, generator=generator)
    return inputs, inputs.sum(dim=(1, 2)).unsqueeze(1) / 10


@pytest.mark.parametrize("kind", [torch.nn.LSTM, torch.nn.GRU])
def test_spectra_of_a_hand_written_loop_equal_from_torch_and_lyapunov_spectrum(tmp_path, data, kind):
    inputs, targets = data
    encoder, head = kind(3, 5, batch_first=True), torch.nn.Linear(5, 1)
    monitor = SpectrumMonitor(encoder, inputs[:4], tmp_path / "run.nc", warmup_steps=5, record_every=None,
                              reorthonormalize_every=1)  # as the reference: equal to rounding
    expected = []
    original_record = monitor.record

    def record_and_check(epoch, **metrics):
        expected.append(reference_spectrum(encoder, inputs[:4], warmup_steps=5).per_trajectory)
        return original_record(epoch, **metrics)

    monitor.record = record_and_check
    train(encoder, head, inputs, targets, monitor)
    written = xr.load_dataset(tmp_path / "run.nc")
    assert written["epoch"].values.tolist() == [0, 1, 2, 3]
    for epoch, per_trajectory in enumerate(expected):
        np.testing.assert_allclose(written["lyapunov_exponents_per_trajectory"].sel(epoch=epoch), per_trajectory,
                                   rtol=0, atol=1e-12)
    assert not np.allclose(expected[0], expected[-1])  # training moved the spectrum
    assert np.isnan(written["train_loss"].sel(epoch=0)) and np.isfinite(written["train_loss"].sel(epoch=3))
    np.testing.assert_allclose(written["val_loss"][1:], written["train_loss"][1:] + 1, rtol=1e-6)
    assert written["architecture"].item() == kind.__name__.lower() and written["state_size"].item() == \
        (10 if kind is torch.nn.LSTM else 5)


def test_the_file_has_the_layout_train_run_writes(tmp_path):
    from rnn_lyapunov.training.loop import train_run

    config = {"run_id": "reference", "dataset": "signal_copy", "architecture": "gru", "hidden_size": 4,
              "epochs": 1, "batch_size": 64, "device": "cpu", "seed": 0,
              "dataset_options": {"n_train": 64, "n_validation": 8, "n_test": 4, "delay": 3},
              "spectrum": {"trajectories": 2, "record_every": 2}}
    reference = train_run(config, tmp_path / "run", tmp_path / "reference.nc", progress=False)
    model = create_model("gru", input_size=5, hidden_size=4, output_size=4)
    monitor = SpectrumMonitor(model, torch.randn(2, 4, 5), tmp_path / "monitor.nc", record_every=2,
                              hyperparameters={"seed": 0, "dataset": "signal_copy"})
    monitor.record(0, val_loss=1.0)
    monitor.record(1, train_loss=0.5, val_loss=0.9, val_accuracy=0.5)
    reference, ours = xr.load_dataset(tmp_path / "reference.nc"), xr.load_dataset(tmp_path / "monitor.nc")

    def layout(dataset):
        return ({name: (variable.dims, variable.dtype.kind, sorted(variable.attrs))
                 for name, variable in dataset.variables.items()}, sorted(dataset.attrs))

    assert layout(ours) == layout(reference)
    assert ours["lyapunov_exponents"].attrs == reference["lyapunov_exponents"].attrs
    assert ours.attrs["optimizer"] == "unknown" and np.isnan(ours["learning_rate"].item())
    assert ours["seed"].item() == 0 and ours["hidden_size"].item() == 4 and ours.attrs["state_size"] == 4


def test_the_module_and_every_random_state_are_left_as_they_were(tmp_path, data, monkeypatch):
    inputs, targets = data
    encoder = torch.nn.LSTM(3, 5, num_layers=2, dropout=0.3, batch_first=True)  # dropout: needs eval semantics
    torch.nn.functional.mse_loss(encoder(inputs)[0][:, -1, :1], targets).backward()
    gradients = {name: parameter.grad.clone() for name, parameter in encoder.named_parameters()}
    weights = copy.deepcopy(encoder.state_dict())
    compute = spectra.compute_spectrum

    def drawing_compute(*arguments, **keywords):  # whatever the engine draws must not reach the caller
        torch.rand(3), random.random(), np.random.rand()
        if torch.cuda.is_available():
            torch.rand(3, device="cuda")
        return compute(*arguments, **keywords)

    monkeypatch.setattr(spectra, "compute_spectrum", drawing_compute)
    monitor = SpectrumMonitor(encoder, inputs[:4], tmp_path / "run.nc")
    for epoch, mode in enumerate([True, False]):
        encoder.train(mode)
        states = (torch.get_rng_state(), random.getstate(), np.random.get_state(),
                  torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
        monitor.record(epoch)
        assert encoder.training is mode
        assert torch.equal(torch.get_rng_state(), states[0]) and random.getstate() == states[1]
        assert all(np.array_equal(*pair) for pair in zip(np.random.get_state(), states[2]))
        if torch.cuda.is_available():
            assert all(torch.equal(*pair) for pair in zip(torch.cuda.get_rng_state_all(), states[3]))
    for name, parameter in encoder.named_parameters():
        assert torch.equal(parameter.grad, gradients[name]) and torch.equal(parameter, weights[name])
        assert parameter.requires_grad


def test_inputs_of_a_module_with_batch_first_false_are_time_major(tmp_path, data):
    inputs, _ = data
    gru = torch.nn.GRU(3, 4)  # batch_first=False: inputs (time, batch, input_size)
    monitor = SpectrumMonitor(gru, inputs[:3].transpose(0, 1), tmp_path / "run.nc", trajectories=2, steps=15)
    spectrum = monitor.record(0)
    assert spectrum.per_trajectory.shape == (2, 4)
    torch.testing.assert_close(spectrum.per_trajectory, reference_spectrum(gru, inputs[:2, :15]).per_trajectory,
                               rtol=0, atol=1e-12)
    with pytest.raises(InputError, match="trajectories=4 but inputs hold 3 sequences"):
        SpectrumMonitor(gru, inputs[:3].transpose(0, 1), tmp_path / "other.nc", trajectories=4)


def test_a_time_major_reading_of_the_inputs_is_said_and_batch_first_overrides_it(tmp_path, data, caplog):
    import logging

    inputs, _ = data
    gru = torch.nn.GRU(3, 4)  # batch_first=False, but the inputs below are (batch, time, input_size)
    with caplog.at_level(logging.INFO, logger="rnn_lyapunov.training.monitor"):
        SpectrumMonitor(gru, inputs[:3], tmp_path / "time_major.nc")
    assert "reads inputs of shape (3, " in caplog.text and "as (time, batch, input_size)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rnn_lyapunov.training.monitor"):
        monitor = SpectrumMonitor(gru, inputs[:3], tmp_path / "batch_major.nc", batch_first=True, steps=15)
    assert "as (time, batch" not in caplog.text
    # Read as (batch, time): the spectra are those of the first sequences, as a batch_first module would see them.
    torch.testing.assert_close(monitor.record(0).per_trajectory, reference_spectrum(gru, inputs[:3, :15]).per_trajectory,
                               rtol=0, atol=1e-12)


def test_bits_and_the_h_only_lstm_follow_the_settings(tmp_path, data):
    import math

    from rnn_lyapunov.architectures.hidden_only import HiddenOnlySystem

    inputs, _ = data
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    monitor = SpectrumMonitor(lstm, inputs[:2], tmp_path / "bits.nc", units="bits", lstm_state="h_only")
    monitor.record(0)
    written = xr.load_dataset(tmp_path / "bits.nc")
    reference = lyapunov_spectrum(HiddenOnlySystem(from_torch(copy.deepcopy(lstm).double())), inputs[:2].double())
    np.testing.assert_allclose(written["lyapunov_exponents"].sel(epoch=0), reference.exponents / math.log(2),
                               rtol=1e-12)
    assert written["state_size"].item() == 4 and written["lyapunov_exponents"].attrs["units"] == "bits per time step"
    resumed = SpectrumMonitor(lstm, inputs[:2], tmp_path / "bits.nc", units="bits", lstm_state="h_only")
    resumed.record(1)
    np.testing.assert_allclose(xr.load_dataset(tmp_path / "bits.nc")["lyapunov_exponents"].sel(epoch=0),
                               written["lyapunov_exponents"].sel(epoch=0), rtol=1e-15)


def test_an_epoch_is_recorded_once_and_a_compatible_file_is_resumed(tmp_path, data):
    inputs, _ = data
    rnn, path = torch.nn.RNN(3, 4, batch_first=True), tmp_path / "run.nc"
    first = SpectrumMonitor(rnn, inputs[:2], path, epochs=[0, 2])
    first.record(0, val_loss=2.0)
    first.record(1, val_loss=1.5)
    with pytest.raises(InputError, match="epoch 1 is already in .*run.nc"):
        first.record(1, train_loss=1.0)
    before = xr.load_dataset(path)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(2)
    resumed = SpectrumMonitor(rnn, inputs[:2], path, epochs=[0, 2])
    with pytest.raises(InputError, match="epoch 0 is already in"):
        resumed.record(0)
    resumed.record(3, val_loss=1.0)
    after = xr.load_dataset(path)
    assert after["epoch"].values.tolist() == [0, 1, 2, 3]
    xr.testing.assert_identical(after["lyapunov_exponents"].sel(epoch=[0, 1]), before["lyapunov_exponents"])
    assert np.isnan(after["lyapunov_exponents"].sel(epoch=[1, 2, 3])).all()  # only epoch 0 and 2 take spectra
    np.testing.assert_array_equal(after["val_loss"], [2.0, 1.5, np.nan, 1.0])
    with pytest.raises(InputError, match="another run .*spectrum_warmup_steps"):
        SpectrumMonitor(rnn, inputs[:2], path, warmup_steps=3, epochs=[0, 2])
    with pytest.raises(InputError, match="another run .*learning_rate = nan in the file, 0.1 here"):
        SpectrumMonitor(rnn, inputs[:2], path, epochs=[0, 2], hyperparameters={"learning_rate": 0.1})
    (tmp_path / "notes.nc").write_text("not a NetCDF file")
    with pytest.raises(InputError, match="cannot resume.*notes.nc"):
        SpectrumMonitor(rnn, inputs[:2], tmp_path / "notes.nc")


@pytest.mark.parametrize("settings", [{"warmup_steps": -1}, {"units": "decibels"}, {"n_exponent": 3},
                                      {"record_every": 3, "reorthonormalize_every": 2}])
def test_settings_are_checked_with_the_run_config_rules_and_messages(tmp_path, data, settings):
    with pytest.raises(InputError) as expected:
        validate_run_config({"spectrum": settings})
    problem = str(expected.value).splitlines()[-1].strip()
    with pytest.raises(InputError, match=re.escape(problem)):
        SpectrumMonitor(torch.nn.RNN(3, 4), data[0][:2], tmp_path / "run.nc", **settings)


def test_monitor_files_join_a_sweep_that_figures_and_the_readout_read(tmp_path, data):
    from rnn_lyapunov.analysis.readout import evaluate_readout
    from rnn_lyapunov.figures.registry import get_figure
    from rnn_lyapunov.io.sweep_file import load_sweep, write_sweep

    inputs, targets = data
    paths = []
    for run, learning_rate in enumerate([0.01, 0.02, 0.05, 0.1]):
        torch.manual_seed(run)
        encoder, head = torch.nn.GRU(3, 4, batch_first=True), torch.nn.Linear(4, 1)
        monitor = SpectrumMonitor(encoder, inputs[:2], tmp_path / f"run{run}.nc", steps=10, n_exponents=3,
                                  hyperparameters={"learning_rate": learning_rate, "dataset": "sums", "seed": run})
        train(encoder, head, inputs, targets, monitor, epochs=2)
        paths.append(monitor.path)
    sweep = write_sweep(paths, tmp_path / "sweep.nc")
    assert load_sweep(tmp_path / "sweep.nc")["run"].values.tolist() == ["run0", "run1", "run2", "run3"]
    np.testing.assert_array_equal(sweep["learning_rate"], [0.01, 0.02, 0.05, 0.1])
    figure = get_figure("spectrum_during_training").draw(load_sweep(tmp_path / "sweep.nc"))
    figure.savefig(tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 0
    threshold = float(np.median(sweep["val_loss"].sel(epoch=2)))  # two runs "fail", two do not
    table = evaluate_readout(sweep, early_epoch=1, folds=2, repeats=1, n_bootstrap=20, failure_threshold=threshold,
                             predictors=["largest_exponent", "early_val_loss"])
    assert set(table["predictor"]) == {"largest_exponent", "early_val_loss"}
    assert (table["n_runs"] == 4).all() and np.isfinite(table["value"]).any()


def test_the_docs_loop_runs(tmp_path, monkeypatch):
    from docs_pages import block_containing

    snippet = block_containing(TRAINING_PAGE, "SpectrumMonitor(encoder").code
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/training.md", "exec"), {})
    written = xr.load_dataset(tmp_path / "results/spectra/my_run.nc")
    assert written["epoch"].values.tolist() == [0, 1, 2, 3] and written.sizes["exponent"] == 32
    assert np.isfinite(written["lyapunov_exponents"]).all()
