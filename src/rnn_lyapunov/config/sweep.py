"""Hyperparameter sweeps: expanding a workflow config into one run config per training run.

The workflow config (``config/config.yaml``) holds settings shared by every run under
``training`` and ``spectrum``, and says under ``sweep`` which run-config keys vary:

* ``cross``: ``key: [values]`` axes, crossed with each other;
* ``zip``: groups of axes whose lists move together (an architecture with its own hidden size,
  for matched parameter counts), ``- {architecture: [rnn, lstm], hidden_size: [157, 64]}``;
* ``sample``: ``key: {low, high, n, scale: linear | log, seed}``, n values drawn at random
  between the bounds (rounded to 6 significant digits, so they read well in run ids).

Every cross axis, zip group and sampled key is crossed with the others. Any sweepable run-config
key (``rnn_lyapunov.config.settings``; ``spectrum.*`` keys with their section) can be an axis, and
``architecture_options.NAME`` sweeps a plugin option. Run ids name the architecture and the values
that vary (``lstm-h64-lr0.002-s0``).
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
from pathlib import Path

import numpy as np

from rnn_lyapunov.config.settings import BY_KEY, SETTINGS, set_path
from rnn_lyapunov.errors import InputError

SAMPLE_DIGITS = 6
_RUN_ID_CHARACTERS = re.compile(r"^[A-Za-z0-9_.+=-]+$")
_OPTION_AXIS = "architecture_options."
_DATASET_AXIS = "dataset_options."


def _format(value) -> str:
    """Shortest readable form of a value for a run id: 0.001 -> '0.001', 2.0 -> '2', None -> 'none'.

    A float that 6 significant digits would not tell apart from its neighbours keeps all its digits.
    """
    if value is None:
        return "none"
    if isinstance(value, float):
        short = format(value, "g")
        return short if float(short) == value else repr(value)
    return str(value)


def _check_axis_key(key: str, where: str) -> None:
    if any(key.startswith(prefix) and len(key) > len(prefix) for prefix in (_OPTION_AXIS, _DATASET_AXIS)):
        return
    if key not in BY_KEY or not BY_KEY[key].sweepable:
        allowed = ", ".join(s.key for s in SETTINGS if s.sweepable)
        raise InputError(f"config key {where}.{key} is not a sweep axis; allowed: {allowed}, "
                         f"{_OPTION_AXIS}NAME for a plugin option, or {_DATASET_AXIS}NAME for a dataset option.")


def _sampled(key: str, spec: dict) -> list[float]:
    low, high, n = spec["low"], spec["high"], spec["n"]
    scale, seed = spec.get("scale", "linear"), spec.get("seed", 0)
    if not low < high:
        raise InputError(f"config key sweep.sample.{key}: low ({low}) must be below high ({high}).")
    if scale == "log" and low <= 0:
        raise InputError(f"config key sweep.sample.{key}: scale 'log' needs low > 0, got {low}.")
    generator = np.random.default_rng(seed)
    if scale == "log":
        draws = np.exp(generator.uniform(math.log(low), math.log(high), size=n))
    else:
        draws = generator.uniform(low, high, size=n)
    values = [float(f"{value:.{SAMPLE_DIGITS}g}") for value in draws]
    if len(set(values)) < n:
        raise InputError(f"config key sweep.sample.{key}: {n} draws gave repeated values at {SAMPLE_DIGITS} "
                         "significant digits; widen the range or choose another seed.")
    return values


def sweep_axes(sweep: dict) -> list[list[dict]]:
    """The sweep as a list of axes, each a list of ``{key: value}`` points; the runs are their product."""
    axes, seen = [], {}

    def claim(key, where):
        _check_axis_key(key, where)
        if key in seen:
            raise InputError(f"config key {key} is swept twice (under {seen[key]} and {where}); keep one.")
        seen[key] = where

    for key, values in (sweep.get("cross") or {}).items():
        claim(key, "sweep.cross")
        axes.append([{key: value} for value in values])
    for index, group in enumerate(sweep.get("zip") or []):
        where = f"sweep.zip[{index}]"
        lengths = {key: len(values) for key, values in group.items()}
        if len(set(lengths.values())) > 1:
            raise InputError(f"config key {where}: the lists of a zip group must have the same length, got "
                             f"{', '.join(f'{key}: {length}' for key, length in lengths.items())}.")
        for key in group:
            claim(key, where)
        axes.append([dict(zip(group, values)) for values in zip(*group.values())])
    for key, spec in (sweep.get("sample") or {}).items():
        claim(key, "sweep.sample")
        axes.append([{key: value} for value in _sampled(key, spec)])
    return axes


def run_id(values: dict, varying: list[str]) -> str:
    """Readable id naming the values of ``varying`` keys, e.g. ``lstm-h64-lr0.002-s0``."""
    values = {"architecture": BY_KEY["architecture"].default, **values}
    parts = []
    for key in varying:
        setting = BY_KEY.get(key)
        name = key.removeprefix(_OPTION_AXIS).removeprefix(_DATASET_AXIS)
        label = f"{name}=" if setting is None or setting.run_id_label is None \
            else setting.run_id_label
        parts.append(f"{label}{_format(values[key])}")
    identifier = "-".join(parts)
    if not _RUN_ID_CHARACTERS.match(identifier):
        raise InputError(f"the run id {identifier!r} built from the swept values has characters other than "
                         "letters, digits and _ . + = -; use such values in the sweep.")
    return identifier


def _ordered(keys) -> list[str]:
    """Keys in the order of the settings table (options last), so ids read the same in every config."""
    order = {setting.key: index for index, setting in enumerate(SETTINGS)}
    return sorted(keys, key=lambda key: (order.get(key, len(order)), key))


def expand_sweep(config: dict, *, results_dir: str | os.PathLike = "results") -> list[dict]:
    """One training-run config per point of the sweep (see the module docstring).

    Each run gets the shared ``training`` and ``spectrum`` settings, the swept values, its
    dataset's options (``datasets.NAME.options``), ``plugin_paths``, ``data_dir``
    (``<results_dir>/data/<dataset>``) and a ``run_id`` naming the values that vary.

    Raises InputError for an unknown axis, a key both shared and swept, zip groups of unequal
    length, a bad sample range, or two runs with the same id.
    """
    shared = copy.deepcopy(config.get("training") or {})
    axes = sweep_axes(config.get("sweep") or {})
    for axis in axes:
        for key in axis[0]:
            section, _, name = key.partition(".")
            if key in shared or (name and name in (config.get(section) or {})):
                raise InputError(f"config key {key} is both a shared setting and a sweep axis; remove one of them.")
    points = [dict(item for part in combination for item in part.items()) for combination in itertools.product(*axes)]
    # The architecture always leads, so a file name says which network it holds.
    varying = _ordered({"architecture", *(key for axis in axes if len(axis) > 1 for key in axis[0])})
    runs, seen = [], {}
    for point in points:
        run = dict(shared, spectrum=copy.deepcopy(config.get("spectrum") or {}),
                   plugin_paths=list(config.get("plugin_paths") or []))
        if config.get("flossing"):  # absent, the run configs (and the jobs' params) are those of before
            run["flossing"] = copy.deepcopy(config["flossing"])
        for key, value in point.items():
            if not key.startswith(_DATASET_AXIS):
                set_path(run, key, value)
        run.setdefault("dataset", BY_KEY["dataset"].default)
        run["dataset_options"] = dict((config.get("datasets") or {}).get(run["dataset"], {}).get("options", {}))
        swept = {key.removeprefix(_DATASET_AXIS): value for key, value in point.items()
                 if key.startswith(_DATASET_AXIS)}
        run["dataset_options"].update(swept)
        # Data with swept options differ from the prepared ones: each run builds its own from its seed.
        run["data_dir"] = None if swept else str(Path(results_dir) / "data" / run["dataset"])
        run["run_id"] = run_id({**run, **point}, varying)
        if run["run_id"] in seen:
            raise InputError(f"the sweep gives two runs the same id {run['run_id']!r} ({seen[run['run_id']]} and "
                             f"{point}): a value is listed twice. Remove the duplicate.")
        seen[run["run_id"]] = point
        runs.append(run)
    return runs


def check_available(runs: list[dict], config: dict) -> None:
    """Fail fast if the runs name an unregistered architecture or dataset, or a dataset option the
    dataset does not have. Call after loading ``config["plugin_paths"]`` so plugins count."""
    from rnn_lyapunov.architectures.registry import available_architectures
    from rnn_lyapunov.datasets import available_datasets, get_dataset_builder

    for key, known in (("architecture", available_architectures()), ("dataset", available_datasets())):
        unknown = sorted({run.get(key, BY_KEY[key].default) for run in runs} - set(known))
        if unknown:
            raise InputError(
                f"config key {key} names unknown {key}(s) {', '.join(map(repr, unknown))}; known: "
                f"{', '.join(sorted(known))}."
                + (" Add a plugin file to 'plugin_paths' for a custom architecture." if key == "architecture" else ""))
    for name in sorted({run["dataset"] for run in runs}):
        try:
            get_dataset_builder(name).check_options((config.get("datasets") or {}).get(name, {}).get("options", {}))
        except InputError as error:
            raise InputError(f"config key 'datasets.{name}.options': {error}") from None
    for run in runs:
        if run["data_dir"] is None:  # a swept dataset option (sweep axis dataset_options.NAME)
            try:
                get_dataset_builder(run["dataset"]).resolve_options(run["dataset_options"])
            except InputError as error:
                raise InputError(f"run {run['run_id']}: swept dataset options {run['dataset_options']}: "
                                 f"{error}") from None
