"""Benchmark: Lyapunov spectra of LSTM and GRU cores by each tangent path.

Full spectrum, all paths timed in the same run on the same inputs:

* ``analytic``: what the engine uses for a built-in plugin, its ``step_with_tangents`` (for a full
  frame of 64 or more columns this forms the analytic Jacobian (batch, state, state) and applies it
  by one ``torch.bmm``; for the one-layer LSTM only the rows of h, c's diagonal rows pushed);
* ``autodiff``: forward-mode autodiff through ``step`` (what a plugin without a Jacobian gets);
* ``naive``: per trajectory and per step, ``torch.autograd.functional.jacobian`` (reverse mode)
  then ``torch.linalg.qr``; too slow to run for all steps, so it runs ``--naive-steps`` steps and
  its time is scaled to the full length (marked ``*``).

The QR decomposition of the (batch, state, state) frame at every step costs the same in every
path, so a second table gives the frame propagation alone (the part the architecture's derivative
code controls), for a full frame and for 32 tangents (the leading 32 exponents), where
``step_with_tangents`` pushes the tangents through the weights without forming J.

Each full-spectrum path runs ``--rounds`` times in alternating order and its fastest run is kept,
which makes the comparison fairer on a machine shared with other jobs.

Run: ``python benchmarks/bench_architectures.py`` (LSTM and GRU, hidden size 256, batch 16, 40
steps, about 3 minutes on 2 CPU cores) or ``--quick`` (hidden size 64) for a smoke run.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from rnn_lyapunov import from_torch, lyapunov_spectrum
from rnn_lyapunov.engine.lyapunov import initial_frame
from rnn_lyapunov.engine.tangents import autodiff_propagator, jacobian_propagator


class _AutodiffOnly:
    """Exposes only ``step`` and ``initial_state``: the engine pushes tangents by forward-mode autodiff."""

    def __init__(self, system):
        self.system, self.state_size = system, system.state_size

    def step(self, state, x):
        return self.system.step(state, x)

    def initial_state(self, batch):
        return self.system.initial_state(batch)


def naive_spectrum(system, inputs: torch.Tensor) -> torch.Tensor:
    """Baseline: one trajectory at a time, reverse-mode Jacobian then QR at every step.

    Returns (batch, state_size) exponents in nats per step (unsorted columns sorted at the end).
    """
    batch, steps, _ = inputs.shape
    state_size = system.state_size
    exponents = torch.zeros(batch, state_size, dtype=torch.float64)
    for trajectory in range(batch):
        state = system.initial_state(1)[0]
        frame = initial_frame(state_size, state_size, dtype=inputs.dtype, device=inputs.device)
        for time_index in range(steps):
            x = inputs[trajectory:trajectory + 1, time_index]
            jacobian = torch.autograd.functional.jacobian(lambda s: system.step(s.unsqueeze(0), x).squeeze(0), state)
            with torch.no_grad():
                state = system.step(state.unsqueeze(0), x).squeeze(0)
                frame, triangular = torch.linalg.qr(jacobian @ frame)
                exponents[trajectory] += triangular.diagonal().abs().double().log()
    return (exponents / steps).sort(dim=1, descending=True).values


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def _propagation_seconds_per_step(advance, state, inputs, frame, repeats: int) -> float:
    with torch.no_grad():
        advance(state, inputs[:, 0], frame)  # warm-up (vmap tracing, allocator)
        start = time.perf_counter()
        for time_index in range(repeats):
            advance(state, inputs[:, time_index], frame)
    return (time.perf_counter() - start) / repeats


def benchmark(module: nn.Module, *, batch: int, steps: int, naive_steps: int, reorthonormalize_every: int = 1,
              few_tangents: int = 32, rounds: int = 2, seed: int = 0) -> dict:
    """Time every path on one module; returns seconds, per-step propagation times and agreement."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, steps, module.input_size, generator=generator)
    system = from_torch(module.eval())
    spectra, seconds = {}, {}
    paths = [("analytic", system), ("autodiff", _AutodiffOnly(system))]
    for round_index in range(rounds):  # alternate the order; keep each path's fastest round (load on a shared machine)
        for path, wrapped in paths if round_index % 2 == 0 else paths[::-1]:
            spectrum, elapsed = _timed(lyapunov_spectrum, wrapped, inputs, reorthonormalize_every=reorthonormalize_every)
            spectra[path], seconds[path] = spectrum.per_trajectory, min(elapsed, seconds.get(path, float("inf")))
    _, naive_seconds = _timed(naive_spectrum, system, inputs[:, :naive_steps])
    seconds["naive"] = naive_seconds * steps / naive_steps

    state = 0.1 * torch.randn(batch, system.state_size, generator=generator)
    full = initial_frame(system.state_size, system.state_size, dtype=inputs.dtype, device=inputs.device)
    full = torch.linalg.qr(full.expand(batch, -1, -1))[0]  # the layout the engine's QR hands back
    frames = {"full": full, "few": torch.linalg.qr(full[:, :, :few_tangents])[0]}
    repeats = min(steps, 5)
    advances = {"analytic": system.step_with_tangents, "jacobian": jacobian_propagator(system),
                "autodiff": autodiff_propagator(system)}
    propagation = {
        (path, size): _propagation_seconds_per_step(advance, state, inputs, frame, repeats)
        for path, advance in advances.items() for size, frame in frames.items()
    }
    _, qr_seconds = _timed(lambda: [torch.linalg.qr(full) for _ in range(repeats)])
    # float32 rounding differs between the paths; it matters most for the most negative exponents
    difference = (spectra["analytic"] - spectra["autodiff"]).abs()
    disagreement = {"all": float(difference.max()), "leading half": float(difference[:, :system.state_size // 2].max())}
    return {"seconds": seconds, "propagation": propagation, "disagreement": disagreement,
            "state_size": system.state_size, "few_tangents": few_tangents, "qr": qr_seconds / repeats}


def _print_table(name: str, result: dict, *, steps: int, naive_steps: int) -> None:
    seconds, propagation, disagreement = result["seconds"], result["propagation"], result["disagreement"]
    print(f"\n{name}: state size {result['state_size']}, full spectrum, {steps} steps; max |exponent difference| "
          f"analytic vs autodiff: {disagreement['leading half']:.1e} (leading half), {disagreement['all']:.1e} (all) nats/step")
    print(f"{'path':<10}{'total s':>10}{'ms/step':>10}{'autodiff/path':>15}{'naive/path':>12}")
    for path in ("analytic", "autodiff", "naive"):
        total = seconds[path]
        mark = "*" if path == "naive" else " "
        print(f"{path:<10}{total:>9.1f}{mark}{1000 * total / steps:>10.1f}{seconds['autodiff'] / total:>15.2f}"
              f"{seconds['naive'] / total:>12.1f}")
    print(f"* naive measured on {naive_steps} steps and scaled to {steps}")
    few = result["few_tangents"]
    print(f"frame propagation only, ms/step: {'path':<10}{'full frame':>12}{'autodiff/path':>15}"
          f"{f'{few} tangents':>14}{'autodiff/path':>15}")
    for path in ("analytic", "jacobian", "autodiff"):
        full, small = propagation[(path, "full")], propagation[(path, "few")]
        print(f"{'':<32}{path:<10}{1000 * full:>12.1f}{propagation[('autodiff', 'full')] / full:>15.2f}"
              f"{1000 * small:>14.1f}{propagation[('autodiff', 'few')] / small:>15.2f}")
    print(f"QR of the full frame (the same in every path): {1000 * result['qr']:.1f} ms/step")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="hidden size 64 (a smoke run)")
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="timed runs per path (fastest kept), order alternating")
    parser.add_argument("--naive-steps", type=int, default=2)
    parser.add_argument("--reorthonormalize-every", type=int, default=1,
                        help="QR every this many steps (the naive baseline always does it every step)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.hidden_size = 64
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), float32, batch {arguments.batch}, "
          f"hidden size {arguments.hidden_size}, QR every {arguments.reorthonormalize_every} step(s)")
    results = {}
    for name, module in (("LSTM", nn.LSTM(16, arguments.hidden_size)), ("GRU", nn.GRU(16, arguments.hidden_size))):
        results[name] = benchmark(module, batch=arguments.batch, steps=arguments.steps, naive_steps=arguments.naive_steps,
                                  reorthonormalize_every=arguments.reorthonormalize_every, rounds=arguments.rounds)
        _print_table(name, results[name], steps=arguments.steps, naive_steps=arguments.naive_steps)
    return results


if __name__ == "__main__":
    main()
