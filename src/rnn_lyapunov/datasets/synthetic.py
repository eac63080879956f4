"""Helpers shared by the synthetic datasets: split sizes and per-split random streams."""

from __future__ import annotations

import numpy as np

from rnn_lyapunov.datasets.base import require_positive_int

SIZE_OPTIONS = {"n_train": 2000, "n_validation": 500, "n_test": 500}


def check_sizes(options: dict, dataset: str) -> list[int]:
    """The split sizes ``[n_train, n_validation, n_test]``; InputError for one that is not an integer >= 1."""
    return [require_positive_int(options, key, dataset) for key in SIZE_OPTIONS]


def split_generators(seed: int, options: dict, dataset: str):
    """``[(n_sequences, numpy Generator)]`` for train, validation, test.

    Each split draws from its own stream spawned from ``seed``, so changing ``n_train`` leaves the
    validation and test sequences (and hence the spectra's fixed inputs) unchanged.
    """
    sizes = check_sizes(options, dataset)
    streams = np.random.SeedSequence(seed).spawn(len(sizes))
    return [(size, np.random.default_rng(stream)) for size, stream in zip(sizes, streams)]
