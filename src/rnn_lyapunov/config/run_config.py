"""The configuration of one training run: defaults, validation and reading it from a file.

``validate_run_config(config)`` checks a dict against a JSON schema and returns a copy with every
default filled in. Errors are :class:`InputError` naming the key path (``spectrum.warmup_steps``)
and what is allowed, so a typo in a YAML file is caught before any training starts.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

from rnn_lyapunov.errors import InputError

DEFAULTS = {
    "run_id": "run",
    "dataset": "signal_copy",
    "dataset_options": {},
    "data_dir": None,  # None: build the dataset in memory from seed and dataset_options
    "architecture": "rnn",
    "architecture_options": {},
    "plugin_paths": [],  # .py files or folders defining extra architectures (registry.load_plugin_paths)
    "hidden_size": 64,
    "num_layers": 1,
    "init": "default",
    "init_scale": None,
    "init_gain": None,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "momentum": 0.0,
    "batch_size": 64,
    "epochs": 10,
    "grad_clip": 1.0,  # max gradient norm; None disables clipping
    "dropout": 0.0,
    "seed": 0,
    "device": "auto",
    "threads": 1,  # torch CPU threads; None leaves torch's default
    "spectrum": {
        "epochs": "all",  # "all" or a list of epochs >= 1; epoch 0 (initialisation) is always computed
        "n_exponents": None,  # None: the full spectrum (state_size exponents)
        "trajectories": 8,
        "steps": None,  # None: one validation sequence; more concatenates consecutive sequences
        "warmup_steps": 0,
        "reorthonormalize_every": 1,
        "record_every": 10,  # None: no running estimates stored
        "dtype": "float64",
    },
}

_INT = {"type": "integer"}
_POSITIVE_INT = {"type": "integer", "minimum": 1}
_OPTIONAL_POSITIVE_INT = {"type": ["integer", "null"], "minimum": 1}
_OPTIONAL_POSITIVE_NUMBER = {"type": ["number", "null"], "exclusiveMinimum": 0}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "run_id": {"type": "string", "pattern": r"^[A-Za-z0-9_.+=-]+$",
                   "description": "letters, digits and _ . + = - (it becomes a file name)"},
        "dataset": {"type": "string"},
        "dataset_options": {"type": "object"},
        "data_dir": {"type": ["string", "null"]},
        "architecture": {"type": "string"},
        "architecture_options": {"type": "object"},
        "plugin_paths": {"type": "array", "items": {"type": "string"},
                         "description": "a list of paths to .py files or folders of them"},
        "hidden_size": _POSITIVE_INT,
        "num_layers": _POSITIVE_INT,
        "init": {"enum": ["default", "uniform", "orthogonal"]},
        "init_scale": _OPTIONAL_POSITIVE_NUMBER,
        "init_gain": _OPTIONAL_POSITIVE_NUMBER,
        "optimizer": {"enum": ["adam", "sgd"]},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0},
        "momentum": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "batch_size": _POSITIVE_INT,
        "epochs": {"type": "integer", "minimum": 0},
        "grad_clip": _OPTIONAL_POSITIVE_NUMBER,
        "dropout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "seed": {"type": "integer", "minimum": 0},
        "device": {"type": "string", "pattern": r"^(auto|cpu|cuda(:[0-9]+)?)$",
                   "description": "'auto', 'cpu', 'cuda' or 'cuda:N'"},
        "threads": _OPTIONAL_POSITIVE_INT,
        "spectrum": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "epochs": {"anyOf": [{"const": "all"},
                                     {"type": "array", "items": {"type": "integer", "minimum": 0}}],
                           "description": "'all' or a list of epoch numbers (integers >= 0)"},
                "n_exponents": _OPTIONAL_POSITIVE_INT,
                "trajectories": _POSITIVE_INT,
                "steps": _OPTIONAL_POSITIVE_INT,
                "warmup_steps": {**_INT, "minimum": 0},
                "reorthonormalize_every": _POSITIVE_INT,
                "record_every": _OPTIONAL_POSITIVE_INT,
                "dtype": {"enum": ["float32", "float64"]},
            },
        },
    },
}


def _validator():
    import jsonschema

    base = jsonschema.Draft202012Validator
    # JSON Schema counts 3.0 as an integer; a hidden size of 3.0 would break torch, so refuse it.
    # NaN and inf pass every bound check (comparisons with NaN are false), so they are no numbers here.
    checker = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, value: isinstance(value, int) and not isinstance(value, bool),
        "number": lambda _, value: isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
    })
    return jsonschema.validators.extend(base, type_checker=checker)(SCHEMA)


def _allowed(schema: dict) -> str:
    """Human description of what a schema fragment allows."""
    if "description" in schema:
        return schema["description"]
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    kinds = schema.get("type", "any value")
    kinds = " or ".join(kinds) if isinstance(kinds, list) else kinds
    bounds = [f"{relation} {schema[key]}" for key, relation in (
        ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")) if key in schema]
    return kinds.replace("null", "null (none)") + (f" {' and '.join(bounds)}" if bounds else "")


def _describe(error) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        prefix = f"{path}." if path else ""
        return (f"unknown config key(s) {', '.join(prefix + key for key in unknown)}; "
                f"allowed keys{' under ' + path if path else ''}: {', '.join(known)}.")
    return f"config key {path or '(top level)'} = {error.instance!r} is not allowed; allowed: {_allowed(error.schema)}."


def validate_run_config(config: dict) -> dict:
    """A copy of ``config`` with defaults filled in; InputError naming every bad key otherwise.

    Checks types and ranges (JSON schema ``SCHEMA``), that the dataset and architecture are
    registered (the error lists the known ones), and that the spectrum epochs do not exceed
    ``epochs``.
    """
    if not isinstance(config, dict):
        raise InputError(f"a run config must be a mapping of keys to values, got {type(config).__name__}.")
    errors = sorted(_validator().iter_errors(config), key=lambda error: [str(p) for p in error.absolute_path])
    if errors:
        raise InputError("invalid training config:\n  " + "\n  ".join(_describe(error) for error in errors))
    filled = copy.deepcopy(DEFAULTS)
    for key, value in copy.deepcopy(config).items():
        if key == "spectrum":
            filled["spectrum"].update(value)
        else:
            filled[key] = value
    for key in ("learning_rate", "momentum", "dropout"):
        filled[key] = float(filled[key])
    _check_registered(filled)
    spectrum = filled["spectrum"]
    if spectrum["record_every"] is not None and spectrum["record_every"] % spectrum["reorthonormalize_every"]:
        raise InputError(
            f"config key spectrum.record_every = {spectrum['record_every']} is not allowed; allowed: a multiple "
            f"of spectrum.reorthonormalize_every = {spectrum['reorthonormalize_every']} (or null).")
    if spectrum["steps"] is not None and spectrum["warmup_steps"] >= spectrum["steps"]:
        raise InputError(
            f"config key spectrum.warmup_steps = {spectrum['warmup_steps']} is not allowed; allowed: "
            f"fewer than spectrum.steps = {spectrum['steps']}.")
    epochs = spectrum["epochs"]
    if epochs != "all":
        too_late = [epoch for epoch in epochs if epoch > filled["epochs"]]
        if too_late:
            raise InputError(f"config key spectrum.epochs lists {too_late}, after the last epoch "
                             f"(epochs = {filled['epochs']}); allowed: epochs from 0 to {filled['epochs']}.")
        filled["spectrum"]["epochs"] = sorted(set(epochs))
    return filled


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
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist.")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(f"config file {path} is not valid YAML/JSON: {error}") from None
    return validate_run_config(config if config is not None else {})
