"""What a job refused late is refused by validate_run_config, hence when the workflow is planned:
bad dataset option values (checked without building the data), more spectrum trajectories than
the validation set holds, ``device: cuda`` without a GPU (unless the jobs are given one), and
epochs whose record cannot fit in memory."""

import copy
from pathlib import Path

import pytest
import torch
import yaml

from rnn_lyapunov.config.run_checks import check_epochs
from rnn_lyapunov.config.run_config import validate_run_config
from rnn_lyapunov.config.workflow_checks import plan_workflow
from rnn_lyapunov.datasets import build_dataset, get_dataset_builder, prepare_dataset
from rnn_lyapunov.errors import InputError

TINY = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/tests/tiny.yaml").read_text())


@pytest.fixture
def no_build(monkeypatch):
    """Building any dataset fails the test: planning must not build data."""
    from rnn_lyapunov.datasets.registry import DATASETS

    for name, builder in DATASETS.items():
        monkeypatch.setattr(type(builder), "build", lambda self, **_: pytest.fail("planning built a dataset"))


@pytest.mark.parametrize("dataset, options, message", [
    ("signal_copy", {"delay": 0}, "option delay must be an integer >= 1, got 0"),
    ("signal_copy", {"n_symbols": 1}, "option n_symbols must be an integer >= 2"),
    ("signal_copy", {"delay": 5, "sequence_length": 3}, "sequence_length must be an integer >= delay + 1 = 6"),
    ("signal_copy", {"noise_std": -0.5}, "noise_std must be a finite number >= 0"),
    ("signal_copy", {"n_validation": 0}, "option n_validation must be an integer >= 1"),
    ("adding", {"sequence_length": 1}, "option sequence_length must be an integer >= 2"),
    ("delayed_xor", {"delay": 0}, "option delay must be an integer >= 1, got 0"),
    ("delayed_xor", {"delay": 5, "sequence_length": 10}, "sequence_length must be > 2 * delay = 10"),
    ("delayed_xor", {"n_train": 0}, "option n_train must be an integer >= 1"),
    ("adding", {"n_train": 2.5}, "option n_train must be an integer >= 1"),
    ("sequential_digits", {"mode": "columns"}, "option mode must be one of"),
    ("sequential_digits", {"validation_fraction": 1.5}, "validation_fraction must be a number strictly between 0 and 1"),
    ("sequential_digits", {"validation_fraction": 0.5, "test_fraction": 0.5}, "leave no training data"),
    ("sequential_digits", {"mnist_dir": "/no/such/folder"}, "mnist_dir '/no/such/folder' is not a directory"),
    ("char_text", {"vocabulary": "words"}, "option vocabulary must be one of"),
    ("char_text", {"max_characters": 0}, "option max_characters must be an integer >= 1"),
    ("char_text", {"text_file": "/no/such.txt"}, "text_file '/no/such.txt' does not exist"),
    ("char_text", {"sequence_length": 10**7}, "shorter than one sequence of sequence_length = 10000000"),
])
def test_a_bad_dataset_option_value_is_refused_without_building_the_data(no_build, dataset, options, message):
    with pytest.raises(InputError, match="config key dataset_options: .*" + _escaped(message)):
        validate_run_config({"dataset": dataset, "dataset_options": options,
                             "spectrum": {"trajectories": 1}})


def _escaped(text):
    import re

    return re.escape(text)


@pytest.mark.parametrize("dataset, options", [
    ("signal_copy", {"delay": 3, "n_validation": 7}),
    ("signal_copy", {"delay": 3, "sequence_length": 9, "n_validation": 5}),
    ("adding", {"sequence_length": 12, "n_validation": 6}),
    ("sequential_digits", {"mode": "pixels", "validation_fraction": 0.1}),
    ("sequential_digits", {}),
    ("char_text", {"sequence_length": 50, "max_characters": 20000}),
    ("char_text", {"corpus": "war_and_peace", "sequence_length": 400, "max_characters": 100000}),
])
def test_the_validation_shape_found_without_data_is_the_built_one(dataset, options):
    # The reference is the data itself: the built validation split's (sequences, steps).
    builder = get_dataset_builder(dataset)
    expected = tuple(build_dataset(dataset, seed=0, **options).validation.inputs.shape[:2])
    assert builder.validation_shape(builder.check_options(options)) == expected


def test_more_trajectories_than_validation_sequences_are_refused_with_how_many_fit(no_build):
    options = {"delay": 4, "n_validation": 10}  # sequences of 5 steps
    validate_run_config({"dataset_options": options, "spectrum": {"trajectories": 10}})
    with pytest.raises(InputError, match=r"spectrum.trajectories = 11.* has 10 .*at most 10 trajectories"):
        validate_run_config({"dataset_options": options, "spectrum": {"trajectories": 11}})
    # 12 steps take ceil(12 / 5) = 3 sequences each: 3 trajectories fit in 10, not 4.
    validate_run_config({"dataset_options": options, "spectrum": {"trajectories": 3, "steps": 12}})
    with pytest.raises(InputError, match=r"needs? 12 validation sequences.*at most 3 trajectories of 12 steps"):
        validate_run_config({"dataset_options": options, "spectrum": {"trajectories": 4, "steps": 12}})
    # None fits: the advice is fewer steps (10 sequences x 5 steps), never "1 trajectory or fewer".
    with pytest.raises(InputError, match=r"not one trajectory of 60 steps fits; lower spectrum.steps to at most 50"):
        validate_run_config({"dataset_options": options, "spectrum": {"trajectories": 1, "steps": 60}})


def test_a_prepared_directory_is_checked_with_the_options_it_was_prepared_with(tmp_path):
    prepare_dataset("signal_copy", tmp_path, seed=0, delay=4, n_train=8, n_validation=6, n_test=2)
    config = {"dataset": "signal_copy", "data_dir": str(tmp_path), "spectrum": {"trajectories": 7}}
    with pytest.raises(InputError, match=r"has 6 with these options"):
        validate_run_config(config)


def test_the_workflow_plan_refuses_a_bad_dataset_option_and_too_many_trajectories(no_build):
    config = copy.deepcopy(TINY)
    config["datasets"]["signal_copy"]["options"]["delay"] = -1
    with pytest.raises(InputError, match=r"datasets.signal_copy.options.*option delay must be an integer >= 1"):
        plan_workflow(config)
    config = copy.deepcopy(TINY)
    config["spectrum"]["trajectories"] = 33  # tiny.yaml's validation split holds 32 sequences
    with pytest.raises(InputError, match=r"run .*spectrum.trajectories = 33.* has 32"):
        plan_workflow(config)


def test_device_cuda_without_a_gpu_is_refused_naming_the_config_key_unless_the_jobs_get_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match=r"config key device = 'cuda'.*device: cpu.*resources.train.gpu") as caught:
        validate_run_config({"device": "cuda"})
    assert "--device" not in str(caught.value)
    validate_run_config({"device": "cuda"}, gpu_requested=True)
    config = copy.deepcopy(TINY)
    config["training"]["device"] = "cuda:0"
    with pytest.raises(InputError, match=r"device = 'cuda:0'"):
        plan_workflow(config)
    config["resources"]["train"]["gpu"] = 1  # a SLURM login node plans for GPU jobs
    plan_workflow(config)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    validate_run_config({"device": "cuda"})


def test_epochs_whose_record_exceeds_memory_are_refused_with_the_estimate_and_the_limit():
    config = validate_run_config({"hidden_size": 8, "spectrum": {"trajectories": 2, "n_exponents": 4}})
    config["epochs"] = 999
    # Per epoch: 3 float64 metrics (24 bytes) and a spectrum of 2 x 4 float64 (64 bytes): 1,000 x 88 bytes.
    check_epochs(config, limit=88_000)
    with pytest.raises(InputError, match=r"epochs = 999 .*needs about 0.0 GiB"):
        check_epochs(config, limit=87_999)
    config["spectrum"]["epochs"] = [10]  # spectra at epochs 0 and 10 only: 24,000 + 128 bytes
    check_epochs(config, limit=24_128)
    with pytest.raises(InputError):
        check_epochs(config, limit=24_127)


def test_a_billion_epochs_is_refused_before_anything_is_allocated():
    with pytest.raises(InputError, match=r"epochs = 1,000,000,000 .*GiB, more than this machine's"):
        validate_run_config({"epochs": 10**9})
