"""Rule prepare_data: write one dataset to results/data/<dataset>/ (metadata.json marks it complete)."""

import logging
from pathlib import Path

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
from rnn_lyapunov.io.job_log import open_job_log

open_job_log(snakemake.log[0])  # the log, or the terminal when a full disk refuses the log

from rnn_lyapunov.datasets import prepare_dataset

name = snakemake.wildcards.dataset
out_dir = Path(snakemake.output[0]).parent
logging.info("preparing %s in %s (seed %s, options %s)", name, out_dir, snakemake.params.seed, snakemake.params.options)
prepare_dataset(name, out_dir, seed=snakemake.params.seed, **snakemake.params.options)
logging.info("done")
