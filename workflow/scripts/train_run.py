"""Rule train_run: train one run of the sweep, writing its spectra to results/spectra/<run_id>.nc.

The checkpoint in results/runs/<run_id>/ is not a Snakemake output, so an interrupted run
resumes from it (snakemake --rerun-incomplete) instead of being deleted before the retry; a
checkpoint of older settings (the job reruns because they changed) is discarded first.
train_run itself appends its progress to results/runs/<run_id>/train.log, the rule's log.
"""

import sys

sys.stderr = open(snakemake.log[0], "a")

from rnn_lyapunov.architectures.registry import load_plugin_paths
from rnn_lyapunov.config.sweep import discard_stale_checkpoint
from rnn_lyapunov.training.loop import train_run

load_plugin_paths(snakemake.params.plugin_paths)
if discard_stale_checkpoint(snakemake.params.run_config, snakemake.params.run_dir):
    print("discarded the checkpoint of earlier settings; training from the start", file=sys.stderr)
train_run(snakemake.params.run_config, snakemake.params.run_dir, snakemake.output[0])
