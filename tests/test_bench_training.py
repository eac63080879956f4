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


def test_compare_with_torch_times_every_model_of_every_workload(monkeypatch, capsys):
    bench = load_benchmark()
    monkeypatch.setattr(bench, "PEER_WORKLOADS", {"RNN-4": ("rnn", 4), "LSTM-3": ("lstm", 3)})
    monkeypatch.setattr(bench, "BATCH", 2)
    monkeypatch.setattr(bench, "STEPS", 3)
    import torch

    medians = bench.compare_with_torch(rounds=1, device=torch.device("cpu"))
    assert set(medians) == {(workload, model) for workload in ("RNN-4", "LSTM-3")
                            for model in ("ours", "torch", "ours, step loop")}
    assert all(seconds > 0 for seconds in medians.values())
    table = capsys.readouterr().out
    assert "ours / torch" in table and "LSTM-3" in table
