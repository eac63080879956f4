"""Checks of a workflow config that Snakemake's schema validation cannot make, run when the
workflow is planned (``workflow/rules/common.smk``), so that ``snakemake -n`` already refuses what a
job would: NaN or infinite numbers (JSON Schema lets NaN pass every bound), settings for datasets
that no registry knows (a misspelt name would otherwise be ignored and the runs trained on the
dataset's defaults), and figure settings that name epochs or hyperparameters the sweep never has.
"""

from __future__ import annotations

import difflib

from rnn_lyapunov.errors import InputError


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def sorted_keys(value):
    """``value`` with every mapping's keys sorted: params compare equal however the YAML ordered them."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    return value


def plan_workflow(config: dict, results_dir: str = "results") -> dict[str, dict]:
    """Every run of a (schema-valid) workflow config, validated: run id -> filled run config.

    The one validation pass of ``snakemake -n`` (``workflow/rules/common.smk`` calls it): the
    sweep's names and dataset options, each run as its job would check it (``validate_run_config``;
    a run may ask for ``device: cuda`` where ``resources.train.gpu`` gives its job a GPU), then the
    workflow's own settings (:func:`check_workflow_config`). InputError names the run and the key.
    """
    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.config.sweep import check_available, expand_sweep

    expanded = expand_sweep(config, results_dir=results_dir)
    check_available(expanded, config)
    gpu_requested = bool(((config.get("resources") or {}).get("train") or {}).get("gpu"))
    runs = {}
    for run in expanded:
        try:
            runs[run["run_id"]] = sorted_keys(validate_run_config(run, gpu_requested=gpu_requested))
        except InputError as error:
            raise InputError(f"invalid workflow config (run {run['run_id']}): {error}") from None
    check_workflow_config(config, runs)
    return runs


def check_workflow_config(config: dict, runs: dict[str, dict]) -> None:
    """Refuse a workflow config whose runs ``runs`` (run id -> filled run config) it does not fit.

    Raises InputError naming the key, the value and what is allowed.
    """
    from rnn_lyapunov.config.schema import describe_errors, validator, workflow_schema
    from rnn_lyapunov.datasets import available_datasets

    problems = describe_errors(validator(workflow_schema()).iter_errors(config))
    if problems:
        raise InputError("invalid workflow config:\n  " + "\n  ".join(problems))
    known = available_datasets()
    for name in config.get("datasets") or {}:
        if name not in known:
            raise InputError(f"config key datasets.{name}: no dataset {name!r} is registered{_did_you_mean(name, known)}; "
                             f"known: {', '.join(sorted(known))}. Its settings would be ignored.")
    figures = config.get("figures") or {}
    last_epochs = sorted({run["epochs"] for run in runs.values()})
    if "early_epoch" in figures and last_epochs and figures["early_epoch"] > last_epochs[-1]:
        raise InputError(f"config key figures.early_epoch = {figures['early_epoch']} is after every run's last epoch "
                         f"(the runs train {', '.join(map(str, last_epochs))} epochs); allowed: 0 to {last_epochs[-1]}.")
    if figures.get("grid_axes"):
        recorded = set()
        for run in runs.values():
            recorded |= set(_flat_keys(run))
        for name in figures["grid_axes"]:
            if name not in recorded:
                raise InputError(f"config key figures.grid_axes names {name!r}, which no run records"
                                 f"{_did_you_mean(name, recorded)}; allowed: run-config keys such as "
                                 "learning_rate, init_scale, hidden_size, architecture.")
        if len(set(figures["grid_axes"])) != len(figures["grid_axes"]):
            raise InputError(f"config key figures.grid_axes names a hyperparameter twice: {figures['grid_axes']}.")


def _flat_keys(mapping: dict, prefix: str = ""):
    """Every key of a nested run config, both dotted (``spectrum.steps``) and as its last part."""
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        yield dotted
        yield key
        if isinstance(value, dict):
            yield from _flat_keys(value, prefix=f"{dotted}.")


def training_batches(run_ids: list[str], runs_per_job: int) -> dict[int, list[str]]:
    """Job number (from 1) -> the run ids one training job trains, at most ``runs_per_job`` each.

    The runs are dealt in turn, so a sweep ordered by a costly axis (architecture, size) puts cheap
    and costly runs in every job and no job is left running alone at the end."""
    if runs_per_job < 1:
        raise InputError(f"resources.train.runs_per_job must be 1 or more, not {runs_per_job}.")
    jobs = -(-len(run_ids) // runs_per_job)
    return {number + 1: run_ids[number::jobs] for number in range(jobs)}
