"""JSON schemas generated from the settings table, and the one formatter of their errors.

* :func:`run_config_schema`: one training run (what ``validate_run_config`` checks).
* :func:`workflow_schema`: the workflow config (``config/config.yaml``); written to
  ``workflow/schemas/config.schema.yaml`` by ``python -m rnn_lyapunov.config.schema`` and checked
  against this generator by the tests, so the two never disagree.
* :func:`describe_schema_error`: a jsonschema error as one sentence naming the key, the value and
  what is allowed.
"""

from __future__ import annotations

import math
import sys

from rnn_lyapunov.config.settings import SECTIONS, SETTINGS, describe_allowed

# Run-config keys the workflow fills in itself rather than reading from `training`.
WORKFLOW_FILLS = ("run_id", "data_dir", "dataset_options", "plugin_paths")
SAMPLE_SCALES = ("linear", "log")
OPTION_AXIS_PATTERN = r"^architecture_options\.[A-Za-z_][A-Za-z0-9_]*$"
DATASET_AXIS_PATTERN = r"^dataset_options\.[A-Za-z_][A-Za-z0-9_]*$"


def _setting_schema(setting, *, with_help: bool = True) -> dict:
    schema = dict(setting.schema)
    if with_help:  # "description" is reserved for words on the allowed values (describe_allowed)
        schema["title"] = setting.help
    return schema


def _object(properties: dict, **extra) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": properties, **extra}


def run_config_schema() -> dict:
    """The JSON schema of one run config (nested sections such as ``spectrum``)."""
    top = {s.key: _setting_schema(s) for s in SETTINGS if s.section is None}
    for section in SECTIONS:
        top[section] = _object({s.name: _setting_schema(s) for s in SETTINGS if s.section == section})
    return _object(top)


def _sweep_axis_schema(setting) -> dict:
    values = _setting_schema(setting, with_help=False)
    return {"type": "array", "minItems": 1, "items": values,
            "description": f"a non-empty list of values; each: {describe_allowed(setting.schema)}"}


def workflow_schema() -> dict:
    """The JSON schema of the workflow config, generated from the settings table."""
    sweepable = [s for s in SETTINGS if s.sweepable]
    axis_names = [s.key for s in sweepable]
    axes = {s.key: _sweep_axis_schema(s) for s in sweepable}
    sample = {"type": "object", "additionalProperties": False, "required": ["low", "high", "n"],
              "properties": {"low": {"type": "number"}, "high": {"type": "number"},
                             "n": {"type": "integer", "minimum": 1},
                             "scale": {"enum": list(SAMPLE_SCALES), "default": "linear"},
                             "seed": {"type": "integer", "minimum": 0, "default": 0}}}
    numeric = [s.key for s in sweepable if "number" in str(s.schema.get("type"))]
    options = {OPTION_AXIS_PATTERN: {"type": "array", "minItems": 1, "description": "values of a plugin option"},
               DATASET_AXIS_PATTERN: {"type": "array", "minItems": 1,
                                      "description": "values of a dataset option (each run then builds its data)"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": ("Configuration of the rnn-lyapunov workflow, generated from rnn_lyapunov.config.settings "
                        "by `python -m rnn_lyapunov.config.schema`: do not edit by hand. `training` and `spectrum` "
                        "hold settings shared by every run; `sweep` says which settings vary: axes under `cross` "
                        "are crossed, each group under `zip` moves together, each key under `sample` takes n "
                        "random values; all of these are crossed with each other."),
        "type": "object", "additionalProperties": False,
        "properties": {
            "plugin_paths": {"type": "array", "items": {"type": "string"}, "default": [],
                             "description": "extra architecture plugin files or folders"},
            "datasets": {"type": "object", "default": {}, "description": "seed and options for preparing each dataset",
                         "additionalProperties": _object({"seed": {"type": "integer", "minimum": 0, "default": 0},
                                                          "options": {"type": "object", "default": {}}})},
            "sweep": _object({
                "cross": _object(axes, patternProperties=options,
                                 description="axes crossed with each other: run-config key -> list of values"),
                "zip": {"type": "array", "default": [], "description": "groups of axes whose values move together",
                        "items": _object(axes, patternProperties=options, minProperties=2)},
                "sample": _object({key: sample for key in numeric},
                                  description="run-config key -> {low, high, n, scale: linear|log, seed}"),
            }, default={}, description=f"which settings vary; axes may be any of: {', '.join(axis_names)}"),
            "training": _object({s.key: _setting_schema(s) for s in SETTINGS
                                 if s.section is None and s.key not in WORKFLOW_FILLS}, default={}),
            **{section: _object({s.name: _setting_schema(s) for s in SETTINGS if s.section == section}, default={})
               for section in SECTIONS},
            "resources": _object({"train": _object({
                "mem_mb": {"type": "integer", "minimum": 1, "default": 2000},
                "runtime": {"type": "integer", "minimum": 1, "default": 60, "description": "minutes"},
                "gpu": {"type": "integer", "minimum": 0, "default": 0},
                "runs_per_job": {"type": "integer", "minimum": 1, "default": 1,
                                 "description": "runs one training job trains one after the other (each job "
                                                "starts Python and imports torch, ~2 s: more than 1 saves that "
                                                "on a laptop; 1, a job per run, suits a cluster)"}},
                default={})}, default={},
                description="cluster resources of each training job"),
            "figures": {"type": "object", "default": {}, "description": "settings of the figure rules",
                        "additionalProperties": False, "properties": {
                            "early_epoch": {"type": "integer", "minimum": 0, "default": 0,
                                            "description": "the 'early' spectrum: first recorded epoch at or after it"},
                            "failure_threshold": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": None,
                                                  "description": "readout figures: a run fails when its final "
                                                                 "validation loss is above it (or not finite); "
                                                                 "null: only diverged runs fail"},
                            "readout_resample": {"enum": ["runs", "cells"], "default": "runs",
                                                 "description": "readout_comparison's bootstrap: runs, or "
                                                                "hyperparameter settings with all their seeds "
                                                                "(for statements about new settings; "
                                                                "docs/readout.md)"},
                            "dpi": {"type": "integer", "minimum": 10, "default": 150, "description": "PNG resolution"},
                            "extra": {"type": "array", "items": {"type": "string"}, "default": [],
                                      "description": "figures drawn besides the default ones (e.g. an experiment's)"},
                            "grid_axes": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3,
                                          "description": "the hyperparameters of the grid figure: x, y and "
                                                         "optionally a facet; default: those the sweep varies"}}},
        },
    }


def validator(schema: dict):
    """A Draft 2020-12 validator for ``schema`` where 3.0 is no integer and NaN/inf are no numbers."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    # JSON Schema counts 3.0 as an integer; a hidden size of 3.0 would break torch, so refuse it.
    # NaN and inf pass every bound check (comparisons with NaN are false), so they are no numbers here.
    checker = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, value: isinstance(value, int) and not isinstance(value, bool),
        "number": lambda _, value: isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value),
    })
    return jsonschema.validators.extend(base, type_checker=checker)(schema)


def describe_schema_error(error) -> str:
    """A jsonschema ``ValidationError`` as one sentence: the key path, the value, what is allowed."""
    path = ".".join(str(part) for part in error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        prefix = f"{path}." if path else ""
        return (f"unknown config key(s) {', '.join(prefix + key for key in unknown)}; "
                f"allowed keys{' under ' + path if path else ''}: {', '.join(known)}.")
    where = f"config key {path}" if path else "the config"
    if error.validator in ("required", "minProperties", "minItems", "uniqueItems"):
        return f"{where}: {error.message}."
    if error.validator == "type" and isinstance(error.instance, (dict, list)) and "properties" in schema:
        return f"{where} must be a mapping of keys to values, got {type(error.instance).__name__}."
    return f"{where} = {error.instance!r} is not allowed; allowed: {describe_allowed(schema)}."


def describe_errors(errors) -> list[str]:
    """Every error of ``validator.iter_errors`` described, in key-path order."""
    return [describe_schema_error(error)
            for error in sorted(errors, key=lambda error: [str(part) for part in error.absolute_path])]


def workflow_schema_yaml() -> str:
    """The text of ``workflow/schemas/config.schema.yaml``."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):  # anchors (&id001) would make the file hard to read
            return True

    header = "# Generated by `python -m rnn_lyapunov.config.schema` from rnn_lyapunov/config/settings.py: do not edit.\n"
    return header + yaml.dump(workflow_schema(), Dumper=_Dumper, sort_keys=False, width=110)


if __name__ == "__main__":
    sys.stdout.write(workflow_schema_yaml())
