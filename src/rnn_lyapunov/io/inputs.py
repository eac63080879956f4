"""Input sequences for the spectrum command: from a file (.pt, .npy, .nc) or a prepared dataset.

Every path returns float inputs of shape (batch, time, input_size), checked for rank, feature
size, dtype and finiteness, with an :class:`InputError` naming the file and the fix otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from rnn_lyapunov.errors import InputError

INPUT_SUFFIXES = (".pt", ".npy", ".nc")
NETCDF_VARIABLE = "inputs"


def read_inputs_file(path: str | os.PathLike) -> torch.Tensor:
    """Read input sequences (batch, time, input_size) from ``.pt``, ``.npy`` or ``.nc``.

    ``.pt``: a tensor, or a dict with a tensor under ``"inputs"`` (loaded with ``weights_only=True``);
    ``.npy``: an array (``allow_pickle=False``); ``.nc``: the variable ``inputs``, or the only data
    variable, with its dims in (batch, time, feature) order.
    """
    path = Path(path)
    if path.suffix not in INPUT_SUFFIXES:
        raise InputError(f"inputs file {path} must end in {', '.join(INPUT_SUFFIXES)}; got {path.suffix or 'no suffix'!r}.")
    if not path.is_file():
        raise InputError(f"inputs file {path} does not exist.")
    if path.stat().st_size == 0:
        raise InputError(f"inputs file {path} is empty (0 bytes); write the input sequences again.")
    reader = {".pt": _read_torch, ".npy": _read_numpy, ".nc": _read_netcdf}[path.suffix]
    values = reader(path)
    return check_inputs_array(values, source=f"inputs file {path}")


def _read_torch(path: Path):
    from rnn_lyapunov.io.readers import read_torch

    loaded = read_torch(path, what="inputs file",
                        remedy="Save the inputs as a plain tensor with torch.save(inputs, path).")
    if isinstance(loaded, dict) and isinstance(loaded.get("inputs"), torch.Tensor):
        return loaded["inputs"]
    if not isinstance(loaded, torch.Tensor):
        raise InputError(
            f"inputs file {path} holds a {type(loaded).__name__}, not a tensor; save the inputs as a "
            "tensor (batch, time, input_size) or a dict {'inputs': tensor}."
        )
    return loaded


def _read_numpy(path: Path):
    from rnn_lyapunov.io.readers import read_npy

    return read_npy(path, what="inputs file", remedy="Save a numeric array with numpy.save.")


def _read_netcdf(path: Path):
    from rnn_lyapunov.io.readers import read_netcdf

    opened = read_netcdf(path, what="inputs file")
    names = list(opened.data_vars)
    if NETCDF_VARIABLE in names:
        return opened[NETCDF_VARIABLE].values
    if len(names) == 1:
        return opened[names[0]].values
    raise InputError(f"inputs file {path} has data variables {names}; name the input sequences "
                     f"{NETCDF_VARIABLE!r} (dims batch, time, feature).")


def check_inputs_array(values, *, source: str = "inputs", input_size: int | None = None) -> torch.Tensor:
    """``values`` as a float tensor (batch, time, input_size); InputError naming what is wrong.

    Float16/bfloat16 are widened to float32; integer, boolean and complex arrays are refused (a
    token-id array needs one-hot encoding first). ``input_size``, when given, must match.
    """
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "f":
            raise InputError(
                f"{source} has dtype {values.dtype}; it must hold floats (float32 or float64). Integer "
                "token ids must be one-hot encoded to (batch, time, vocabulary_size) first."
            )
        values = torch.from_numpy(np.ascontiguousarray(values))
    if not isinstance(values, torch.Tensor):
        raise InputError(f"{source} must be an array (batch, time, input_size), got {type(values).__name__}.")
    if not values.is_floating_point():
        raise InputError(
            f"{source} has dtype {values.dtype}; it must hold floats (float32 or float64). Integer "
            "token ids must be one-hot encoded to (batch, time, vocabulary_size) first."
        )
    if values.dtype in (torch.float16, torch.bfloat16):
        values = values.to(torch.float32)
    if values.dim() != 3:
        raise InputError(
            f"{source} has shape {tuple(values.shape)} (rank {values.dim()}); it must have rank 3: "
            "(batch, time, input_size). A single sequence (time, input_size) needs a leading batch axis of 1."
        )
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise InputError(f"{source} has shape {tuple(values.shape)}; it needs at least one sequence and one time step.")
    if input_size is not None and values.shape[2] != input_size:
        raise InputError(
            f"{source} has {values.shape[2]} features per step (shape {tuple(values.shape)}) but the network "
            f"expects input_size = {input_size}; pass inputs of shape (batch, time, {input_size})."
        )
    bad = ~torch.isfinite(values)
    if bad.any():
        trajectory, step, feature = (int(index) for index in bad.nonzero()[0])
        raise InputError(
            f"{source} contains NaN or inf (first at sequence {trajectory}, step {step}, feature {feature}); "
            "clean or drop those sequences."
        )
    return values


def select_sequences(inputs: torch.Tensor, *, trajectories: int | None, steps: int | None, seed: int | None,
                     concatenate: bool, source: str = "inputs") -> torch.Tensor:
    """Pick ``trajectories`` sequences and their first ``steps`` steps.

    inputs: (n, time, input_size) -> (trajectories, steps, input_size). With ``concatenate`` (a
    dataset's validation split) ``steps`` may exceed one sequence's length: consecutive sequences
    of the seeded order are joined end to end to make each trajectory. Without it, ``steps``
    longer than the sequences is an error. ``seed=None`` takes the sequences in stored order (as
    ``training.spectrum_inputs`` does); a seed takes a random order drawn from its own generator.
    ``trajectories=None`` uses as many as there are and ``steps=None`` one sequence's length.
    """
    n_sequences, length, _ = inputs.shape
    steps = length if steps is None else steps
    pieces = -(-steps // length)  # sequences joined per trajectory
    if steps > length and not concatenate:
        raise InputError(
            f"--steps {steps} is longer than the {length} steps of the sequences in {source}; "
            f"use --steps {length} or less, or pass longer sequences."
        )
    wanted = n_sequences // pieces if trajectories is None else trajectories
    needed = wanted * pieces
    if wanted < 1 or needed > n_sequences:
        available = n_sequences // pieces
        if available < 1:  # no --trajectories value helps: only fewer steps (or more sequences) do
            fix = f"use --steps {n_sequences * length} or fewer, or pass more sequences."
        else:
            fix = f"use --trajectories {available} or fewer" + (" or fewer --steps." if pieces > 1 else ".")
        raise InputError(
            f"{source} has {n_sequences} sequences of {length} steps, enough for {available} trajectories of "
            f"{steps} steps, but {wanted} were requested; {fix}"
        )
    if seed is None:
        order = torch.arange(n_sequences)
    else:
        order = torch.randperm(n_sequences, generator=torch.Generator().manual_seed(seed))
    chosen = inputs[order[:needed]].reshape(wanted, pieces * length, inputs.shape[2])
    return chosen[:, :steps].contiguous()
