"""Reading every input file safely: the one place that calls ``torch.load``, ``numpy.load``,
``xarray.open_dataset`` and ``yaml.safe_load`` on a file.

* PyTorch files are read with ``weights_only=True``: a pickle that would import or call arbitrary
  Python (``os.system`` in ``__reduce__``) is refused before any of it runs.
* ``.npy`` files are read with ``allow_pickle=False``.
* NetCDF files are loaded into memory and closed at once, so the file is never held open.

Every failure, whatever the library raised (netCDF4 and HDF5 raise OSError, RuntimeError,
KeyError, even AttributeError for damaged files), becomes an :class:`InputError` that names the
file, what it was expected to be and how to fix it (``remedy``).
"""

from __future__ import annotations

import os
from pathlib import Path

from rnn_lyapunov.errors import InputError


def _existing_file(path, what: str, remedy: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist. {remedy}".rstrip())
    if path.stat().st_size == 0:
        raise InputError(f"{what} {path} is empty (0 bytes); the write that made it was probably interrupted. "
                         f"{remedy}".rstrip())
    return path


def read_yaml(path: str | os.PathLike, *, what: str = "config file"):
    """``yaml.safe_load`` of a YAML or JSON file (JSON is valid YAML): no Python objects are built.

    An empty file gives None. InputError when the file is missing or not YAML.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist.")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(f"{what} {path} is not valid YAML/JSON: {_one_line(error)}") from None
    cycle = _recursive_key(loaded)
    if cycle is not None:
        raise InputError(f"{what} {path} holds a recursive YAML alias at {cycle or 'the top level'} (an anchor "
                         "used inside itself, such as `a: &x [*x]`); a config must be a finite tree of values.")
    return loaded


def _one_line(error) -> str:
    """A YAML error in one line (PyYAML's own message spans several, with a caret under the text)."""
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem is None:
        return " ".join(str(error).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = getattr(error, "context", None)
    return f"{problem}{where}" + (f" ({context})" if context else "")


def _recursive_key(value, path: str = "", ancestors: frozenset = frozenset(), done: set | None = None) -> str | None:
    """The key path of the first mapping or list that contains itself (a recursive alias), or None.

    ``done`` holds the containers already walked, so an alias used many times (shared, not
    recursive) is walked once."""
    done = set() if done is None else done
    if not isinstance(value, (dict, list)) or id(value) in done:
        return None
    if id(value) in ancestors:
        return path
    ancestors = ancestors | {id(value)}
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = _recursive_key(item, f"{path}.{key}" if path else str(key), ancestors, done)
        if found is not None:
            return found
    done.add(id(value))
    return None


def read_torch(path: str | os.PathLike, *, what: str = "file", remedy: str = ""):
    """``torch.load(path, map_location="cpu", weights_only=True)``; InputError on any failure."""
    import torch

    path = _existing_file(path, what, remedy)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError, KeyError, ...
        message = str(error)
        if "GLOBAL" in message:  # weights_only refused to import a Python object
            raise InputError(
                f"refused to load {what} {path}: it contains pickled Python objects, not just tensors, and "
                f"loading them could run arbitrary code (rnn-lyapunov always loads with weights_only=True). "
                f"{remedy}".rstrip()) from None
        if "central directory" in message or isinstance(error, EOFError):
            raise InputError(f"{what} {path} is truncated or corrupted ({type(error).__name__}). {remedy}".rstrip()) from None
        detail = message.splitlines()[0] if message else "no detail"
        raise InputError(f"{what} {path} is not a PyTorch file that torch.load can read "
                         f"({type(error).__name__}: {detail}). {remedy}".rstrip()) from None


def read_npy(path: str | os.PathLike, *, what: str = "file", remedy: str = ""):
    """``numpy.load(path, allow_pickle=False)``; InputError on any failure."""
    import numpy as np

    path = _existing_file(path, what, remedy)
    try:
        return np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - a damaged header raises ValueError, EOFError, tokenize.TokenError, ...
        if "allow_pickle" in str(error):
            raise InputError(f"{what} {path} holds pickled Python objects, which are refused because loading them "
                             f"could run arbitrary code. {remedy}".rstrip()) from None
        raise InputError(f"{what} {path} is not a readable .npy array ({type(error).__name__}: {error}). "
                         f"{remedy}".rstrip()) from None


def read_netcdf(path: str | os.PathLike, *, what: str = "file", remedy: str = "", marker: str | None = None):
    """The whole NetCDF file as an ``xarray.Dataset`` in memory (file closed); InputError on any failure.

    ``marker``: the name of a global attribute that must equal 1 (``rnn_lyapunov_sweep``,
    ``rnn_lyapunov_validation``), so that a NetCDF file of another kind is refused by name.
    """
    import xarray as xr

    path = _existing_file(path, what, remedy)
    try:
        with xr.open_dataset(path, engine="netcdf4") as opened:
            dataset = opened.load()
    except Exception as error:  # noqa: BLE001 - netCDF4/HDF5 raise many types for damaged files
        raise InputError(f"{what} {path} is not a readable NetCDF file (corrupted or another format: "
                         f"{type(error).__name__}: {error}). {remedy}".rstrip()) from None
    if marker is not None and dataset.attrs.get(marker) != 1:
        raise InputError(f"{path} is a NetCDF file but not an rnn-lyapunov {what} (global attribute {marker!r} "
                         f"is missing). {remedy}".rstrip())
    return dataset
