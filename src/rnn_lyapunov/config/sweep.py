"""Hyperparameter sweeps: expanding a sweep config into runs, and combining the runs' NetCDF files.

A sweep config (the workflow's ``config/config.yaml``) names lists of values under ``sweep``
(datasets x architectures x hidden sizes x layer counts x init scales x learning rates x seeds)
and the settings shared by every run under ``training`` and ``spectrum``. ``expand_sweep`` turns
it into one training-run config per combination, each with a readable unique ``run_id``;
``combine_runs`` concatenates the per-run files (``training.train_run``) along a ``run`` dim;
``load_sweep`` opens the combined file and refuses files that are not ours.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import numpy as np

from rnn_lyapunov.errors import InputError

# sweep key (a list in the config) -> run-config key (one value per run), in run-id order.
SWEEP_AXES = {
    "datasets": "dataset",
    "architectures": "architecture",
    "hidden_sizes": "hidden_size",
    "num_layers": "num_layers",
    "init_scales": "init_scale",
    "learning_rates": "learning_rate",
    "seeds": "seed",
}
SWEEP_ATTRIBUTE = "rnn_lyapunov_sweep"
EXPONENT_VARIABLE = "lyapunov_exponents"
# Attributes of a per-run file kept per run in the sweep, as variables named run_<attribute>.
RUN_PROVENANCE = {
    "config": "the run's training config as JSON",
    "device": "device the run trained on",
    "git_revision": "git revision of the code that trained the run",
    "created": "when the run's file was written (UTC)",
}


def _format_number(value) -> str:
    """Shortest readable form of a number for a run id: 0.001 -> '0.001', 2.0 -> '2', 1e-05 -> '1e-05'."""
    return format(value, "g") if isinstance(value, float) else str(value)


def run_id(run: dict) -> str:
    """Readable id naming every swept value, e.g. ``signal_copy-lstm-h32-l1-uniform0.5-lr0.001-s0``."""
    scale = run.get("init_scale")
    init = f"{run['init']}{'' if scale is None else _format_number(scale)}"
    return (
        f"{run['dataset']}-{run['architecture']}-h{run['hidden_size']}-l{run['num_layers']}-"
        f"{init}-lr{_format_number(run['learning_rate'])}-s{run['seed']}"
    )


def expand_sweep(config: dict, *, results_dir: str | os.PathLike = "results") -> list[dict]:
    """One training-run config per combination of the values listed under ``config["sweep"]``.

    ``config["training"]`` holds settings shared by every run (optimizer, epochs, ...),
    ``config["spectrum"]`` the spectrum settings and ``config["datasets"][name]["options"]`` the
    dataset options. Each run gets ``run_id`` and ``data_dir`` (``<results_dir>/data/<dataset>``).
    The runs come in the order of ``itertools.product`` over ``SWEEP_AXES``.

    Raises InputError if two combinations would get the same run id (a value listed twice).
    """
    sweep = config.get("sweep", {})
    missing = [key for key in SWEEP_AXES if not sweep.get(key)]
    if missing:
        raise InputError(
            f"config key 'sweep' must list at least one value for each of {', '.join(SWEEP_AXES)}; "
            f"missing or empty: {', '.join(missing)}."
        )
    shared = dict(config.get("training", {}))
    datasets = config.get("datasets", {})
    runs, seen = [], {}
    for values in itertools.product(*(sweep[key] for key in SWEEP_AXES)):
        run = dict(shared)
        run.update(zip(SWEEP_AXES.values(), values))
        run["dataset_options"] = dict(datasets.get(run["dataset"], {}).get("options", {}))
        run["data_dir"] = str(Path(results_dir) / "data" / run["dataset"])
        run["spectrum"] = dict(config.get("spectrum", {}))
        run["run_id"] = run_id(run)
        if run["run_id"] in seen:
            raise InputError(
                f"the sweep gives two runs the same id {run['run_id']!r}: a value is listed twice "
                f"under 'sweep' ({seen[run['run_id']]} and {values}). Remove the duplicate."
            )
        seen[run["run_id"]] = values
        runs.append(run)
    return runs


def describe_schema_error(error) -> str:
    """A one-paragraph message for a ``jsonschema.ValidationError``: key path, value, what is allowed."""
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    where = f"config key {path.lstrip('.')!r}" if path else "the config"
    schema = error.schema
    kind = error.validator
    if kind == "additionalProperties":
        unknown = sorted(set(error.instance) - set(schema.get("properties", {})))
        allowed = ", ".join(sorted(schema.get("properties", {})))
        return f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: {allowed}."
    if kind == "enum":
        allowed = ", ".join(map(repr, schema["enum"]))
        return f"{where} = {error.instance!r} is not allowed; must be one of {allowed}."
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        relation = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return f"{where} = {error.instance!r} is not allowed; must be {relation} {schema[kind]}."
    if kind == "type":
        return f"{where} = {error.instance!r} is not allowed; must be of type {schema['type']}."
    if kind in ("minItems", "uniqueItems"):
        return f"{where} = {error.instance!r} is not allowed: {error.message}."
    if "description" in schema:  # anyOf, pattern, ...: the schema says in words what is allowed
        return f"{where} = {error.instance!r} is not allowed; allowed: {schema['description']}."
    return f"{where}: {error.message}."


def check_available(config: dict) -> None:
    """Fail fast if the sweep names an architecture or dataset that is not registered, or a dataset
    option the dataset does not have.

    Call after loading ``config["plugin_paths"]`` so plugin architectures count.
    """
    from rnn_lyapunov.datasets import available_datasets, get_dataset_builder
    from rnn_lyapunov.architectures.registry import available_architectures

    for key, known in (("architectures", available_architectures()), ("datasets", available_datasets())):
        unknown = [name for name in config["sweep"][key] if name not in known]
        if unknown:
            raise InputError(
                f"config key 'sweep.{key}' names unknown {key} {', '.join(map(repr, unknown))}; "
                f"known {key}: {', '.join(sorted(known))}."
                + (" Add a plugin file to 'plugin_paths' for a custom architecture." if key == "architectures" else "")
            )
    for name in config["sweep"]["datasets"]:
        options = config.get("datasets", {}).get(name, {}).get("options", {})
        try:
            get_dataset_builder(name).resolve_options(options)
        except InputError as error:
            raise InputError(f"config key 'datasets.{name}.options': {error}") from None


def _hyperparameters(dataset) -> dict:
    """The scalar (0-d, non-index) coordinates of a per-run dataset: its hyperparameters."""
    return {name: coord.item() for name, coord in dataset.coords.items() if coord.ndim == 0}


def _read_netcdf(path, *, remedy: str):
    """The whole file loaded into memory and closed; InputError (with ``remedy``) if it cannot be read."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="netcdf4") as opened:
            return opened.load()
    except Exception as error:  # noqa: BLE001 - netCDF4 raises AttributeError, KeyError, ... for damaged files
        raise InputError(f"{path} is not a readable NetCDF file (corrupted or another format): {error}. {remedy}") from error


def _open_run(path):
    dataset = _read_netcdf(path, remedy="Re-run its training job.")
    if EXPONENT_VARIABLE not in dataset.data_vars or "run_id" not in dataset.coords:
        raise InputError(
            f"{path} is not a per-run spectrum file of rnn-lyapunov (no {EXPONENT_VARIABLE!r} "
            "variable or 'run_id' coordinate); pass the files written by training.train_run."
        )
    return dataset


def _fill_value(values: list):
    return "" if any(isinstance(value, str) for value in values) else math.nan


def combine_runs(paths) -> "xr.Dataset":
    """Concatenate per-run NetCDF files along a new dim ``run`` (coordinate ``run`` = run ids).

    Every scalar hyperparameter coordinate of the runs (architecture, hidden_size, init_scale, ...)
    becomes a coordinate along ``run`` (NaN or "" where a run lacks it); runs with differing
    epoch, exponent, trajectory or convergence-step counts are padded with NaN (outer join).
    Each run's provenance attributes are kept as variables ``run_config`` (JSON), ``run_device``,
    ``run_git_revision`` and ``run_created`` (run).
    The result carries ``rnn_lyapunov_sweep = 1`` and fresh provenance attributes.
    """
    import xarray as xr

    from rnn_lyapunov.io.storage import provenance_attributes

    paths = [Path(path) for path in paths]
    if not paths:
        raise InputError("combine_runs needs at least one per-run file; the sweep lists no runs.")
    runs = [_open_run(path) for path in paths]
    hyperparameters = [_hyperparameters(run) for run in runs]
    run_ids = [str(values["run_id"]) for values in hyperparameters]
    duplicates = sorted({name for name in run_ids if run_ids.count(name) > 1})
    if duplicates:
        raise InputError(f"run ids occur in more than one file: {', '.join(duplicates)}; pass each run once.")
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
    dataset = _read_netcdf(path, remedy="Delete it and re-run `snakemake results/spectra/sweep.nc`.")
    if dataset.attrs.get(SWEEP_ATTRIBUTE) != 1:
        raise InputError(
            f"{path} is a NetCDF file but not an rnn-lyapunov sweep (attribute {SWEEP_ATTRIBUTE!r} "
            "is missing); load_sweep reads the files written by the workflow's combine step."
        )
    return dataset



def discard_stale_checkpoint(run: dict, run_dir: str | os.PathLike) -> bool:
    """Delete ``run_dir/checkpoint.pt`` if it belongs to other settings than ``run``; True if deleted.

    The workflow reruns a run when its settings change; its old checkpoint is then obsolete and
    ``training.train_run`` would refuse to resume from it. A checkpoint of the same settings (an
    interrupted job, ``snakemake --rerun-incomplete``) or one differing only in keys that may
    change on resume (``epochs``, if not below the checkpoint's epoch) is kept, so the run resumes.
    """
    import torch

    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.training.loop import CHECKPOINT_FILE, RESUMABLE_KEYS

    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return False
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        saved, saved_epoch = checkpoint["config"], int(checkpoint["epoch"])
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is as useless as a stale one
        saved, saved_epoch = None, None
    wanted = validate_run_config(run)
    if isinstance(saved, dict) and saved_epoch <= wanted["epochs"] and all(
        saved.get(key) == wanted.get(key) for key in set(saved) | set(wanted) if key not in RESUMABLE_KEYS
    ):
        return False
    path.unlink()
    return True
