"""Covariant Lyapunov vectors against clvlib and lyapynov, on the same systems and trajectories.

    python benchmarks/bench_clv.py             # the workloads below, ratios from one run
    python benchmarks/bench_clv.py --quick     # tiny sizes: a smoke test
    python benchmarks/bench_clv.py --memory    # peak memory of long sequences (one subprocess each)

Peers (the optional extra ``bench``): clvlib 0.1 (``clvlib.pytorch.lyap_analysis`` and
``clvlib.numpy.lyap_analysis``, ``stepper="discrete"``, from a precomputed trajectory) and lyapynov
1.0 (``lyapynov.CLV`` on a ``DiscreteDS``). Neither has a batch dimension: they run
``--peer-trajectories`` trajectories one at a time, and time per trajectory-step is what is compared.
Every tool takes its Jacobians along the SAME float64 trajectory (ours computes it; clvlib reads it;
lyapynov's map reads the next state from it), because two float64 runs of a chaotic map that differ
in one rounding part within ~100 steps. Same transients: ``warmup`` forward steps, ``backward``
backward steps; clvlib computes vectors at every step (its first and last are not converged) and
ours and lyapynov's on the window between the transients only, with the same number of QRs and
triangular solves. Each tool runs once untimed first. Every tool starts from the identity frame and the identity triangle (lyapynov's
random triangle is replaced by it), so that the errors measure roundoff, not how far a random start
converged. clvlib's ``lyap_analysis`` pairs each frame ``Q_i`` with ``R_i``, the factor of the step
INTO i, so its vectors are not covariant (error ~1 against every other tool; its repository's later
``ginelli_method="upwind_ginelli"`` pairs ``Q_i`` with ``R_{i+1}``, as Ginelli's method does). Both its
backends are run here through their own integrator and backward routine with the factors shifted by
one: that pairing, at the same cost. Accuracy: the largest ``1 - |cos|`` between a tool's vectors and a plain float64
NumPy Ginelli loop (the same start and transients) over the window. Rounds are interleaved;
times are medians; ratios are peer / ours from the same run. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("TQDM_DISABLE", "1")  # clvlib draws a progress bar per call

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402

from rnn_lyapunov import covariant_lyapunov_vectors  # noqa: E402
from rnn_lyapunov.engine.systems import HenonMap, TanhRNN  # noqa: E402


@dataclass
class Workload:
    name: str
    system: object
    n_vectors: int
    batch: int
    steps: int
    warmup: int
    backward: int


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [Workload("Henon, 2 CLVs", HenonMap(seed=3), 2, 4, 120, 30, 30),
                Workload("tanh RNN N=8, 8 CLVs", TanhRNN(8, gain=2.0, seed=1), 8, 4, 120, 30, 30)]
    return [Workload("Henon map, 2 CLVs", HenonMap(seed=3), 2, 64, 3000, 200, 200),
            Workload("tanh RNN N=16, all 16 CLVs", TanhRNN(16, gain=2.0, seed=1), 16, 32, 1000, 200, 200),
            Workload("tanh RNN N=64, all 64 CLVs", TanhRNN(64, gain=2.0, seed=1), 64, 16, 600, 150, 150),
            Workload("tanh RNN N=128, leading 8 CLVs", TanhRNN(128, gain=2.0, seed=1), 8, 16, 600, 150, 150)]


def numpy_maps(system):
    """(jacobian(state) -> (n, n)) in NumPy float64 for the peers."""
    if isinstance(system, HenonMap):
        return lambda x: np.array([[-2.0 * system.a * x[0], 1.0], [system.b, 0.0]])
    weight = system.recurrent_weight.numpy()
    bias = system.bias.numpy()
    return lambda x: (1.0 - np.tanh(weight @ x + bias) ** 2)[:, None] * weight


def trajectory_of(workload) -> np.ndarray:
    """(batch, steps + 1, n): the float64 states, the initial one first (what every tool steps along)."""
    state = workload.system.initial_state(workload.batch)
    states = [state]
    empty = torch.zeros(workload.batch, 0, dtype=torch.float64)
    with torch.no_grad():
        for _ in range(workload.steps):
            state = workload.system.step(state, empty)
            states.append(state)
    return torch.stack(states, dim=1).numpy()


def reference_vectors(jacobian, states, workload) -> np.ndarray:
    """Plain float64 Ginelli along one trajectory (steps + 1, n): (window, n, k)."""
    k, frames, factors = workload.n_vectors, [], []
    frame = np.eye(states.shape[1])[:, :k]
    for index in range(workload.steps):
        frame, triangular = np.linalg.qr(jacobian(states[index]) @ frame)
        frames.append(frame)
        factors.append(triangular)
    coefficients, vectors = np.eye(k), []
    for index in range(workload.steps - 1, workload.warmup - 1, -1):
        if index < workload.steps - workload.backward:
            vectors.append(frames[index] @ coefficients)
        coefficients = scipy.linalg.solve_triangular(factors[index], coefficients)
        coefficients /= np.linalg.norm(coefficients, axis=0)
    return np.stack(vectors[::-1])


def error(vectors, reference) -> float:
    """Largest 1 - |cos| between matching vectors (window, n, k) (the vectors have no sign)."""
    cosines = np.abs(np.sum(vectors * reference, axis=1)) / np.linalg.norm(vectors, axis=1)
    return float(np.max(1.0 - cosines))


def run_ours(workload, states):
    inputs = torch.zeros(workload.batch, workload.steps, 0, dtype=torch.float64)
    clvs = covariant_lyapunov_vectors(
        workload.system, inputs, n_vectors=workload.n_vectors, warmup_steps=workload.warmup,
        backward_steps=workload.backward, initial_state=torch.from_numpy(states[:, 0]),
        initial_frame=torch.eye(states.shape[2], workload.n_vectors, dtype=torch.float64))
    return clvs["vectors"].values  # (batch, window, n, k)


def run_clvlib(workload, states, backend: str):
    """clvlib's own integrator and backward routine, with its factors shifted by one (see the module docstring)."""
    import importlib

    window = slice(workload.warmup + 1, workload.steps - workload.backward + 1)  # its index i + 1 is our step i
    package = "clvlib.pytorch" if backend == "torch" else "clvlib.numpy"
    integrators = importlib.import_module(f"{package}.integrators")
    clvs = importlib.import_module(f"{package}.clv")._clvs
    stepper = importlib.import_module(f"{package}.steppers").resolve_stepper("discrete")
    jacobian = numpy_maps(workload.system)
    if backend == "torch":
        trajectory, times = torch.from_numpy(states), torch.arange(states.shape[0], dtype=torch.float64)
        _, _, frames, factors = integrators.run_variational_integrator(
            lambda t, x: x, lambda t, x: torch.from_numpy(jacobian(x.numpy())), trajectory, times, stepper=stepper,
            n_lyap=workload.n_vectors)
        shifted = torch.cat((factors[1:], torch.eye(workload.n_vectors, dtype=torch.float64).unsqueeze(0)))
        return clvs(frames, shifted)[0][window].numpy()
    _, _, frames, factors = integrators.run_variational_integrator(
        lambda t, x: x, lambda t, x: jacobian(x), states, np.arange(states.shape[0], dtype=float), stepper=stepper,
        n_lyap=workload.n_vectors)
    shifted = np.concatenate((factors[1:], np.eye(workload.n_vectors)[None]))
    return clvs(frames, shifted)[0][window]


def run_lyapynov(workload, states):
    import lyapynov

    jacobian = numpy_maps(workload.system)
    system = lyapynov.DiscreteDS(states[0].copy(), 0, lambda x, t: states[int(t) + 1], lambda x, t: jacobian(x))
    window = workload.steps - workload.warmup - workload.backward
    # its backward iteration starts from np.random.rand's triangle: the identity here, as every other tool starts,
    # so that the errors compare roundoff, not how far each random start has converged
    random_matrix = np.random.rand
    np.random.rand = lambda rows, columns: np.eye(rows, columns)
    try:
        vectors = np.asarray(lyapynov.CLV(system, workload.n_vectors, 0, workload.warmup, window, workload.backward, False))[1:]
    finally:
        np.random.rand = random_matrix
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # its last vector comes unnormalised


def measure(workload, rounds: int, peer_trajectories: int) -> dict:
    states = trajectory_of(workload)
    jacobian = numpy_maps(workload.system)
    references = [reference_vectors(jacobian, states[index], workload) for index in range(peer_trajectories)]
    tools = {"ours": lambda: run_ours(workload, states),
             "clvlib (torch)": lambda: [run_clvlib(workload, states[i], "torch") for i in range(peer_trajectories)],
             "clvlib (numpy)": lambda: [run_clvlib(workload, states[i], "numpy") for i in range(peer_trajectories)],
             "lyapynov": lambda: [run_lyapynov(workload, states[i]) for i in range(peer_trajectories)]}
    times = {name: [] for name in tools}
    errors = {}
    for run in tools.values():  # untimed: first-call costs (imports, allocator, torch.func) are not the method's
        run()
    for _ in range(rounds):
        for name, run in tools.items():
            start = time.perf_counter()
            vectors = run()
            times[name].append(time.perf_counter() - start)
            errors[name] = max(error(vectors[index], references[index]) for index in range(peer_trajectories))
    per_step = {name: statistics.median(values) / ((workload.batch if name == "ours" else peer_trajectories) * workload.steps)
                for name, values in times.items()}
    return {"workload": workload.name, "per_trajectory_step_us": {n: 1e6 * v for n, v in per_step.items()},
            "ratio": {n: per_step[n] / per_step["ours"] for n in tools if n != "ours"}, "error": errors}


def memory_child(steps: int, segment_steps) -> None:
    """One run in this process: print the peak RSS (MiB) and the Dataset's memory attributes."""
    system = TanhRNN(32, gain=2.0, seed=1)
    inputs = torch.zeros(16, steps, 0, dtype=torch.float64)
    clvs = covariant_lyapunov_vectors(system, inputs, warmup_steps=100, backward_steps=100,
                                      steps_to_keep=[100, steps - 101], segment_steps=segment_steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"steps": steps, "peak_rss_mib": peak, **{key: int(clvs.attrs[key]) for key in (
        "segment_steps", "recomputed_steps", "stored_r_factor_bytes", "checkpoint_bytes")}}))


def memory_table(step_counts) -> None:
    print("tanh RNN N=32, all 32 CLVs, 16 trajectories, 2 kept steps; peak RSS of a fresh process")
    print(f"{'steps':>7} {'segment':>8} {'R held MiB':>11} {'checkpoints MiB':>16} {'all R would be MiB':>19} {'peak RSS MiB':>13}")
    for steps in step_counts:
        output = subprocess.run([sys.executable, __file__, "--memory-child", str(steps)], capture_output=True, text=True,
                                check=True).stdout
        row = json.loads(output.strip().splitlines()[-1])
        all_r = (steps - 100) * 16 * 32 * 32 * 8 / 2**20
        print(f"{steps:>7} {row['segment_steps']:>8} {row['stored_r_factor_bytes'] / 2**20:>11.1f} "
              f"{row['checkpoint_bytes'] / 2**20:>16.1f} {all_r:>19.1f} {row['peak_rss_mib']:>13.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer-trajectories", type=int, default=2)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    if arguments.memory_child:
        memory_child(arguments.memory_child, None)
        return
    if arguments.memory:
        memory_table([1000, 3000, 6000] if not arguments.quick else [300, 600])
        return
    print(f"torch {torch.__version__}, 1 thread; peers one trajectory at a time ({arguments.peer_trajectories} of them)")
    rows = [measure(workload, arguments.rounds, arguments.peer_trajectories) for workload in workloads(arguments.quick)]
    peers = ["clvlib (torch)", "clvlib (numpy)", "lyapynov"]
    print(f"| workload | ours us/traj-step | {' | '.join(f'{p} us (x)' for p in peers)} | max 1-|cos| ours / peers |")
    print("| --- | --- |" + " --- |" * len(peers) + " --- |")
    for row in rows:
        cells = [f"{row['per_trajectory_step_us'][p]:.1f} ({row['ratio'][p]:.1f}x)" for p in peers]
        errors = " / ".join(f"{row['error'][name]:.0e}" for name in ["ours", *peers])
        print(f"| {row['workload']} | {row['per_trajectory_step_us']['ours']:.2f} | {' | '.join(cells)} | {errors} |")
    fastest = min(min(row["ratio"].values()) for row in rows)
    print(f"smallest ratio (fastest peer / ours): {fastest:.1f}x" if math.isfinite(fastest) else "")


if __name__ == "__main__":
    main()
