"""Choosing the compute device (CUDA when present, the CPU otherwise) and the floating-point dtypes by name."""

from __future__ import annotations

import torch

from rnn_lyapunov.errors import InputError

ALLOWED_DEVICES = ("auto", "cpu", "cuda")
# the dtypes a setting may name (spectrum.dtype, spectrum.tangent_dtype, --dtype)
FLOAT_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(requested: str = "auto") -> torch.device:
    """Return the device for ``requested`` (``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``).

    ``"auto"`` picks CUDA when a GPU is visible and the CPU otherwise. Asking for CUDA on a
    machine without a GPU is an error rather than a silent fall-back, so a cluster job that lost
    its GPU does not quietly run a hundred times slower.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(
                f"device {requested!r} was requested but no CUDA GPU is available on this "
                "machine. Use --device cpu (or 'auto', which picks the GPU when there is one)."
            )
        return torch.device(requested)
    raise InputError(f"unknown device {requested!r}; allowed: {', '.join(ALLOWED_DEVICES)} or 'cuda:N'.")
