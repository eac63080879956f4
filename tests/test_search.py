"""Spectrum-guided hyperparameter search (rnn_lyapunov.search): config errors, resuming from SQLite,
the pruners, the authors' objective, the sweep file and the command line."""

import copy
import math
import time
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.stats import linregress

optuna = pytest.importorskip("optuna")

from rnn_lyapunov.cli.commands import main  # noqa: E402
from rnn_lyapunov.errors import InputError  # noqa: E402
from rnn_lyapunov.io.sweep_file import load_sweep  # noqa: E402
from rnn_lyapunov.search import open_study, run_search, validate_search_config  # noqa: E402
from rnn_lyapunov.training.loop import train_run  # noqa: E402

HIDDEN = 4
TINY_RUN = {
    "dataset": "signal_copy",
    "dataset_options": {"n_symbols": 3, "delay": 4, "n_train": 64, "n_validation": 32, "n_test": 32},
    "hidden_size": HIDDEN, "init": "uniform", "batch_size": 32, "epochs": 2, "device": "cpu",
    "spectrum": {"epochs": "all", "n_exponents": HIDDEN, "trajectories": 3, "steps": 20, "warmup_steps": 2,
                 "record_every": None},
}


def tiny_search(tmp_path, **search):
    """A search config over the tiny run; ``search`` entries replace the defaults below."""
    block = {"study_name": "tiny", "output_dir": str(tmp_path / "search"), "n_trials": 2, "seed": 3,
             "params": {"learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
                        "init_scale": {"low": 0.2, "high": 2.0}}}
    block.update(search)
    return {**copy.deepcopy(TINY_RUN), "search": block}


def finished(study):
    return [trial for trial in study.trials if trial.state.name in ("COMPLETE", "PRUNED")]


# --- config errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("change, expected", [
    ({"n_trial": 3}, "unknown config key(s) search.n_trial"),
    ({"n_trials": 0}, "config key search.n_trials = 0 is not allowed; allowed: integer >= 1"),
    ({"params": {"learnin_rate": {"low": 0.1, "high": 1}}}, "search.params.learnin_rate: 'learnin_rate' is not a "
                                                               "searchable run-config key; allowed: "),
    ({"params": {"learning_rate": {"low": 0.1, "high": 0.01}}}, "low (0.1) must be below high (0.01)"),
    ({"params": {"dropout": {"low": 0.0, "high": 1.5}}},
     "search.params.dropout.high = 1.5 is not allowed; allowed: number >= 0 and < 1"),
    ({"params": {"dropout": {"low": 0.0, "high": 0.5, "log": True}}}, "log: true needs low > 0"),
    ({"params": {"optimizer": {"choices": ["adam", "rmsprop"]}}}, "search.params.optimizer.choices.1 = 'rmsprop' is "
                                                                  "not allowed; allowed: one of 'adam', 'sgd'"),
    ({"params": {"optimizer": {"low": 1, "high": 2}}}, "optimizer takes one of 'adam', 'sgd', not a numeric range"),
    ({"params": {"learning_rate": {"lo": 0.1, "high": 1}}}, "unknown config key(s) search.params.learning_rate.lo"),
    ({"params": {"num_layers": {"low": 1.5, "high": 3}}}, "search.params.num_layers.low = 1.5 is not allowed; "
                                                        "allowed: integer >= 1"),
    ({"params": {"epochs": {"low": 1, "high": 2}}, "objective": {"kind": "val_loss"}},
     "config key epochs is both a base setting and a searched parameter"),
    ({"objective": {"kind": "loss"}}, "search.objective.kind = 'loss' is not allowed; allowed: 'val_loss', "
                                      "'spectrum_feature'"),
    ({"objective": {"kind": "spectrum_feature", "feature": "spectrum_slope", "epoch": 1}},
     "search.objective: 'direction' is a required property"),
    ({"objective": {"kind": "spectrum_feature", "feature": "slope", "epoch": 1, "direction": "maximize"}},
     "search.objective.feature = 'slope' is not allowed; allowed: one of 'largest_exponent'"),
    ({"objective": {"kind": "spectrum_feature", "feature": "spectrum_slope", "epoch": 5, "direction": "maximize"}},
     "search.objective.epoch = 5: the base run measures spectra only at epochs 0..2"),
    ({"objective": {"kind": "spectrum_feature", "feature": "spectrum_slope", "epoch": 1, "index_range": [50, 100],
                    "direction": "maximize"}}, "needs at least two exponents in the range, but spectrum.n_exponents = 4"),
    ({"pruner": {"kind": "threshold", "feature": "largest_exponent", "epoch": 1}}, "search.pruner: "),
    ({"pruner": [{"kind": "median"}, {"kind": "hyperband"}]}, "search.pruner.1.kind = 'hyperband' is not allowed"),
])
def test_search_config_errors_name_the_key_and_what_is_allowed(tmp_path, change, expected):
    config = tiny_search(tmp_path, **change)
    with pytest.raises(InputError) as caught:
        validate_search_config(config)
    assert expected in str(caught.value)


def test_search_config_checks_the_base_run_config(tmp_path):
    config = tiny_search(tmp_path)
    config["hiden_size"] = 4
    with pytest.raises(InputError, match="unknown config key.*hiden_size"):
        validate_search_config(config)
    with pytest.raises(InputError, match="needs a mapping `search:`"):
        validate_search_config(TINY_RUN)


def test_search_config_defaults(tmp_path):
    config = tiny_search(tmp_path)
    del config["search"]["output_dir"]
    settings = validate_search_config(config)["search"]
    assert settings["output_dir"].endswith("results/search/tiny")
    assert settings["storage"].startswith("sqlite:///") and settings["storage"].endswith("results/search/tiny/study.db")
    assert settings["objective"] == {"kind": "val_loss"} and settings["pruners"] == []


# --- the training hook ---------------------------------------------------------------------------

def test_on_epoch_sees_every_epoch_and_a_raise_keeps_the_epochs_done(tmp_path):
    run = {**validate_search_config(tiny_search(tmp_path))["run"], "init_scale": 0.5}
    seen = []

    def stop_after_first(epoch, metrics, spectrum):
        seen.append((epoch, sorted(metrics), spectrum is not None))
        if epoch == 1:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        train_run(run, tmp_path / "run", tmp_path / "run.nc", progress=False, on_epoch=stop_after_first)
    names = ["train_loss", "val_accuracy", "val_loss"]
    assert seen == [(0, names, True), (1, names, True)]
    stopped = xr.open_dataset(tmp_path / "run.nc").load()
    assert list(stopped["epoch"].values) == [0, 1]
    # Started again, the run resumes after epoch 1 and the hook sees only epoch 2.
    seen.clear()
    train_run(run, tmp_path / "run", tmp_path / "run.nc", progress=False,
              on_epoch=lambda epoch, metrics, spectrum: seen.append(epoch))
    assert seen == [2]


# --- storage: resume and killed workers ---------------------------------------------------------

def test_study_continues_from_its_sqlite_storage(tmp_path):
    config = tiny_search(tmp_path)
    first = run_search(config, n_trials=2, progress=False)
    before = [(trial.number, trial.params) for trial in finished(first)]
    assert len(before) == 2
    assert (tmp_path / "search" / "study.db").is_file()
    second = run_search(config, n_trials=3, progress=False)  # a new process would open the same file
    after = [(trial.number, trial.params) for trial in finished(second)]
    assert after[:2] == before and len(after) == 3
    assert after[2][1] not in [params for _, params in before]  # a resumed sampler does not repeat itself
    lines = []
    third = run_search(config, n_trials=3, progress=lines.append)  # budget reached: nothing to do
    assert len(finished(third)) == 3 and "3 finished trials" in lines[-1]


def test_trial_of_a_killed_worker_is_retried_with_its_parameters(tmp_path):
    config = tiny_search(tmp_path, heartbeat_seconds=1)
    settings = validate_search_config(config)["search"]
    study = open_study(settings)
    with warnings.catch_warnings():  # a bare ask() on a heartbeat storage: here on purpose
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
        killed = study.ask()
    killed.suggest_float("learning_rate", 1e-3, 1e-1, log=True)
    killed.suggest_float("init_scale", 0.2, 2.0)
    killed.set_user_attr("run_id", "trial0000")
    study._storage.record_heartbeat(killed._trial_id)  # its worker then died: no more heartbeats
    time.sleep(3)  # past the grace period (2 heartbeats)
    study = run_search(config, n_trials=1, progress=False)
    states = [trial.state.name for trial in study.trials]
    assert states == ["FAIL", "COMPLETE"]
    retried = study.trials[1]
    assert retried.params == killed.params and retried.user_attrs["run_id"] == "trial0000"
    assert retried.system_attrs["failed_trial"] == 0


# --- pruners -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, pruned", [({"below": -2.0}, True), ({"above": -2.0}, False)])
def test_threshold_pruner(tmp_path, rule, pruned):
    """Weights uniform in [-0.01, 0.01]: |J| = |diag(tanh') W| <= ||W||_F <= HIDDEN * 0.01, so the largest
    exponent at initialisation is at most log(0.04) = -3.2 nats/step, below the threshold -2."""
    bound = math.log(HIDDEN * 0.01)
    config = tiny_search(tmp_path, n_trials=1, params={"init_scale": {"choices": [0.01]}},
                         pruner={"kind": "threshold", "feature": "largest_exponent", "epoch": 0, **rule})
    study = run_search(config, progress=False)
    (trial,) = study.trials
    assert trial.state.name == ("PRUNED" if pruned else "COMPLETE")
    run_file = xr.open_dataset(trial.user_attrs["run_file"]).load()  # a pruned trial's epochs are kept
    assert list(run_file["epoch"].values) == ([0] if pruned else [0, 1, 2])
    assert run_file["lyapunov_exponents"].sel(epoch=0).max() < bound
    assert trial.user_attrs["largest_exponent_epoch0"] < bound
    if pruned:
        assert "largest_exponent" in trial.user_attrs["pruned_by"] and "< -2" in trial.user_attrs["pruned_by"]


def test_median_and_readout_pruners_run(tmp_path):
    # quantile 0.01: once 3 trials are complete, a trial is stopped unless its predicted final loss is
    # about the best completed one, so the last two trials cannot both finish
    config = tiny_search(tmp_path, n_trials=5, pruner=[
        {"kind": "median", "n_startup_trials": 2},
        {"kind": "readout", "epoch": 1, "min_trials": 3, "quantile": 0.01}])
    study = run_search(config, progress=False)
    states = [trial.state.name for trial in study.trials]
    assert len(finished(study)) == 5 and set(states) == {"COMPLETE", "PRUNED"}
    complete = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    pruned = [trial for trial in study.trials if trial.state.name == "PRUNED"]
    assert len(complete) >= 3 and pruned  # the readout needs 3 completed trials before it prunes
    assert all(trial.intermediate_values for trial in study.trials)  # the val loss reported for the median pruner
    assert all(len(trial.user_attrs["readout_features_epoch1"]) == 7 for trial in complete)  # every feature recorded
    assert all(trial.user_attrs["pruned_by"].startswith(("median pruner", "readout at epoch 1")) for trial in pruned)


def _completed_trial(study, value, **attributes):
    trial = study.ask()
    trial.report(value, 0)
    for key, attribute in attributes.items():
        trial.set_user_attr(key, attribute)
    study.tell(trial, value)


def test_median_rule_prunes_exactly_the_trials_worse_than_the_median():
    from rnn_lyapunov.search.pruners import MedianRule, optuna_pruner

    study = optuna.create_study(pruner=optuna_pruner([{"kind": "median", "n_startup_trials": 3}]))
    losses = [1.0, 2.0, 4.0]
    for value in losses:
        _completed_trial(study, value)
    median = float(np.median(losses))  # 2.0: the line between pruned and kept
    rule = MedianRule()
    for value, stopped in ((median + 0.5, True), (median - 0.5, False)):
        trial = study.ask()
        trial.report(value, 0)
        reason = rule.check(trial, study, 0, {"val_loss": value}, None)
        assert (reason is not None) == stopped, (value, reason)
        if stopped:  # the reason names the pruner and the loss
            assert reason.startswith("median pruner: val_loss 2.5 at epoch 0")


def test_readout_rule_stops_a_trial_predicted_worse_than_the_quantile():
    """Completed trials whose final loss is exactly 10^(largest exponent): the ridge fit then predicts
    10^lambda_1 of a new trial, and the limit is the quantile of the completed losses' log10."""
    from rnn_lyapunov.search.pruners import ReadoutRule

    study = optuna.create_study()
    largest = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    for value in largest:
        _completed_trial(study, 0.0, readout_features_epoch1=[float(value)], final_val_loss=float(10.0**value))
    rule = ReadoutRule(epoch=1, features=["largest_exponent"], min_trials=5, quantile=0.5)
    limit = 10.0 ** np.quantile(largest, 0.5)  # 1.0
    above = study.ask()
    reason = rule.check(above, study, 1, {}, np.array([0.9, -2.0]))
    assert reason is not None and reason.startswith("readout at epoch 1 predicts final val_loss ")
    predicted, shown_limit = (float(part.split()[0]) for part in reason.split("val_loss ")[1].split(" > "))
    assert shown_limit == pytest.approx(limit, rel=1e-3)
    assert predicted == pytest.approx(10.0**0.9, rel=0.1) and predicted > limit
    assert above.user_attrs["readout_features_epoch1"] == [0.9]
    below = study.ask()
    assert rule.check(below, study, 1, {}, np.array([-0.9, -2.0])) is None
    # fewer completed trials than min_trials: never stops
    assert ReadoutRule(epoch=1, features=["largest_exponent"], min_trials=6).check(
        study.ask(), study, 1, {}, np.array([0.9, -2.0])) is None


# --- objective and sweep file --------------------------------------------------------------------

def test_authors_objective_is_the_slope_of_the_spectrum_at_an_early_epoch(tmp_path):
    config = tiny_search(tmp_path, n_trials=2, objective={
        "kind": "spectrum_feature", "feature": "spectrum_slope", "epoch": 1, "index_range": [2, 4],
        "direction": "maximize"})
    study = run_search(config, progress=False)
    assert study.direction.name == "MAXIMIZE"
    for trial in study.trials:
        run_file = xr.open_dataset(trial.user_attrs["run_file"]).load()
        exponents = np.sort(run_file["lyapunov_exponents"].sel(epoch=1).values)[::-1]
        state_size = float(run_file["state_size"])
        expected = linregress(np.arange(2, 5) / state_size, exponents[1:4]).slope
        assert trial.value == pytest.approx(expected, rel=1e-9)
        assert list(run_file["epoch"].values) == [0, 1, 2] and trial.user_attrs["epochs_trained"] == 2


def test_authors_objective_can_stop_training_at_its_epoch(tmp_path):
    objective = {"kind": "spectrum_feature", "feature": "largest_exponent", "epoch": 1, "direction": "minimize"}
    study = run_search(tiny_search(tmp_path, n_trials=1, objective={**objective, "stop_at_epoch": True}),
                       progress=False)
    (trial,) = study.trials
    run_file = xr.open_dataset(trial.user_attrs["run_file"]).load()
    assert trial.state.name == "COMPLETE" and list(run_file["epoch"].values) == [0, 1]
    assert trial.value == pytest.approx(float(run_file["lyapunov_exponents"].sel(epoch=1).max()), rel=1e-12)
    assert "final_val_loss" not in trial.user_attrs  # no final loss for the readout pruner to learn from


def test_sweep_file_of_the_trials_has_the_params_as_coordinates(tmp_path):
    config = tiny_search(tmp_path, n_trials=3, params={
        "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}, "batch_size": {"choices": [16, 32]},
        "spectrum.warmup_steps": {"low": 1, "high": 3}})
    del config["batch_size"], config["spectrum"]["warmup_steps"]
    config["init_scale"] = 0.5
    study = run_search(config, progress=False)
    sweep = load_sweep(tmp_path / "search" / "sweep.nc")
    assert sweep.sizes["run"] == 3
    for index, trial in enumerate(finished(study)):
        assert sweep["run"].values[index] == trial.user_attrs["run_id"]
        assert sweep["learning_rate"].dims == ("run",)
        assert sweep["learning_rate"].values[index] == trial.params["learning_rate"]
        assert sweep["batch_size"].values[index] == trial.params["batch_size"]
        assert sweep["spectrum_warmup_steps"].values[index] == trial.params["spectrum.warmup_steps"]
        assert sweep["objective_value"].values[index] == pytest.approx(trial.value)
        assert sweep["trial_state"].values[index] == "COMPLETE"
    assert sweep["lyapunov_exponents"].dims == ("run", "epoch", "exponent")


def test_command_line_search(tmp_path, capsys):
    import yaml

    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(tiny_search(tmp_path, pruner={"kind": "median"})))
    assert main(["search", "--config", str(path), "--n-trials", "2"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("trial ")]
    assert [line.split()[:3] for line in lines] == [["trial", "0", "[trial0000]"], ["trial", "1", "[trial0001]"]]
    assert all("learning_rate=" in line and "init_scale=" in line for line in lines)
    assert captured.out.startswith("best trial ")
    assert load_sweep(tmp_path / "search" / "sweep.nc").sizes["run"] == 2
    path.write_text(yaml.safe_dump(tiny_search(tmp_path, n_trials=0)))
    assert main(["search", "--config", str(path)]) == 2
    assert "config key search.n_trials = 0 is not allowed" in capsys.readouterr().err


def test_a_stored_study_refuses_another_objective(tmp_path):
    run_search(tiny_search(tmp_path, n_trials=1), progress=False)
    other = tiny_search(tmp_path, n_trials=2, objective={"kind": "spectrum_feature", "feature": "largest_exponent",
                                                         "epoch": 1, "direction": "minimize"})
    with pytest.raises(InputError, match="was run with search.objective .*Choose another search.study_name"):
        run_search(other, progress=False)


def test_same_seed_same_search(tmp_path):
    """One uninterrupted worker repeats its search: same parameters, same objective values."""
    runs = [run_search(tiny_search(tmp_path / name, n_trials=3), progress=False) for name in ("a", "b")]
    first, second = ([(trial.params, trial.value) for trial in study.trials] for study in runs)
    assert first == second and len({str(params) for params, _ in first}) == 3
