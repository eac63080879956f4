"""What the authors' experiments (config/paper/*.yaml) cost: measured at small scale, extrapolated.

For every (architecture, hidden size) of experiments A, B and C this times a few training batches
(batch 64, 100 one-hot characters of an 82-letter vocabulary, Adam, the model the workflow builds)
and a short spectrum (the configured number of trajectories, 40 steps, the h-only LSTM), on
whatever device is here, then scales linearly to the configured epochs (War and Peace: 80% of
3,202,303 characters in windows of 100 = 400 batches of 64 per epoch) and spectrum steps.

The result is an ESTIMATE: linear scaling ignores data loading, evaluation passes and warm-up
effects, and a CPU measurement says little about a GPU. Run it on the target machine for a
number that means something there:  python benchmarks/bench_paper_cost.py [--batches 3]

Without a GPU at hand it also gives a GPU estimate from two counts it measures exactly on any
device: the floating-point operations of a training batch and of a spectrum step
(``torch.utils.flop_counter.FlopCounterMode``; matrix products only, plus the Householder QR of the
frame, 2 n k^2 - 2 k^3 / 3 per trajectory, at every step: an upper bound), and the number of
operations PyTorch dispatches for them (eager mode launches one kernel for most of them). A GPU
then takes at least max(FLOPs / GPU_FLOPS, operations x GPU_SECONDS_PER_OPERATION): the assumed
GPU_FLOPS (25 TFLOP/s, about 0.5 of an H100's FP32 and FP64 peaks) and GPU_SECONDS_PER_OPERATION
(8 microseconds of launch and Python overhead per eager operation) are assumptions, not
measurements. The small recurrent networks of the paper are launch-bound on a GPU: the operation
count, not the FLOPs, decides.

Counted kernels, not Python steps: training runs the recurrent core through torch's fused kernel
(``forward_sequence``), which on a GPU is one cuDNN call forward and one backward per batch, while
on the CPU (where the counts are taken) ATen unrolls it into per-step operations. So the core's
operations are counted apart (its fused forward and backward alone) and replaced by cuDNN's own
launches, assumed CUDNN_KERNELS_PER_STEP per time step and layer (forward, backward data and
backward weights together) at CUDNN_SECONDS_PER_KERNEL each (a launch from C++, no Python); the
readout, loss, dropout and Adam stay eager operations. The spectra are not fused (a Jacobian per
step), so their count is the eager one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from rnn_lyapunov.architectures.hidden_only import spectrum_system
from rnn_lyapunov.architectures.model import create_model
from rnn_lyapunov.config.sweep import expand_sweep
from rnn_lyapunov.devices import resolve_device
from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY, WINDOW, BATCH = 82, 100, 64
BATCHES_PER_EPOCH = int(3_202_303 * 0.8) // WINDOW // BATCH
SPECTRUM_STEPS_MEASURED = 40
GPU_FLOPS = 25e12                   # assumed sustained FLOP/s of one modern GPU (see the docstring)
GPU_SECONDS_PER_OPERATION = 8e-6    # assumed eager-mode cost of one dispatched operation on a GPU
CUDNN_KERNELS_PER_STEP = 6          # assumed cuDNN launches per time step and layer: 2 forward, 4 backward
CUDNN_SECONDS_PER_KERNEL = 5e-6     # assumed cost of one launch from inside cuDNN (no Python)


class OperationCounter(TorchDispatchMode):
    """Counts the operations PyTorch dispatches (forward and backward) while active."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def counted(work) -> tuple[float, int]:
    """(FLOPs, dispatched operations) of one call of ``work()``."""
    flops, operations = FlopCounterMode(display=False), OperationCounter()
    with flops:
        work()
    with operations:
        work()
    return float(flops.get_total_flops()), operations.count


def gpu_seconds(flops: float, operations: int) -> float:
    """The GPU time estimate of work with these counts (an assumption-based lower bound)."""
    return max(flops / GPU_FLOPS, operations * GPU_SECONDS_PER_OPERATION)


def seconds_per_batch(architecture: str, hidden_size: int, device, batches: int) -> tuple[float, float]:
    """(measured seconds per training batch here, GPU estimate in seconds per batch)."""
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
    measured = (time.perf_counter() - started) / batches
    flops, operations = counted(one_batch)
    # The arithmetic of the whole batch, or the launches: the eager ones outside the core and cuDNN's.
    launches = (operations - core_operations(model, inputs)) * GPU_SECONDS_PER_OPERATION + cudnn_seconds(model)
    return measured, max(flops / GPU_FLOPS, launches)


def core_operations(model, inputs) -> int:
    """Operations the CPU dispatches for the recurrent core's fused forward and backward alone
    (what one cuDNN call each replaces on a GPU); 0 for a core without ``forward_sequence``."""
    sequence = getattr(model.core, "forward_sequence", None)
    if sequence is None:
        return 0
    state = model.core.initial_state(inputs.shape[0]).to(inputs.device)
    counter = OperationCounter()
    with counter:
        features, _ = sequence(inputs, state)
        features.sum().backward()
    with OperationCounter() as overhead:  # the sum and its backward are not the core's
        inputs.new_zeros(features.shape, requires_grad=True).sum().backward()
    model.zero_grad()
    return counter.count - overhead.count


def cudnn_seconds(model) -> float:
    """The assumed GPU time of cuDNN's launches for one batch's fused core (forward and backward)."""
    if getattr(model.core, "forward_sequence", None) is None:
        return 0.0
    return CUDNN_KERNELS_PER_STEP * WINDOW * model.core.num_layers * CUDNN_SECONDS_PER_KERNEL


def seconds_per_spectrum_step(architecture: str, hidden_size: int, trajectories: int, dtype,
                              device) -> tuple[float, float]:
    """(measured seconds per spectrum step here, GPU estimate in seconds per step)."""
    model = create_model(architecture, input_size=VOCABULARY, hidden_size=hidden_size, output_size=VOCABULARY,
                         init="uniform", init_scale=0.08, bias=False)
    system = spectrum_system(model.system().to(device=device, dtype=dtype).requires_grad_(False), "h_only")
    inputs = torch.nn.functional.one_hot(torch.randint(VOCABULARY, (trajectories, SPECTRUM_STEPS_MEASURED)),
                                         VOCABULARY).to(device=device, dtype=dtype)
    _synchronise(device)
    started = time.perf_counter()
    lyapunov_spectrum(system, inputs, record_every=None, reorthonormalize_every=1)
    _synchronise(device)
    measured = (time.perf_counter() - started) / SPECTRUM_STEPS_MEASURED
    flops, operations = counted(lambda: lyapunov_spectrum(system, inputs, record_every=None, reorthonormalize_every=1))
    size = int(getattr(system, "tangent_size", system.state_size))
    flops += trajectories * SPECTRUM_STEPS_MEASURED * (2 * size**3 - 2 * size**3 / 3)  # QR of the full frame
    return measured, gpu_seconds(flops, operations) / SPECTRUM_STEPS_MEASURED


def _synchronise(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def experiment_cost(name: str, device, batches: int) -> tuple[int, float, float, float, float]:
    """(runs, training hours, spectrum hours, GPU estimate training hours, GPU estimate spectrum
    hours) of config/paper/<name>.yaml, the first two measured on ``device`` and extrapolated."""
    config = yaml.safe_load((ROOT / f"config/paper/{name}.yaml").read_text())
    runs = expand_sweep(config)
    spectrum = config["spectrum"]
    n_spectra = 1 + len(spectrum["epochs"])  # epoch 0 and the listed ones
    dtype = getattr(torch, spectrum["dtype"])
    cache, totals = {}, [0.0, 0.0, 0.0, 0.0]
    for run in runs:
        key = (run["architecture"], run["hidden_size"])
        if key not in cache:
            cache[key] = (seconds_per_batch(*key, device, batches),
                          seconds_per_spectrum_step(*key, spectrum["trajectories"], dtype, device))
            (batch, gpu_batch), (step, gpu_step) = cache[key]
            print(f"  {name}: {key[0]}-{key[1]}: {batch * 1e3:.1f} ms per batch (GPU estimate {gpu_batch * 1e3:.1f}), "
                  f"{step * 1e3:.2f} ms per spectrum step (GPU estimate {gpu_step * 1e3:.2f})", flush=True)
        (batch, gpu_batch), (step, gpu_step) = cache[key]
        batches_done, steps_done = BATCHES_PER_EPOCH * run["epochs"], spectrum["steps"] * n_spectra
        for index, seconds in enumerate((batch * batches_done, step * steps_done,
                                         gpu_batch * batches_done, gpu_step * steps_done)):
            totals[index] += seconds
    return (len(runs), *(seconds / 3600 for seconds in totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3, help="training batches timed per network size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--experiments", nargs="+", default=["architectures", "grid", "initialisation"],
                        choices=["architectures", "grid", "initialisation"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device {device}, {args.threads} threads, {BATCHES_PER_EPOCH} batches per epoch")
    rows = [(name, *experiment_cost(name, device, args.batches)) for name in args.experiments]
    print(f"\nmeasured here ({device}) and extrapolated | GPU: ESTIMATE from counted FLOPs and operations")
    print(f"{'experiment':<16} {'runs':>5} {'training h':>11} {'spectra h':>10} {'total h':>8} "
          f"{'GPU training h':>15} {'GPU spectra h':>14} {'GPU total h':>12}")
    for name, runs, training, spectra, gpu_training, gpu_spectra in rows:
        print(f"{name:<16} {runs:5d} {training:11.1f} {spectra:10.2f} {training + spectra:8.1f} "
              f"{gpu_training:15.1f} {gpu_spectra:14.2f} {gpu_training + gpu_spectra:12.1f}")


if __name__ == "__main__":
    main()
