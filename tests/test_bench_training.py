"""Smoke test of benchmarks/bench_training.py: it times the spectra that train_run really computes
(no timing is asserted)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_training", ROOT / "benchmarks" / "bench_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_times_every_spectrum_of_a_run_and_restores_the_hook():
    bench = load_benchmark()
    original = bench.loop.compute_spectrum
    total, spectra, count = bench.measure({"epochs": 1, "device": "cpu", "threads": 1,
                                           "spectrum": {"steps": 20, "trajectories": 2, "warmup_steps": 5}})
    assert count == 2  # the spectrum before training and after its one epoch
    assert 0 < spectra < total
    assert bench.loop.compute_spectrum is original
