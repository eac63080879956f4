"""Rule validate_engine: the engine against known systems -> results/validation/validation.nc."""

import logging

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
from rnn_lyapunov.io.job_log import open_job_log

open_job_log(snakemake.log[0])  # the log, or the terminal when a full disk refuses the log

from rnn_lyapunov.io.storage import provenance_attributes, write_netcdf_atomic
from rnn_lyapunov.analysis.validation import compute_validation

dataset = compute_validation()
dataset.attrs.update(provenance_attributes(device="cpu"))
write_netcdf_atomic(dataset, snakemake.output[0], make_parents=True)
logging.info("validation computed in %s s: %s", dataset.attrs["compute_seconds"], dict(dataset.sizes))
