"""The SLURM profile on a real one-node SLURM cluster (workflow/profiles/slurm/local-cluster.sh).

The script installs slurmctld, slurmd, slurm-client and munge with apt-get and starts them on
loopback, without accounting (the profile's squeue status checks). So this needs root and
apt-get, and no SLURM of the machine's own (/etc/slurm/slurm.conf, as on a cluster's login node:
the script refuses to start beside it); it is skipped otherwise or with RNN_LYAPUNOV_SKIP_SLURM=1,
and with RNN_LYAPUNOV_REQUIRE_SLURM=1 (set by .ci/run) a missing requirement fails instead of skipping.

One Snakemake run of config/tests/tiny.yaml through `--profile workflow/profiles/slurm` on a copy
of the workflow, with longer training (EPOCHS epochs of small batches, so a training job can be
cancelled mid-run): once a training job has written its first checkpoint it is cancelled with
scancel, and the profile's retry resubmits it, resuming from the checkpoint. Meanwhile the same
run trains locally (no SLURM, never interrupted) in another copy; both per-run NetCDF files must
hold bitwise identical data.

Slow: 17 SLURM jobs, each parsing the workflow twice (its batch script and its srun step, each
parse about 10 CPU-seconds, mostly importing torch and seaborn); 630-660 CPU-seconds in all, measured:
10-11 minutes on a 2-core machine shared with other work, so about 5-6 minutes on two idle cores.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from test_workflow import REPOSITORY, copy_workflow, job_counts

pytestmark = pytest.mark.slow

SCRIPT = REPOSITORY / "workflow/profiles/slurm/local-cluster.sh"
EPOCHS = 40
TINY = ["--configfile", "config/tests/tiny.yaml",
        "--config", f'training={{"epochs": {EPOCHS}, "batch_size": 4}}']
PROFILE = [
    "--profile", "workflow/profiles/slurm",
    # The test cluster keeps finished jobs for squeue 300 s: quick status checks are safe.
    "--slurm-init-seconds-before-status-checks", "5",
    # The test node may be small: ask for little memory (the profile asks 16 GB for combine_spectra).
    "--default-resources", "mem_mb=1000", "runtime=10",
    "--set-resources", "combine_spectra:mem_mb=1000",
]
RUN_TIMEOUT = 1500  # seconds for the whole SLURM run
SYSTEM_SLURM_CONF = Path("/etc/slurm/slurm.conf")


def _skip_reason(system_conf: Path = SYSTEM_SLURM_CONF) -> str | None:
    if os.environ.get("RNN_LYAPUNOV_SKIP_SLURM") == "1":
        return "RNN_LYAPUNOV_SKIP_SLURM=1"
    if not sys.platform.startswith("linux"):
        return "the local SLURM cluster needs Linux"
    if system_conf.exists():
        # The jobs' srun would read that file instead of the test cluster's, so local-cluster.sh refuses.
        return (f"this machine has its own SLURM ({system_conf}); the test cluster does not start beside it "
                "(test the profile on that cluster with `snakemake --profile workflow/profiles/slurm`)")
    if os.geteuid() != 0:
        return "needs root: local-cluster.sh installs and starts munged, slurmctld and slurmd"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed"
    if shutil.which("apt-get") is None and shutil.which("slurmctld", path="/usr/sbin:" + os.environ["PATH"]) is None:
        return "apt-get is unavailable to install SLURM"
    return None


def _skip(reason: str):
    if os.environ.get("RNN_LYAPUNOV_REQUIRE_SLURM") == "1":
        pytest.fail(f"the SLURM cluster test is required (RNN_LYAPUNOV_REQUIRE_SLURM=1) but: {reason}")
    pytest.skip(reason)


@dataclass
class Cluster:
    directory: Path
    env: dict


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        _skip(reason)
    directory = tmp_path_factory.mktemp("slurm_cluster")
    waited_until = time.monotonic() + 600
    while True:
        # --owner: the script's watcher stops the cluster should this process die without teardown.
        started = subprocess.run(["bash", str(SCRIPT), "start", str(directory), "--owner", str(os.getpid())],
                                 capture_output=True, text=True, timeout=900, check=False)
        if started.returncode != 4 or time.monotonic() > waited_until:
            break
        time.sleep(10)  # another test's cluster runs on this machine (one at a time): wait for it
    try:
        if started.returncode == 3:
            _skip(f"could not install SLURM with apt-get: {started.stderr[-1000:]}")
        assert started.returncode == 0, started.stderr[-6000:]
        env = {**os.environ, "SLURM_CONF": str(directory / "slurm.conf"),
               "PATH": os.environ["PATH"] + ":/usr/sbin:/sbin"}
        yield Cluster(directory, env)
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, text=True,
                                 timeout=120, check=False)
        assert stopped.returncode == 0, stopped.stderr


def squeue(env) -> dict[str, dict]:
    """Every job slurmctld still knows (finished ones for MinJobAge): id -> name, comment, state."""
    result = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%j|%k|%T"], env=env,
                            capture_output=True, text=True, timeout=30, check=True)
    jobs = {}
    for line in result.stdout.splitlines():
        job_id, name, comment, state = line.strip().split("|")
        jobs[job_id] = {"name": name, "comment": comment, "state": state}
    return jobs


@dataclass
class SlurmRun:
    directory: Path
    output: str
    jobs: dict            # SLURM job id -> name, comment, state (squeue after the run)
    cancelled_run: str    # the run whose training job was cancelled
    cancelled_job: str
    local_directory: Path
    seconds: float


def _cancel_a_training_job(directory: Path, env: dict, process, deadline: float):
    """scancel the SLURM job of a run that has a checkpoint but no result yet; (run id, job id)."""
    tried = set()
    while process.poll() is None and time.monotonic() < deadline:
        candidates = [checkpoint.parent.name for checkpoint in (directory / "results/runs").glob("*/checkpoint.pt")
                      if checkpoint.parent.name not in tried
                      and not (directory / f"results/spectra/{checkpoint.parent.name}.nc").exists()]
        if not candidates:
            time.sleep(0.2)  # only the file system until a checkpoint appears: squeue costs slurmctld work
            continue
        jobs = squeue(env)
        for run_id in sorted(candidates):
            running = [job_id for job_id, job in jobs.items()
                       if job["state"] == "RUNNING" and job["comment"].endswith(f"_{run_id}")]
            if not running:
                continue
            tried.add(run_id)
            subprocess.run(["scancel", running[0]], env=env, check=False, timeout=30)
            state = None
            while time.monotonic() < deadline:  # did it land before the job ended by itself?
                state = squeue(env).get(running[0], {}).get("state")
                if state not in ("RUNNING", "COMPLETING"):
                    break
                time.sleep(0.5)
            if state == "CANCELLED":
                return run_id, running[0]
        time.sleep(0.2)
    output = (directory / "snakemake.out").read_text()
    raise AssertionError(f"no training job was running with a checkpoint to cancel:\n{output[-6000:]}")


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    directory = copy_workflow(tmp_path_factory.mktemp("slurm_workflow"))
    local_directory = copy_workflow(tmp_path_factory.mktemp("local_workflow"))
    snakemake = [sys.executable, "-m", "snakemake"]
    log = directory / "snakemake.out"
    start = time.monotonic()
    deadline = start + RUN_TIMEOUT
    with open(log, "w") as out:
        process = subprocess.Popen([*snakemake, *PROFILE, *TINY], cwd=directory, env=cluster.env, stdout=out,
                                   stderr=subprocess.STDOUT)
    local = None
    try:
        cancelled_run, cancelled_job = _cancel_a_training_job(directory, cluster.env, process, deadline)
        # The same run on this machine without SLURM, trained in one go.
        local = subprocess.Popen(
            [*snakemake, f"results/spectra/{cancelled_run}.nc", "--cores", "1", *TINY], cwd=local_directory,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
        seconds = time.monotonic() - start
        local_output, _ = local.communicate(timeout=max(60.0, deadline - time.monotonic()))
    finally:
        for child in (process, local):
            if child is not None and child.poll() is None:
                child.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
                child.wait(timeout=60)
    output = log.read_text()
    assert process.returncode == 0, f"SLURM run failed (exit {process.returncode}):\n{output[-6000:]}"
    assert local.returncode == 0, f"local run failed:\n{local_output[-4000:]}"
    # The cluster keeps finished jobs for squeue an hour (MinJobAge): every job of the run.
    return SlurmRun(directory, output, squeue(cluster.env), cancelled_run, cancelled_job, local_directory, seconds)


def test_every_job_ran_as_a_slurm_job(slurm_run, cluster):
    counts = {rule: count for rule, count in job_counts(slurm_run.output).items() if rule != "total"}
    # Every job but the target rule `all` (run by Snakemake itself), and the cancelled one twice.
    expected = sum(counts.values()) - counts.get("all", 0) + 1
    ours = {job_id: job for job_id, job in slurm_run.jobs.items() if job["comment"].startswith("rule_")}
    assert len(ours) == expected, ours
    assert len({job["name"] for job in ours.values()}) == 1  # the plugin names jobs by its run uuid
    states = sorted(job["state"] for job in ours.values())
    assert states == ["CANCELLED"] + ["COMPLETED"] * (expected - 1), ours
    rules = {re.match(r"rule_(.+?)(_wildcards_|$)", job["comment"]).group(1) for job in ours.values()}
    assert rules == set(counts) - {"all"}
    runs = sorted(path.stem for path in (slurm_run.directory / "results/spectra").glob("*.nc") if path.stem != "sweep")
    assert len(runs) == counts["train_run"]
    for run_id in runs:
        trained = [job for job in ours.values() if job["comment"] == f"rule_train_run_wildcards_{run_id}"]
        assert len(trained) == (2 if run_id == slurm_run.cancelled_run else 1), run_id
    # slurmctld scheduled each of them on the node (by its main scheduler or, as it chooses, its
    # backfill scheduler: each logs its own line), slurmd launched them.
    controller = (cluster.directory / "log/slurmctld.log").read_text()
    node = (cluster.directory / "log/slurmd.log").read_text()
    for job_id in ours:
        assert re.search(rf"(sched: Allocate JobId={job_id} |sched/backfill: _start_job: Started JobId={job_id} )",
                         controller), job_id
        assert f"Launching batch job {job_id} " in node, job_id
    print(f"{expected} SLURM jobs in {slurm_run.seconds:.0f} s; cancelled job {slurm_run.cancelled_job} "
          f"({slurm_run.cancelled_run})")


def test_sweep_file_and_figures_exist(slurm_run):
    results = slurm_run.directory / "results"
    assert (results / "spectra/sweep.nc").stat().st_size > 0
    with xr.open_dataset(results / "spectra/sweep.nc") as sweep:
        assert sweep.sizes["run"] == job_counts(slurm_run.output)["train_run"]
        assert sweep.sizes["epoch"] == EPOCHS + 1
    assert list((results / "figures").glob("*.png")) and list((results / "figures").glob("*.pdf"))


def test_cancelled_run_resumed_from_its_checkpoint(slurm_run):
    output = slurm_run.output
    assert "Falling back to 'sacct'" not in output  # the profile's squeue checks, on a cluster without accounting
    assert re.search(rf"SLURM-job '{slurm_run.cancelled_job}' failed, SLURM status is: 'CANCELLED'", output), \
        output[-4000:]
    # The run's history (results/runs/<run>/train.log, which a retry does not delete) has both attempts.
    history = (slurm_run.directory / "results/runs" / slurm_run.cancelled_run / "train.log").read_text()
    assert history.count(f"starting run {slurm_run.cancelled_run}") == 1, history
    resumed = re.findall(rf"resuming run {re.escape(slurm_run.cancelled_run)} after epoch (\d+)", history)
    assert len(resumed) == 1, history
    assert 0 <= int(resumed[0]) < EPOCHS  # cancelled mid-run, not after the last epoch
    assert f"epoch {EPOCHS}:" in history


def test_resumed_run_is_bitwise_identical_to_a_local_run(slurm_run):
    name = f"results/spectra/{slurm_run.cancelled_run}.nc"
    with xr.open_dataset(slurm_run.directory / name) as resumed, \
            xr.open_dataset(slurm_run.local_directory / name) as local:
        assert set(resumed.data_vars) == set(local.data_vars)
        assert set(resumed.coords) == set(local.coords)
        for variable in [*resumed.data_vars, *resumed.coords]:
            ours, theirs = resumed[variable], local[variable]
            assert ours.dims == theirs.dims, variable
            assert ours.dtype == theirs.dtype, variable
            if ours.dtype.kind in "fciub":
                assert ours.values.tobytes() == theirs.values.tobytes(), variable
            else:
                assert np.array_equal(ours.values, theirs.values), variable
