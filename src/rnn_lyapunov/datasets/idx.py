"""Reading IDX files, the format of the MNIST distribution (LeCun et al.).

Layout: two zero bytes, a type code, the number of dimensions ``d``; then ``d`` big-endian
uint32 sizes; then the data, big-endian, in C order.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from rnn_lyapunov.errors import InputError

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in IDX file ``path`` (gzip-compressed if the name ends in ``.gz``)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise InputError(f"{path} is not an IDX file (bad magic number); expected MNIST-style IDX data.")
    dtype, n_dims = IDX_TYPES[raw[2]], raw[3]
    header_size = 4 + 4 * n_dims
    shape = tuple(int(size) for size in np.frombuffer(raw[4:header_size], dtype=">u4"))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise InputError(f"{path}: header says shape {shape} ({expected} bytes) but "
                         f"{len(raw) - header_size} data bytes follow; the file is truncated or corrupt.")
    return np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx_file(directory: Path, stem: str) -> Path:
    """``directory/stem`` or ``directory/stem.gz``, accepting the common ``.`` for ``-`` variant."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise InputError(f"MNIST file {stem} (or {stem}.gz) not found in {directory}; mnist_dir must hold "
                     "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                     "t10k-labels-idx1-ubyte (optionally gzip-compressed).")
