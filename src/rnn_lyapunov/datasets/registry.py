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
:class:`DatasetRegistrationError`. Preparing and loading datasets on disk is in
:mod:`rnn_lyapunov.datasets.prepared` (its names are still importable from here).
"""

from __future__ import annotations

import importlib

from rnn_lyapunov.datasets.base import DatasetBuilder
from rnn_lyapunov.registry import PluginSkippedWarning, RegistrationError, Registry

DATASET_PACKAGE = "rnn_lyapunov.datasets"
ENTRY_POINT_GROUP = "rnn_lyapunov.datasets"


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


_MOVED_TO_PREPARED = {"SPLITS_FILE", "METADATA_FILE", "FORMAT_VERSION", "build_dataset", "prepare_dataset",
                      "load_dataset"}


def __getattr__(name: str):  # PEP 562: the on-disk names moved to prepared.py, which imports this module
    if name in _MOVED_TO_PREPARED:
        return getattr(importlib.import_module("rnn_lyapunov.datasets.prepared"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
