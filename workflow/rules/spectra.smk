rule combine_spectra:
    input:
        expand(f"{RESULTS}/spectra/{{run_id}}.nc", run_id=RUNS),
    output:
        f"{RESULTS}/spectra/sweep.nc",
    log:
        f"{RESULTS}/logs/combine_spectra.log",
    conda:
        SOFTWARE
    script:
        "../scripts/combine.py"
