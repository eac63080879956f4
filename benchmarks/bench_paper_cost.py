"""What the authors' experiments (config/paper/*.yaml) cost: measured at small scale, extrapolated.

For every (architecture, hidden size) of experiments A, B and C this times a few training batches
(batch 64, 100 one-hot characters of an 82-letter vocabulary, Adam, the model the workflow builds)
and a short spectrum (the configured number of trajectories, 40 steps, the h-only LSTM), on
whatever device is here, then scales linearly to the configured epochs (War and Peace: 80% of
3,202,303 characters in windows of 100 = 400 batches of 64 per epoch) and spectrum steps.

The result is an ESTIMATE: linear scaling ignores data loading, evaluation passes and warm-up
effects, and a CPU measurement says little about a GPU. Run it on the target machine for a
number that means something there:  python benchmarks/bench_paper_cost.py [--batches 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from rnn_lyapunov.architectures.hidden_only import spectrum_system
from rnn_lyapunov.architectures.model import create_model
from rnn_lyapunov.config.sweep import expand_sweep
from rnn_lyapunov.devices import resolve_device
from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY, WINDOW, BATCH = 82, 100, 64
BATCHES_PER_EPOCH = int(3_202_303 * 0.8) // WINDOW // BATCH
SPECTRUM_STEPS_MEASURED = 40


def seconds_per_batch(architecture: str, hidden_size: int, device, batches: int) -> float:
    model = create_model(architecture, input_size=VOCABULARY, hidden_size=hidden_size, output_size=VOCABULARY,
                         init="uniform", init_scale=0.08, bias=False, dropout=0.1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    inputs = torch.nn.functional.one_hot(torch.randint(VOCABULARY, (BATCH, WINDOW)), VOCABULARY).float().to(device)
    targets = torch.randint(VOCABULARY, (BATCH * WINDOW,), device=device)

    def one_batch():
        outputs, _ = model(inputs)
        loss = torch.nn.functional.cross_entropy(outputs.reshape(-1, VOCABULARY), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    one_batch()  # warm-up: allocation and kernel selection
    _synchronise(device)
    started = time.perf_counter()
    for _ in range(batches):
        one_batch()
    _synchronise(device)
    return (time.perf_counter() - started) / batches


def seconds_per_spectrum_step(architecture: str, hidden_size: int, trajectories: int, dtype, device) -> float:
    model = create_model(architecture, input_size=VOCABULARY, hidden_size=hidden_size, output_size=VOCABULARY,
                         init="uniform", init_scale=0.08, bias=False)
    system = spectrum_system(model.system().to(device=device, dtype=dtype).requires_grad_(False), "h_only")
    inputs = torch.nn.functional.one_hot(torch.randint(VOCABULARY, (trajectories, SPECTRUM_STEPS_MEASURED)),
                                         VOCABULARY).to(device=device, dtype=dtype)
    _synchronise(device)
    started = time.perf_counter()
    lyapunov_spectrum(system, inputs, record_every=None)
    _synchronise(device)
    return (time.perf_counter() - started) / SPECTRUM_STEPS_MEASURED


def _synchronise(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def experiment_cost(name: str, device, batches: int) -> tuple[int, float, float]:
    """(runs, training hours, spectrum hours) of config/paper/<name>.yaml on ``device``."""
    config = yaml.safe_load((ROOT / f"config/paper/{name}.yaml").read_text())
    runs = expand_sweep(config)
    spectrum = config["spectrum"]
    n_spectra = 1 + len(spectrum["epochs"])  # epoch 0 and the listed ones
    dtype = getattr(torch, spectrum["dtype"])
    cache, train_seconds, spectrum_seconds = {}, 0.0, 0.0
    for run in runs:
        key = (run["architecture"], run["hidden_size"])
        if key not in cache:
            cache[key] = (seconds_per_batch(*key, device, batches),
                          seconds_per_spectrum_step(*key, spectrum["trajectories"], dtype, device))
            print(f"  {name}: {key[0]}-{key[1]}: {cache[key][0] * 1e3:.1f} ms per batch, "
                  f"{cache[key][1] * 1e3:.2f} ms per spectrum step", flush=True)
        per_batch, per_step = cache[key]
        train_seconds += per_batch * BATCHES_PER_EPOCH * run["epochs"]
        spectrum_seconds += per_step * spectrum["steps"] * n_spectra
    return len(runs), train_seconds / 3600, spectrum_seconds / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3, help="training batches timed per network size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device {device}, {args.threads} threads, {BATCHES_PER_EPOCH} batches per epoch")
    rows = [(name, *experiment_cost(name, device, args.batches)) for name in ("architectures", "grid", "initialisation")]
    print(f"\n{'experiment':<16} {'runs':>5} {'training h':>11} {'spectra h':>10} {'total h':>8}")
    for name, runs, training, spectra in rows:
        print(f"{name:<16} {runs:5d} {training:11.1f} {spectra:10.2f} {training + spectra:8.1f}")


if __name__ == "__main__":
    main()
