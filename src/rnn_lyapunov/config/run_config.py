"""The configuration of one training run: defaults, validation and reading it from a file.

``validate_run_config(config)`` checks a dict against a JSON schema and returns a copy with every
default filled in. Errors are :class:`InputError` naming the key path (``spectrum.warmup_steps``)
and what is allowed, so a typo in a YAML file is caught before any training starts.
"""

from __future__ import annotations

import copy
import os

from rnn_lyapunov.config.settings import SECTIONS, defaults, restate
from rnn_lyapunov.errors import InputError

DEFAULTS = defaults()  # one run config holding every default (rnn_lyapunov.config.settings)


def validate_run_config(config: dict, *, gpu_requested: bool = False) -> dict:
    """A copy of ``config`` with defaults filled in; InputError naming every bad key otherwise.

    Checks types and ranges (JSON schema ``SCHEMA``), that the dataset and architecture are
    registered (the error lists the known ones), and that the spectrum epochs do not exceed
    ``epochs``, then everything a job would refuse later (``check_runnable``: options, sizes,
    memory, the dataset's option values, ``device: cuda`` without a GPU unless ``gpu_requested``,
    the job's scheduler giving it one).
    """
    if not isinstance(config, dict):
        raise InputError(f"a run config must be a mapping of keys to values, got {type(config).__name__}.")
    from rnn_lyapunov.config.schema import describe_errors, run_config_schema, validator

    problems = describe_errors(validator(run_config_schema()).iter_errors(config))
    if problems:
        raise InputError("invalid training config:\n  " + "\n  ".join(problems))
    filled = defaults()
    for key, value in copy.deepcopy(config).items():
        if key in SECTIONS:
            filled[key].update(value)
        else:
            filled[key] = value
    for key in ("learning_rate", "momentum", "dropout", "lr_decay"):
        filled[key] = float(filled[key])
    _check_registered(filled)
    spectrum = filled["spectrum"]
    _check_spectrum_schedule(spectrum)
    epochs = spectrum["epochs"]
    if epochs != "all":
        too_late = [epoch for epoch in epochs if epoch > filled["epochs"]]
        if too_late:
            raise InputError(f"config key spectrum.epochs lists {too_late}, after the last epoch "
                             f"(epochs = {filled['epochs']}); allowed: epochs from 0 to {filled['epochs']}.")
        filled["spectrum"]["epochs"] = sorted(set(epochs))
    from rnn_lyapunov.config.run_checks import check_runnable

    check_runnable(filled, gpu_requested=gpu_requested)
    return filled


def validate_spectrum_settings(settings: dict) -> dict:
    """The ``spectrum`` section of a run config on its own (e.g. the keywords of
    :class:`~rnn_lyapunov.training.monitor.SpectrumMonitor`), checked as :func:`validate_run_config`
    checks it, with the same messages, and returned with every default filled in."""
    from rnn_lyapunov.config.schema import describe_errors, run_config_schema, validator

    problems = describe_errors(validator(run_config_schema()).iter_errors({"spectrum": settings}))
    if problems:
        raise InputError("invalid spectrum settings:\n  " + "\n  ".join(problems))
    filled = {**DEFAULTS["spectrum"], **copy.deepcopy(settings)}
    _check_spectrum_schedule(filled)
    if filled["epochs"] != "all":
        filled["epochs"] = sorted(set(filled["epochs"]))
    return filled


def _check_spectrum_schedule(spectrum: dict) -> None:
    from rnn_lyapunov.config.engine_arguments import check_spectrum_schedule as check_schedule_of

    check_schedule_of(spectrum, time_steps=spectrum["steps"])
    from rnn_lyapunov.devices import FLOAT_DTYPES
    from rnn_lyapunov.engine.method import check_tangent_dtype_width

    if spectrum["tangent_dtype"] in FLOAT_DTYPES:
        try:
            check_tangent_dtype_width(FLOAT_DTYPES[spectrum["tangent_dtype"]], FLOAT_DTYPES[spectrum["dtype"]])
        except InputError as error:
            raise restate(error) from None


def check_spectrum_schedule(**arguments) -> None:
    """The engine's schedule rules (``check_schedule(**arguments)``), its errors naming the config
    keys (``spectrum.warmup_steps``) instead of the engine's argument names.

    Kept for callers of earlier releases: the library checks the settings through
    :func:`rnn_lyapunov.config.engine_arguments.check_spectrum_schedule`, which takes the settings."""
    from rnn_lyapunov.engine.arguments import check_schedule

    try:
        check_schedule(**arguments)
    except InputError as error:
        raise restate(error) from None


def _check_registered(config: dict) -> None:
    from rnn_lyapunov.datasets import get_dataset_builder
    from rnn_lyapunov.architectures.registry import get_architecture, load_plugin_paths

    for key, check in (("dataset", get_dataset_builder), ("plugin_paths", load_plugin_paths),
                       ("architecture", get_architecture)):
        if key == "plugin_paths" and not config[key]:
            continue
        try:
            check(config[key])  # the registries' errors list the known names
        except InputError as error:
            raise InputError(f"config key {key}: {error}") from None


def load_run_config(path: str | os.PathLike) -> dict:
    """Read a run config from a YAML or JSON file (JSON is valid YAML) and validate it."""
    from rnn_lyapunov.io.readers import read_yaml

    config = read_yaml(path, what="config file")
    return validate_run_config(config if config is not None else {})
