"""How much of a training run's time goes into computing Lyapunov spectra.

Runs ``train_run`` with the default config (``run_config.DEFAULTS``: signal_copy, a 64-unit RNN,
the full 64-exponent spectrum in float64 after every epoch) and with char_text at its default
sequence length, timing every call of ``compute_spectrum``. The defaults are meant to
keep the spectrum share below 20 %.

    python benchmarks/bench_training.py [--epochs 3] [--architecture rnn]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from rnn_lyapunov.training import loop
from rnn_lyapunov.datasets import prepare_dataset
from rnn_lyapunov.config.sweep import expand_sweep

SCENARIOS = {
    "defaults (signal_copy, delay 20)": {},
    "char_text (sequence length 100)": {"dataset": "char_text"},
}
WORKFLOW_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def measure(config: dict) -> tuple[float, float, int]:
    """(total seconds, seconds inside compute_spectrum, number of spectra) of one run."""
    spent = []
    original = loop.compute_spectrum

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    loop.compute_spectrum = timed  # the name train_run calls
    try:
        with tempfile.TemporaryDirectory() as directory:
            start = time.perf_counter()
            loop.train_run(config, f"{directory}/run", f"{directory}/run.nc", progress=False)
            total = time.perf_counter() - start
    finally:
        loop.compute_spectrum = original
    return total, sum(spent), len(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--architecture", default="rnn")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"{'scenario':<62} {'total s':>8} {'spectra s':>9} {'spectra':>7} {'share':>6}")
    for name, overrides in SCENARIOS.items():
        config = {"epochs": args.epochs, "architecture": args.architecture, "threads": args.threads,
                  "device": "cpu", **overrides}
        total, spectra, count = measure(config)
        print(f"{name:<62} {total:8.2f} {spectra:9.2f} {count:7d} {spectra / total:6.1%}")
    measure_workflow_default()


def measure_workflow_default() -> None:
    """Every run of config/config.yaml (the default workflow's job), as the workflow trains them."""
    config = yaml.safe_load(WORKFLOW_CONFIG.read_text())
    totals = {"total": 0.0, "spectra": 0.0, "count": 0}
    with tempfile.TemporaryDirectory() as results_dir:
        for name, preparation in config["datasets"].items():
            prepare_dataset(name, Path(results_dir) / "data" / name, seed=preparation["seed"], **preparation["options"])
        for run in expand_sweep(config, results_dir=results_dir):
            total, spectra, count = measure(run)
            totals["total"] += total
            totals["spectra"] += spectra
            totals["count"] += count
    name = "workflow default, all runs of config/config.yaml"
    print(f"{name:<62} {totals['total']:8.2f} {totals['spectra']:9.2f} {totals['count']:7d} "
          f"{totals['spectra'] / totals['total']:6.1%}")


if __name__ == "__main__":
    main()
