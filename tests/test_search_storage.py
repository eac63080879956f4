"""The search's storage: workers started together on a fresh database, and storages that cannot be
opened, refused as user errors; search parameters whose values no trial could run, refused before
any trial."""

import copy
import multiprocessing
import warnings

import pytest

optuna = pytest.importorskip("optuna")

from rnn_lyapunov.cli.commands import main  # noqa: E402
from rnn_lyapunov.errors import InputError  # noqa: E402
from rnn_lyapunov.search import open_study, validate_search_config  # noqa: E402
import yaml  # noqa: E402

RUN = {
    "dataset": "signal_copy",
    "dataset_options": {"n_symbols": 3, "delay": 4, "n_train": 64, "n_validation": 32, "n_test": 32},
    "hidden_size": 4, "init": "uniform", "init_scale": 1.0, "batch_size": 32, "epochs": 1, "device": "cpu",
    "spectrum": {"epochs": "all", "n_exponents": 4, "trajectories": 3, "steps": 20, "warmup_steps": 2,
                 "record_every": None},
}


def search_config(tmp_path, **search):
    block = {"study_name": "storage", "output_dir": str(tmp_path / "search"), "n_trials": 4,
             "params": {"learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}}}
    block.update(search)
    return {**copy.deepcopy(RUN), "search": block}


def _one_worker(search: dict, results) -> None:
    """Open the study and record one trial, as a worker's first steps do."""
    warnings.simplefilter("ignore", UserWarning)  # Optuna's note that heartbeats are meant for optimize()
    try:
        study = open_study(search)
        trial = study.ask()
        study.tell(trial, 1.0)
        results.put(("ok", trial.number))
    except BaseException as error:  # the test reports whatever a worker met
        results.put(("failed", f"{type(error).__name__}: {error}"))


@pytest.mark.slow
def test_four_workers_started_together_on_a_fresh_storage_all_run_their_trial(tmp_path):
    # Before the creation lock, every round of this test failed with "table ... already exists" or a
    # UNIQUE constraint on alembic_version in one of the workers.
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        search = validate_search_config(search_config(tmp_path / f"round{round_}"))["search"]
        results = context.Queue()
        workers = [context.Process(target=_one_worker, args=(search, results)) for _ in range(4)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=300) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        failures = [detail for status, detail in outcomes if status != "ok"]
        assert not failures, f"round {round_}: {failures}"
        numbers = sorted(detail for _, detail in outcomes)
        assert numbers == [0, 1, 2, 3], f"round {round_}: trials lost or duplicated: {numbers}"
        stored = optuna.load_study(study_name="storage", storage=search["storage"])
        assert sorted(trial.number for trial in stored.trials) == [0, 1, 2, 3]


def test_a_file_that_is_not_a_database_is_a_user_error(tmp_path):
    storage = tmp_path / "notes.db"
    storage.write_bytes(b"these are notes, not an SQLite database\n" * 100)
    search = validate_search_config(search_config(tmp_path, storage=str(storage)))["search"]
    with pytest.raises(InputError, match=r"search.storage = .*notes.db.* cannot be opened .*file is not a database"):
        open_study(search)
    assert storage.read_bytes().startswith(b"these are notes"), "the file must be left as it was"


@pytest.mark.parametrize("url", ["nosuchdialect://host/db", "postgresql://user@127.0.0.1:1/db"])
def test_a_storage_url_without_a_driver_is_a_user_error(tmp_path, url):
    search = validate_search_config(search_config(tmp_path, storage=url))["search"]
    with pytest.raises(InputError, match="search.storage = .* cannot be opened as an Optuna study storage"):
        open_study(search)


def test_command_line_search_with_a_bad_storage_exits_2(tmp_path, capsys):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(search_config(tmp_path, storage="nosuchdialect://host/db")))
    assert main(["search", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "search.storage" in err and "internal error" not in err


@pytest.mark.parametrize("key, spec, named", [
    ("architecture", {"choices": ["rnn", "gruu"]}, "'gruu'"),
    ("hidden_size", {"choices": [4, 2]}, "2"),  # two units cannot give the 4 exponents the base config asks for
])
def test_a_search_value_no_trial_could_run_is_refused_before_any_trial(tmp_path, key, spec, named):
    config = search_config(tmp_path, params={key: spec})
    config.pop(key, None)
    with pytest.raises(InputError, match=rf"search.params.{key}: the value {named} makes a trial's run config invalid"):
        validate_search_config(config)
    assert not (tmp_path / "search").exists()
