"""Building a registered dataset, writing it to a directory, and loading it back.

A prepared dataset directory holds two files, written atomically:

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

from rnn_lyapunov.datasets.base import SPLITS, SequenceDataset, Split
from rnn_lyapunov.datasets.registry import get_dataset_builder
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.storage import write_bytes_atomic, write_text_atomic

SPLITS_FILE = "splits.pt"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1


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
