"""A search trial too large for memory fails alone: the study records it with the reason and goes
on with the next trials, and the command exits 0."""

import pytest
import yaml

optuna = pytest.importorskip("optuna")

from rnn_lyapunov.cli.commands import main  # noqa: E402
from test_search_storage import search_config  # noqa: E402


@pytest.mark.slow
def test_a_trial_out_of_memory_fails_alone_and_the_study_goes_on(tmp_path, monkeypatch, capsys):
    import rnn_lyapunov.training.loop as loop

    real_train_run, calls = loop.train_run, []

    def first_runs_out_of_memory(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("cannot allocate 400 TB")
        return real_train_run(*args, **kwargs)

    monkeypatch.setattr(loop, "train_run", first_runs_out_of_memory)
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(search_config(tmp_path, n_trials=2)))
    assert main(["search", "--config", str(tmp_path / "search.yaml")]) == 0
    study = optuna.load_study(study_name="storage", storage=f"sqlite:///{tmp_path / 'search' / 'study.db'}")
    states = [trial.state.name for trial in study.trials]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 1, states
    failed = next(trial for trial in study.trials if trial.state.name == "FAIL")
    assert failed.user_attrs["error"] == "MemoryError: cannot allocate 400 TB"
    assert "cannot allocate 400 TB" in capsys.readouterr().err
