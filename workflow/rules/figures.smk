"""The paper figures: results/spectra/sweep.nc (and the engine validation data) -> results/figures/.

One rule per figure, each output marked for `snakemake --report` with its caption in
workflow/report/<name>.rst. The drawing code is rnn_lyapunov.figures; the scripts only wire it up.
Optional config section `figures` (defaults below): early_epoch (the "early" spectrum of
stability_readout; the first recorded epoch at or after it) and dpi (PNG resolution).
"""

FIGURE_SETTINGS = {"early_epoch": 0, "dpi": 150, **config.get("figures", {})}
SWEEP_FIGURE_NAMES = [
    "spectra_by_architecture",
    "spectrum_during_training",
    "convergence",
    "hyperparameter_grid",
    "stability_readout",
]
FIGURE_NAMES = SWEEP_FIGURE_NAMES + ["validation"]
FIGURE_FILES = expand(f"{RESULTS}/figures/{{name}}.{{ext}}", name=FIGURE_NAMES, ext=["png", "pdf"]) + [
    f"{RESULTS}/figures/stability_readout.csv"
]
SWEEP_FILE = f"{RESULTS}/spectra/sweep.nc"
VALIDATION_FILE = f"{RESULTS}/validation/validation.nc"
# PNG and PDF of each figure, both in the report under "Figures" with the figure's caption.
FIGURE_OUTPUTS = {
    name: {
        ext: report(f"{RESULTS}/figures/{name}.{ext}", caption=f"../report/{name}.rst", category="Figures")
        for ext in ("png", "pdf")
    }
    for name in FIGURE_NAMES
}


rule figures:
    input:
        FIGURE_FILES,


rule figure_spectra_by_architecture:
    input:
        data=SWEEP_FILE,
    output:
        **FIGURE_OUTPUTS["spectra_by_architecture"],
    params:
        name="spectra_by_architecture",
        dpi=FIGURE_SETTINGS["dpi"],
        options={},
    log:
        f"{RESULTS}/logs/figures/spectra_by_architecture.log",
    conda:
        SOFTWARE
    script:
        "../scripts/figure.py"


rule figure_spectrum_during_training:
    input:
        data=SWEEP_FILE,
    output:
        **FIGURE_OUTPUTS["spectrum_during_training"],
    params:
        name="spectrum_during_training",
        dpi=FIGURE_SETTINGS["dpi"],
        options={},
    log:
        f"{RESULTS}/logs/figures/spectrum_during_training.log",
    conda:
        SOFTWARE
    script:
        "../scripts/figure.py"


rule figure_convergence:
    input:
        data=SWEEP_FILE,
    output:
        **FIGURE_OUTPUTS["convergence"],
    params:
        name="convergence",
        dpi=FIGURE_SETTINGS["dpi"],
        options={},
    log:
        f"{RESULTS}/logs/figures/convergence.log",
    conda:
        SOFTWARE
    script:
        "../scripts/figure.py"


rule figure_hyperparameter_grid:
    input:
        data=SWEEP_FILE,
    output:
        **FIGURE_OUTPUTS["hyperparameter_grid"],
    params:
        name="hyperparameter_grid",
        dpi=FIGURE_SETTINGS["dpi"],
        options={},
    log:
        f"{RESULTS}/logs/figures/hyperparameter_grid.log",
    conda:
        SOFTWARE
    script:
        "../scripts/figure.py"


rule figure_stability_readout:
    input:
        data=SWEEP_FILE,
    output:
        **FIGURE_OUTPUTS["stability_readout"],
        table=report(
            f"{RESULTS}/figures/stability_readout.csv",
            caption="../report/stability_readout.rst",
            category="Figures",
        ),
    params:
        name="stability_readout",
        dpi=FIGURE_SETTINGS["dpi"],
        options={"early_epoch": FIGURE_SETTINGS["early_epoch"]},
    log:
        f"{RESULTS}/logs/figures/stability_readout.log",
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


rule figure_validation:
    input:
        data=VALIDATION_FILE,
    output:
        **FIGURE_OUTPUTS["validation"],
    params:
        name="validation",
        dpi=FIGURE_SETTINGS["dpi"],
        options={},
    log:
        f"{RESULTS}/logs/figures/validation.log",
    conda:
        SOFTWARE
    script:
        "../scripts/figure.py"
