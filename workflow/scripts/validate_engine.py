"""Rule validate_engine: the engine against known systems -> results/validation/validation.nc."""

import logging
import sys

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
sys.stderr = open(snakemake.log[0], "a")

from rnn_lyapunov.io.storage import provenance_attributes, write_netcdf_atomic
from rnn_lyapunov.analysis.validation import compute_validation

dataset = compute_validation()
dataset.attrs.update(provenance_attributes(device="cpu"))
write_netcdf_atomic(dataset, snakemake.output[0], make_parents=True)
logging.info("validation computed in %s s: %s", dataset.attrs["compute_seconds"], dict(dataset.sizes))
