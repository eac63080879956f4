"""The figures: results/spectra/sweep.nc (and the engine validation data) -> results/figures/.

One wildcard rule draws every figure of the registry (rnn_lyapunov.figures.registry: the built-in
modules and the entry-point group `rnn_lyapunov.figures`), so adding a figure adds no rule here. Its
input file follows the figure's `needs`; its options come from the config section `figures`
(defaults below: early_epoch, the "early" spectrum of stability_readout, the first recorded epoch at
or after it; dpi, the PNG resolution; grid_axes, when set, the axes of the grid figures). Each output
is marked for `snakemake --report` with the figure's own caption, which workflow/report/figure.rst
takes from params.caption. A figure that declares a table also gets <name>.csv from the rule
figure_table.

Targets (rules `figures` and `all`): the default figures (registered with default=True) plus the
names listed in the config's `figures.extra` (an experiment's figures); an unknown name there stops
the workflow here, before any job. Any registered figure can still be asked for by its file name.
"""

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures.registry import available_figures, figure_files, figure_options, get_figure

FIGURE_SETTINGS = {"early_epoch": 0, "dpi": 150, "extra": [], **config.get("figures", {})}
SWEEP_FILE = f"{RESULTS}/spectra/sweep.nc"
VALIDATION_FILE = f"{RESULTS}/validation/validation.nc"
# needs (rnn_lyapunov.figures.registry.FIGURE_INPUTS) -> the file the workflow makes for it
FIGURE_INPUT_FILES = {"sweep": SWEEP_FILE, "validation": VALIDATION_FILE}
FIGURE_NAMES = available_figures()
TABLE_NAMES = [name for name in FIGURE_NAMES if get_figure(name).table is not None]
try:
    FIGURE_FILES = figure_files(f"{RESULTS}/figures", FIGURE_SETTINGS["extra"])
except InputError as error:
    raise InputError(f"invalid workflow config: figures.extra: {error}") from None
UNMAPPED_NEEDS = sorted({get_figure(name).needs for name in FIGURE_NAMES} - set(FIGURE_INPUT_FILES))
if UNMAPPED_NEEDS:
    raise WorkflowError(f"figures need inputs {UNMAPPED_NEEDS} that workflow/rules/figures.smk does not make")


rule figures:
    input:
        FIGURE_FILES,


rule figure:
    input:
        data=lambda wildcards: FIGURE_INPUT_FILES[get_figure(wildcards.name).needs],
        # A figure whose table is costly (drawn_from_table) is drawn from its CSV.
        table=lambda wildcards: (
            [f"{RESULTS}/figures/{wildcards.name}.csv"] if get_figure(wildcards.name).drawn_from_table else []
        ),
    output:
        png=report(
            f"{RESULTS}/figures/{{name}}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{name}", "file": "PNG"},
        ),
        pdf=report(
            f"{RESULTS}/figures/{{name}}.pdf",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{name}", "file": "PDF"},
        ),
    wildcard_constraints:
        name="|".join(FIGURE_NAMES),
    params:
        dpi=FIGURE_SETTINGS["dpi"],
        options=lambda wildcards: figure_options(wildcards.name, FIGURE_SETTINGS),
        caption=lambda wildcards: get_figure(wildcards.name).caption,
    log:
        f"{RESULTS}/logs/figures/{{name}}.log",
    conda:
        SOFTWARE
    script:
        "../scripts/figure.py"


rule figure_table:
    input:
        data=lambda wildcards: FIGURE_INPUT_FILES[get_figure(wildcards.name).needs],
    output:
        table=report(
            f"{RESULTS}/figures/{{name}}.csv",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{name}", "file": "table (CSV)"},
        ),
    wildcard_constraints:
        name="|".join(TABLE_NAMES) or "(?!)",
    params:
        options=lambda wildcards: figure_options(wildcards.name, FIGURE_SETTINGS),
        caption=lambda wildcards: get_figure(wildcards.name).table_caption or get_figure(wildcards.name).caption,
    log:
        f"{RESULTS}/logs/figures/{{name}}_table.log",
    conda:
        SOFTWARE
    script:
        "../scripts/figure.py"


rule validate_engine:
    output:
        VALIDATION_FILE,
    log:
        f"{RESULTS}/logs/validate_engine.log",
    conda:
        SOFTWARE
    script:
        "../scripts/validate_engine.py"
