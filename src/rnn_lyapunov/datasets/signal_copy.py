"""``signal_copy``: delayed recall of a symbol (a memory task with a tunable delay).

A random symbol out of ``n_symbols`` is shown once, one-hot on the first ``n_symbols`` input
channels, at step ``sequence_length - 1 - delay``; the steps after it carry nothing but optional
Gaussian noise of standard deviation ``noise_std`` on the symbol channels; the last step raises a
recall cue on channel ``n_symbols``, and the network must name the symbol there, ``delay`` steps
after seeing it. ``sequence_length`` defaults to ``delay + 1`` (symbol at the first step).

Shapes: inputs float32 ``(n, sequence_length, n_symbols + 1)``; targets int64 ``(n,)`` in
``0..n_symbols-1``; task ``classification_last_step``; output_size ``n_symbols``.
Chance level: accuracy ``1 / n_symbols``, cross-entropy ``log(n_symbols)`` nats.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.datasets.base import DatasetBuilder, SequenceDataset, Split, require_positive_int
from rnn_lyapunov.datasets.registry import register_dataset
from rnn_lyapunov.datasets.synthetic import SIZE_OPTIONS, check_sizes, split_generators


def _recall_split(n_sequences, rng, *, n_symbols, delay, sequence_length, noise_std) -> Split:
    symbols = rng.integers(0, n_symbols, size=n_sequences)
    inputs = np.zeros((n_sequences, sequence_length, n_symbols + 1))
    if noise_std > 0:
        inputs[:, :, :n_symbols] = rng.normal(0.0, noise_std, size=(n_sequences, sequence_length, n_symbols))
    onset = sequence_length - 1 - delay
    inputs[np.arange(n_sequences), onset, symbols] += 1.0
    inputs[:, -1, n_symbols] = 1.0
    return Split(torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(symbols, dtype=torch.int64))


@register_dataset("signal_copy")
class SignalCopy(DatasetBuilder):
    description = "delayed recall: remember a one-hot symbol and name it after `delay` steps (synthetic)"
    default_options = {"n_symbols": 4, "delay": 20, "sequence_length": None, "noise_std": 0.0, **SIZE_OPTIONS}

    def check_values(self, resolved: dict) -> None:
        require_positive_int(resolved, "n_symbols", self.name, minimum=2)
        delay = require_positive_int(resolved, "delay", self.name)
        sequence_length = resolved["sequence_length"]
        if sequence_length is not None and (isinstance(sequence_length, bool) or not isinstance(sequence_length, int)
                                            or sequence_length < delay + 1):
            raise InputError(f"dataset 'signal_copy': option sequence_length must be an integer >= delay + 1 "
                             f"= {delay + 1} (or null for delay + 1), got {sequence_length!r}.")
        noise_std = resolved["noise_std"]
        if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not 0 <= noise_std < math.inf:
            raise InputError(f"dataset 'signal_copy': option noise_std must be a finite number >= 0, got {noise_std!r}.")
        check_sizes(resolved, self.name)

    def validation_shape(self, resolved: dict) -> tuple[int, int]:
        length = resolved["sequence_length"]
        return resolved["n_validation"], resolved["delay"] + 1 if length is None else length

    def build(self, *, seed, n_symbols, delay, sequence_length, noise_std, **sizes) -> SequenceDataset:
        options = {"n_symbols": n_symbols, "delay": delay, **sizes}
        self.check_values({**options, "sequence_length": sequence_length, "noise_std": noise_std})
        if sequence_length is None:
            sequence_length = delay + 1
        splits = [_recall_split(n, rng, n_symbols=n_symbols, delay=delay, sequence_length=sequence_length,
                                noise_std=float(noise_std))
                  for n, rng in split_generators(seed, options, self.name)]
        return SequenceDataset(
            name=self.name, task="classification_last_step", input_size=n_symbols + 1, output_size=n_symbols,
            train=splits[0], validation=splits[1], test=splits[2])
