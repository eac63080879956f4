"""What each dataset contains, checked against references computed independently of the builders."""

import gzip
import struct
from importlib import resources

import numpy as np
import pytest
import torch

from rnn_lyapunov.datasets import build_dataset
from rnn_lyapunov.datasets.idx import read_idx
from rnn_lyapunov.errors import InputError


def write_idx(path, array, type_code=0x08):
    """A tiny IDX file written by hand from the format description (big-endian header)."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def test_char_text_targets_are_the_inputs_shifted_by_one_character():
    dataset = build_dataset("char_text", seed=0, max_characters=5000, sequence_length=40)
    inputs, targets = dataset.train.inputs, dataset.train.targets
    assert torch.equal(targets[:, :-1], inputs[:, 1:])
    # Consecutive sequences continue each other: the last target is the next sequence's first input.
    assert torch.equal(targets[:-1, -1], inputs[1:, 0])


def test_char_text_first_training_sequence_decodes_to_the_start_of_the_packaged_text():
    text = resources.files("rnn_lyapunov").joinpath("resources/shakespeare.txt").read_text(encoding="utf-8")
    dataset = build_dataset("char_text", seed=0, sequence_length=100)
    vocabulary = dataset.metadata["vocabulary"]
    decoded = "".join(vocabulary[index] for index in dataset.train.inputs[0].tolist())
    assert decoded == text[:100]
    assert dataset.input_size == dataset.output_size == len(vocabulary) == len(set(text[: int(len(text) * 0.9)])) + 1
    assert 900_000 < len(text) < 1_200_000


def test_char_text_maps_characters_unseen_in_training_to_the_reserved_index(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ab" * 90 + "zzzzzzzzzz" + "ab" * 5, encoding="utf-8")
    dataset = build_dataset("char_text", seed=0, text_file=str(corpus), sequence_length=4,
                            validation_fraction=0.05, test_fraction=0.05)
    assert dataset.metadata["vocabulary"][1:] == "ab"
    assert dataset.metadata["unknown_index"] == 0
    assert int((dataset.validation.inputs == 0).sum()) > 0


def test_sequential_digits_rows_are_the_sklearn_images_scaled_to_unit_range():
    from sklearn.datasets import load_digits

    digits = load_digits()
    dataset = build_dataset("sequential_digits", seed=4)
    assert dataset.train.inputs.shape[1:] == (8, 8) and dataset.input_size == 8 and dataset.output_size == 10
    images = torch.cat([dataset.train.inputs, dataset.validation.inputs, dataset.test.inputs])
    labels = torch.cat([dataset.train.targets, dataset.validation.targets, dataset.test.targets])
    assert len(images) == len(digits.images)
    reference = {tuple((image / 16.0).astype(np.float32).ravel()): int(label)
                 for image, label in zip(digits.images, digits.target)}
    for image, label in zip(images[:50], labels[:50]):
        assert reference[tuple(image.numpy().ravel())] == int(label)


def test_sequential_digits_pixels_mode_reads_one_pixel_per_step():
    rows = build_dataset("sequential_digits", seed=4, mode="rows")
    pixels = build_dataset("sequential_digits", seed=4, mode="pixels")
    assert pixels.train.inputs.shape[1:] == (64, 1) and pixels.input_size == 1
    assert torch.equal(pixels.train.inputs, rows.train.inputs.reshape(-1, 64, 1))


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_returns_the_array_written_in_the_idx_format(tmp_path, suffix):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / f"images{suffix}", array)
    np.testing.assert_array_equal(read_idx(tmp_path / f"images{suffix}"), array)
    floats = np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)
    write_idx(tmp_path / "floats", floats, type_code=0x0D)
    np.testing.assert_array_equal(read_idx(tmp_path / "floats"), floats)


def test_read_idx_refuses_a_file_that_is_not_idx(tmp_path):
    (tmp_path / "bad").write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(InputError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


@pytest.mark.parametrize("mode, shape", [("rows", (28, 28)), ("pixels", (784, 1))])
def test_sequential_digits_reads_a_user_supplied_mnist_directory(tmp_path, mode, shape):
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    test_images = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", train_images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 20, dtype=np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test_images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(6, dtype=np.uint8))
    dataset = build_dataset("sequential_digits", seed=0, mode=mode, mnist_dir=str(tmp_path), validation_fraction=0.25)
    assert dataset.train.inputs.shape == (15, *shape) and dataset.validation.inputs.shape == (5, *shape)
    expected_test = torch.as_tensor(test_images / 255.0, dtype=torch.float32).reshape(6, *shape)
    assert torch.equal(dataset.test.inputs, expected_test)
    assert dataset.test.targets.tolist() == list(range(6))


def test_sequential_digits_names_the_missing_mnist_file(tmp_path):
    with pytest.raises(InputError, match="train-images-idx3-ubyte"):
        build_dataset("sequential_digits", seed=0, mnist_dir=str(tmp_path))


def test_signal_copy_shows_the_target_symbol_delay_steps_before_the_recall_cue():
    dataset = build_dataset("signal_copy", seed=2, n_symbols=3, delay=6, sequence_length=10,
                            n_train=30, n_validation=5, n_test=5)
    inputs, targets = dataset.train.inputs, dataset.train.targets
    assert inputs.shape == (30, 10, 4) and dataset.output_size == 3
    onset = 10 - 1 - 6
    assert torch.equal(inputs[:, onset, :3].argmax(dim=1), targets)
    assert torch.equal(inputs[:, :, 3], torch.zeros(30, 10).index_fill_(1, torch.tensor([9]), 1.0))
    assert float(inputs[:, :, :3].sum()) == 30.0  # one symbol per sequence and nothing else without noise


def test_signal_copy_rejects_a_sequence_too_short_for_the_delay():
    with pytest.raises(InputError, match="sequence_length must be an integer >= delay \\+ 1"):
        build_dataset("signal_copy", seed=0, delay=10, sequence_length=5)


def test_adding_target_is_the_sum_of_the_two_marked_values_one_per_half():
    dataset = build_dataset("adding", seed=7, sequence_length=20, n_train=50, n_validation=5, n_test=5)
    inputs, targets = dataset.train.inputs.double(), dataset.train.targets
    values, markers = inputs[..., 0], inputs[..., 1]
    assert torch.equal(markers[:, :10].sum(dim=1), torch.ones(50, dtype=torch.float64))
    assert torch.equal(markers[:, 10:].sum(dim=1), torch.ones(50, dtype=torch.float64))
    assert torch.allclose(targets[:, 0].double(), (values * markers).sum(dim=1), atol=1e-6)
    assert 0.0 <= float(values.min()) and float(values.max()) <= 1.0


def test_synthetic_validation_split_does_not_depend_on_the_training_size():
    small = build_dataset("adding", seed=3, n_train=10, n_validation=5, n_test=5)
    large = build_dataset("adding", seed=3, n_train=100, n_validation=5, n_test=5)
    assert torch.equal(small.validation.inputs, large.validation.inputs)
