"""Training runs: learning, determinism, checkpoint/resume, spectra, the per-run NetCDF file."""

import copy
import math

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from rnn_lyapunov.datasets import build_dataset, prepare_dataset
from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.architectures.model import create_model
from rnn_lyapunov.engine.spectrum import UNITS
from rnn_lyapunov.training.loop import spectrum_inputs, train_from_config_file, train_run

SIGNAL_COPY = {"n_train": 256, "n_validation": 64, "n_test": 16, "delay": 5}


def tiny_config(**overrides):
    """A run of a few hundred milliseconds per epoch on the CPU."""
    config = {
        "run_id": "tiny", "dataset": "signal_copy", "dataset_options": dict(SIGNAL_COPY),
        "architecture": "rnn", "hidden_size": 12, "epochs": 3, "batch_size": 32, "learning_rate": 0.01,
        "seed": 3, "device": "cpu", "threads": 1,
        "spectrum": {"trajectories": 4, "record_every": 2},
    }
    for key, value in overrides.items():
        if key == "spectrum":
            config["spectrum"].update(value)
        else:
            config[key] = value
    return config


def data_variables(dataset: xr.Dataset) -> dict:
    return {name: dataset[name].values for name in dataset.data_vars}


def assert_bitwise_equal(first: xr.Dataset, second: xr.Dataset):
    assert set(first.data_vars) == set(second.data_vars)
    for name in first.data_vars:
        np.testing.assert_array_equal(first[name].values, second[name].values, err_msg=name, strict=True)


def test_training_lowers_the_loss_on_signal_copy(tmp_path):
    result = train_run(tiny_config(epochs=4), tmp_path / "run", tmp_path / "run.nc")
    chance = math.log(4)  # cross-entropy of a uniform guess among 4 symbols; chance accuracy 0.25
    assert result.val_loss[0] == pytest.approx(chance, abs=0.1)
    assert float(result.val_loss[-1]) < 0.7 * chance
    assert float(result.val_accuracy[-1]) > 0.5


def test_training_lowers_the_loss_on_char_text(tmp_path):
    config = tiny_config(dataset="char_text", epochs=2, hidden_size=32, learning_rate=0.02,
                         dataset_options={"max_characters": 30_000, "sequence_length": 25},
                         spectrum={"trajectories": 2, "n_exponents": 4, "record_every": None})
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    vocabulary_size = build_dataset("char_text", **config["dataset_options"]).input_size
    assert float(result.val_loss[0]) == pytest.approx(math.log(vocabulary_size), abs=0.3)
    assert float(result.val_loss[-1]) < float(result.val_loss[0]) - 0.8
    assert float(result.train_loss[2]) < float(result.train_loss[1])


def test_the_same_config_and_seed_give_bitwise_identical_results(tmp_path):
    first = train_run(tiny_config(epochs=2), tmp_path / "a", tmp_path / "a.nc")
    second = train_run(tiny_config(epochs=2), tmp_path / "b", tmp_path / "b.nc")
    assert_bitwise_equal(first, second)


def test_resuming_from_a_checkpoint_ends_identical_to_an_uninterrupted_run(tmp_path):
    config = tiny_config(dropout=0.2)  # dropout draws from the global RNG, so its state must be restored
    train_run({**config, "epochs": 2}, tmp_path / "resumed", tmp_path / "first_part.nc")
    resumed = train_run(config, tmp_path / "resumed", tmp_path / "resumed.nc")
    uninterrupted = train_run(config, tmp_path / "straight", tmp_path / "straight.nc")
    assert_bitwise_equal(resumed, uninterrupted)
    assert "resuming run tiny after epoch 2" in (tmp_path / "resumed/train.log").read_text()


def test_resuming_with_a_different_config_is_refused(tmp_path):
    train_run(tiny_config(epochs=1), tmp_path / "run", tmp_path / "run.nc")
    with pytest.raises(InputError, match="keys learning_rate differ"):
        train_run(tiny_config(epochs=2, learning_rate=0.5), tmp_path / "run", tmp_path / "run.nc")


def test_epoch_zero_spectrum_equals_the_spectrum_of_the_freshly_initialised_model(tmp_path):
    config = tiny_config(epochs=1, spectrum={"warmup_steps": 2})
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    validation = build_dataset("signal_copy", seed=config["seed"], **SIGNAL_COPY).validation
    torch.manual_seed(config["seed"])
    model = create_model("rnn", input_size=5, hidden_size=12, output_size=4)
    expected = lyapunov_spectrum(copy.deepcopy(model.system()).double(), validation.inputs[:4].double(),
                                 warmup_steps=2, record_every=2)
    np.testing.assert_allclose(result.lyapunov_exponents_per_trajectory[0].values,
                               expected.per_trajectory.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.lyapunov_exponents[0].values, expected.exponents.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.kaplan_yorke_dimension[0].values, expected.kaplan_yorke_dimension, atol=1e-12)


def test_the_netcdf_file_has_the_documented_layout_units_and_provenance(tmp_path):
    config = tiny_config(epochs=2, spectrum={"epochs": [2], "record_every": 2, "n_exponents": 5})
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    with xr.open_dataset(tmp_path / "run.nc", engine="netcdf4") as written:
        written.load()
    xr.testing.assert_identical(written, result)
    assert dict(written.sizes) == {"epoch": 3, "exponent": 5, "trajectory": 4, "step": 3}
    assert written.lyapunov_exponents.dims == ("epoch", "exponent")
    assert written.lyapunov_exponents_per_trajectory.dims == ("epoch", "trajectory", "exponent")
    assert written.lyapunov_running_estimate.dims == ("step", "trajectory", "exponent")
    assert written.step.values.tolist() == [2, 4, 6]
    for name in ("lyapunov_exponents", "lyapunov_exponents_per_trajectory", "lyapunov_stderr",
                 "lyapunov_running_estimate"):
        assert written[name].attrs["units"] == UNITS and written[name].attrs["long_name"]
    # A spectrum at epochs 0 and 2 only; NaN at epoch 1.
    assert np.isnan(written.lyapunov_exponents.sel(epoch=1)).all()
    assert np.isfinite(written.lyapunov_exponents.sel(epoch=[0, 2])).all()
    assert np.isnan(written.train_loss[0]) and np.isfinite(written.train_loss[1:]).all()
    exponents = written.lyapunov_exponents_per_trajectory.sel(epoch=2).values
    assert (np.diff(exponents, axis=1) <= 0).all()  # descending
    assert written.state_size.item() == 12 and written.run_id.item() == "tiny"
    assert np.isnan(written.init_scale.item()) and written.optimizer.item() == "adam"
    for attribute in ("rnn_lyapunov_version", "git_revision", "torch_version", "device", "config", "created"):
        assert attribute in written.attrs
    assert written.attrs["device"] == "cpu"


def test_a_diverging_network_gets_nan_spectra_and_the_run_completes(tmp_path):
    config = tiny_config(epochs=1, init="uniform", init_scale=5.0, architecture_options={"nonlinearity": "relu"},
                         spectrum={"dtype": "float32", "steps": 60, "record_every": None})
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    assert np.isnan(result.lyapunov_exponents.sel(epoch=0)).all()
    assert np.isnan(result.kaplan_yorke_dimension.sel(epoch=0))
    assert "spectrum not computed, recording NaN" in (tmp_path / "run/train.log").read_text()


def test_spectrum_inputs_join_consecutive_validation_sequences_for_long_spectra():
    dataset = build_dataset("char_text", max_characters=20_000, sequence_length=10)
    inputs = spectrum_inputs(dataset, trajectories=2, steps=25)
    assert inputs.shape == (2, 25, dataset.input_size)
    expected_ids = dataset.validation.inputs[3:6].reshape(-1)[:25]  # trajectory 1 reads sequences 3, 4, 5
    assert torch.equal(inputs[1].argmax(dim=1), expected_ids)
    with pytest.raises(InputError, match="spectrum.trajectories x spectrum.steps"):
        spectrum_inputs(dataset, trajectories=len(dataset.validation), steps=25)


def test_training_reads_a_prepared_data_directory_and_refuses_conflicting_options(tmp_path):
    prepare_dataset("signal_copy", tmp_path / "data", seed=9, **SIGNAL_COPY)
    config = tiny_config(epochs=1, data_dir=str(tmp_path / "data"), dataset_options={})
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    assert np.isfinite(result.val_loss).all()
    with pytest.raises(InputError, match="dataset_options asks for .*'delay': 7"):
        train_run({**config, "dataset_options": {"delay": 7}}, tmp_path / "other", tmp_path / "other.nc")


def test_train_from_config_file_reads_yaml(tmp_path):
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(tiny_config(epochs=0)))
    result = train_from_config_file(tmp_path / "run.yaml", tmp_path / "run", tmp_path / "out" / "run.nc")
    assert result.sizes["epoch"] == 1 and (tmp_path / "out" / "run.nc").is_file()


def test_epoch_zero_validation_loss_and_accuracy_match_torch_on_the_fresh_model(tmp_path):
    config = tiny_config(epochs=0)
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    validation = build_dataset("signal_copy", seed=config["seed"], **SIGNAL_COPY).validation
    torch.manual_seed(config["seed"])
    model = create_model("rnn", input_size=5, hidden_size=12, output_size=4)
    with torch.no_grad():
        logits = model(validation.inputs)[0][:, -1]
    expected_loss = torch.nn.functional.cross_entropy(logits, validation.targets)
    assert float(result.val_loss[0]) == pytest.approx(float(expected_loss), rel=1e-6)
    assert float(result.val_accuracy[0]) == pytest.approx(float((logits.argmax(1) == validation.targets).double().mean()))


def test_regression_runs_report_mean_squared_error_and_nan_accuracy(tmp_path):
    options = {"n_train": 64, "n_validation": 32, "n_test": 8, "sequence_length": 10}
    config = tiny_config(epochs=0, dataset="adding", dataset_options=options)
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    validation = build_dataset("adding", seed=config["seed"], **options).validation
    torch.manual_seed(config["seed"])
    model = create_model("rnn", input_size=2, hidden_size=12, output_size=1)
    with torch.no_grad():
        predictions = model(validation.inputs)[0][:, -1]
    assert float(result.val_loss[0]) == pytest.approx(float(torch.nn.functional.mse_loss(predictions, validation.targets)), rel=1e-6)
    assert np.isnan(result.val_accuracy).all()


def test_asking_for_more_exponents_than_the_state_size_names_the_key(tmp_path):
    with pytest.raises(InputError, match=r"config key spectrum\.n_exponents = 13 is more than the spectrum has: .* has 12 exponents; allowed: 1 to 12"):
        train_run(tiny_config(spectrum={"n_exponents": 13}), tmp_path / "run", tmp_path / "run.nc")


def test_train_run_leaves_the_torch_thread_count_as_it_found_it(tmp_path):
    before = torch.get_num_threads()
    train_run(tiny_config(epochs=0, threads=1), tmp_path / "run", tmp_path / "run.nc")
    assert torch.get_num_threads() == before


def test_the_progress_bar_shows_only_when_asked_or_on_a_terminal(tmp_path, capsys):
    train_run(tiny_config(epochs=1), tmp_path / "quiet", tmp_path / "quiet.nc")  # stderr is not a terminal here
    assert capsys.readouterr().err == ""
    train_run(tiny_config(epochs=1), tmp_path / "shown", tmp_path / "shown.nc", progress=True)
    assert "tiny epoch 1/1" in capsys.readouterr().err


def test_training_runs_the_sequence_path_and_the_spectra_step_the_core(tmp_path, monkeypatch):
    """Training and evaluation take the fused forward_sequence; the spectra (the measurement of
    record) are computed by the engine stepping the core, never through forward_sequence."""
    from rnn_lyapunov.architectures.registry import get_architecture
    from rnn_lyapunov.training import loop

    calls = {"training": 0, "spectra": 0}
    inside_spectrum = []
    architecture = get_architecture("gru")
    original_sequence, original_spectrum = architecture.forward_sequence, loop.compute_spectrum

    def counted_sequence(self, inputs, state):
        calls["spectra" if inside_spectrum else "training"] += 1
        return original_sequence(self, inputs, state)

    def flagged_spectrum(*args, **kwargs):
        inside_spectrum.append(True)
        try:
            return original_spectrum(*args, **kwargs)
        finally:
            inside_spectrum.pop()

    monkeypatch.setattr(architecture, "forward_sequence", counted_sequence)
    monkeypatch.setattr(loop, "compute_spectrum", flagged_spectrum)
    result = train_run(tiny_config(architecture="gru", epochs=1), tmp_path / "run", tmp_path / "run.nc")
    assert calls["spectra"] == 0
    assert calls["training"] >= 256 // 32  # every training batch, and the evaluations
    assert np.isfinite(result.lyapunov_exponents.values).all()


def test_a_later_epochs_spectrum_is_that_of_the_checkpointed_weights(tmp_path):
    """The spectrum the run file holds for its last epoch, recomputed from the checkpoint's weights.

    The checkpoint after the last epoch holds that epoch's weights; a fresh model loaded with them,
    taken through lyapunov_spectrum on the run's fixed inputs (its first validation sequences), in float64
    with a QR every step, must give the file's per-trajectory spectrum of that epoch, and differ from
    epoch 0's (so the spectra follow the training, not the initialisation).
    """
    config = tiny_config(epochs=2, spectrum={"trajectories": 4, "steps": 40, "warmup_steps": 5, "record_every": None,
                                             "dtype": "float64", "reorthonormalize_every": 1, "factorization": "qr"})
    result = train_run(config, tmp_path / "run", tmp_path / "run.nc")
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert checkpoint["epoch"] == 2
    dataset = build_dataset("signal_copy", seed=3, **SIGNAL_COPY)  # the run's data: built from its seed
    model = create_model("rnn", input_size=dataset.input_size, hidden_size=12, output_size=dataset.output_size)
    model.load_state_dict(checkpoint["model"])
    inputs = spectrum_inputs(dataset, 4, 40).double()
    recomputed = lyapunov_spectrum(model.core.double().requires_grad_(False), inputs, warmup_steps=5,
                                   reorthonormalize_every=1, factorization="qr")
    written = result["lyapunov_exponents_per_trajectory"].sel(epoch=2).values
    np.testing.assert_allclose(written, recomputed.per_trajectory.numpy(), rtol=0, atol=1e-10)
    initial = result["lyapunov_exponents_per_trajectory"].sel(epoch=0).values
    assert np.abs(written - initial).max() > 1e-3
