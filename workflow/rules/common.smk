"""Config validation, plugin loading and the table of runs, shared by the other .smk files.

Everything worth testing lives in rnn_lyapunov.config (plan_workflow); this file only wires it to Snakemake.
A bad config stops here, before any job starts, with the key, the value and what is allowed.
"""

import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.architectures.registry import load_plugin_paths
from rnn_lyapunov.config.schema import describe_schema_error
from rnn_lyapunov.config.workflow_checks import plan_workflow, sorted_keys, training_batches

RESULTS = "results"


def _typed(value):
    """Numbers, booleans and null inside `--config key={...}` arrive as strings; parse them back.

    Only the command line's values are parsed: a string the config file quotes (`plugin_paths:
    ["2024"]`) stays a string."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, str):
        for parse in (int, float):
            try:
                return parse(value)
            except ValueError:
                pass
        return {"true": True, "false": False, "null": None}.get(value, value)
    return value


update_config(config, _typed(workflow.config_settings.config or {}))
try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as error:
    # The jsonschema error is the context of snakemake's; its path and schema give a short message.
    if error.__context__ is None or not hasattr(error.__context__, "absolute_path"):
        raise
    raise InputError(f"invalid workflow config: {describe_schema_error(error.__context__)}") from None

load_plugin_paths(config["plugin_paths"])


RUNS = plan_workflow(config, RESULTS)
DATASETS = sorted({run["dataset"] for run in RUNS.values()})
SOFTWARE = "../envs/rnn-lyapunov.yaml"


# Only the sweep's own names match, so results/spectra/sweep.nc is never taken for a run.
wildcard_constraints:
    run_id="|".join(map(re.escape, RUNS)),
    dataset="|".join(map(re.escape, DATASETS)),


def dataset_settings(name):
    """seed and options for preparing dataset ``name`` (schema defaults when not listed)."""
    settings = config["datasets"].get(name, {})
    return {"seed": settings.get("seed", 0), "options": sorted_keys(settings.get("options", {}))}


def prepared_data(wildcards):
    """The marker file of the dataset a run trains on."""
    return f"{RESULTS}/data/{RUNS[wildcards.run_id]['dataset']}/metadata.json"
