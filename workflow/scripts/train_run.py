"""Rules train_run and train_batch_<n>: train the job's runs, one after the other, each writing its
spectra to results/spectra/<run_id>.nc.

The checkpoint in results/runs/<run_id>/ is not a Snakemake output, so an interrupted run
resumes from it (snakemake --rerun-incomplete) instead of being deleted before the retry; a
checkpoint of older settings (the job reruns because they changed) is discarded first, and a run
whose checkpoint already holds its last epoch only rewrites its file. train_run appends the run's
history to results/runs/<run_id>/train.log, which no retry deletes; the rule's log holds this
attempt's stderr. A run that fails does not stop the job's other runs: they are all tried, then the
job fails naming every failed run (Snakemake then removes the job's outputs; the finished runs'
checkpoints stay, so the rerun only rewrites their files).
"""

import sys

from rnn_lyapunov.io.job_log import open_job_log

open_job_log(snakemake.log[0])  # the log, or the terminal when a full disk refuses the log

from rnn_lyapunov.training.checkpoints import discard_stale_checkpoint
from rnn_lyapunov.training.loop import train_run

runs = list(zip(snakemake.params.run_configs, snakemake.params.run_dirs, snakemake.output))
failed = []
for run_config, run_dir, output in runs:
    discard_stale_checkpoint(run_config, run_dir, log=lambda reason: print(reason, file=sys.stderr))
    if len(runs) == 1:
        train_run(run_config, run_dir, output)  # its own error, unwrapped
        continue
    try:
        train_run(run_config, run_dir, output)
    except Exception as error:  # the job's other runs still train; every failure is reported below
        print(f"run {run_config['run_id']} failed: {type(error).__name__}: {error}", file=sys.stderr)
        failed.append(f"{run_config['run_id']} ({type(error).__name__}: {error})")
if failed:
    raise RuntimeError(f"{len(failed)} of this job's {len(runs)} runs failed: " + "; ".join(failed)
                       + ". The others' checkpoints are kept; fix the cause and rerun the workflow.")
