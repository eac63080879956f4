"""resources.train.runs_per_job: how the workflow deals runs into training jobs."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnn_lyapunov.config.workflow_checks import training_batches
from rnn_lyapunov.errors import InputError


@given(runs=st.integers(1, 200), runs_per_job=st.integers(1, 30))
def test_every_run_is_trained_by_exactly_one_job_of_at_most_runs_per_job(runs, runs_per_job):
    run_ids = [f"run{index}" for index in range(runs)]
    batches = training_batches(run_ids, runs_per_job)
    dealt = [run_id for batch in batches.values() for run_id in batch]
    assert sorted(dealt) == sorted(run_ids)
    assert len(batches) == -(-runs // runs_per_job)  # no more jobs than needed
    assert list(batches) == list(range(1, len(batches) + 1))
    sizes = [len(batch) for batch in batches.values()]
    assert max(sizes) <= runs_per_job and max(sizes) - min(sizes) <= 1  # no job left far behind


def test_runs_are_dealt_in_turn_so_a_sorted_sweep_mixes_in_every_job():
    run_ids = [f"gru-{index}" for index in range(4)] + [f"rnn-{index}" for index in range(4)]
    assert training_batches(run_ids, 4) == {1: ["gru-0", "gru-2", "rnn-0", "rnn-2"],
                                            2: ["gru-1", "gru-3", "rnn-1", "rnn-3"]}


def test_one_run_per_job_keeps_the_sweep_order():
    assert training_batches(["a", "b", "c"], 1) == {1: ["a"], 2: ["b"], 3: ["c"]}


def test_zero_runs_per_job_is_refused_naming_the_key():
    with pytest.raises(InputError, match="resources.train.runs_per_job"):
        training_batches(["a"], 0)
