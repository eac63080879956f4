"""The search config: a base run config plus a ``search:`` block, validated before any training.

Every key but ``search`` is a run config (``rnn_lyapunov.config.settings``), validated by
``validate_run_config``; ``search`` is checked against :func:`search_schema` and then for what a
schema cannot say (a parameter range inside the setting's own range, the objective's epoch among
the spectrum epochs). Errors are :class:`InputError` naming the key path and what is allowed.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from rnn_lyapunov.analysis.features import READOUT_FEATURES
from rnn_lyapunov.config.settings import BY_KEY, SETTINGS, describe_allowed
from rnn_lyapunov.errors import InputError

OBJECTIVES = ("val_loss", "spectrum_feature")
PRUNERS = ("median", "threshold", "readout")
DIRECTIONS = ("minimize", "maximize")
DEFAULT_RESULTS = Path("results") / "search"

_EPOCH = {"type": "integer", "minimum": 0}
_FEATURE = {"enum": list(READOUT_FEATURES)}
_INDEX_RANGE = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2,
                "description": "two 1-based exponent indices [first, last], e.g. [50, 100]"}


def _object(properties: dict, required=(), **extra) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(required), **extra}


PARAM_SCHEMA = {
    "range": _object({"low": {"type": "number"}, "high": {"type": "number"}, "log": {"type": "boolean"},
                      "step": {"type": "number", "exclusiveMinimum": 0}}, required=("low", "high")),
    "choices": _object({"choices": {"type": "array", "minItems": 1}}, required=("choices",)),
}
OBJECTIVE_SCHEMA = {
    "val_loss": _object({"kind": {"const": "val_loss"}}),
    "spectrum_feature": _object({"kind": {"const": "spectrum_feature"}, "feature": _FEATURE, "epoch": _EPOCH,
                                 "index_range": _INDEX_RANGE, "direction": {"enum": list(DIRECTIONS)},
                                 "stop_at_epoch": {"type": "boolean"}},
                                required=("kind", "feature", "epoch", "direction")),
}
PRUNER_SCHEMA = {
    "median": _object({"kind": {"const": "median"}, "n_startup_trials": {"type": "integer", "minimum": 0},
                       "n_warmup_steps": {"type": "integer", "minimum": 0}}),
    "threshold": _object({"kind": {"const": "threshold"}, "feature": _FEATURE, "epoch": _EPOCH,
                          "index_range": _INDEX_RANGE, "above": {"type": "number"}, "below": {"type": "number"}},
                         required=("kind", "feature", "epoch"), minProperties=4),
    "readout": _object({"kind": {"const": "readout"}, "epoch": _EPOCH,
                        "features": {"type": "array", "items": _FEATURE, "minItems": 1},
                        "min_trials": {"type": "integer", "minimum": 3},
                        "quantile": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}},
                       required=("kind", "epoch")),
}


def search_schema() -> dict:
    """The JSON schema of the ``search`` block (objective and pruner bodies: see ``OBJECTIVE_SCHEMA``,
    ``PRUNER_SCHEMA``, checked once their ``kind`` is known)."""
    kind = {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}}}
    return _object({
        "study_name": {"type": "string", "pattern": r"^[A-Za-z0-9_.+=-]+$",
                       "description": "letters, digits and _ . + = - (it names a folder)"},
        "storage": {"type": ["string", "null"],
                    "description": "a file path (SQLite) or an SQLAlchemy URL; null: <output_dir>/study.db"},
        "output_dir": {"type": ["string", "null"], "description": "a folder; null: results/search/<study_name>"},
        "n_trials": {"type": "integer", "minimum": 1},
        "seed": {"type": "integer", "minimum": 0},
        "heartbeat_seconds": {"type": "integer", "minimum": 1},
        "params": {"type": "object", "minProperties": 1,
                   "additionalProperties": {"type": "object", "description": "{low, high, log, step} or {choices}"}},
        "objective": kind,
        "pruner": {"anyOf": [kind, {"type": "array", "items": kind}, {"type": "null"}],
                   "description": "null, one pruner {kind: median | threshold | readout, ...} or a list of them"},
    }, required=("params",))


DEFAULTS = {"study_name": "search", "storage": None, "output_dir": None, "n_trials": 20, "seed": 0,
            "heartbeat_seconds": 30, "objective": {"kind": "val_loss"}, "pruner": None}


def _check(instance, schema: dict, path: tuple) -> None:
    from rnn_lyapunov.config.schema import describe_errors, validator

    errors = list(validator(schema).iter_errors(instance))
    for error in errors:
        error.path.extendleft(reversed(path))  # report the key from the top of the file
    problems = describe_errors(errors)
    if problems:
        raise InputError("invalid search config:\n  " + "\n  ".join(problems))


def _check_kind(block: dict, table: dict, path: tuple) -> None:
    if block["kind"] not in table:
        raise InputError(f"config key {'.'.join(map(str, path))}.kind = {block['kind']!r} is not allowed; allowed: "
                         f"{', '.join(map(repr, table))}.")
    _check(block, table[block["kind"]], path)


def _check_param(key: str, spec: dict, base: dict) -> dict:
    where = f"search.params.{key}"
    setting = BY_KEY.get(key)
    if setting is None or not setting.sweepable:
        allowed = ", ".join(s.key for s in SETTINGS if s.sweepable)
        raise InputError(f"config key {where}: {key!r} is not a searchable run-config key; allowed: {allowed}.")
    if key in base:
        raise InputError(f"config key {key} is both a base setting and a searched parameter; remove one of them.")
    _check(spec, PARAM_SCHEMA["choices" if "choices" in spec else "range"], ("search", "params", key))
    if "choices" in spec:
        _check(spec["choices"], {"type": "array", "items": setting.schema}, ("search", "params", key, "choices"))
        return {"choices": list(spec["choices"])}
    kinds = setting.schema.get("type", [])
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    numeric = "integer" if "integer" in kinds else "number" if "number" in kinds else None
    if numeric is None:
        raise InputError(f"config key {where}: {key} takes {describe_allowed(setting.schema)}, not a numeric "
                         "range; give {choices: [...]} instead.")
    bounds = {"low": spec["low"], "high": spec["high"]}
    _check(bounds, {"properties": {"low": setting.schema, "high": setting.schema}}, ("search", "params", key))
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    if not low < high:
        raise InputError(f"config key {where}: low ({low}) must be below high ({high}).")
    if log and (low <= 0 or "step" in spec):
        raise InputError(f"config key {where}: log: true needs low > 0 and no step; got low {low}"
                         f"{', step ' + str(spec['step']) if 'step' in spec else ''}.")
    if numeric == "integer" and not all(float(value).is_integer() for value in (low, high, spec.get("step", 1))):
        raise InputError(f"config key {where}: {key} is an integer setting; low, high and step must be integers.")
    return {"low": low, "high": high, "log": log, "integer": numeric == "integer", "step": spec.get("step")}


def _values(spec: dict) -> list:
    """The values that stand for a parameter: its choices, or both ends of its range."""
    values = spec["choices"] if "choices" in spec else [spec["low"], spec["high"]]
    return [int(value) for value in values] if spec.get("integer") else values


def _with_first_values(config: dict, params: dict) -> dict:
    from rnn_lyapunov.config.settings import set_path

    config = copy.deepcopy(config)
    for key, spec in params.items():
        set_path(config, key, _values(spec)[0])
    return config


def _check_trial_configs(config: dict, params: dict) -> None:
    """Refuse, before any trial, a choice or range end that makes the base run config invalid.

    A trial validates its run config only when it starts: an unknown architecture among
    ``choices`` would otherwise fail trials one by one while the study reports fewer than asked.
    Each choice and both ends of a range are checked with the base config around them (ranges of
    the settings that accept them are convex, so the ends stand for the values between).
    """
    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.config.settings import set_path

    for key, spec in params.items():
        for value in _values(spec):
            trial = copy.deepcopy(config)
            set_path(trial, key, value)
            try:
                validate_run_config(trial)
            except InputError as error:
                raise InputError(f"config key search.params.{key}: the value {value!r} makes a trial's run config "
                                 f"invalid: {error}") from None


def _check_epoch(block: dict, path: str, run: dict) -> None:
    epoch, spectrum_epochs = block["epoch"], run["spectrum"]["epochs"]
    if epoch > run["epochs"] or (spectrum_epochs != "all" and epoch not in {0, *spectrum_epochs}):
        measured = f"0..{run['epochs']}" if spectrum_epochs == "all" else sorted({0, *spectrum_epochs})
        raise InputError(f"config key {path}.epoch = {epoch}: the base run measures spectra only at epochs "
                         f"{measured}; choose one of them or add it to spectrum.epochs.")
    if "index_range" in block and block["index_range"][0] >= block["index_range"][1]:
        raise InputError(f"config key {path}.index_range = {block['index_range']}: the first index must be "
                         "below the last.")
    measured = run["spectrum"]["n_exponents"]
    if "index_range" in block and measured is not None and block["index_range"][0] >= measured:
        raise InputError(f"config key {path}.index_range = {block['index_range']} needs at least two exponents in "
                         f"the range, but spectrum.n_exponents = {measured}; lower the range or measure more.")


def validate_search_config(config: dict) -> dict:
    """``{"run": validated base run config, "search": the search block with defaults filled in}``.

    The search block gains ``params`` normalised to ``{low, high, log, integer, step}`` or
    ``{choices}``, ``pruners`` (a list, possibly empty), and absolute defaults for
    ``output_dir`` (``results/search/<study_name>``) and ``storage``
    (``sqlite:///<output_dir>/study.db``).
    """
    from rnn_lyapunov.config.run_config import validate_run_config

    if not isinstance(config, dict) or not isinstance(config.get("search"), dict):
        raise InputError("a search config needs a mapping `search:` (params, n_trials, objective, pruner, ...) "
                         "beside the run-config keys; see config/search.yaml.")
    config = copy.deepcopy(config)
    block = config.pop("search")
    _check(block, search_schema(), ("search",))
    block = {**DEFAULTS, **block}
    base_keys = {key for key in config if key != "spectrum"} | {f"spectrum.{key}" for key in config.get("spectrum", {})}
    block["params"] = {key: _check_param(key, spec, base_keys) for key, spec in block["params"].items()}
    # A trial's config is the base with every searched key set: validate the base as the first trial's
    # (a key such as init_scale may be required by the base and given only by the search).
    config = _with_first_values(config, block["params"])
    run = validate_run_config(config)
    _check_trial_configs(config, block["params"])
    _check_kind(block["objective"], OBJECTIVE_SCHEMA, ("search", "objective"))
    if block["objective"]["kind"] == "spectrum_feature":
        _check_epoch(block["objective"], "search.objective", run)
    pruners = block.pop("pruner")
    pruners = [] if pruners is None else pruners if isinstance(pruners, list) else [pruners]
    for index, pruner in enumerate(pruners):
        path = ("search", "pruner") if len(pruners) == 1 else ("search", "pruner", index)
        _check_kind(pruner, PRUNER_SCHEMA, path)
        if pruner["kind"] != "median":
            _check_epoch(pruner, ".".join(map(str, path)), run)
    if sum(pruner["kind"] == "median" for pruner in pruners) > 1:
        raise InputError("config key search.pruner lists the median pruner twice; keep one.")
    block["pruners"] = pruners
    output = Path(block["output_dir"] or DEFAULT_RESULTS / block["study_name"])
    block["output_dir"] = str(output)
    block["storage"] = storage_url(block["storage"] or output / "study.db")
    return {"run": run, "search": block}


def storage_url(storage: str | os.PathLike) -> str:
    """An SQLAlchemy URL: kept if it has a scheme (``postgresql://...``), else an SQLite file path."""
    text = str(storage)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def load_search_config(path: str | os.PathLike) -> dict:
    """Read a search config from a YAML or JSON file and validate it (:func:`validate_search_config`)."""
    from rnn_lyapunov.io.readers import read_yaml

    return validate_search_config(read_yaml(path, what="search config file"))
