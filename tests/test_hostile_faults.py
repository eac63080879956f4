"""Faults and messages that said something false: a full disk (simulated, and on a real 64 KiB
tmpfs where the tests run as root), a workflow job whose log cannot be written, unreadable
checkpoints, duplicate run ids, NaN weights, inputs on the meta device, a dict passed as a sweep,
a recursive YAML alias and "--trajectories 1 or fewer" when none fit."""

import contextlib
import errno
import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import rnn_lyapunov
from rnn_lyapunov.cli import commands as cli
from rnn_lyapunov.errors import InputError, NonFiniteStateError
from rnn_lyapunov.io.job_log import JobLog
from rnn_lyapunov.io.storage import DiskFullError, write_netcdf_atomic

PREVIOUS = b"previous result\n"


def full_disk_writer(written: int):
    """A to_netcdf that writes ``written`` bytes, then fails as a full disk does."""
    def to_netcdf(self, path, **_):
        Path(path).write_bytes(b"x" * written)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return to_netcdf


def test_a_full_disk_names_the_file_and_the_space_needed_and_leaves_nothing_partial(tmp_path, monkeypatch):
    (tmp_path / "out.nc").write_bytes(PREVIOUS)
    dataset = xr.Dataset({"a": ("x", np.zeros(1024))})  # 8 KiB of float64: the space the file needs
    monkeypatch.setattr(xr.Dataset, "to_netcdf", full_disk_writer(100))
    with pytest.raises(DiskFullError, match=rf"cannot write {tmp_path / 'out.nc'}: the disk .* is full .*needs "
                                            r"about 8.0 KiB.*keeps its previous version") as caught:
        write_netcdf_atomic(dataset, tmp_path / "out.nc")
    assert isinstance(caught.value, InputError)
    assert os.listdir(tmp_path) == ["out.nc"] and (tmp_path / "out.nc").read_bytes() == PREVIOUS


def test_the_netcdf_hdf_error_is_a_full_disk_only_when_the_disk_is_full(tmp_path, monkeypatch):
    import shutil

    def hdf_error(self, path, **_):
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", hdf_error)
    dataset = xr.Dataset({"a": ("x", np.zeros(4))})
    with pytest.raises(RuntimeError, match="HDF error") as caught:  # plenty of space: not our diagnosis
        write_netcdf_atomic(dataset, tmp_path / "out.nc")
    assert not isinstance(caught.value, DiskFullError)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=512))
    with pytest.raises(DiskFullError, match=r"\(512 bytes free\)"):
        write_netcdf_atomic(dataset, tmp_path / "out.nc")
    assert os.listdir(tmp_path) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 64 KiB tmpfs, unmounted afterwards; skipped where mounting is not allowed (not root)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                             capture_output=True, check=False) if os.geteuid() == 0 else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount_point
    finally:
        # Lazily if need be: HDF5 may still hold the (deleted) temporary file of a failed write open.
        if subprocess.run(["umount", str(mount_point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_the_cli_reports_a_real_full_disk_with_exit_2(tiny_disk, tmp_path, capsys):
    rnn = torch.nn.RNN(1, 16)
    torch.save(rnn.state_dict(), tmp_path / "rnn.pt")
    np.save(tmp_path / "inputs.npy", np.random.default_rng(0).normal(size=(64, 400, 1)))
    (tiny_disk / "out.nc").write_bytes(PREVIOUS)
    (tiny_disk / "ballast").write_bytes(b"0" * 40_000)  # most of the 64 KiB taken
    argv = ["spectrum", "--architecture", "rnn", "--state-dict", str(tmp_path / "rnn.pt"), "--inputs",
            str(tmp_path / "inputs.npy"), "--out", str(tiny_disk / "out.nc"), "--threads", "1",
            "--record-every", "1"]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot write {tiny_disk / 'out.nc'}: the disk" in err and "is full" in err and "needs about" in err
    assert "internal error" not in err and "HDF error" not in err
    assert sorted(os.listdir(tiny_disk)) == ["ballast", "out.nc"] and (tiny_disk / "out.nc").read_bytes() == PREVIOUS


class RefusingFile(io.StringIO):
    def write(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_job_log_the_disk_refuses_falls_back_to_the_terminal(tmp_path):
    terminal = io.StringIO()
    log = JobLog(tmp_path / "job.log", fallback=terminal)
    log.write("first line\n")
    log._file.close()
    log._file = RefusingFile()  # the disk fills up
    log.write("rnn-lyapunov: error: cannot write results/x.nc\n")
    log.flush()
    assert (tmp_path / "job.log").read_text() == "first line\n"
    shown = terminal.getvalue()
    assert f"cannot write the job log {tmp_path / 'job.log'}: No space left on device" in shown
    assert shown.endswith("rnn-lyapunov: error: cannot write results/x.nc\n")


def test_a_job_ending_on_a_full_disk_shows_the_message_not_exit_status_120(tiny_disk, tmp_path):
    # The job's log is on the full disk; its message must reach the terminal, and the exit status is 1.
    (tiny_disk / "ballast").write_bytes(b"0" * (64 * 1024 - 4096))
    with contextlib.suppress(OSError):
        (tiny_disk / "more").write_bytes(b"0" * 8192)
    script = ("from rnn_lyapunov.io.job_log import open_job_log\n"
              f"open_job_log({str(tiny_disk / 'job.log')!r})\n"
              "import sys\nsys.stderr.write('x' * 20000)\n"
              "from rnn_lyapunov.io.storage import DiskFullError\n"
              "raise DiskFullError('cannot write results/spectra/run.nc: the disk is full')\n")
    result = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [Path(rnn_lyapunov.__file__).parents[1]]))})
    assert result.returncode == 1, result.stderr[-2000:]
    assert "cannot write the job log" in result.stderr
    assert result.stderr.rstrip().endswith("rnn-lyapunov: error: cannot write results/spectra/run.nc: the disk is full")


def test_an_unreadable_checkpoint_is_logged_as_unreadable_not_as_earlier_settings(tmp_path):
    from test_checkpoints import checkpoint_of, tiny_run

    from rnn_lyapunov.training.checkpoints import discard_stale_checkpoint

    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    reasons = []
    assert discard_stale_checkpoint(tiny_run(), tmp_path, log=reasons.append) is True
    assert len(reasons) == 1 and "unreadable checkpoint" in reasons[0] and "earlier settings" not in reasons[0]
    checkpoint_of(tiny_run(learning_rate=0.01), tmp_path)
    discard_stale_checkpoint(tiny_run(learning_rate=0.02), tmp_path, log=reasons.append)
    assert "of earlier settings (keys learning_rate differ)" in reasons[1]


def test_duplicate_run_ids_name_the_files(tmp_path):
    from rnn_lyapunov.io.run_file import run_dataset
    from rnn_lyapunov.io.sweep_file import combine_runs

    paths = [tmp_path / "a.nc", tmp_path / "b.nc"]
    for path in paths:
        metrics = {"train_loss": [np.nan], "val_loss": [1.0], "val_accuracy": [np.nan]}
        write_netcdf_atomic(run_dataset({}, metrics, n_trajectories=1, n_exponents=2,
                                        hyperparameters={"run_id": "same"}), path)
    with pytest.raises(InputError, match=rf"run ids occur in more than one file: same in {paths[0]}, {paths[1]}"):
        combine_runs(paths)


def test_nan_weights_are_not_reported_as_a_divergence_to_fix_with_float64():
    rnn = torch.nn.RNN(1, 3, batch_first=True)
    with torch.no_grad():
        rnn.weight_hh_l0[1, 2] = float("nan")
    with pytest.raises(NonFiniteStateError, match=r"weights hold NaN or infinity \(parameters weight_hh_l0\)") as caught:
        rnn_lyapunov.lyapunov_spectrum(rnn_lyapunov.from_torch(rnn), torch.zeros(2, 5, 1))
    assert "float64" not in str(caught.value)


def test_inputs_on_the_meta_device_and_a_dict_as_a_sweep_are_input_errors():
    system = rnn_lyapunov.from_torch(torch.nn.RNN(1, 3, batch_first=True))
    with pytest.raises(InputError, match="'meta' device"):
        rnn_lyapunov.lyapunov_spectrum(system, torch.zeros(2, 5, 1, device="meta"))
    from rnn_lyapunov.analysis.readout import evaluate_readout
    from rnn_lyapunov.figures.hyperparameter_grid import hyperparameter_grid

    for call in (lambda: evaluate_readout({"runs": []}, early_epoch=0), lambda: hyperparameter_grid({"runs": []})):
        with pytest.raises(InputError, match="a sweep must be an xarray.Dataset .*got dict.*load_sweep"):
            call()


def test_a_recursive_yaml_alias_is_an_input_error_and_a_shared_one_is_fine(tmp_path):
    from rnn_lyapunov.config.run_config import load_run_config
    from rnn_lyapunov.io.readers import read_yaml

    (tmp_path / "loop.yaml").write_text("spectrum: &s {epochs: *s}\n")
    with pytest.raises(InputError, match=r"recursive YAML alias at spectrum.epochs"):
        load_run_config(tmp_path / "loop.yaml")
    (tmp_path / "shared.yaml").write_text("a: &x {b: 1}\nc: *x\n")
    assert read_yaml(tmp_path / "shared.yaml") == {"a": {"b": 1}, "c": {"b": 1}}


def test_when_no_trajectory_fits_the_advice_is_fewer_steps():
    from rnn_lyapunov.io.inputs import select_sequences

    # 2 sequences of 5 steps joined give at most 10 steps: 20 steps fit in no trajectory.
    with pytest.raises(InputError, match=r"enough for 0 trajectories of 20 steps.*use --steps 10 or fewer") as caught:
        select_sequences(torch.zeros(2, 5, 1), trajectories=1, steps=20, seed=None, concatenate=True, source="x.npy")
    assert "--trajectories" not in str(caught.value)
    with pytest.raises(InputError, match=r"use --trajectories 2 or fewer or fewer --steps"):
        select_sequences(torch.zeros(4, 5, 1), trajectories=3, steps=10, seed=None, concatenate=True, source="x.npy")
