rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}/metadata.json",
    params:
        seed=lambda wildcards: dataset_settings(wildcards.dataset)["seed"],
        options=lambda wildcards: dataset_settings(wildcards.dataset)["options"],
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}.log",
    conda:
        SOFTWARE
    script:
        "../scripts/prepare_data.py"
