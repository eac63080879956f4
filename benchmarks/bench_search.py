"""What pruning buys a hyperparameter search: none, Optuna's MedianPruner, the spectrum pruners.

One small CPU task (signal_copy, delay 20: recall a symbol 20 steps after it was shown; a 32-unit
RNN, weights uniform in [-p, p], 6 epochs) searched over the learning rate (log 3e-4..0.05) and p
(log 0.05..2) with the validation loss as objective, a fixed budget of trials, for each pruning
method and several sampler seeds. The trials of the random start-up phase (TPE's first 10) draw
the same parameters under every method, so the methods differ in what they stop, not in what they
try. The spectrum threshold stops a trial whose largest exponent after epoch 1 is below -0.5
nats/step (the slowest direction forgets within ~2 steps, far less than the delay) or above 0.25
(chaotic); the spectrum readout, from 4 completed trials on, one whose spectrum features after
epoch 1 predict (ridge regression) a final loss above the median of the completed trials'.

Reported per method (mean over seeds, each seed's value in brackets): the best final validation loss
among completed trials (cross-entropy, nats; chance is ln 4 = 1.386), the training epochs spent
(over all trials, the initial evaluation not counted), trials pruned, wall time.

    python benchmarks/bench_search.py            # 3 seeds x 12 trials x 4 methods, ~9 min on 2 cores
    python benchmarks/bench_search.py --quick    # 1 seed x 6 trials, 4 epochs
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

RUN = {
    "dataset": "signal_copy",
    "dataset_options": {"n_symbols": 4, "delay": 20, "n_train": 1000, "n_validation": 200, "n_test": 200},
    "hidden_size": 32, "init": "uniform", "batch_size": 50, "epochs": 6, "device": "cpu", "threads": 1,
    "spectrum": {"epochs": [1], "n_exponents": 32, "trajectories": 4, "steps": 100, "warmup_steps": 20,
                 "record_every": None},
}
PARAMS = {"learning_rate": {"low": 3e-4, "high": 0.05, "log": True},
          "init_scale": {"low": 0.05, "high": 2.0, "log": True}}
METHODS = {
    "no pruning": None,
    "MedianPruner": {"kind": "median", "n_startup_trials": 3, "n_warmup_steps": 1},
    "spectrum threshold": {"kind": "threshold", "feature": "largest_exponent", "epoch": 1,
                           "below": -0.5, "above": 0.25},
    "spectrum readout": {"kind": "readout", "epoch": 1, "min_trials": 4, "quantile": 0.5},
}


def search_once(pruner, *, seed: int, n_trials: int, epochs: int, directory: str) -> dict:
    """One search; returns best final val loss, training epochs spent, pruned trials, seconds."""
    from rnn_lyapunov.search import run_search

    config = {**RUN, "epochs": epochs, "search": {
        "study_name": "bench", "output_dir": directory, "n_trials": n_trials, "seed": seed, "params": PARAMS,
        "pruner": pruner}}
    start = time.perf_counter()
    study = run_search(config, progress=False)
    seconds = time.perf_counter() - start
    losses = [t.user_attrs["final_val_loss"] for t in study.trials if t.state.name == "COMPLETE"]
    finite = [loss for loss in losses if loss is not None and math.isfinite(loss)]
    return {"best": min(finite) if finite else math.nan,
            "epochs": sum(t.user_attrs.get("epochs_trained", 0) for t in study.trials),
            "pruned": sum(t.state.name == "PRUNED" for t in study.trials), "seconds": seconds}


def _cell(values, form):
    each = ", ".join(f"{value:{form}}" for value in values)
    return f"{statistics.fmean(values):{form}}" + (f" [{each}]" if len(values) > 1 else "")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 6 trials, 4 epochs (a smoke run)")
    parser.add_argument("--seeds", type=int, default=None, help="sampler seeds 0..N-1 (default 3; --quick 1)")
    parser.add_argument("--trials", type=int, default=None, help="trials per search (default 12; --quick 6)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    n_trials = args.trials or (6 if args.quick else 12)
    epochs = 4 if args.quick else RUN["epochs"]
    results = {name: [] for name in METHODS}
    with tempfile.TemporaryDirectory() as directory:  # first-call costs (imports, kernels) are nobody's
        search_once(None, seed=0, n_trials=1, epochs=1, directory=directory)
    for seed in range(seeds):
        for name, pruner in METHODS.items():
            with tempfile.TemporaryDirectory() as directory:
                result = search_once(pruner, seed=seed, n_trials=n_trials, epochs=epochs, directory=directory)
            results[name].append(result)
            print(f"seed {seed} {name:<18} best {result['best']:.4f}  epochs {result['epochs']:>3}  pruned "
                  f"{result['pruned']:>2}  {result['seconds']:.1f} s", flush=True)
    print(f"\n{seeds} seeds x {n_trials} trials x {epochs} epochs (budget {n_trials * epochs} epochs per search)\n")
    print("| method | best final val loss | training epochs | trials pruned | wall time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for name, runs in results.items():
        print(f"| {name} | {_cell([r['best'] for r in runs], '.2g')} | {_cell([r['epochs'] for r in runs], '.0f')} | "
              f"{_cell([r['pruned'] for r in runs], '.0f')} | {_cell([r['seconds'] for r in runs], '.0f')} |")
    return results


if __name__ == "__main__":
    main()
