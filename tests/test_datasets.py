"""The dataset registry and preparing/loading datasets: shapes, determinism, offline, errors."""

import json
import socket

import pytest
import torch

from rnn_lyapunov.datasets import (
    DatasetBuilder,
    available_datasets,
    build_dataset,
    describe_datasets,
    load_dataset,
    prepare_dataset,
    register_dataset,
)
from rnn_lyapunov.errors import InputError

# Small options so every dataset prepares in well under a second.
SMALL_OPTIONS = {
    "char_text": {"max_characters": 20_000, "sequence_length": 50},
    "sequential_digits": {},
    "signal_copy": {"n_train": 40, "n_validation": 10, "n_test": 10, "delay": 5},
    "adding": {"n_train": 40, "n_validation": 10, "n_test": 10, "sequence_length": 12},
    "delayed_xor": {"n_train": 40, "n_validation": 10, "n_test": 10, "delay": 3, "sequence_length": 20},
}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails, as on a machine without network."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_builtin_datasets_are_registered():
    assert {"char_text", "sequential_digits", "signal_copy", "adding"} <= set(available_datasets())


def test_describe_datasets_gives_a_one_line_description_per_dataset():
    descriptions = describe_datasets()
    assert list(descriptions) == available_datasets()
    assert all(text and "\n" not in text for text in descriptions.values())


@pytest.mark.parametrize("name", available_datasets())
def test_prepared_dataset_loads_offline_with_documented_shapes(name, tmp_path, no_network):
    prepare_dataset(name, tmp_path / name, seed=3, **SMALL_OPTIONS.get(name, {}))
    dataset = load_dataset(name, tmp_path / name)
    for split in (dataset.train, dataset.validation, dataset.test):
        assert len(split) > 0
        batch = dataset.encode_inputs(split.inputs[:2])
        assert batch.dtype == torch.float32
        assert batch.shape == (2, split.sequence_length, dataset.input_size)
        if dataset.task == "classification_last_step":
            assert split.targets.shape == (len(split),) and split.targets.dtype == torch.int64
            assert 0 <= int(split.targets.min()) and int(split.targets.max()) < dataset.output_size
        elif dataset.task in ("next_token", "classification_every_step"):
            assert split.targets.shape == split.inputs.shape[:2] and split.targets.dtype == torch.int64
        else:
            assert split.targets.shape == (len(split), dataset.output_size)


@pytest.mark.parametrize("name", available_datasets())
def test_prepared_dataset_equals_the_in_memory_build(name, tmp_path):
    options = SMALL_OPTIONS.get(name, {})
    prepare_dataset(name, tmp_path, seed=5, **options)
    loaded, built = load_dataset(name, tmp_path), build_dataset(name, seed=5, **options)
    for split in ("train", "validation", "test"):
        assert torch.equal(loaded.split(split).inputs, built.split(split).inputs)
        assert torch.equal(loaded.split(split).targets, built.split(split).targets)
    assert (loaded.input_size, loaded.output_size, loaded.task) == (built.input_size, built.output_size, built.task)


@pytest.mark.parametrize("name", available_datasets())
def test_preparing_twice_with_the_same_seed_gives_identical_files(name, tmp_path):
    options = SMALL_OPTIONS.get(name, {})
    for directory in ("first", "second"):
        prepare_dataset(name, tmp_path / directory, seed=11, **options)
    assert (tmp_path / "first/splits.pt").read_bytes() == (tmp_path / "second/splits.pt").read_bytes()
    assert json.loads((tmp_path / "first/metadata.json").read_text()) == \
        json.loads((tmp_path / "second/metadata.json").read_text())


@pytest.mark.parametrize("name", ["signal_copy", "adding", "sequential_digits"])
def test_a_different_seed_gives_different_random_data(name):
    options = SMALL_OPTIONS[name]
    first, second = build_dataset(name, seed=1, **options), build_dataset(name, seed=2, **options)
    assert not torch.equal(first.train.inputs, second.train.inputs)


def test_unknown_dataset_name_lists_the_known_ones(tmp_path):
    with pytest.raises(InputError, match="unknown dataset 'shakespeare'; known datasets: .*char_text.*signal_copy"):
        prepare_dataset("shakespeare", tmp_path, seed=0)
    with pytest.raises(InputError, match="unknown dataset 'shakespeare'"):
        load_dataset("shakespeare", tmp_path)


def test_unknown_dataset_option_lists_the_allowed_ones():
    with pytest.raises(InputError, match="no option.*'delays'.*allowed: n_symbols"):
        build_dataset("signal_copy", seed=0, delays=3)


def test_loading_an_unprepared_directory_says_how_to_prepare_it(tmp_path):
    with pytest.raises(InputError, match="has not been prepared.*prepare_dataset\\('adding'"):
        load_dataset("adding", tmp_path / "data" / "adding")


def test_loading_a_directory_prepared_for_another_dataset_is_refused(tmp_path):
    prepare_dataset("adding", tmp_path, seed=0, **SMALL_OPTIONS["adding"])
    with pytest.raises(InputError, match="holds dataset 'adding', not 'signal_copy'"):
        load_dataset("signal_copy", tmp_path)


def test_registering_a_taken_name_or_a_non_builder_fails_at_registration():
    with pytest.raises(InputError, match="already registered"):
        @register_dataset("adding")
        class Other(DatasetBuilder):
            description = "x"

            def build(self, *, seed, **options):
                raise NotImplementedError

    with pytest.raises(TypeError, match="subclasses rnn_lyapunov.datasets.base.DatasetBuilder"):
        register_dataset("not_a_builder")(dict)
    assert "not_a_builder" not in available_datasets()
