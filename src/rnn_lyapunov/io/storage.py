"""Atomic file writing and the provenance attributes every NetCDF file carries.

Every file the package writes goes to a temporary file in the destination directory first and is
renamed into place, so a killed writer never leaves a partial file under the final name and never
damages the previous version.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import tempfile
from pathlib import Path

from rnn_lyapunov.errors import InputError


def _check_directory_writable(directory: Path, path: Path | None = None) -> None:
    target = f"write {path}" if path is not None else f"write into {directory}"
    if not directory.is_dir():
        raise InputError(f"cannot {target}: the directory {directory} does not exist. Create it first "
                         f"(mkdir -p {directory}) or choose another output path.")
    if not os.access(directory, os.W_OK):
        raise InputError(f"cannot {target}: no write permission in {directory}. Choose an output path in a "
                         "directory you can write to.")


def check_output_path(path: str | os.PathLike) -> Path:
    """Refuse, before any computation, an output path that is a directory or whose directory is
    missing or read-only; returns it as a Path."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"output path {path} is a directory; give a file name such as {path / 'spectrum.nc'}.")
    _check_directory_writable(path.parent if str(path.parent) else Path("."), path)
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = False):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the final suffix (writers such as matplotlib and netCDF4 choose the
    format from it). On any exception the temporary file is removed and ``path`` is untouched.
    """
    final = Path(path)
    if make_parents:
        final.parent.mkdir(parents=True, exist_ok=True)
    _check_directory_writable(final.parent if str(final.parent) else Path("."))
    handle, temporary = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.stem}.", suffix=f".partial{final.suffix}"
    )
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        # mkstemp creates the file private (0600); give it the permissions a plain open() would.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, make_parents: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, make_parents=make_parents) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str, *, make_parents: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), make_parents=make_parents)


def save_torch_atomic(obj, path: str | os.PathLike, *, make_parents: bool = False) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically (checkpoints, prepared tensors)."""
    import torch

    with atomic_path(path, make_parents=make_parents) as temporary:
        torch.save(obj, temporary)


def write_netcdf_atomic(dataset, path: str | os.PathLike, *, make_parents: bool = False) -> None:
    """Write an ``xarray.Dataset`` to NetCDF-4 (netcdf4 engine) atomically."""
    with atomic_path(path, make_parents=make_parents) as temporary:
        dataset.to_netcdf(temporary, engine="netcdf4", format="NETCDF4")


def git_revision(start: str | os.PathLike | None = None) -> str:
    """The git commit of the source tree (with ``-dirty`` if modified), or ``"unknown"``."""
    directory = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=directory, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return revision or "unknown"


def provenance_attributes(config: dict | None = None, device: str | None = None) -> dict[str, str]:
    """Attributes that make a NetCDF file reproducible: versions, git revision, config, device."""
    import torch

    from rnn_lyapunov import __version__

    attributes = {
        "rnn_lyapunov_version": __version__,
        "git_revision": git_revision(),
        "torch_version": torch.__version__,
        "device": device if device is not None else "unknown",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "Conventions": "CF-1.8",
    }
    if config is not None:
        attributes["config"] = json.dumps(config, sort_keys=True, default=str)
    return attributes
