"""Opening a search's Optuna study in its storage, safely when several workers start at once.

``open_study(search)`` creates or loads the study named ``search["study_name"]`` in
``search["storage"]`` (Optuna's RDB storage; by default SQLite at ``<output_dir>/study.db``).
Creating a new storage's schema is serialised between the workers of one machine by a file lock,
and retried on server databases; a storage that cannot be opened is an InputError naming it.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.search.pruners import optuna_pruner

MAX_RETRIES = 3  # a trial whose worker died this often is probably what kills its workers


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna's INFO line per trial repeats ours; its experimental notes are about APIs we chose."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def open_study(search: dict):
    """The study named ``search["study_name"]`` in ``search["storage"]``, created if new.

    ``search`` is the validated ``search`` block (``validate_search_config(...)["search"]``).
    Raises InputError if the stored study was run with another objective.
    """
    optuna = _require_optuna()
    from rnn_lyapunov.search.sampler import TrialSeededTPESampler

    url = search["storage"]
    engine = {}
    lock_path = None
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        database.parent.mkdir(parents=True, exist_ok=True)
        lock_path = database.with_name(database.name + ".lock")
        # Workers wait for each other's writes instead of failing with "database is locked".
        engine = {"connect_args": {"timeout": 120}}
    direction = _direction(search["objective"])
    with _quiet_optuna(), _creation_lock(lock_path):
        study = _create_study(optuna, search, url, engine, direction, TrialSeededTPESampler)
    # Values of different objectives in one study would be compared as if they were one.
    stored = study.user_attrs.get("objective")
    if stored is None:
        study.set_user_attr("objective", search["objective"])
    elif stored != search["objective"]:
        raise InputError(f"study {search['study_name']!r} in {url} was run with search.objective {stored}; this config "
                         f"asks for {search['objective']}. Choose another search.study_name for a new objective.")
    return study


@contextlib.contextmanager
def _creation_lock(path: Path | None):
    """Serialise creating the schema and the study between workers on one machine.

    Optuna creates the tables of a new storage without a transaction that other processes respect:
    workers started together on a fresh SQLite file fail with "table ... already exists" or a
    UNIQUE constraint on alembic_version. An exclusive lock on ``<database>.lock`` around the
    creation makes it one worker's job; the others then find the study. (Other databases are
    retried in :func:`_create_study`, since their workers may run on other machines.)
    """
    if path is None:
        yield
        return
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


CREATE_ATTEMPTS = 5


def _create_study(optuna, search: dict, url: str, engine: dict, direction: str, sampler_class):
    """``optuna.create_study(..., load_if_exists=True)`` with storage faults turned into InputError.

    A race between workers creating a new schema (on a server database) is retried; a URL that
    names no database driver, a file that is not a database and other storage failures that
    persist become InputError naming the storage and what to do.
    """
    import sqlalchemy.exc

    for attempt in range(CREATE_ATTEMPTS):
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=search["heartbeat_seconds"],
                grace_period=2 * search["heartbeat_seconds"],
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES))
            return optuna.create_study(
                study_name=search["study_name"], storage=storage, load_if_exists=True, direction=direction,
                sampler=sampler_class(search["seed"]), pruner=optuna_pruner(search["pruners"]))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as error:
            if "already exists" not in str(error) and "UNIQUE constraint" not in str(error) \
                    and "duplicate key" not in str(error):
                raise _storage_error(url, error) from None
            if attempt == CREATE_ATTEMPTS - 1:
                raise _storage_error(url, error) from None
            time.sleep(0.2 * (attempt + 1))
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as error:
            raise _storage_error(url, error) from None
    raise AssertionError("unreachable")


def _storage_error(url: str, error: BaseException) -> InputError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return InputError(
        f"config key search.storage = {url!r} cannot be opened as an Optuna study storage ({reason}). "
        "Give an SQLite file path (a new or an existing study database, e.g. results/search/study.db) "
        "or an SQLAlchemy URL whose driver is installed (e.g. postgresql://user@host/db with psycopg2).")


def _require_optuna():
    from rnn_lyapunov.extras import require

    require("search", needed_by="the search (rnn-lyapunov search, rnn_lyapunov.search)")
    import optuna

    return optuna


def _direction(objective: dict) -> str:
    return "minimize" if objective["kind"] == "val_loss" else objective["direction"]
