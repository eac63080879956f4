"""Atomic file writing and the provenance attributes every NetCDF file carries.

Every file the package writes goes to a temporary file in the destination directory first and is
renamed into place, so a killed writer never leaves a partial file under the final name and never
damages the previous version.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import shutil
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


class DiskFullError(InputError):
    """A file could not be written because its disk (or the user's quota) is full; nothing partial is left."""


# netCDF4/HDF5 report a write the disk refused as RuntimeError("NetCDF: HDF error"), without an
# errno; with less than this free beside the file, that error is taken for a full disk.
FULL_DISK_MARGIN = 1 << 20


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:,.0f} {unit}" if unit == "bytes" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024


def _disk_full(error: BaseException, directory: Path) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(error, RuntimeError) and "HDF error" in str(error):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(directory).free < FULL_DISK_MARGIN
    return False


def _disk_full_error(final: Path, temporary: str, needed: int | None) -> DiskFullError:
    with contextlib.suppress(OSError):
        written = os.path.getsize(temporary)
        needed = max(needed or 0, written)
    free = shutil.disk_usage(final.parent if str(final.parent) else ".").free
    need = f"about {_size(needed)}" if needed else "more space"
    return DiskFullError(
        f"cannot write {final}: the disk holding {final.parent} is full ({_size(free)} free); the file needs {need}. "
        f"Nothing partial was left and {final} {'keeps its previous version' if final.exists() else 'was not created'}; "
        "free some space (or choose an output directory on another disk) and run the same command again.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = False, expected_size: int | None = None):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the final suffix (writers such as matplotlib and netCDF4 choose the
    format from it). On any exception the temporary file is removed and ``path`` is untouched; a
    full disk becomes :class:`DiskFullError` naming the file and the space it needs
    (``expected_size`` bytes, or at least what was written before the disk filled).
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
    except (OSError, RuntimeError) as error:
        if _disk_full(error, final.parent if str(final.parent) else Path(".")):
            raise _disk_full_error(final, temporary, expected_size) from error
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, make_parents: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, make_parents=make_parents, expected_size=len(data)) as temporary:
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
    with atomic_path(path, make_parents=make_parents, expected_size=int(dataset.nbytes)) as temporary:
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
