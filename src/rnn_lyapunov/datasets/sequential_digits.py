"""``sequential_digits``: handwritten digits read as a sequence, classified from the last step.

Default source: scikit-learn's ``load_digits`` (1,797 images of 8x8 pixels, shipped inside
scikit-learn, so nothing is downloaded), pixel values scaled from 0..16 to [0, 1], split at
random (seeded) into train/validation/test. With ``mnist_dir`` set, the MNIST IDX files in that
user-supplied directory are read instead (28x28, scaled from 0..255): its training file gives the
training and (a seeded random ``validation_fraction`` of it) validation split, ``t10k`` the test split.

Shapes, ``side`` = 8 (digits) or 28 (MNIST):

- ``mode="rows"``: inputs float32 ``(n, side, side)``: one image row per step (Le et al. 2015 style);
- ``mode="pixels"``: inputs float32 ``(n, side*side, 1)``: one pixel per step;

targets int64 ``(n,)`` in 0..9; output_size 10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.datasets.base import DatasetBuilder, SequenceDataset, Split, require_fraction, shuffled_split_indices
from rnn_lyapunov.datasets.idx import find_idx_file, read_idx
from rnn_lyapunov.datasets.registry import register_dataset

MODES = ("rows", "pixels")
# scikit-learn's load_digits: 1,797 images of 8 x 8 pixels (its documented size).
DIGITS_IMAGES, DIGITS_SIDE = 1797, 8


def _as_sequences(images: np.ndarray, mode: str) -> torch.Tensor:
    """(n, side, side) images in [0, 1] -> (n, side, side) rows or (n, side*side, 1) pixels."""
    tensor = torch.as_tensor(np.ascontiguousarray(images), dtype=torch.float32)
    return tensor if mode == "rows" else tensor.reshape(tensor.shape[0], -1, 1)


def _load_mnist(directory: Path):
    """(train_images, train_labels, test_images, test_labels) as uint8 numpy arrays."""
    if not directory.is_dir():
        raise InputError(f"dataset 'sequential_digits': mnist_dir {str(directory)!r} is not a directory.")
    arrays = [read_idx(find_idx_file(directory, stem)) for stem in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    for images, labels in (arrays[:2], arrays[2:]):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise InputError(f"MNIST files in {directory} have inconsistent shapes "
                             f"{images.shape} (images) and {labels.shape} (labels).")
    return arrays


@register_dataset("sequential_digits")
class SequentialDigits(DatasetBuilder):
    description = "digit images read row by row (or pixel by pixel), class from the last step; sklearn 8x8 digits or MNIST"
    default_options = {
        "mode": "rows",
        "validation_fraction": 0.15,
        "test_fraction": 0.15,
        "mnist_dir": None,
    }

    def check_values(self, resolved: dict) -> None:
        if resolved["mode"] not in MODES:
            raise InputError(f"dataset 'sequential_digits': option mode must be one of {MODES}, got {resolved['mode']!r}.")
        fractions = [require_fraction(resolved, key, self.name) for key in ("validation_fraction", "test_fraction")]
        if sum(fractions) >= 1.0:
            raise InputError(f"dataset 'sequential_digits': options validation_fraction + test_fraction = "
                             f"{sum(fractions):g} leave no training data; their sum must be below 1.")
        mnist_dir = resolved["mnist_dir"]
        if mnist_dir is not None and (not isinstance(mnist_dir, str) or not Path(mnist_dir).is_dir()):
            raise InputError(f"dataset 'sequential_digits': option mnist_dir {mnist_dir!r} is not a directory; "
                             "give the folder holding the MNIST IDX files, or null for scikit-learn's digits.")

    def validation_shape(self, resolved: dict) -> tuple[int, int] | None:
        if resolved["mnist_dir"] is not None:
            return None  # the number of images is in the user's files
        n_validation = max(1, round(DIGITS_IMAGES * resolved["validation_fraction"]))
        return n_validation, DIGITS_SIDE if resolved["mode"] == "rows" else DIGITS_SIDE**2

    def build(self, *, seed, mode, validation_fraction, test_fraction, mnist_dir) -> SequenceDataset:
        options = {"validation_fraction": validation_fraction, "test_fraction": test_fraction}
        self.check_values({"mode": mode, "mnist_dir": mnist_dir, **options})
        fractions = (float(validation_fraction), float(test_fraction))
        if mnist_dir is None:
            from rnn_lyapunov.extras import require

            require("workflow", "sklearn", needed_by="dataset 'sequential_digits' without mnist_dir (scikit-learn's digits)")
            from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

            digits = load_digits()
            images, labels = digits.images / 16.0, digits.target
            train, validation, test = (idx.numpy() for idx in shuffled_split_indices(len(labels), fractions, seed))
            splits = [Split(_as_sequences(images[idx], mode), torch.as_tensor(labels[idx], dtype=torch.int64))
                      for idx in (train, validation, test)]
            source, side = "sklearn.datasets.load_digits", 8
        else:
            train_images, train_labels, test_images, test_labels = _load_mnist(Path(mnist_dir))
            n_validation = max(1, round(len(train_labels) * fractions[0]))
            order = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(seed)).numpy()
            validation, train = order[:n_validation], order[n_validation:]
            splits = [Split(_as_sequences(imgs / 255.0, mode), torch.as_tensor(lbls.astype(np.int64)))
                      for imgs, lbls in ((train_images[train], train_labels[train]),
                                         (train_images[validation], train_labels[validation]),
                                         (test_images, test_labels))]
            source, side = f"MNIST IDX files in {mnist_dir}", train_images.shape[1]
        return SequenceDataset(
            name=self.name, task="classification_last_step",
            input_size=side if mode == "rows" else 1, output_size=10,
            train=splits[0], validation=splits[1], test=splits[2],
            metadata={"source": source, "image_side": int(side)})
