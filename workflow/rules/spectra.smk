rule combine_spectra:
    input:
        expand(f"{RESULTS}/spectra/{{run_id}}.nc", run_id=RUNS),
    output:
        # update(): the last good sweep survives a failed combine (Snakemake restores it).
        update(f"{RESULTS}/spectra/sweep.nc"),
    params:
        # The repair command a damaged per-run file's error gives must name the same configs.
        configfiles=[f"--configfile {path}" for path in (workflow.overwrite_configfiles or [])],
    log:
        f"{RESULTS}/logs/combine_spectra.log",
    conda:
        SOFTWARE
    script:
        "../scripts/combine.py"
