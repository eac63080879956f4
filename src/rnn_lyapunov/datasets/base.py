"""What a dataset module provides (`DatasetBuilder`) and what loading gives back (`SequenceDataset`).

Shapes (n = number of sequences in a split, time = sequence length):

- dense inputs: ``inputs`` is float32 ``(n, time, input_size)``;
- one-hot inputs (character text): ``inputs`` is int64 token ids ``(n, time)``, expanded to
  float32 ``(batch, time, input_size)`` by :meth:`SequenceDataset.encode_inputs`, so a 1 MB corpus
  is not stored as a 100-fold larger one-hot array.

Targets by task:

- ``classification_last_step``: int64 ``(n,)`` class index read from the last step's output;
- ``next_token``: int64 ``(n, time)`` index of the next token at every step;
- ``classification_every_step``: int64 ``(n, time)`` class at every step, -100 where unscored;
- ``regression_last_step``: float32 ``(n, output_size)`` read from the last step's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rnn_lyapunov.datasets.tasks import TASKS
from rnn_lyapunov.errors import InputError

SPLITS = ("train", "validation", "test")
INPUT_ENCODINGS = ("dense", "one_hot")


@dataclass(frozen=True)
class Split:
    """One split: ``inputs`` and ``targets`` with a common first dimension (sequences)."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __post_init__(self):
        if self.inputs.shape[0] != self.targets.shape[0]:
            raise ValueError(
                f"inputs hold {self.inputs.shape[0]} sequences but targets {self.targets.shape[0]}")

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def sequence_length(self) -> int:
        return self.inputs.shape[1]


@dataclass(frozen=True)
class SequenceDataset:
    """A prepared dataset: three splits plus what a model needs to know about them.

    Attributes:
        name: registry name (``"char_text"``, ...).
        task: one of ``TASKS``; says which outputs the loss reads (see the module docstring).
        input_size, output_size: feature sizes the model must have.
        input_encoding: ``"dense"`` or ``"one_hot"`` (inputs stored as token ids).
        train, validation, test: the splits.
        metadata: seed, options and dataset-specific facts (e.g. ``vocabulary`` for text).
    """

    name: str
    task: str
    input_size: int
    output_size: int
    train: Split
    validation: Split
    test: Split
    input_encoding: str = "dense"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; allowed: {', '.join(TASKS)} (rnn_lyapunov.datasets.tasks)")
        if self.input_encoding not in INPUT_ENCODINGS:
            raise ValueError(f"unknown input encoding {self.input_encoding!r}")

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; allowed: {', '.join(SPLITS)}")
        return getattr(self, name)

    def encode_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Model-ready float32 inputs ``(batch, time, input_size)`` from stored ``inputs``."""
        if self.input_encoding == "one_hot":
            return torch.nn.functional.one_hot(inputs.long(), self.input_size).to(torch.float32)
        return inputs.to(torch.float32)


class DatasetBuilder:
    """Base class of a dataset module's builder, registered with ``@register_dataset("name")``.

    Subclasses set ``description`` (one line, for ``rnn-lyapunov datasets``), ``default_options``
    (every option the builder accepts, with its default) and implement :meth:`build`, which must
    be a pure function of ``seed`` and the options (nothing downloaded, no global RNG).
    """

    name: str = ""
    description: str = ""
    default_options: dict = {}

    def build(self, *, seed: int, **options) -> SequenceDataset:
        raise NotImplementedError

    def resolve_options(self, options: dict) -> dict:
        """``default_options`` updated with ``options``; unknown option names are an InputError."""
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            allowed = ", ".join(f"{key} (default {value!r})" for key, value in self.default_options.items())
            raise InputError(
                f"dataset {self.name!r} has no option(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {allowed or 'none'}.")
        return {**self.default_options, **options}

    def check_options(self, options: dict) -> dict:
        """The resolved options with every value checked as :meth:`build` checks it, without
        building any data (the workflow calls this when it is planned); InputError otherwise.

        A subclass overrides :meth:`check_values`; this base only refuses unknown option names.
        """
        resolved = self.resolve_options(options)
        self.check_values(resolved)
        return resolved

    def check_values(self, resolved: dict) -> None:
        """Raise InputError for a bad option value in ``resolved`` (all options, defaults filled).

        The base accepts every value; a builder that checks its options overrides this and calls
        it from :meth:`build`, so the planning-time check and the build refuse the same values.
        """

    def validation_shape(self, resolved: dict) -> tuple[int, int] | None:
        """(validation sequences, their length in steps) for checked ``resolved`` options, found
        without building the data, or None where that needs the data (the base: always None)."""
        return None


def require_positive_int(options: dict, key: str, dataset: str, *, minimum: int = 1) -> int:
    """``options[key]`` as an int >= ``minimum``, or an InputError naming the option."""
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(
            f"dataset {dataset!r}: option {key} must be an integer >= {minimum}, got {value!r}.")
    return value


def require_fraction(options: dict, key: str, dataset: str) -> float:
    """``options[key]`` as a float in (0, 1), or an InputError naming the option."""
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise InputError(
            f"dataset {dataset!r}: option {key} must be a number strictly between 0 and 1, got {value!r}.")
    return float(value)


def shuffled_split_indices(n_items: int, fractions: tuple[float, float], seed: int):
    """Seeded random partition of ``range(n_items)`` into train/validation/test index tensors.

    ``fractions`` = (validation_fraction, test_fraction); the rest is training data.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_items, generator=generator)
    n_validation = max(1, round(n_items * fractions[0]))
    n_test = max(1, round(n_items * fractions[1]))
    n_train = n_items - n_validation - n_test
    if n_train < 1:
        raise InputError(f"{n_items} items are too few for the requested validation/test fractions.")
    return order[:n_train], order[n_train:n_train + n_validation], order[n_train + n_validation:]
