"""Rule train_run: train one run of the sweep, writing its spectra to results/spectra/<run_id>.nc.

The checkpoint in results/runs/<run_id>/ is not a Snakemake output, so an interrupted run
resumes from it (snakemake --rerun-incomplete) instead of being deleted before the retry; a
checkpoint of older settings (the job reruns because they changed) is discarded first.
train_run appends the run's history to results/runs/<run_id>/train.log, which no retry deletes;
the rule's log (results/logs/train/<run_id>.log) holds this attempt's stderr.
"""

import sys

from rnn_lyapunov.io.job_log import open_job_log

open_job_log(snakemake.log[0])  # the log, or the terminal when a full disk refuses the log

from rnn_lyapunov.training.checkpoints import discard_stale_checkpoint
from rnn_lyapunov.training.loop import train_run

discard_stale_checkpoint(snakemake.params.run_config, snakemake.params.run_dir,
                         log=lambda reason: print(reason, file=sys.stderr))
train_run(snakemake.params.run_config, snakemake.params.run_dir, snakemake.output[0])
