"""A training process killed with SIGKILL resumes from its checkpoint to the uninterrupted result."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnn_lyapunov.training.loop import train_run

CONFIG = {
    "run_id": "killed", "dataset": "signal_copy",
    "dataset_options": {"n_train": 640, "n_validation": 64, "n_test": 16, "delay": 5},
    "architecture": "gru", "hidden_size": 12, "epochs": 6, "batch_size": 32, "learning_rate": 0.01,
    "dropout": 0.1, "seed": 5, "device": "cpu", "threads": 1, "spectrum": {"trajectories": 3, "record_every": 2},
}

TRAIN_IN_SUBPROCESS = """
import json, sys
from rnn_lyapunov.training.loop import train_run
train_run(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])
"""


@pytest.mark.slow
def test_a_sigkilled_run_resumes_to_the_same_result_as_an_uninterrupted_run(tmp_path):
    run_dir, log = tmp_path / "killed", tmp_path / "killed" / "train.log"
    process = subprocess.Popen(
        [sys.executable, "-c", TRAIN_IN_SUBPROCESS, json.dumps(CONFIG), str(run_dir), str(tmp_path / "killed.nc")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (log.is_file() and "epoch 2:" in log.read_text()):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the training subprocess did not reach epoch 2 in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.nc").exists()  # killed before finishing

    resumed = train_run(CONFIG, run_dir, tmp_path / "resumed.nc")
    uninterrupted = train_run(CONFIG, tmp_path / "straight", tmp_path / "straight.nc")
    assert "resuming run killed after epoch" in log.read_text()
    for name in uninterrupted.data_vars:
        np.testing.assert_array_equal(resumed[name].values, uninterrupted[name].values, err_msg=name, strict=True)
