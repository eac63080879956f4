"""The dataset registry: names -> builders, one module per dataset.

Adding a dataset is adding one module to this package (found by scanning it, no hand-kept list)
or to an installed distribution that names it under the entry-point group
``rnn_lyapunov.datasets`` (a module that registers on import, or ``module:Builder``, registered
under the entry point's name)::

    @register_dataset("my_dataset")
    class MyDataset(DatasetBuilder):
        description = "one line for `rnn-lyapunov datasets`"
        default_options = {"length": 100}
        def build(self, *, seed, length): ...

A bad builder (not a :class:`~rnn_lyapunov.datasets.base.DatasetBuilder` subclass, no ``build``,
no one-line description, a name taken by another builder) is refused when it registers with
:class:`DatasetRegistrationError`.

A dataset is then built by name, or prepared in a directory and loaded back. A prepared directory
holds two files, written atomically:

- ``splits.pt``: ``{"train": {"inputs", "targets"}, "validation": ..., "test": ...}`` tensors;
- ``metadata.json``: name, task, sizes, input encoding, seed, options. It is written last, so
  its presence marks a complete directory (the workflow uses it as the rule's output).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import torch

from rnn_lyapunov.datasets.base import SPLITS, DatasetBuilder, SequenceDataset, Split
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.storage import write_bytes_atomic, write_text_atomic
from rnn_lyapunov.registry import PluginSkippedWarning, RegistrationError, Registry

DATASET_PACKAGE = "rnn_lyapunov.datasets"
ENTRY_POINT_GROUP = "rnn_lyapunov.datasets"
SPLITS_FILE = "splits.pt"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1


class DatasetRegistrationError(RegistrationError, TypeError):
    """A dataset builder was refused at registration. Also a TypeError, which this raised before."""


class DatasetLoadWarning(PluginSkippedWarning):
    """A dataset module could not be imported or registered; it was skipped."""


def _check_builder_class(name: str, builder_class) -> None:
    def refuse(reason: str):
        DATASETS.refuse(name, builder_class, reason)

    if not (isinstance(builder_class, type) and issubclass(builder_class, DatasetBuilder)):
        refuse("it must be a class that subclasses rnn_lyapunov.datasets.base.DatasetBuilder")
    if builder_class.build is DatasetBuilder.build:
        refuse("it does not implement build(self, *, seed, **options) -> SequenceDataset")
    description = builder_class.description
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        refuse("set the class attribute description to a one-line summary, e.g. description = 'the adding problem'")
    if not isinstance(builder_class.default_options, dict):
        refuse("default_options must be a dict of every option it accepts and its default")


def register_dataset(name: str):
    """Class decorator registering a :class:`DatasetBuilder` subclass under ``name``.

    A bad registration (not a builder, no ``build``, no description, a name already taken by
    another builder) raises :class:`DatasetRegistrationError` here, at import time, rather than
    when the dataset is first used. The same class registered twice is harmless.
    """
    DATASETS.check_name(name)

    def decorator(builder_class):
        _check_builder_class(name, builder_class)
        builder_class.name = name
        DATASETS.add(name, builder_class())
        return builder_class

    return decorator


#: Every registered dataset builder (an instance) by name.
DATASETS: Registry[DatasetBuilder] = Registry(
    "dataset", package=DATASET_PACKAGE, entry_point_group=ENTRY_POINT_GROUP,
    error=DatasetRegistrationError, warning=DatasetLoadWarning,
    name_pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    name_rule="a Python identifier (letters, digits and '_', not starting with a digit)",
    definition=type, adopt=lambda name, loaded: register_dataset(name)(loaded),
    how_to_add="To add one, write a module with a @register_dataset DatasetBuilder (docs/design.md).",
)


def available_datasets() -> list[str]:
    """Sorted names of the registered datasets (after discovery)."""
    return DATASETS.names()


def describe_datasets() -> dict[str, str]:
    """``{name: one-line description}`` for every registered dataset, sorted by name."""
    return {name: builder.description for name, builder in DATASETS.items()}


def get_dataset_builder(name: str) -> DatasetBuilder:
    """The builder registered as ``name``; an InputError (UnknownNameError) listing the known names otherwise."""
    return DATASETS.get(name)


def build_dataset(name: str, *, seed: int = 0, **options) -> SequenceDataset:
    """Build dataset ``name`` in memory (deterministic given ``seed`` and ``options``)."""
    builder = get_dataset_builder(name)
    resolved = builder.resolve_options(options)
    dataset = builder.build(seed=seed, **resolved)
    dataset.metadata.update({"seed": seed, "options": resolved})
    return dataset


def prepare_dataset(name: str, out_dir: str | os.PathLike, *, seed: int = 0, **options) -> Path:
    """Build dataset ``name`` and write it to ``out_dir`` (created if needed); returns ``out_dir``.

    Deterministic: the same name, seed and options give the same tensors. The workflow calls
    this with ``out_dir = results/data/<name>/``.
    """
    dataset = build_dataset(name, seed=seed, **options)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        split: {"inputs": dataset.split(split).inputs.contiguous(),
                "targets": dataset.split(split).targets.contiguous()}
        for split in SPLITS
    }
    # Serialised in memory: torch.save embeds the (temporary) file name, and the same seed should
    # give a byte-identical file.
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    write_bytes_atomic(directory / SPLITS_FILE, buffer.getvalue())
    description = {
        "format_version": FORMAT_VERSION,
        "name": dataset.name,
        "task": dataset.task,
        "input_size": dataset.input_size,
        "output_size": dataset.output_size,
        "input_encoding": dataset.input_encoding,
        "sizes": {split: len(dataset.split(split)) for split in SPLITS},
        "metadata": dataset.metadata,
    }
    write_text_atomic(directory / METADATA_FILE, json.dumps(description, indent=2, sort_keys=True) + "\n")
    return directory


def load_dataset(name: str, data_dir: str | os.PathLike) -> SequenceDataset:
    """Load dataset ``name`` from a directory written by :func:`prepare_dataset`.

    Raises InputError for an unknown name, a directory that was never prepared (telling how to
    prepare it), or a directory prepared for another dataset.
    """
    get_dataset_builder(name)
    directory = Path(data_dir)
    metadata_path = directory / METADATA_FILE
    if not metadata_path.is_file() or not (directory / SPLITS_FILE).is_file():
        raise InputError(
            f"dataset {name!r} has not been prepared in {directory} (no {METADATA_FILE} / {SPLITS_FILE}). "
            f"Prepare it first: in Python rnn_lyapunov.datasets.prepare_dataset({name!r}, {str(directory)!r}, seed=0), "
            f"or with the workflow (snakemake {directory / METADATA_FILE}).")
    description = json.loads(metadata_path.read_text(encoding="utf-8"))
    if description.get("name") != name:
        raise InputError(
            f"{directory} holds dataset {description.get('name')!r}, not {name!r}; "
            "point data_dir at the directory prepared for this dataset.")
    if description.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{directory} was prepared by an incompatible version; prepare it again.")
    from rnn_lyapunov.io.readers import read_torch

    tensors = read_torch(directory / SPLITS_FILE, what="prepared dataset file",
                         remedy=f"Prepare {name!r} again (delete {directory} and run its prepare_data job).")
    return SequenceDataset(
        name=name,
        task=description["task"],
        input_size=description["input_size"],
        output_size=description["output_size"],
        input_encoding=description["input_encoding"],
        metadata=description["metadata"],
        **{split: Split(tensors[split]["inputs"], tensors[split]["targets"]) for split in SPLITS},
    )
