"""Coverage of evaluate_readout's 95% intervals and level of its permutation p-values, by simulation.

    python benchmarks/bench_readout_coverage.py                      # 200 null + 200 planted sweeps
    python benchmarks/bench_readout_coverage.py --simulations 20     # a quick look
    python benchmarks/bench_readout_coverage.py --time-step          # the workflow's readout step, 72 runs
    python benchmarks/bench_readout_coverage.py --scenarios confounded --predictors hyperparameters \
        hyperparameters+spectrum_features --n-bootstrap 0 [--permute-across-all]   # the p-values' level

Sweeps: :func:`readout_sweeps.default_shaped_sweep`, 72 runs shaped like the default config's, with
the final loss independent of everything (``null``) or with log(final loss) correlated ``--signal``
with lambda_1 at the early epoch (``planted``), or with the spectrum and the loss sharing a random
effect of each hyperparameter cell, so that given the cell the spectrum says nothing
(``confounded``, ``--confounded`` of the variance; the null of "adds to the hyperparameters" that
a real sweep poses; ``--permute-across-all`` shows what the permutation test across all runs, the
readout's test before cells, does there). Each simulation draws a new sweep (seed = its index)
and runs ``evaluate_readout`` on a few predictors (``--predictors``) with the bootstrap and the
permutation test at the workflow's sizes (``n_bootstrap``, ``n_permutations``); the
cross-validation uses ``--repeats`` (2; the workflow uses 10, which makes ``value`` less noisy and
the coverage, if anything, higher).

What the intervals should cover (the "truth"): the procedure's expected held-out skill at this
number of runs, E[value], i.e. the mean of ``value`` over sweeps drawn from the same population.
It is estimated from ``--truth-sweeps`` further sweeps with seeds disjoint from the simulations'
(point estimates only: no bootstrap, no permutations); its Monte Carlo standard error is printed.
For the planted signal the population values (rho = (6/pi) asin(s/2), R^2 = s^2 for lambda_1)
are printed too with the coverage of them, which is lower by design: a model fitted on 4/5 of 72
runs predicts worse than the population's best linear predictor.

Coverage: the share of simulations whose [ci_low, ci_high] holds the truth, with its 95% Wilson
interval. The p-values of the "adds to a baseline" rows: their rejection rate at alpha = 0.05 under
the null (the spectrum adds nothing), with its Wilson interval; it should be <= 0.05.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from readout_sweeps import default_shaped_sweep  # noqa: E402

from rnn_lyapunov.analysis.readout import ReadoutWarning, evaluate_readout  # noqa: E402

PREDICTORS = ("largest_exponent", "hyperparameters", "hyperparameters+spectrum_features")
EARLY_EPOCH = 1
# log(final loss) = 0.5 * standard normal: a failure is a final loss above exp(0.5 * 0.5), the top ~31%.
FAILURE_THRESHOLD = float(np.exp(0.25))
TRUTH_SEED_OFFSET = 1_000_000


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if trials == 0:
        return math.nan, math.nan
    share = successes / trials
    centre = (share + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return centre - half, centre + half


def readout(seed: int, signal: float, args, *, intervals: bool = True, n_runs: int | None = None,
            confounded: float = 0.0) -> pd.DataFrame:
    sweep = default_shaped_sweep(seed, signal=signal, n_runs=n_runs or args.runs, confounded=confounded,
                                 cell_seed=0 if args.fixed_cells else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadoutWarning)
        table = evaluate_readout(sweep, early_epoch=EARLY_EPOCH, failure_threshold=FAILURE_THRESHOLD,
                                 folds=args.folds, repeats=args.repeats, seed=seed, predictors=list(args.predictors),
                                 n_bootstrap=args.n_bootstrap if intervals else 0,
                                 n_permutations=args.n_permutations if intervals else 0, resample=args.resample)
    return table.assign(simulation=seed)


def population_values(signal: float) -> dict:
    return {("largest_exponent", "spearman_rho"): 6 / math.pi * math.asin(signal / 2),
            ("largest_exponent", "r2"): signal**2}


def correlation(name: str, signal: float, args) -> float:
    """The population correlation of lambda_1 with log(final loss) in scenario ``name``."""
    return args.confounded if name == "confounded" else signal


def scenario(name: str, signal: float, args) -> list[dict]:
    """Coverage rows of one scenario (null or planted) and the p-value rejection rates. With
    ``--raw PREFIX`` the simulations' tables are appended to PREFIX-<name>.csv as they finish (and
    the truth written first to PREFIX-<name>-truth.csv), so ``--summarise`` can report a run cut short."""
    confounded = args.confounded if name == "confounded" else 0.0
    truth = pd.concat([readout(TRUTH_SEED_OFFSET + seed, signal, args, intervals=False, confounded=confounded)
                       for seed in range(args.truth_sweeps)]) if args.truth_sweeps else None
    if args.raw and truth is not None:
        truth.to_csv(f"{args.raw}-{name}-truth.csv", index=False)
    started, tables = time.perf_counter(), []
    for seed in range(args.first, args.first + args.simulations):
        tables.append(readout(seed, signal, args, confounded=confounded))
        if args.raw:
            raw = Path(f"{args.raw}-{name}.csv")
            tables[-1].to_csv(raw, mode="a", header=not raw.exists(), index=False)
    if truth is None:  # a piece of a larger run (--first): --summarise reads the pieces together
        print(f"# {name}: simulations {args.first}-{args.first + args.simulations - 1} in "
              f"{time.perf_counter() - started:.0f} s, no truth sweeps", flush=True)
        return []
    print(f"# {name}: {args.simulations} simulations in {time.perf_counter() - started:.0f} s", flush=True)
    return summarise(name, correlation(name, signal, args), pd.concat(tables), truth)


def summarise(name: str, signal: float, tables: pd.DataFrame, truth: pd.DataFrame) -> list[dict]:
    """Coverage of the expected skill (mean ``value`` of the ``truth`` sweeps) and of the population
    value, and the rejection rate of the comparisons' p-values at 0.05, from the simulations' ``tables``."""
    expected = truth.groupby(["predictor", "metric"])["value"].agg(["mean", "std", "count"])
    population = population_values(signal)
    results = []
    for (predictor, metric), rows in tables.groupby(["predictor", "metric"], sort=False):
        p_values = rows["p_value"].dropna()
        rows = rows[np.isfinite(rows["ci_low"]) & np.isfinite(rows["ci_high"])]
        mean, spread, count = expected.loc[(predictor, metric)]
        targets = {"expected": mean}
        if (predictor, metric) in population:
            targets["population"] = population[predictor, metric]
        for target, value in targets.items():
            covered = int(((rows["ci_low"] <= value) & (value <= rows["ci_high"])).sum())
            low, high = wilson(covered, len(rows))
            results.append({"scenario": name, "predictor": predictor, "metric": metric, "truth": target,
                            "true_value": value, "truth_se": spread / math.sqrt(count) if target == "expected" else 0.0,
                            "coverage": covered / max(len(rows), 1), "wilson_low": low, "wilson_high": high,
                            "simulations": len(rows), "mean_width": float((rows["ci_high"] - rows["ci_low"]).mean()),
                            "rejection_rate": math.nan})
        if len(p_values):
            rejected = int((p_values <= 0.05).sum())
            low, high = wilson(rejected, len(p_values))
            results.append({"scenario": name, "predictor": predictor, "metric": metric, "truth": "p <= 0.05",
                            "true_value": math.nan, "truth_se": math.nan, "coverage": math.nan, "wilson_low": low,
                            "wilson_high": high, "simulations": len(p_values), "mean_width": math.nan,
                            "rejection_rate": rejected / len(p_values)})
    return results


def time_step(args) -> None:
    """Seconds of the workflow's readout step (both readout figures' tables and drawings) on a
    72-run default-shaped sweep, with the figures' own settings."""
    import tempfile

    from rnn_lyapunov.figures.render import render_figure, write_figure_table

    sweep = default_shaped_sweep(0, signal=args.signal)
    options = {"early_epoch": EARLY_EPOCH}
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadoutWarning)
        for name, extra in (("stability_readout", {}), ("readout_comparison", {"failure_threshold": 1.0})):
            started, cpu = time.perf_counter(), time.process_time()
            table = Path(folder) / f"{name}.csv"
            write_figure_table(name, sweep, table, options={**options, **extra})
            render_figure(name, sweep, [Path(folder) / f"{name}.png"], options={**options, **extra},
                          table_path=table if name == "readout_comparison" else None)
            print(f"{name}: {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU "
                  "(table + PNG)", flush=True)


def main(argv=None) -> pd.DataFrame | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--first", type=int, default=0,
                        help="seed of the first simulation (run pieces in parallel with --raw and --truth-sweeps 0)")
    parser.add_argument("--confounded", type=float, default=0.64,
                        help="share of the variance of lambda_1 and log loss from the cell effect (scenario confounded)")
    parser.add_argument("--resample", default="runs", choices=["runs", "cells"],
                        help="evaluate_readout's bootstrap: runs, or hyperparameter cells with all their runs")
    parser.add_argument("--fixed-cells", action="store_true",
                        help="scenario confounded: the same cell effects in every sweep (a fixed design)")
    parser.add_argument("--permute-across-all", action="store_true",
                        help="the comparisons' permutation test across all runs instead of within cells")
    parser.add_argument("--truth-sweeps", type=int, default=400)
    parser.add_argument("--runs", type=int, default=72)
    parser.add_argument("--signal", type=float, default=0.5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-bootstrap", type=int, default=120)
    parser.add_argument("--n-permutations", type=int, default=99)
    parser.add_argument("--predictors", nargs="+", default=list(PREDICTORS))
    parser.add_argument("--scenarios", nargs="+", default=["null", "planted"], choices=["null", "planted", "confounded"])
    parser.add_argument("--time-step", action="store_true", help="time the workflow's readout step and stop")
    parser.add_argument("--csv", type=Path, help="also write the result table here")
    parser.add_argument("--raw", help="append each simulation's table to RAW-<scenario>.csv as it finishes")
    parser.add_argument("--summarise", action="store_true",
                        help="only summarise the files of --raw (e.g. of a run cut short) and stop")
    args = parser.parse_args(argv)
    if args.time_step:
        time_step(args)
        return None
    signals = {"null": 0.0, "planted": args.signal, "confounded": 0.0}
    if args.permute_across_all:
        import rnn_lyapunov.analysis.readout as readout_module

        readout_module.permutation_cells = lambda X_baseline: None
    if args.summarise:
        rows = [row for name in args.scenarios for row in summarise(
            name, correlation(name, signals[name], args), pd.read_csv(f"{args.raw}-{name}.csv"),
            pd.read_csv(f"{args.raw}-{name}-truth.csv"))]
    else:
        rows = [row for name in args.scenarios for row in scenario(name, signals[name], args)]
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return table


if __name__ == "__main__":
    main()
