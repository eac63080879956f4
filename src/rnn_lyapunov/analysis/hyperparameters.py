"""Which hyperparameters a sweep varies: one row of settings per run, and the ones that differ.

The grid figures put the most telling varying hyperparameters on their axes and average over the
rest; these functions pick them from the coordinates along ``run`` and the runs' own configs.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

#: Coordinates along ``run`` that name a run, pick the task or follow from other settings: never a
#: hyperparameter of a figure (the task is chosen by ``select_task``; the state size follows from
#: the architecture, hidden size and layers). Names matching ``SEED_PATTERN`` are excluded too.
NOT_HYPERPARAMETERS = ("run", "run_id", "dataset", "state_size", "device", "threads", "data_dir",
                       "plugin_paths", "run_dir")
SEED_PATTERN = r"(^|[._])seeds?$"
#: Order among hyperparameters that vary equally often (first: x axis of a grid).
PREFERRED_ORDER = ("learning_rate", "init_scale", "dropout", "hidden_size", "init_gain", "num_layers",
                   "lr_decay", "batch_size", "momentum", "grad_clip", "architecture", "init", "optimizer")


def is_identifier(name: str) -> bool:
    import re

    return name in NOT_HYPERPARAMETERS or re.search(SEED_PATTERN, name) is not None


def _flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = str(list(value))
        else:
            flat[name] = value
    return flat


def hyperparameter_table(sweep: xr.Dataset):
    """One row per run (indexed by run id): every coordinate along ``run``, plus every scalar key of
    the runs' configs (``run_config``, JSON; nested keys joined with dots, e.g. ``spectrum.steps``)
    that is not a coordinate, so that a sweep over any run-config key shows that key.
    """
    import json

    import pandas as pd

    columns = {}
    for name, coord in sweep.coords.items():
        if coord.dims == ("run",) and name != "run":
            columns[str(name)] = coord.values
    if "run_config" in sweep.variables and sweep["run_config"].dims == ("run",):
        configs = []
        for text in sweep["run_config"].values:
            try:
                parsed = json.loads(str(text)) if str(text).strip() else {}
            except ValueError:
                parsed = {}
            configs.append(_flatten(parsed) if isinstance(parsed, dict) else {})
        for key in sorted({key for config in configs for key in config}):
            if key not in columns:
                columns[key] = [config.get(key) for config in configs]
    index = sweep["run"].values if "run" in sweep.coords else np.arange(sweep.sizes.get("run", 0))
    return pd.DataFrame(columns, index=pd.Index(index, name="run"))


def distinct_values(values) -> list:
    """Distinct values in first-seen order; None and NaN count as one value ("none")."""
    seen, result = set(), []
    for value in values:
        key = "none" if value is None or (isinstance(value, float) and np.isnan(value)) else value
        if isinstance(key, np.generic):
            key = key.item()
        if key not in seen:
            seen.add(key)
            result.append(key)
    return result


def is_numeric(values) -> bool:
    """True when every value that is not None/NaN is a number (booleans are not)."""
    present = [value for value in values if value is not None and not (isinstance(value, float) and np.isnan(value))]
    return bool(present) and all(isinstance(value, (int, float, np.integer, np.floating))
                                 and not isinstance(value, (bool, np.bool_)) for value in present)


def varying_hyperparameters(sweep: xr.Dataset, table=None) -> list[str]:
    """The hyperparameters with more than one value across the sweep's runs, most telling first.

    Coordinates along ``run`` (and run-config keys, :func:`hyperparameter_table`) except run ids,
    the task, the state size and seed-like keys (``seed``, ``*_seed``). Ranked numeric first, then
    by the number of distinct values (most first), then by ``PREFERRED_ORDER``, then by name.
    """
    table = hyperparameter_table(sweep) if table is None else table
    ranked = []
    for name in table.columns:
        if is_identifier(str(name)):
            continue
        values = table[name].tolist()
        count = len(distinct_values(values))
        if count > 1:
            preference = PREFERRED_ORDER.index(name) if name in PREFERRED_ORDER else len(PREFERRED_ORDER)
            ranked.append((not is_numeric(values), -count, preference, str(name)))
    return [name for *_, name in sorted(ranked)]


def describe_values(values) -> str:
    """``"3 values"`` or ``"0.1 to 0.5, 10 values"`` for notes on averaged hyperparameters."""
    distinct = distinct_values(values)
    if is_numeric(distinct) and all(value != "none" for value in distinct):
        numbers = sorted(float(value) for value in distinct)
        return f"{numbers[0]:g} to {numbers[-1]:g}, {len(numbers)} values"
    shown = ", ".join(str(value) for value in distinct[:4]) + (", ..." if len(distinct) > 4 else "")
    return f"{shown}: {len(distinct)} values"
