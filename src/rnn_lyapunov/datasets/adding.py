"""``adding``: the adding problem (Hochreiter & Schmidhuber 1997), a long-memory regression task.

Each step carries two channels: a value drawn uniformly from [0, 1] and a marker. Exactly two
steps are marked (marker 1, else 0): one in the first half of the sequence, one in the second
half; the target, read at the last step, is the sum of the two marked values. This is the variant
of Le, Jaitly & Hinton (2015) and Arjovsky et al. (2016). Predicting the constant 1 gives a mean
squared error of 1/6; a network that solves the task gets far below that.

Shapes: inputs float32 ``(n, sequence_length, 2)``; targets float32 ``(n, 1)``; task
``regression_last_step``; output_size 1.
"""

from __future__ import annotations

import numpy as np
import torch

from rnn_lyapunov.datasets.base import DatasetBuilder, SequenceDataset, Split, require_positive_int
from rnn_lyapunov.datasets.registry import register_dataset
from rnn_lyapunov.datasets.synthetic import SIZE_OPTIONS, check_sizes, split_generators


def _adding_split(n_sequences, rng, sequence_length) -> Split:
    values = rng.uniform(0.0, 1.0, size=(n_sequences, sequence_length))
    half = sequence_length // 2
    first = rng.integers(0, half, size=n_sequences)
    second = rng.integers(half, sequence_length, size=n_sequences)
    markers = np.zeros_like(values)
    rows = np.arange(n_sequences)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return Split(torch.as_tensor(np.stack([values, markers], axis=-1), dtype=torch.float32),
                 torch.as_tensor(targets[:, None], dtype=torch.float32))


@register_dataset("adding")
class Adding(DatasetBuilder):
    description = "adding problem: sum the two marked values of a random sequence, read at the last step (synthetic)"
    default_options = {"sequence_length": 50, **SIZE_OPTIONS}

    def check_values(self, resolved: dict) -> None:
        require_positive_int(resolved, "sequence_length", self.name, minimum=2)
        check_sizes(resolved, self.name)

    def validation_shape(self, resolved: dict) -> tuple[int, int]:
        return resolved["n_validation"], resolved["sequence_length"]

    def build(self, *, seed, sequence_length, **sizes) -> SequenceDataset:
        self.check_values({"sequence_length": sequence_length, **sizes})
        splits = [_adding_split(n, rng, sequence_length) for n, rng in split_generators(seed, sizes, self.name)]
        return SequenceDataset(
            name=self.name, task="regression_last_step", input_size=2, output_size=1,
            train=splits[0], validation=splits[1], test=splits[2])
