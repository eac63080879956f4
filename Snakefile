"""Regenerate the figures of Vogt et al. (2022): data -> training sweep with spectra -> sweep.nc -> figures.

Run from the repository root: `snakemake --cores all` (default config, a few minutes on a CPU) or
`snakemake --cores all --configfile config/paper.yaml` (paper scale, GPU). See docs/workflow.md.
"""

from snakemake.utils import min_version

min_version("8.0")


# A --configfile replaces the default config instead of merging into it: a sweep axis of the
# default must not slip into another config's sweep.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/spectra.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        f"{RESULTS}/spectra/sweep.nc",
        FIGURE_FILES,
    default_target: True
