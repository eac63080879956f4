"""Bad input to ``rnn-lyapunov``: exit code 2, a one-paragraph message naming problem and fix, no
traceback, and the existing output file untouched (a previous result is never lost)."""

import os

import numpy as np
import pytest
import torch
import yaml

from rnn_lyapunov.cli import commands as cli

PREVIOUS = b"previous result, must survive\n"


def diagonal_rnn_state(input_size=1, hidden_size=2):
    rnn = torch.nn.RNN(input_size, hidden_size)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(0.5 * torch.eye(hidden_size))
    return rnn.state_dict()


@pytest.fixture
def workspace(tmp_path):
    """Weights, inputs and an output file that already holds a previous result."""
    torch.save(diagonal_rnn_state(), tmp_path / "rnn.pt")
    np.save(tmp_path / "inputs.npy", np.random.default_rng(0).normal(size=(3, 30, 1)))
    (tmp_path / "out.nc").write_bytes(PREVIOUS)
    return tmp_path


def spectrum(workspace, *extra, weights="rnn.pt", inputs="inputs.npy", architecture="rnn", out="out.nc"):
    argv = ["spectrum", "--architecture", architecture, "--state-dict", workspace / weights,
            "--out", workspace / out, "--threads", 1, *extra]
    if inputs is not None:
        argv += ["--inputs", workspace / inputs]
    return [str(arg) for arg in argv]


def assert_input_error(capsys, argv, *fragments, workspace):
    """Exit 2, every fragment in a single-paragraph message, no traceback, out.nc unchanged."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    message = err.strip().splitlines()[-1]
    assert message.startswith("rnn-lyapunov: error: "), err
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in err
    assert (workspace / "out.nc").read_bytes() == PREVIOUS
    assert not [name for name in os.listdir(workspace) if ".partial" in name]
    return message


# --- names -------------------------------------------------------------------------------------

def test_unknown_architecture_lists_the_known_ones(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, architecture="elman"), "unknown architecture 'elman'",
                       "gru", "lstm", "rnn", workspace=workspace)


def test_unknown_dataset_lists_the_known_ones(capsys, workspace):
    argv = spectrum(workspace, "--dataset", "mnist", inputs=None)
    assert_input_error(capsys, argv, "unknown dataset 'mnist'", "adding", "signal_copy", workspace=workspace)


def test_dataset_directory_that_was_never_prepared_says_how_to_prepare_it(capsys, workspace):
    argv = spectrum(workspace, "--dataset", "adding", "--data-dir", workspace / "nothing_here", inputs=None)
    assert_input_error(capsys, argv, "has not been prepared", "prepare_dataset", workspace=workspace)


# --- weights files -----------------------------------------------------------------------------

def test_state_dict_of_another_architecture_names_the_first_mismatching_key_and_both_shapes(capsys, workspace):
    torch.save(torch.nn.LSTM(1, 2).state_dict(), workspace / "lstm.pt")
    assert_input_error(capsys, spectrum(workspace, weights="lstm.pt"),
                       "parameter bias_hh_l0 has shape (8,) in the weights file but (2,) in the model", workspace=workspace)


def test_hidden_size_flag_contradicting_the_weights_names_key_and_shapes(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, "--hidden-size", 3),
                       "has shape (2,) in the weights file but (3,) in the model", workspace=workspace)


def test_state_dict_with_missing_key_names_it(capsys, workspace):
    state = diagonal_rnn_state()
    del state["weight_hh_l0"]
    torch.save(state, workspace / "partial.pt")
    assert_input_error(capsys, spectrum(workspace, "--hidden-size", 2, "--num-layers", 1, weights="partial.pt"),
                       "weight_hh_l0", "missing", workspace=workspace)


def test_state_dict_with_non_finite_weights_is_refused(capsys, workspace):
    state = diagonal_rnn_state()
    state["weight_hh_l0"][0, 0] = float("nan")
    torch.save(state, workspace / "nan.pt")
    assert_input_error(capsys, spectrum(workspace, weights="nan.pt"), "weight_hh_l0 contains NaN or inf", workspace=workspace)


def test_missing_weights_file_is_named(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, weights="absent.pt"), "absent.pt does not exist", workspace=workspace)


def test_empty_weights_file_is_refused(capsys, workspace):
    (workspace / "empty.pt").write_bytes(b"")
    assert_input_error(capsys, spectrum(workspace, weights="empty.pt"), "is empty", workspace=workspace)


def test_truncated_weights_file_is_refused(capsys, workspace):
    whole = (workspace / "rnn.pt").read_bytes()
    (workspace / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    assert_input_error(capsys, spectrum(workspace, weights="truncated.pt"), "truncated or corrupted", workspace=workspace)


@pytest.mark.parametrize("content", [b"hello, not a torch file\n", b"\x93NUMPY garbage", bytes(range(256))])
def test_non_torch_weights_file_is_refused(capsys, workspace, content):
    (workspace / "other.pt").write_bytes(content)
    assert_input_error(capsys, spectrum(workspace, weights="other.pt"), "other.pt", "torch.save", workspace=workspace)


def test_weights_file_holding_a_tensor_instead_of_a_state_dict_is_refused(capsys, workspace):
    torch.save(torch.zeros(3), workspace / "tensor.pt")
    assert_input_error(capsys, spectrum(workspace, weights="tensor.pt"), "not a state dict", workspace=workspace)


class CreatesAFileWhenUnpickled:
    """A pickle whose loading would run code: ``__reduce__`` returns a call that creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_that_would_run_code_is_refused_and_runs_nothing(capsys, workspace):
    marker = workspace / "code_ran"
    torch.save({"weight_hh_l0": CreatesAFileWhenUnpickled(marker)}, workspace / "evil.pt")
    assert not marker.exists()
    assert_input_error(capsys, spectrum(workspace, weights="evil.pt"), "refused to load", "weights_only=True",
                       workspace=workspace)
    assert not marker.exists()


# --- inputs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("array, fragment", [
    (np.zeros((30, 1)), "rank 3"),
    (np.zeros((3, 30, 2)), "expects input_size = 1"),
    (np.zeros((3, 30, 1), dtype=np.int64), "dtype int64"),
    (np.where(np.arange(90).reshape(3, 30, 1) == 40, np.nan, 0.0), "NaN or inf (first at sequence 1, step 10"),
    (np.full((3, 30, 1), np.inf), "NaN or inf (first at sequence 0, step 0"),
], ids=["wrong-rank", "wrong-feature-size", "integer-dtype", "nan", "inf"])
def test_bad_inputs_array_is_refused(capsys, workspace, array, fragment):
    np.save(workspace / "bad.npy", array)
    assert_input_error(capsys, spectrum(workspace, inputs="bad.npy"), fragment, workspace=workspace)


def test_inputs_file_with_unknown_suffix_is_refused(capsys, workspace):
    (workspace / "inputs.csv").write_text("0,1\n")
    assert_input_error(capsys, spectrum(workspace, inputs="inputs.csv"), ".pt, .npy, .nc", workspace=workspace)


def test_corrupted_netcdf_inputs_file_is_refused(capsys, workspace):
    (workspace / "inputs.nc").write_bytes(b"CDF\x01 corrupted")
    assert_input_error(capsys, spectrum(workspace, inputs="inputs.nc"), "not a readable NetCDF file", workspace=workspace)


def test_more_steps_than_the_sequences_have_is_refused(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, "--steps", 31), "--steps 31 is longer than the 30 steps", workspace=workspace)


def test_more_trajectories_than_sequences_is_refused(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, "--trajectories", 4), "--trajectories 3 or fewer", workspace=workspace)


# --- algorithm settings ------------------------------------------------------------------------

def test_n_exponents_above_state_size_is_refused(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, "--n-exponents", 3), "--n-exponents must be an int in 1..2", "got 3", workspace=workspace)


def test_n_exponents_zero_is_a_usage_error(capsys, workspace):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(spectrum(workspace, "--n-exponents", 0))
    assert exit_info.value.code == 2
    assert "--n-exponents: '0' is not allowed; allowed: integer or null (none) >= 1" in capsys.readouterr().err
    assert (workspace / "out.nc").read_bytes() == PREVIOUS


def test_warmup_not_shorter_than_steps_is_refused(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, "--warmup-steps", 30), "--warmup-steps (30) must be smaller than the number of time steps in inputs (30)",
                       workspace=workspace)


def test_diverging_network_names_the_step_and_suggests_float64(capsys, workspace):
    rnn = torch.nn.RNN(1, 2, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(1e6 * torch.eye(2))
        rnn.weight_ih_l0.fill_(1.0)
        rnn.bias_ih_l0.fill_(1.0)
        rnn.bias_hh_l0.zero_()
    torch.save(rnn.state_dict(), workspace / "exploding.pt")
    np.save(workspace / "ones.npy", np.ones((2, 30, 1)))
    # h after step k (0-based) is about 2e6^k: 2e36 at step 6, 2e42 > float32's 3.4e38 at step 7.
    assert_input_error(
        capsys, spectrum(workspace, "--architecture-option", "nonlinearity=relu", "--dtype", "float32",
                         weights="exploding.pt", inputs="ones.npy"),
        "became NaN or infinite at step 7", "float64", workspace=workspace)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused(capsys, workspace):
    assert_input_error(capsys, spectrum(workspace, "--device", "cuda"), "no CUDA GPU", "--device cpu", workspace=workspace)


# --- output path -------------------------------------------------------------------------------

def test_output_in_a_missing_directory_is_refused_before_computing(capsys, workspace, monkeypatch):
    monkeypatch.setattr("rnn_lyapunov.engine.lyapunov.lyapunov_spectrum", pytest.fail)
    assert_input_error(capsys, spectrum(workspace, out="missing/out.nc"), "does not exist", "mkdir -p", workspace=workspace)
    assert not (workspace / "missing").exists()


def test_output_in_a_read_only_directory_is_refused(capsys, workspace, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK else real_access(path, mode, **kw))
    assert_input_error(capsys, spectrum(workspace), "no write permission", workspace=workspace)


def test_output_path_that_is_a_directory_is_refused(capsys, workspace):
    (workspace / "results").mkdir()
    assert_input_error(capsys, spectrum(workspace, out="results"), "is a directory", workspace=workspace)


# --- train config ------------------------------------------------------------------------------

@pytest.mark.parametrize("config, fragments", [
    ({"hidden_sizes": 8}, ["unknown config key(s) hidden_sizes", "allowed keys", "hidden_size"]),
    ({"spectrum": {"warmup": 3}}, ["spectrum.warmup", "allowed keys under spectrum"]),
    ({"hidden_size": "big"}, ["hidden_size = 'big'", "integer"]),
    ({"learning_rate": -0.1}, ["learning_rate = -0.1", "> 0"]),
    ({"spectrum": {"dtype": "float16"}}, ["spectrum.dtype", "'float32', 'float64'"]),
    ({"architecture": "transformer"}, ["transformer", "lstm"]),
], ids=["unknown-key", "unknown-nested-key", "wrong-type", "out-of-range", "bad-enum", "unknown-architecture"])
def test_bad_train_config_names_key_path_and_what_is_allowed(capsys, workspace, config, fragments):
    (workspace / "run.yaml").write_text(yaml.safe_dump(config))
    argv = ["train", "--config", str(workspace / "run.yaml"), "--run-dir", str(workspace / "run"),
            "--out", str(workspace / "out.nc")]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    for fragment in fragments:
        assert fragment in err
    assert "Traceback" not in err
    assert (workspace / "out.nc").read_bytes() == PREVIOUS
    assert not (workspace / "run").exists()


def test_missing_train_config_file_is_named(capsys, workspace):
    code = cli.main(["train", "--config", str(workspace / "absent.yaml"), "--out", str(workspace / "out.nc")])
    assert code == 2
    assert "absent.yaml does not exist" in capsys.readouterr().err


# --- sweep files -------------------------------------------------------------------------------

def test_load_sweep_refuses_a_spectrum_file_of_ours_that_is_not_a_sweep_and_leaves_it_untouched(capsys, workspace):
    from rnn_lyapunov.errors import InputError
    from rnn_lyapunov.io.sweep_file import load_sweep

    assert cli.main(spectrum(workspace, "-q", out="spectrum.nc")) == 0
    before = (workspace / "spectrum.nc").read_bytes()
    with pytest.raises(InputError, match="not an rnn-lyapunov sweep"):
        load_sweep(workspace / "spectrum.nc")
    assert (workspace / "spectrum.nc").read_bytes() == before


def test_train_output_in_a_missing_directory_is_refused_before_training(capsys, workspace, monkeypatch):
    monkeypatch.setattr("rnn_lyapunov.training.loop.train_run", pytest.fail)
    (workspace / "run.yaml").write_text("epochs: 1\n")
    code = cli.main(["train", "--config", str(workspace / "run.yaml"), "--out", str(workspace / "missing" / "run.nc")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and "mkdir -p" in err
    assert not (workspace / "missing").exists()


@pytest.mark.parametrize("suffix", [".pt", ".npy"])
def test_inputs_file_with_a_pickle_that_would_run_code_is_refused_and_runs_nothing(capsys, workspace, suffix):
    marker = workspace / "code_ran"
    if suffix == ".pt":
        torch.save({"inputs": CreatesAFileWhenUnpickled(marker)}, workspace / "evil.pt")
    else:
        array = np.empty((1, 1, 1), dtype=object)
        array[0, 0, 0] = CreatesAFileWhenUnpickled(marker)
        np.save(workspace / "evil.npy", array, allow_pickle=True)
    assert not marker.exists()
    assert_input_error(capsys, spectrum(workspace, inputs=f"evil{suffix}"), f"evil{suffix}", "pickled Python objects",
                       workspace=workspace)
    assert not marker.exists()


def test_sequence_model_state_dict_mismatch_names_the_key_with_its_prefix(capsys, workspace):
    from rnn_lyapunov.architectures.model import create_model

    torch.save(create_model("gru", input_size=1, hidden_size=2, output_size=1).state_dict(), workspace / "model.pt")
    assert_input_error(capsys, spectrum(workspace, architecture="lstm", weights="model.pt"),
                       "parameter core.bias_hh_l0 has shape (6,) in the weights file but (8,) in the model",
                       workspace=workspace)


def test_npy_inputs_with_a_damaged_header_are_refused(capsys, workspace):
    # Found by fuzzing: numpy parses the header with Python's tokenizer, which raises tokenize.TokenError.
    data = bytearray((workspace / "inputs.npy").read_bytes())
    data[data.index(b"}")] = ord("z")
    (workspace / "damaged.npy").write_bytes(bytes(data))
    assert_input_error(capsys, spectrum(workspace, inputs="damaged.npy"), "not a readable .npy array", workspace=workspace)
