"""Rule combine_spectra: concatenate the per-run files into results/spectra/sweep.nc.

The rule's output is flagged update(): Snakemake keeps the last good sweep.nc while this runs and
puts it back if this fails, so a damaged per-run file never costs the sweep. The error names that
file and the command that rewrites it.
"""

import logging

from rnn_lyapunov.io.job_log import open_job_log

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
open_job_log(snakemake.log[0])  # the log, or the terminal when a full disk refuses the log

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.sweep_file import open_run_file, write_sweep


def opened(path):
    try:
        return open_run_file(path)
    except InputError as error:
        raise InputError(
            f"{error} The previous {snakemake.output[0]} is kept. Rewrite this run (from its checkpoint, or by "
            f"training it again) with: {command} --forcerun {path}") from None


command = " ".join(["snakemake --cores all", *snakemake.params.configfiles])


combined = write_sweep([opened(path) for path in snakemake.input], snakemake.output[0])
logging.info("combined %d runs into %s: %s", combined.sizes["run"], snakemake.output[0], dict(combined.sizes))
