# Training: each run of the sweep writes results/spectra/<run_id>.nc.
#
# resources.train.runs_per_job: 1 (the schema's default, what a cluster wants) gives one job per run,
# rule train_run; N > 1 deals the runs round-robin into jobs of up to N runs, rules train_batch_1,
# train_batch_2, ... (one per job: Snakemake cannot give a wildcard rule outputs of other runs), so a
# laptop starts Python and imports torch once per N runs instead of once per run. Either way the
# run's full config is a param, so a changed run reruns its own job only.
RUNS_PER_JOB = config["resources"]["train"]["runs_per_job"]
TRAIN_RESOURCES = config["resources"]["train"]


if RUNS_PER_JOB == 1:

    rule train_run:
        input:
            prepared_data,
        output:
            f"{RESULTS}/spectra/{{run_id}}.nc",
        params:
            # The whole run config is a param, so changing one run's settings reruns that run only.
            run_configs=lambda wildcards: [RUNS[wildcards.run_id]],
            run_dirs=lambda wildcards: [f"{RESULTS}/runs/{wildcards.run_id}"],
        log:
            # This attempt's stderr only: Snakemake deletes a log before a retry. The run's whole
            # history (every attempt, resumptions included) is results/runs/<run_id>/train.log.
            f"{RESULTS}/logs/train/{{run_id}}.log",
        threads: lambda wildcards: RUNS[wildcards.run_id]["threads"]
        resources:
            mem_mb=TRAIN_RESOURCES["mem_mb"],
            runtime=TRAIN_RESOURCES["runtime"],
            gpu=TRAIN_RESOURCES["gpu"],
        conda:
            SOFTWARE
        script:
            "../scripts/train_run.py"

else:
    for number, batch in training_batches(list(RUNS), RUNS_PER_JOB).items():

        rule:
            name:
                f"train_batch_{number}"
            input:
                sorted({f"{RESULTS}/data/{RUNS[run_id]['dataset']}/metadata.json" for run_id in batch}),
            output:
                expand(f"{RESULTS}/spectra/{{run_id}}.nc", run_id=batch),
            params:
                run_configs=[RUNS[run_id] for run_id in batch],
                run_dirs=[f"{RESULTS}/runs/{run_id}" for run_id in batch],
            log:
                f"{RESULTS}/logs/train/batch_{number}.log",
            threads: max(RUNS[run_id]["threads"] or 1 for run_id in batch)
            resources:
                mem_mb=TRAIN_RESOURCES["mem_mb"],
                runtime=TRAIN_RESOURCES["runtime"] * len(batch),
                gpu=TRAIN_RESOURCES["gpu"],
            conda:
                SOFTWARE
            script:
                "../scripts/train_run.py"
