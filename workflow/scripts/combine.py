"""Rule combine_spectra: concatenate the per-run files into results/spectra/sweep.nc."""

import logging
import sys

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
sys.stderr = open(snakemake.log[0], "a")

from rnn_lyapunov.io.sweep_file import write_sweep

combined = write_sweep(snakemake.input, snakemake.output[0])
logging.info("combined %d runs into %s: %s", combined.sizes["run"], snakemake.output[0], dict(combined.sizes))
