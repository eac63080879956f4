"""``delayed_xor``: the delayed XOR of a random bit stream (Engelken 2023, gradient flossing).

A random binary stream ``s(t)`` in {0, 1} is the one input channel; the target at step ``t`` is
``|s(t - delay) - s(t - 2 delay)|``, the XOR of two bits seen ``delay`` and ``2 delay`` steps ago,
as in Engelken's ``GradientFlossing_XOR.jl`` (task -1). It needs a memory of ``2 delay`` steps and
a nonlinear readout of it, at every step. Steps ``t < 2 delay`` have no target (label -100, which
the loss and the accuracy skip).

Shapes: inputs float32 ``(n, sequence_length, 1)``; targets int64 ``(n, sequence_length)`` in
{0, 1, -100}; task ``classification_every_step``; output_size 2. Chance level: accuracy 1/2,
cross-entropy ``log 2`` nats per scored step.
"""

from __future__ import annotations

import numpy as np
import torch

from rnn_lyapunov.datasets.base import DatasetBuilder, SequenceDataset, Split, require_positive_int
from rnn_lyapunov.datasets.registry import register_dataset
from rnn_lyapunov.datasets.synthetic import SIZE_OPTIONS, check_sizes, split_generators
from rnn_lyapunov.datasets.tasks import UNSCORED
from rnn_lyapunov.errors import InputError


def _xor_split(n_sequences, rng, *, delay, sequence_length) -> Split:
    bits = rng.integers(0, 2, size=(n_sequences, sequence_length))
    targets = np.full((n_sequences, sequence_length), UNSCORED, dtype=np.int64)
    targets[:, 2 * delay:] = np.abs(bits[:, delay:sequence_length - delay] - bits[:, :sequence_length - 2 * delay])
    return Split(torch.as_tensor(bits[:, :, None], dtype=torch.float32), torch.as_tensor(targets))


@register_dataset("delayed_xor")
class DelayedXor(DatasetBuilder):
    description = "delayed XOR: |s(t-d) - s(t-2d)| of a random bit stream at every step (synthetic; Engelken 2023)"
    default_options = {"delay": 10, "sequence_length": 100, **SIZE_OPTIONS}

    def check_values(self, resolved: dict) -> None:
        require_positive_int(resolved, "delay", self.name)
        require_positive_int(resolved, "sequence_length", self.name)
        if resolved["sequence_length"] <= 2 * resolved["delay"]:
            raise InputError(f"dataset 'delayed_xor': option sequence_length must be > 2 * delay = "
                             f"{2 * resolved['delay']} (no step would have a target), "
                             f"got {resolved['sequence_length']!r}.")
        check_sizes(resolved, self.name)

    def validation_shape(self, resolved: dict) -> tuple[int, int]:
        return resolved["n_validation"], resolved["sequence_length"]

    def build(self, *, seed, delay, sequence_length, **sizes) -> SequenceDataset:
        self.check_values({"delay": delay, "sequence_length": sequence_length, **sizes})
        splits = [_xor_split(n, rng, delay=delay, sequence_length=sequence_length)
                  for n, rng in split_generators(seed, sizes, self.name)]
        return SequenceDataset(
            name=self.name, task="classification_every_step", input_size=1, output_size=2,
            train=splits[0], validation=splits[1], test=splits[2])
