"""Benchmark of the Lyapunov engine; all numbers in one table are measured in the same run.

    python benchmarks/bench_engine.py            # the full table of the issue (several minutes)
    python benchmarks/bench_engine.py --quick    # smaller sizes, fewer steps

For a random tanh RNN (W ~ N(0, g^2/N), g = 1.5, input size 8, batch 16) it reports:
* the engine's time per step, with its defaults (``factorization`` and ``tangent_dtype`` "auto",
  QR or LU every step) and with ``reorthonormalize_every="auto"`` side by side, against (a) the naive baseline a user would write (per trajectory, per
  step, torch.autograd.functional.jacobian then torch.linalg.qr; timed on fewer steps, per step),
  (b) the same engine with Householder QR in the inputs' dtype (the method before LU) and (c) the
  bare floor: only the batched matrix products and the factorizations the engine chose (getrf for
  LU, without unpacking P L; geqrf + orgqr for QR) of the same shapes and dtype;
* the error of float32 states (with a float32 and with a float64 frame), of LU and of
  reorthonormalize_every in {5, 10} against float64 states with QR every step;
* peak resident memory of a fresh process at 1,000 vs 10,000 steps (the LU path, "auto" interval).
Times are medians of repeats; ratios compare numbers taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from rnn_lyapunov import lyapunov_spectrum
from rnn_lyapunov.engine.factorizations import LUFactorization
from rnn_lyapunov.engine.systems import TanhRNN

BATCH = 16
INPUT_SIZE = 8
GAIN = 1.5


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_seconds_per_step(rnn, inputs, n_exponents, repeats, **options):
    """(seconds per step, the Spectrum of the last run)."""
    result = {}

    def run():
        result["spectrum"] = lyapunov_spectrum(rnn, inputs, n_exponents=n_exponents, **options)

    return median_seconds(run, repeats) / inputs.shape[1], result["spectrum"]


def floor_seconds_per_step(hidden_size, n_exponents, steps, dtype, repeats, factorization="qr"):
    """Only the batched products J @ T and the bare factorizations of the same shapes, in a tight loop."""
    jacobians = torch.randn(BATCH, hidden_size, hidden_size, dtype=dtype) / hidden_size**0.5
    frame = torch.linalg.qr(torch.randn(BATCH, hidden_size, n_exponents, dtype=dtype))[0]
    lu = LUFactorization()

    def loop():
        current = frame
        for _ in range(steps):
            if factorization == "lu":
                lu.factors(torch.bmm(jacobians, current))  # the frame stays as it is: no unpacking in the floor
            else:
                current = torch.linalg.qr(torch.bmm(jacobians, current))[0]

    return median_seconds(loop, repeats) / steps


def naive_seconds_per_step(rnn, inputs, n_exponents, steps):
    """What a user would write: one trajectory at a time, a full autograd Jacobian every step."""
    state = rnn.initial_state(1).to(inputs)[0]
    frame = torch.eye(rnn.state_size, n_exponents, dtype=inputs.dtype)
    log_sums = torch.zeros(n_exponents, dtype=torch.float64)
    start = time.perf_counter()
    for trajectory in range(inputs.shape[0]):
        for time_index in range(steps):
            x = inputs[trajectory, time_index]
            jacobian = torch.autograd.functional.jacobian(lambda s: rnn.step(s[None], x[None])[0], state)
            frame, triangular = torch.linalg.qr(jacobian @ frame)
            log_sums += triangular.diagonal().abs().log().double()
            state = rnn.step(state[None], x[None])[0]
    return (time.perf_counter() - start) / steps


def timing_table(hidden_sizes, steps, naive_steps, repeats):
    rows = []
    for hidden_size in hidden_sizes:
        rnn = TanhRNN(hidden_size, INPUT_SIZE, gain=GAIN, seed=0)
        for dtype in (torch.float32, torch.float64):
            inputs = rnn.random_inputs(BATCH, steps, generator=torch.Generator().manual_seed(1), dtype=dtype)
            full_seconds = None
            for n_exponents in (hidden_size, hidden_size // 8):
                engine, spectrum = engine_seconds_per_step(rnn, inputs, n_exponents, repeats)
                plain, _ = engine_seconds_per_step(rnn, inputs, n_exponents, repeats, factorization="qr", tangent_dtype=dtype)
                auto, auto_spectrum = engine_seconds_per_step(rnn, inputs, n_exponents, repeats, reorthonormalize_every="auto")
                tangent_dtype = getattr(torch, spectrum.tangent_dtype)
                floor = floor_seconds_per_step(hidden_size, n_exponents, steps, tangent_dtype, repeats, spectrum.factorization)
                naive = naive_seconds_per_step(rnn, inputs, n_exponents, naive_steps)
                full_seconds = engine if n_exponents == hidden_size else full_seconds
                rows.append({
                    "N": hidden_size, "dtype": str(dtype).removeprefix("torch."), "k": n_exponents,
                    "method": f"{spectrum.factorization}, {spectrum.tangent_dtype}",
                    "engine_ms_per_step": 1e3 * engine, "plain_qr_ms_per_step": 1e3 * plain, "floor_ms_per_step": 1e3 * floor,
                    "naive_ms_per_step": 1e3 * naive, "speedup_vs_naive": naive / engine, "speedup_vs_plain_qr": plain / engine,
                    "engine_over_floor": engine / floor, "cost_vs_full_spectrum": engine / full_seconds,
                    "auto_ms_per_step": 1e3 * auto, "auto_over_every_step": auto / engine,
                    "auto_factorizations": auto_spectrum.factorization_counts, "auto_mean_interval": auto_spectrum.mean_interval,
                })
                print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row):
    return (f"| {row['N']:4d} | {row['dtype']:7s} | {row['k']:4d} | {row['method']} | {row['engine_ms_per_step']:9.3f} | "
            f"{row['plain_qr_ms_per_step']:9.3f} | {row['floor_ms_per_step']:9.3f} | {row['naive_ms_per_step']:10.2f} | "
            f"{row['speedup_vs_plain_qr']:5.2f}x | {row['speedup_vs_naive']:8.1f}x | "
            f"{row['engine_over_floor']:6.2f}x | {row['cost_vs_full_spectrum']:5.2f}x | {row['auto_ms_per_step']:9.3f} | "
            f"{row['auto_over_every_step']:5.2f}x ({row['auto_mean_interval']:.1f} steps, "
            + " ".join(f"{name} {count}" for name, count in row["auto_factorizations"].items()) + ") |")


def accuracy_table(hidden_size, steps):
    rnn = TanhRNN(hidden_size, INPUT_SIZE, gain=GAIN, seed=0)
    inputs = rnn.random_inputs(BATCH, steps, generator=torch.Generator().manual_seed(1))
    reference = lyapunov_spectrum(rnn, inputs, warmup_steps=100, factorization="qr").exponents
    rows = []
    f32, f64 = torch.float32, torch.float64
    # (states, frame, factorization, every); float32 states with a float64 frame and LU is what "auto" picks on the CPU
    cases = [(f64, f64, "lu", 1), (f64, f64, "qr", 5), (f64, f64, "qr", 10), (f32, f32, "qr", 1),
             (f32, f32, "lu", 1), (f32, f64, "lu", 1), (f32, f32, "qr", 5), (f32, f32, "qr", 10)]
    for dtype, frame_dtype, factorization, every in cases:
        result = lyapunov_spectrum(rnn, inputs.to(dtype), warmup_steps=100, reorthonormalize_every=every,
                                   factorization=factorization, tangent_dtype=frame_dtype).exponents
        error = (result - reference).abs()
        top_half = error[: hidden_size // 2]
        rows.append({"N": hidden_size, "dtype": str(dtype).removeprefix("torch."),
                     "frame": str(frame_dtype).removeprefix("torch."), "factorization": factorization,
                     "reorthonormalize_every": every, "max_abs_error_top_half": float(top_half.max()),
                     "max_abs_error_all": float(error.max()), "largest_exponent_error": float(error[0])})
        print(f"| {hidden_size:4d} | {rows[-1]['dtype']:7s} | {rows[-1]['frame']:7s} | {factorization} | {every:3d} | "
              f"{rows[-1]['largest_exponent_error']:.2e} | {rows[-1]['max_abs_error_top_half']:.2e} | "
              f"{rows[-1]['max_abs_error_all']:.2e} |", flush=True)
    return rows


def auto_versus_every_step(hidden_sizes, steps, repeats):
    """reorthonormalize_every="auto" against every step (the engine's other defaults), interleaved repeats, medians.

    Timed in CPU time of this process (``time.process_time``): with one thread that is the wall time
    of a quiet machine, and on a shared one it leaves out the waits for a core."""
    for hidden_size in hidden_sizes:
        rnn = TanhRNN(hidden_size, INPUT_SIZE, gain=GAIN, seed=0)
        for dtype in (torch.float64, torch.float32):
            inputs = rnn.random_inputs(BATCH, steps, generator=torch.Generator().manual_seed(1), dtype=dtype)
            times, counts = {"auto": [], 1: []}, {}
            for _ in range(repeats):
                for every in times:
                    start = time.process_time()
                    spectrum = lyapunov_spectrum(rnn, inputs, reorthonormalize_every=every)
                    times[every].append((time.process_time() - start) / (steps * BATCH))
                    counts[every] = " ".join(f"{name} {count}" for name, count in spectrum.factorization_counts.items())
            auto, every_step = statistics.median(times["auto"]), statistics.median(times[1])
            print(f"| {hidden_size:4d} | {str(dtype).removeprefix('torch.'):7s} | {1e3 * auto:.3f} | {1e3 * every_step:.3f} | "
                  f"{auto / every_step:.2f} | {counts['auto']} vs {counts[1]} |", flush=True)


MEMORY_PROBE = """
import resource, sys, torch
from rnn_lyapunov import lyapunov_spectrum
from rnn_lyapunov.engine.systems import TanhRNN
hidden_size, steps = int(sys.argv[1]), int(sys.argv[2])
rnn = TanhRNN(hidden_size, 8, gain=1.5, seed=0)
inputs = rnn.random_inputs(16, steps, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
lyapunov_spectrum(rnn, inputs, reorthonormalize_every="auto")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, inputs.numel() * inputs.element_size())
"""


def peak_memory(hidden_size, steps):
    output = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(hidden_size), str(steps)],
                            capture_output=True, text=True, check=True).stdout.split()
    return int(output[0]), int(output[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes 64 and 256, 200 steps")
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--naive-steps", type=int, default=5, help="steps per trajectory for the naive baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--auto-only", action="store_true", help='only "auto" against every step, ms per trajectory-step')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    hidden_sizes = args.hidden_sizes or ([64, 256] if args.quick else [64, 256, 512])
    steps = args.steps or (200 if args.quick else 1000)
    if args.auto_only:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, {steps} steps, tanh RNN gain {GAIN}\n")
        print("CPU ms per trajectory-step\n\n| N | inputs | auto ms | every step ms | auto / every step | factorizations, auto vs every step |")
        print("|---|---|---|---|---|---|")
        auto_versus_every_step(hidden_sizes, steps, args.repeats)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, {steps} steps, tanh RNN gain {GAIN}\n")
    print("| N | dtype | k | engine: factorization, frame | engine ms/step | plain QR ms/step | floor ms/step | "
          "naive ms/step | engine vs plain QR | engine vs naive | engine/floor | k vs full | auto ms/step | "
          "auto / every step (mean interval, factorizations) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    timings = timing_table(hidden_sizes, steps, args.naive_steps, args.repeats)
    print("\nAccuracy against float64, QR every step (nats/step):\n")
    print("| N | dtype | frame | factorization | every | largest exponent | top half max | all max |")
    print("|---|---|---|---|---|---|---|---|")
    accuracy = accuracy_table(64, 2000 if not args.quick else 500) + accuracy_table(256, steps)
    memory_steps = (1000, 10000)
    memory = {str(s): peak_memory(256, s) for s in memory_steps}
    small, large = memory["1000"][0], memory["10000"][0]
    print(f"\nPeak RSS, N=256 float32 (float64 frame, LU, auto interval): {small / 2**20:.1f} MiB at 1,000 steps, {large / 2**20:.1f} MiB at 10,000 steps "
          f"(+{100 * (large - small) / small:.1f}%, of which inputs {(memory['10000'][1] - memory['1000'][1]) / 2**20:.1f} MiB)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"timings": timings, "accuracy": accuracy, "peak_rss_bytes": memory}, handle, indent=2)


if __name__ == "__main__":
    main()
