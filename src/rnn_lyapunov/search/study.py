"""An Optuna study over run-config keys, each trial a ``train_run`` with spectra.

``run_search(config)`` opens (or continues) the study in its storage, runs trials until the study
holds ``search.n_trials`` finished (complete or pruned) trials, and rewrites the sweep file of
every finished trial after each one. The storage is Optuna's RDB storage, by default SQLite at
``<output_dir>/study.db``: several processes (or SLURM jobs) running the same config share the
study, and a killed worker's trial, RUNNING with a stale heartbeat, is failed and queued again
with the same parameters by the next trial any worker starts; the retry keeps the run id, so
it resumes from the killed run's last checkpoint.

Files under ``output_dir``: ``runs/<run_id>/`` (checkpoint, ``train.log``),
``spectra/<run_id>.nc`` (the per-run file, also for pruned trials: the epochs done), ``sweep.nc``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from rnn_lyapunov.config.settings import set_path
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.search.pruners import feature_value, make_rules
from rnn_lyapunov.search.storage import (  # noqa: F401  (open_study: its home before the split)
    _direction, _quiet_optuna, _require_optuna, open_study)

FINISHED = ("COMPLETE", "PRUNED")


class _ObjectiveReached(Exception):
    """Raised after the epoch of a ``stop_at_epoch`` objective: later epochs cannot change it."""


def objective_value(dataset, objective: dict) -> float:
    """The trial's objective from its per-run dataset.

    ``val_loss``: the validation loss at the last epoch. ``spectrum_feature``: the feature of the
    mean spectrum at ``objective["epoch"]`` (with ``stop_at_epoch``, the trial trains no further) (``spectrum_slope`` over ``index_range`` when given, else
    the second half of i/N with N the ``state_size``), in the file's units. A missing value (NaN,
    a diverged run) becomes the worst value, +inf or -inf, so the sampler learns to avoid it.
    """
    if objective["kind"] == "val_loss":
        value = float(dataset["val_loss"].isel(epoch=-1))
    else:
        exponents = dataset["lyapunov_exponents"].sel(epoch=objective["epoch"]).values
        value = feature_value(exponents, objective["feature"], index_range=objective.get("index_range"),
                              state_size=float(dataset["state_size"]))
    if math.isfinite(value):
        return value
    return math.inf if _direction(objective) == "minimize" else -math.inf


def _suggest(trial, params: dict) -> dict:
    values = {}
    for key, spec in params.items():
        if "choices" in spec:
            values[key] = trial.suggest_categorical(key, spec["choices"])
        elif spec["integer"]:
            values[key] = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), step=int(spec["step"] or 1),
                                            log=spec["log"])
        else:
            values[key] = trial.suggest_float(key, spec["low"], spec["high"], step=spec["step"], log=spec["log"])
    return values


def _trial_errors() -> tuple:
    import torch

    return (InputError, MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))


#: What fails one trial without stopping the study: a refused config, or memory it could not get.
TRIAL_ERRORS = _trial_errors()


def _trial_objective(study, settings: dict):
    """The function Optuna calls per trial: suggest, train with the pruning rules, score."""
    import copy

    import optuna

    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.training.loop import train_run

    search, output = settings["search"], Path(settings["search"]["output_dir"])
    rules = make_rules(search["pruners"])
    stop_at = search["objective"]["epoch"] if search["objective"].get("stop_at_epoch") else None
    scale = math.log(2) if settings["run"]["spectrum"]["units"] == "bits" else 1.0

    def objective(trial):
        # A retried trial inherits the user attributes of the killed one: same run id, same checkpoint.
        run_id = trial.user_attrs.get("run_id") or f"trial{trial.number:04d}"
        run = copy.deepcopy(settings["run"])
        for key, value in _suggest(trial, search["params"]).items():
            set_path(run, key, value)
        run["run_id"] = run_id
        run_file = output / "spectra" / f"{run_id}.nc"
        trial.set_user_attr("run_id", run_id)
        trial.set_user_attr("run_file", str(run_file))
        try:
            run = validate_run_config(run)
        except InputError as error:
            trial.set_user_attr("error", str(error))
            raise

        def on_epoch(epoch, metrics, spectrum):
            trial.set_user_attr("epochs_trained", epoch)
            trial.set_user_attr("last_val_loss", metrics["val_loss"] if math.isfinite(metrics["val_loss"]) else None)
            if math.isfinite(metrics["val_loss"]):
                trial.report(metrics["val_loss"], epoch)
            exponents = None if spectrum is None else spectrum.exponents.numpy() / scale
            for rule in rules:
                reason = rule.check(trial, study, epoch, metrics, exponents)
                if reason is not None:
                    trial.set_user_attr("pruned_by", reason)
                    raise optuna.TrialPruned(reason)
            if epoch == stop_at:
                raise _ObjectiveReached

        try:
            dataset = train_run(run, output / "runs" / run_id, run_file, progress=False, on_epoch=on_epoch)
        except TRIAL_ERRORS as error:
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            raise
        except _ObjectiveReached:  # train_run wrote the epochs done: the objective is in them
            from rnn_lyapunov.io.readers import read_netcdf

            dataset = read_netcdf(run_file, what="per-run spectrum file")
        else:  # only a run trained to its end has a final loss (what the readout pruner learns from)
            final = float(dataset["val_loss"].isel(epoch=-1))
            trial.set_user_attr("final_val_loss", final if math.isfinite(final) else None)
        trial.set_user_attr("epochs_trained", int(dataset.sizes["epoch"]) - 1)
        return objective_value(dataset, search["objective"])

    return objective


def _describe(trial, study) -> str:
    """One progress line: the trial, its parameters, how it ended, the best so far."""
    params = " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                      for key, value in trial.params.items())
    attrs = trial.user_attrs
    epochs = attrs.get("epochs_trained", "?")
    if trial.state.name == "COMPLETE":
        outcome = f"-> {trial.value:.5g} after {epochs} epochs"
    elif trial.state.name == "PRUNED":
        outcome = f"pruned after epoch {epochs}: {attrs.get('pruned_by', '')}"
    else:
        outcome = f"{trial.state.name.lower()}: {attrs.get('error', 'see the log above')}"
    seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
        if trial.datetime_complete and trial.datetime_start else math.nan
    try:
        best = f"; best {study.best_value:.5g} (trial {study.best_trial.number})"
    except ValueError:  # no completed trial yet
        best = ""
    return f"trial {trial.number} [{attrs.get('run_id', '')}] {params} {outcome} ({seconds:.1f} s){best}"


def finished_trials(study) -> list:
    """Complete and pruned trials that wrote a per-run file, one per run id (the latest)."""
    by_run = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name in FINISHED and Path(trial.user_attrs.get("run_file", "")).is_file():
            by_run[trial.user_attrs["run_id"]] = trial
    return sorted(by_run.values(), key=lambda trial: trial.number)


def write_search_sweep(study, output_path: str | os.PathLike):
    """The sweep file of the study's finished trials (``io.sweep_file`` layout), written atomically.

    Every searched parameter is a coordinate along ``run`` (``spectrum.x`` as ``spectrum_x``);
    variables along ``run``: ``trial_number``, ``trial_state`` ("COMPLETE" / "PRUNED"),
    ``objective_value`` (NaN for pruned trials) and ``epochs_trained``. A pruned trial's epochs after
    it stopped are NaN. Returns the dataset, or None when no trial has finished.
    """
    import numpy as np

    from rnn_lyapunov.io.readers import read_netcdf
    from rnn_lyapunov.io.storage import write_netcdf_atomic
    from rnn_lyapunov.io.sweep_file import combine_runs

    trials = finished_trials(study)
    if not trials:
        return None
    runs = []
    for trial in trials:
        dataset = read_netcdf(trial.user_attrs["run_file"], what="per-run spectrum file")
        extra = {key.replace(".", "_"): value for key, value in trial.params.items()
                 if key.replace(".", "_") not in dataset.coords}
        runs.append(dataset.assign_coords(extra))
    sweep = combine_runs(runs)
    sweep["trial_number"] = ("run", np.array([trial.number for trial in trials]))
    sweep["trial_state"] = ("run", [trial.state.name for trial in trials])
    sweep["objective_value"] = ("run", np.array([np.nan if trial.value is None else trial.value for trial in trials],
                                                dtype=float), {"long_name": "the search objective (NaN if pruned)"})
    sweep["epochs_trained"] = ("run", np.array([trial.user_attrs.get("epochs_trained", -1) for trial in trials]))
    sweep.attrs["study_name"] = study.study_name
    write_netcdf_atomic(sweep, output_path, make_parents=True)
    return sweep


def run_search(config, *, n_trials: int | None = None, progress=None):
    """Run (or continue) a spectrum-guided hyperparameter search; returns the ``optuna.Study``.

    Args:
        config: a search config: a mapping or the path of a YAML/JSON file (``config/search.yaml``,
            docs/search.md).
        n_trials: the study's budget of finished (complete or pruned) trials, overriding
            ``search.n_trials``. Trials already in the storage count: a re-run after a kill does
            only what is left, and N workers together stop near the budget (each finishes the
            trial it is running, so up to N - 1 more).
        progress: a function taking one line per finished trial; None prints to stderr, False
            prints nothing.

    The sweep file ``<output_dir>/sweep.nc`` is rewritten after each trial.
    """
    optuna = _require_optuna()
    from rnn_lyapunov.search.config import load_search_config, validate_search_config

    settings = load_search_config(config) if isinstance(config, (str, os.PathLike)) else validate_search_config(config)
    search = settings["search"]
    budget = search["n_trials"] if n_trials is None else n_trials
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if progress is None else progress or (lambda _: None)
    output = Path(search["output_dir"])
    study = open_study(search)
    sweep_path = output / "sweep.nc"

    def after_trial(study, trial):
        say(_describe(trial, study))
        write_search_sweep(study, sweep_path)

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = budget - len(study.get_trials(deepcopy=False, states=states))
    started = time.perf_counter()
    if remaining > 0:
        say(f"study {search['study_name']} ({search['storage']}): {budget - remaining} of {budget} trials done, "
            f"running {remaining}")
        with _quiet_optuna():
            # A trial too large for memory (the estimate is a lower bound) fails alone, as a refused one does.
            study.optimize(_trial_objective(study, settings), n_trials=remaining, catch=TRIAL_ERRORS,
                           callbacks=[optuna.study.MaxTrialsCallback(budget, states=states), after_trial])
    write_search_sweep(study, sweep_path)
    say(f"study {search['study_name']}: {len(study.get_trials(deepcopy=False, states=states))} finished trials "
        f"({time.perf_counter() - started:.1f} s this call); sweep file {sweep_path}")
    return study
