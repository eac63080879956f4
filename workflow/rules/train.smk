rule train_run:
    input:
        prepared_data,
    output:
        f"{RESULTS}/spectra/{{run_id}}.nc",
    params:
        # The whole run config is a param, so changing one run's settings reruns that run only.
        run_config=lambda wildcards: RUNS[wildcards.run_id],
        run_dir=lambda wildcards: f"{RESULTS}/runs/{wildcards.run_id}",
    log:
        # This attempt's stderr only: Snakemake deletes a log before a retry. The run's whole
        # history (every attempt, resumptions included) is results/runs/<run_id>/train.log.
        f"{RESULTS}/logs/train/{{run_id}}.log",
    threads: lambda wildcards: RUNS[wildcards.run_id]["threads"]
    resources:
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
        gpu=config["resources"]["train"]["gpu"],
    conda:
        SOFTWARE
    script:
        "../scripts/train_run.py"
