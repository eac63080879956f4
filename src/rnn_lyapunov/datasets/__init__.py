"""Datasets: a registry of builders (one module each) and preparing/loading them on disk.

Register a new dataset by subclassing :class:`DatasetBuilder` in a module of this package and
decorating it with ``@register_dataset("name")``; import the module below.
"""

from rnn_lyapunov.datasets.base import TASKS, DatasetBuilder, SequenceDataset, Split
from rnn_lyapunov.datasets.registry import (
    available_datasets,
    build_dataset,
    describe_datasets,
    get_dataset_builder,
    load_dataset,
    prepare_dataset,
    register_dataset,
)

# Importing the built-in dataset modules registers them.
from rnn_lyapunov.datasets import (  # noqa: E402,F401  isort: skip
    adding, char_text, delayed_xor, sequential_digits, signal_copy)

__all__ = [
    "TASKS", "DatasetBuilder", "SequenceDataset", "Split", "available_datasets", "build_dataset",
    "describe_datasets", "get_dataset_builder", "load_dataset", "prepare_dataset", "register_dataset",
]
