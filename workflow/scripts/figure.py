"""Rules figure and figure_table: draw one registered figure (PNG + PDF) or write its table (CSV)."""

import logging

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes

# WARNING for everything else: fontTools logs every glyph it subsets into the PDF at INFO.
logging.basicConfig(filename=snakemake.log[0], level=logging.WARNING, format="%(asctime)s %(message)s")
from rnn_lyapunov.io.job_log import open_job_log

open_job_log(snakemake.log[0])  # the log, or the terminal when a full disk refuses the log
log = logging.getLogger("figure")
log.setLevel(logging.INFO)

from rnn_lyapunov.figures.render import load_figure_input, render_figure, write_figure_table

name = snakemake.wildcards.name
options = dict(snakemake.params.options)
dataset = load_figure_input(name, snakemake.input.data)
if "table" in snakemake.output.keys():
    write_figure_table(name, dataset, snakemake.output.table, options=options)
else:
    table_files = list(snakemake.input.table)
    render_figure(name, dataset, [snakemake.output.png, snakemake.output.pdf], dpi=snakemake.params.dpi,
                  options=options, table_path=table_files[0] if table_files else None)
log.info("figure %s (options %s): wrote %s", name, options, list(snakemake.output))
