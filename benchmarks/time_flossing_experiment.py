"""Time a subset of config/flossing.yaml and the share of flossing in it.

    python benchmarks/time_flossing_experiment.py --delays 8 --seeds 0 1 [--out DIR]

Runs the sweep's runs of the chosen delays and seeds (all three arms) one after the other with
``train_run``, timing each run and the flossing episodes inside it, and extrapolates to the whole
sweep on N parallel jobs (the per-process start-up of a Snakemake job, about 3 s, is not included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from rnn_lyapunov.config.sweep import expand_sweep
from rnn_lyapunov.training import flossing_run
from rnn_lyapunov.training.loop import train_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="config/flossing.yaml")
    parser.add_argument("--delays", type=int, nargs="+", default=[8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs of the extrapolation")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())
    runs = expand_sweep(config)
    chosen = [run for run in runs if run["dataset_options"]["delay"] in args.delays and run["seed"] in args.seeds]
    spent = {"flossing": 0.0}
    original = flossing_run.RunFlossing.run_episode

    def timed(self, *arguments):
        start = time.perf_counter()
        try:
            return original(self, *arguments)
        finally:
            spent["flossing"] += time.perf_counter() - start

    flossing_run.RunFlossing.run_episode = timed
    out = Path(args.out or tempfile.mkdtemp())
    total = 0.0
    for run in chosen:
        before = spent["flossing"]
        start = time.perf_counter()
        result = train_run(run, out / run["run_id"], out / f"{run['run_id']}.nc", progress=False)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"{run['run_id']}: {seconds:.1f} s (flossing {spent['flossing'] - before:.1f} s), "
              f"final val_loss {float(result['val_loss'][-1]):.4f} accuracy {float(result['val_accuracy'][-1]):.3f}",
              flush=True)
    share = spent["flossing"] / total
    whole = total / len(chosen) * len(runs) / args.jobs
    print(f"{len(chosen)} runs: {total:.1f} s, flossing {spent['flossing']:.1f} s = {100 * share:.1f} % of it; "
          f"the whole sweep ({len(runs)} runs) on {args.jobs} jobs: about {whole / 60:.1f} min")


if __name__ == "__main__":
    main()
