"""Datasets: a registry of builders (one module each) and preparing/loading them on disk.

Register a new dataset by subclassing :class:`DatasetBuilder` in a module of this package (or of
an installed package named under the entry-point group ``rnn_lyapunov.datasets``) and decorating
it with ``@register_dataset("name")``; the registry finds it by scanning this package.
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

__all__ = [
    "TASKS", "DatasetBuilder", "SequenceDataset", "Split", "available_datasets", "build_dataset",
    "describe_datasets", "get_dataset_builder", "load_dataset", "prepare_dataset", "register_dataset",
]
