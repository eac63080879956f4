"""The sweep NetCDF file: the per-run files of a sweep concatenated along a ``run`` dim.

``combine_runs`` stacks per-run datasets (``rnn_lyapunov.io.run_file``) and turns their scalar
hyperparameter coordinates into coordinates along ``run``; ``write_sweep`` writes the result
atomically and ``load_sweep`` opens it, refusing files that are not ours. The layout is in
docs/design.md ("Sweep NetCDF").
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.readers import read_netcdf

SWEEP_ATTRIBUTE = "rnn_lyapunov_sweep"
EXPONENT_VARIABLE = "lyapunov_exponents"
# Attributes of a per-run file kept per run in the sweep, as variables named run_<attribute>.
RUN_PROVENANCE = {
    "config": "the run's training config as JSON",
    "device": "device the run trained on",
    "git_revision": "git revision of the code that trained the run",
    "created": "when the run's file was written (UTC)",
}


def _hyperparameters(dataset) -> dict:
    """The scalar (0-d, non-index) coordinates of a per-run dataset: its hyperparameters."""
    return {name: coord.item() for name, coord in dataset.coords.items() if coord.ndim == 0}


def open_run_file(run):
    """A per-run dataset given as an ``xarray.Dataset`` or the path of its file."""
    if not isinstance(run, (str, os.PathLike)):
        return run
    path = run
    dataset = read_netcdf(path, what="per-run spectrum file", remedy="Re-run its training job.")
    if EXPONENT_VARIABLE not in dataset.data_vars or "run_id" not in dataset.coords:
        raise InputError(
            f"{path} is not a per-run spectrum file of rnn-lyapunov (no {EXPONENT_VARIABLE!r} "
            "variable or 'run_id' coordinate); pass the files written by training.train_run."
        )
    return dataset


def _fill_value(values: list):
    return "" if any(isinstance(value, str) for value in values) else math.nan


def combine_runs(runs) -> "xr.Dataset":
    """Concatenate per-run datasets (or the paths of their NetCDF files) along a new dim ``run`` (coordinate ``run`` = run ids).

    Every scalar hyperparameter coordinate of the runs (architecture, hidden_size, init_scale, ...)
    becomes a coordinate along ``run`` (NaN or "" where a run lacks it); runs with differing
    epoch, exponent, trajectory or convergence-step counts are padded with NaN (outer join).
    Each run's provenance attributes are kept as variables ``run_config`` (JSON), ``run_device``,
    ``run_git_revision`` and ``run_created`` (run).
    The result carries ``rnn_lyapunov_sweep = 1`` and fresh provenance attributes.
    """
    import xarray as xr

    from rnn_lyapunov.io.storage import provenance_attributes

    sources = [run if isinstance(run, (str, os.PathLike)) else None for run in runs]
    runs = [open_run_file(run) for run in runs]
    if not runs:
        raise InputError("combine_runs needs at least one per-run file; the sweep lists no runs.")
    units = sorted({str(run[EXPONENT_VARIABLE].attrs.get("units", "nats per time step")) for run in runs})
    if len(units) > 1:
        raise InputError(f"the runs' exponents are in different units ({', '.join(units)}); write every run "
                         "with the same spectrum.units before combining them.")
    hyperparameters = [_hyperparameters(run) for run in runs]
    run_ids = [str(values["run_id"]) for values in hyperparameters]
    duplicates = sorted({name for name in run_ids if run_ids.count(name) > 1})
    if duplicates:
        where = "; ".join(f"{name} in " + ", ".join(str(source) if source is not None else f"dataset #{index}"
                                                     for index, (source, run_id) in enumerate(zip(sources, run_ids))
                                                     if run_id == name)
                          for name in duplicates)
        raise InputError(f"run ids occur in more than one file: {where}; pass each run once.")
    # Dataset attributes differ per run (config, created); variable attributes (units) come from the first.
    bare = [run.drop_vars(list(values)).drop_attrs(deep=False) for run, values in zip(runs, hyperparameters)]
    combined = xr.concat(
        bare, dim=xr.DataArray(run_ids, dims="run", name="run"), data_vars="all", coords="minimal",
        compat="equals", join="outer", fill_value=np.nan, combine_attrs="override",
    )
    names = list(dict.fromkeys(name for values in hyperparameters for name in values))
    for name in names:
        column = [values.get(name) for values in hyperparameters]
        fill = _fill_value([value for value in column if value is not None])
        combined = combined.assign_coords({name: ("run", [fill if value is None else value for value in column])})
    # Each run's own provenance (its config, device, code revision, time) stays as a variable along run.
    for attribute, meaning in RUN_PROVENANCE.items():
        combined[f"run_{attribute}"] = ("run", [str(run.attrs.get(attribute, "")) for run in runs], {"long_name": meaning})
    devices = sorted({str(run.attrs.get("device", "unknown")) for run in runs})
    combined.attrs = provenance_attributes(config={"runs": run_ids}, device=",".join(devices))
    combined.attrs.update({SWEEP_ATTRIBUTE: 1, "n_runs": len(run_ids)})
    return combined


def write_sweep(paths, output_path: str | os.PathLike) -> "xr.Dataset":
    """``combine_runs(paths)`` written atomically to ``output_path`` (NetCDF-4); returns the dataset."""
    from rnn_lyapunov.io.storage import write_netcdf_atomic

    combined = combine_runs(paths)
    write_netcdf_atomic(combined, output_path, make_parents=True)
    return combined


def load_sweep(path: str | os.PathLike) -> "xr.Dataset":
    """Open a sweep file written by ``write_sweep`` (the workflow's ``results/spectra/sweep.nc``).

    The data are loaded into memory and the file is closed. Raises InputError if the file is
    missing, is not a readable NetCDF file, or lacks the ``rnn_lyapunov_sweep`` attribute.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"sweep file {path} does not exist; run `snakemake results/spectra/sweep.nc` first.")
    return read_netcdf(path, what="sweep", marker=SWEEP_ATTRIBUTE,
                       remedy="load_sweep reads the files written by the workflow's combine step "
                              "(rnn_lyapunov.io.sweep_file.write_sweep); re-run `snakemake results/spectra/sweep.nc`.")
