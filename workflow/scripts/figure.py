"""Rules figure_*: draw one paper figure (PNG + PDF, and the correlation table for stability_readout)."""

import logging
import sys

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes

# WARNING for everything else: fontTools logs every glyph it subsets into the PDF at INFO.
logging.basicConfig(filename=snakemake.log[0], level=logging.WARNING, format="%(asctime)s %(message)s")
sys.stderr = open(snakemake.log[0], "a")
log = logging.getLogger("figure")
log.setLevel(logging.INFO)

from rnn_lyapunov.figures.render import load_figure_input, render_figure, write_stability_correlations

name = snakemake.params.name
options = dict(snakemake.params.options)
dataset = load_figure_input(name, snakemake.input.data)
render_figure(name, dataset, [snakemake.output.png, snakemake.output.pdf], dpi=snakemake.params.dpi, options=options)
if "table" in snakemake.output.keys():
    write_stability_correlations(dataset, snakemake.output.table, **options)
log.info("figure %s written to %s", name, list(snakemake.output))
