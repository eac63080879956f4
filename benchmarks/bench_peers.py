"""Side-by-side benchmark against other Lyapunov-spectrum tools, on the same networks.

    python benchmarks/bench_peers.py            # the workloads of docs/performance.md
    python benchmarks/bench_peers.py --quick    # tiny sizes: a smoke test (seconds)

Peers (the optional extra ``bench``: ``pip install -e .[bench]``):

* lyapax (JAX): ``lyapax.lyapunov_spectrum`` of a pure JAX step, ``jax.jit(jax.vmap(...))`` over
  the trajectories, compiled before timing;
* clvlib (torch): ``clvlib.pytorch.lyap_exp(..., stepper="discrete")`` one trajectory at a time
  (it has no batch dimension) from a precomputed trajectory; the Jacobian analytic for the tanh
  RNN, ``torch.func.jacrev`` of the step for LSTM and GRU;
* lyapynov (NumPy): ``lyapynov.LCE`` on a ``DiscreteDS``, one trajectory at a time, float64 only;
  too slow for every trajectory, it runs ``--slow-trajectories`` of them (time per trajectory-step
  is what is compared);
* the authors' code (shlizee/lyapunov-hyperopt) is not installed and not run.

Every tool gets the same weights, the same initial states and the same (zero) inputs: the networks
are autonomous (the input is constant, folded into the bias), which every peer supports. Each tool's
error is measured against a float64 QR-every-step reference along that tool's OWN trajectory
(the states its run went through, in its dtype) and from its own initial frame (ours: a seeded
random frame; clvlib and lyapynov: the identity; lyapax: its seeded random frame). These networks
are chaotic: two float32 trajectories that differ in one rounding drift apart within ~50 steps, so
a float64 trajectory as the reference would measure that drift (1e-3 to 5e-2 nats per step after
200 steps, for every tool alike) instead of the tool's error. The reference is a plain loop here
(``torch.func.jacfwd`` of a hand-written step, QR every step), not our engine. lyapax's states come
from an untimed second call with ``save_states=True`` (checked to give the same exponents).

Ours runs with its defaults and ``reorthonormalize_every="auto"`` (tolerance 1e-6 nats per step
for a float64 network, 1e-4 for a float32 one, whatever the frame): for these near-square frames on the CPU that means LU
between averaging windows and a float64 frame, also for the float32 networks (whose states stay
float32; see ``rnn_lyapunov.engine.method``). The peers QR every step in the workload's dtype,
their accurate setting. "floor" is only the batched J @ T products (in our frame's dtype, every
step) and the bare factorizations (getrf or geqrf+orgqr) of the same shapes at our mean interval.
Rounds are interleaved (each round runs every tool once), times are medians, ratios are peer /
ours from the same run.

Threads: torch.set_num_threads(2); JAX with XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=2" (set here before JAX is imported).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from dataclasses import dataclass, field

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=2")
os.environ.setdefault("TQDM_DISABLE", "1")  # clvlib draws a progress bar per trajectory
THREADS = 2

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnn_lyapunov import from_torch, lyapunov_spectrum  # noqa: E402
from rnn_lyapunov.devices import FLOAT_DTYPES  # noqa: E402
from rnn_lyapunov.engine.factorizations import LUFactorization  # noqa: E402
from rnn_lyapunov.engine.lyapunov import initial_frame  # noqa: E402


@dataclass
class Workload:
    name: str
    kind: str  # "rnn", "lstm", "gru"
    hidden_size: int
    dtype: torch.dtype
    n_exponents: int | None = None  # None: all

    @property
    def state_size(self) -> int:
        return 2 * self.hidden_size if self.kind == "lstm" else self.hidden_size


FULL = [
    Workload("tanh RNN N=256, full, float32", "rnn", 256, torch.float32),
    Workload("tanh RNN N=256, full, float64", "rnn", 256, torch.float64),
    Workload("tanh RNN N=64, full, float32", "rnn", 64, torch.float32),
    Workload("tanh RNN N=64, full, float64", "rnn", 64, torch.float64),
    Workload("nn.LSTM H=128, full (h, c) = 256, float32", "lstm", 128, torch.float32),
    Workload("nn.GRU H=128, full, float32", "gru", 128, torch.float32),
    Workload("tanh RNN N=512, leading 32, float32", "rnn", 512, torch.float32, 32),
]
QUICK = [
    Workload("tanh RNN N=8, full, float64", "rnn", 8, torch.float64),
    Workload("nn.LSTM H=4, leading 4 of (h, c) = 8, float32", "lstm", 4, torch.float32, 4),
]


# -- the networks: numpy weights, a torch module, and hand-written torch / JAX steps ----------------

def make_weights(workload: Workload, seed: int = 0) -> dict:
    """float64 numpy weights; recurrent weights N(0, gain^2 / N) so that the tanh RNN is chaotic."""
    rng = np.random.default_rng(seed)
    size = workload.hidden_size
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[workload.kind]
    gain = {"rnn": 1.5, "lstm": 3.0, "gru": 3.0}[workload.kind]
    return {"weight_hh": gain / math.sqrt(size) * rng.standard_normal((gates * size, size)),
            "bias_ih": 0.1 * rng.standard_normal(gates * size), "bias_hh": 0.1 * rng.standard_normal(gates * size)}


def torch_module(workload: Workload, weights: dict) -> torch.nn.Module:
    module = getattr(torch.nn, {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[workload.kind])(1, workload.hidden_size)
    module = module.to(workload.dtype)  # before copying: float64 weights must not pass through float32
    with torch.no_grad():
        module.weight_ih_l0.zero_()  # the input is zero anyway; autonomous network
        for name, value in weights.items():
            getattr(module, f"{name}_l0").copy_(torch.from_numpy(value))
    return module.requires_grad_(False)


def torch_step(workload: Workload, weights: dict, dtype):
    """An unbatched step state (n,) -> (n,) written from the equations, as a user of clvlib would."""
    w = {name: torch.from_numpy(value).to(dtype) for name, value in weights.items()}
    size = workload.hidden_size
    if workload.kind == "rnn":
        bias = w["bias_ih"] + w["bias_hh"]
        return lambda h: torch.tanh(w["weight_hh"] @ h + bias)
    if workload.kind == "lstm":
        def lstm(state):
            h, c = state[:size], state[size:]
            i, f, g, o = (w["weight_hh"] @ h + w["bias_ih"] + w["bias_hh"]).split(size)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.cat((torch.sigmoid(o) * torch.tanh(c_new), c_new))
        return lstm

    def gru(h):
        input_r, input_z, input_n = w["bias_ih"].split(size)
        hidden_r, hidden_z, hidden_n = (w["weight_hh"] @ h + w["bias_hh"]).split(size)
        r, z = torch.sigmoid(input_r + hidden_r), torch.sigmoid(input_z + hidden_z)
        n = torch.tanh(input_n + r * hidden_n)
        return (1 - z) * n + z * h
    return gru


def jax_step(workload: Workload, weights: dict, dtype):
    import jax
    import jax.numpy as jnp

    w = {name: jnp.asarray(value, dtype=dtype) for name, value in weights.items()}
    size = workload.hidden_size
    if workload.kind == "rnn":
        bias = w["bias_ih"] + w["bias_hh"]
        return lambda h: jnp.tanh(w["weight_hh"] @ h + bias)
    if workload.kind == "lstm":
        def lstm(state):
            h, c = state[:size], state[size:]
            i, f, g, o = jnp.split(w["weight_hh"] @ h + w["bias_ih"] + w["bias_hh"], 4)
            c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            return jnp.concatenate((jax.nn.sigmoid(o) * jnp.tanh(c_new), c_new))
        return lstm

    def gru(h):
        input_r, input_z, input_n = jnp.split(w["bias_ih"], 3)
        hidden_r, hidden_z, hidden_n = jnp.split(w["weight_hh"] @ h + w["bias_hh"], 3)
        r, z = jax.nn.sigmoid(input_r + hidden_r), jax.nn.sigmoid(input_z + hidden_z)
        n = jnp.tanh(input_n + r * hidden_n)
        return (1 - z) * n + z * h
    return gru


def initial_states(workload: Workload, batch: int, seed: int = 1) -> np.ndarray:
    return 0.5 * np.random.default_rng(seed).standard_normal((batch, workload.state_size))


# -- the reference and the tools -------------------------------------------------------------------

def reference_exponents(workload, weights, trajectories: list[np.ndarray], frames) -> list[np.ndarray]:
    """float64, QR every step, along each of ``trajectories`` ((count, steps, n) each: the states at which
    each step's Jacobian is taken) from the matching frame of ``frames`` ((n, k) each): one (count, k)
    array per trajectory, descending, nats per step. Everything travels in one batch."""
    step = torch_step(workload, weights, torch.float64)
    batched_jacobian = torch.vmap(torch.func.jacfwd(step))
    counts = [len(trajectory) for trajectory in trajectories]
    states = torch.cat([torch.from_numpy(np.asarray(trajectory, dtype=np.float64)) for trajectory in trajectories])
    frame = torch.cat([torch.from_numpy(np.array(frame0, dtype=np.float64)).expand(count, -1, -1)
                       for frame0, count in zip(frames, counts)])
    sums = torch.zeros(states.shape[0], frame.shape[2], dtype=torch.float64)
    for index in range(states.shape[1]):
        frame, triangular = torch.linalg.qr(torch.bmm(batched_jacobian(states[:, index]), frame))
        sums += triangular.diagonal(dim1=1, dim2=2).abs().log()
    exponents = -np.sort(-(sums / states.shape[1]).numpy(), axis=1)
    return list(np.split(exponents, np.cumsum(counts)[:-1]))


@dataclass
class Tool:
    """A tool's timed ``run(states0) -> (count, k) exponents``, its initial frame (n, k), and
    ``trajectory(states0) -> (count, steps, n)``: the states its run took Jacobians at (untimed)."""

    run: object
    frame: np.ndarray
    trajectory: object
    trajectories: int  # how many of the batch it runs (the slow peers run a few)
    last: dict = field(default_factory=dict)  # ours: the Spectrum of its last run (method, intervals)


def ours_tool(workload, weights, steps, batch) -> Tool:
    """Our engine on ``from_torch(nn.RNN/LSTM/GRU)``, built once outside the timed calls (as the peers' compilation)."""
    system = from_torch(torch_module(workload, weights))
    inputs = torch.zeros(batch, steps, 1, dtype=workload.dtype)
    last = {}

    def run(states0):
        spectrum = lyapunov_spectrum(system, inputs[:len(states0)], initial_state=torch.from_numpy(states0).to(workload.dtype),
                                     n_exponents=workload.n_exponents, reorthonormalize_every="auto")
        last["spectrum"] = spectrum
        return spectrum.per_trajectory.numpy()

    def trajectory(states0):
        state, states = torch.from_numpy(states0).to(workload.dtype), []
        with torch.no_grad():
            for index in range(steps):
                states.append(state)
                state = system.step(state, inputs[:len(states0), index])
        return torch.stack(states, 1).double().numpy()

    k = workload.n_exponents or workload.state_size
    return Tool(run, initial_frame(workload.state_size, k, dtype=torch.float64, device="cpu").numpy(), trajectory,
                batch, last)


def lyapax_tool(workload, weights, steps, batch) -> Tool:
    import jax
    import jax.numpy as jnp
    import lyapax

    dtype = jnp.float64 if workload.dtype == torch.float64 else jnp.float32
    step = jax_step(workload, weights, dtype)
    k = workload.n_exponents or workload.state_size

    def spectrum(state0, save_states):
        result = lyapax.lyapunov_spectrum(step, state0, dt=1.0, n_steps=steps, k=k, save_states=save_states)
        return (result.exponents, result.trajectory) if save_states else result.exponents

    timed = jax.jit(jax.vmap(lambda state0: spectrum(state0, False)))
    with_states = jax.jit(jax.vmap(lambda state0: spectrum(state0, True)))

    def run(states0):
        return np.asarray(timed(jnp.asarray(states0, dtype=dtype)).block_until_ready(), dtype=np.float64)

    def trajectory(states0):
        exponents, states = with_states(jnp.asarray(states0, dtype=dtype))
        if not np.array_equal(np.asarray(exponents), np.asarray(timed(jnp.asarray(states0, dtype=dtype)))):
            print(f"note: lyapax with save_states=True gave other exponents than the timed call ({workload.name})")
        # saved: the states after steps 1..T; the Jacobians were taken at 0..T-1
        return np.concatenate((np.asarray(states0, dtype=np.float64)[:, None],
                               np.asarray(states, dtype=np.float64)[:, :-1]), axis=1)

    frame = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(0), (workload.state_size, k), dtype=dtype))[0]
    return Tool(run, np.asarray(frame, dtype=np.float64), trajectory, batch)


def clvlib_tool(workload, weights, steps, batch, slow_trajectories) -> Tool:
    from clvlib.pytorch import lyap_exp

    step = torch_step(workload, weights, workload.dtype)
    if workload.kind == "rnn":
        recurrent = torch.from_numpy(weights["weight_hh"]).to(workload.dtype)

        def jacobian(t, x):
            return (1 - step(x) ** 2).unsqueeze(1) * recurrent
    else:
        jacobian_of = torch.func.jacrev(step)

        def jacobian(t, x):
            return jacobian_of(x)

    def states_from(state0):
        states = [state0]
        for _ in range(steps):
            states.append(step(states[-1]))
        return torch.stack(states)

    def run(states0):
        rows = []
        for state0 in torch.from_numpy(states0).to(workload.dtype):
            exponents = lyap_exp(lambda t, x: step(x), jacobian, states_from(state0),
                                 torch.arange(steps + 1, dtype=workload.dtype), stepper="discrete",
                                 n_lyap=workload.n_exponents)[0]
            rows.append(np.sort(exponents.double().numpy())[::-1])
        return np.stack(rows)

    def trajectory(states0):
        return np.stack([states_from(state0)[:-1].double().numpy() for state0 in torch.from_numpy(states0).to(workload.dtype)])

    return Tool(run, np.eye(workload.state_size, workload.n_exponents or workload.state_size), trajectory, slow_trajectories)


def lyapynov_tool(workload, weights, steps, batch, slow_trajectories) -> Tool:
    import lyapynov

    step64 = torch_step(workload, weights, torch.float64)
    jacobian_of = torch.func.jacrev(step64)
    if workload.kind == "rnn":
        recurrent, bias = weights["weight_hh"], weights["bias_ih"] + weights["bias_hh"]

        def map_(x, t):
            return np.tanh(recurrent @ x + bias)

        def jacobian(x, t):
            return (1 - map_(x, t) ** 2)[:, None] * recurrent
    else:
        def map_(x, t):
            return step64(torch.from_numpy(x)).numpy()

        def jacobian(x, t):
            return jacobian_of(torch.from_numpy(x)).numpy()

    k = workload.n_exponents or workload.state_size

    def run(states0):
        rows = []
        for state0 in states0:
            system = lyapynov.DiscreteDS(state0.copy(), 0, map_, jacobian)
            rows.append(np.sort(lyapynov.LCE(system, k, 0, steps, False))[::-1])
        return np.stack(rows)

    def trajectory(states0):
        rows = []
        for state0 in states0:
            states = [np.array(state0, dtype=np.float64)]
            for index in range(steps - 1):
                states.append(map_(states[-1], index))
            rows.append(np.stack(states))
        return np.stack(rows)

    return Tool(run, np.eye(workload.state_size, k), trajectory, slow_trajectories)


def floor_seconds(workload, batch, steps, interval, tangent_dtype, factorization):
    """Only J @ T (batched, in the frame's dtype) every step and the bare factorization every
    ``interval`` steps: getrf for LU (no unpacking of P L), geqrf + orgqr for QR."""
    n, k = workload.state_size, workload.n_exponents or workload.state_size
    jacobian = torch.randn(batch, n, n, dtype=tangent_dtype) / math.sqrt(n)
    frame = torch.linalg.qr(torch.randn(batch, n, k, dtype=tangent_dtype))[0]
    lu = LUFactorization()
    start = time.perf_counter()
    for index in range(steps):
        product = torch.bmm(jacobian, frame)
        if (index + 1) % interval == 0:
            if factorization == "lu":
                lu.factors(product)  # the frame itself stays as it is: the floor leaves out the unpacking
            else:
                frame = torch.linalg.qr(product)[0]
    return time.perf_counter() - start


# -- the comparison --------------------------------------------------------------------------------

def errors(exponents: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max error over the leading half, over the whole spectrum), nats per step."""
    difference = np.abs(exponents - reference)
    return float(difference[:, :max(1, difference.shape[1] // 2)].max()), float(difference.max())


def compare(workload: Workload, *, batch: int, steps: int, rounds: int, slow_trajectories: int, peers) -> dict:
    weights = make_weights(workload)
    states0 = initial_states(workload, batch)
    tools = {"ours": ours_tool(workload, weights, steps, batch)}
    makers = {"lyapax": lambda: lyapax_tool(workload, weights, steps, batch),
              "clvlib": lambda: clvlib_tool(workload, weights, steps, batch, slow_trajectories),
              "lyapynov": lambda: lyapynov_tool(workload, weights, steps, batch, slow_trajectories)}
    k = workload.n_exponents or workload.state_size
    for name in peers:
        if name == "lyapynov" and workload.dtype != torch.float64 and workload.kind == "rnn" and k == workload.state_size:
            continue  # NumPy float64 only: no float32 run to compare at equal precision
        tools[name] = makers[name]()
    outputs, times = {}, {name: [] for name in tools}
    for round_index in range(rounds + 1):  # round 0 compiles (JAX) and warms caches: not timed
        for name, tool in tools.items():
            start = time.perf_counter()
            outputs[name] = tool.run(states0[:tool.trajectories])
            elapsed = time.perf_counter() - start
            if round_index:
                times[name].append(elapsed / (tool.trajectories * steps))
    ours = tools["ours"].last["spectrum"]
    mean_interval = ours.mean_interval
    tangent_dtype = FLOAT_DTYPES[ours.tangent_dtype]
    floor = statistics.median(floor_seconds(workload, batch, steps, max(1, round(mean_interval)), tangent_dtype,
                                            ours.factorization) for _ in range(max(1, rounds))) / (batch * steps)
    row = {"workload": workload.name, "mean_interval": mean_interval, "floor": floor,
           "method": f"{method_label(ours)}, {ours.tangent_dtype}"}
    trajectories = [tool.trajectory(states0[:tool.trajectories]) for tool in tools.values()]
    references = reference_exponents(workload, weights, trajectories, [tool.frame for tool in tools.values()])
    for name, reference in zip(tools, references):
        row[name] = {"seconds": statistics.median(times[name]), "errors": errors(outputs[name], reference)}
    return row


def method_label(spectrum) -> str:
    """"qr", or "lu" with the share of LU among the factorizations (the rest are QR)."""
    if spectrum.factorization != "lu":
        return spectrum.factorization
    counts = spectrum.factorization_counts
    return f"lu ({counts.get('lu', 0) / sum(counts.values()):.0%} LU)"


def markdown(rows: list[dict], peers) -> str:
    header = ["workload", "ours: frame", "ours us/traj-step", "QR or LU every (mean)", "ours err lead/all", "ours/floor"]
    header += [f"{peer} ratio (err lead/all)" for peer in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        ours = row["ours"]
        cells = [row["workload"], row["method"], f"{1e6 * ours['seconds']:.1f}", f"{row['mean_interval']:.2f}",
                 "{:.1e} / {:.1e}".format(*ours["errors"]), f"{ours['seconds'] / row['floor']:.2f}x"]
        for peer in peers:
            if peer in row:
                cells.append("{:.2f} ({:.1e} / {:.1e})".format(row[peer]["seconds"] / ours["seconds"], *row[peer]["errors"]))
            else:
                cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def available_peers() -> list[str]:
    found = []
    for name in ("lyapax", "clvlib", "lyapynov"):
        try:
            __import__(name)
            found.append(name)
        except ImportError:
            pass
    return found


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and steps: a smoke test")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slow-trajectories", type=int, default=2, help="trajectories for clvlib and lyapynov")
    parser.add_argument("--only", default=None, help="run only workloads whose name contains this text")
    parser.add_argument("--peers", default=None,
                        help="comma-separated peers to run (default: every installed one of lyapax, clvlib, lyapynov)")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    workloads = QUICK if arguments.quick else FULL
    if arguments.only:
        workloads = [workload for workload in workloads if arguments.only in workload.name]
    steps, batch, rounds = (20, 2, 1) if arguments.quick else (arguments.steps, arguments.batch, arguments.rounds)
    peers = available_peers()
    if arguments.peers is not None:
        asked = [name for name in arguments.peers.split(",") if name]
        missing = [name for name in asked if name not in peers]
        if missing:
            parser.error(f"--peers {', '.join(missing)}: not installed (installed: {', '.join(peers) or 'none'}; "
                         "pip install -e .[bench])")
        peers = asked
    jax_version = "not used"
    if "lyapax" in peers:  # the JAX peer only: clvlib and lyapynov run without JAX
        import jax

        jax.config.update("jax_enable_x64", True)
        jax_version = jax.__version__
    rows = []
    for workload in workloads:
        rows.append(compare(workload, batch=batch, steps=steps, rounds=rounds,
                            slow_trajectories=min(arguments.slow_trajectories, batch), peers=peers))
        print(markdown(rows[-1:], peers).splitlines()[-1], flush=True)  # each row as soon as it is measured
    print(f"\n{steps} steps, batch {batch}, {rounds} interleaved rounds, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), JAX {jax_version}, XLA_FLAGS={os.environ['XLA_FLAGS']!r}\n")
    print(markdown(rows, peers))
    return rows


if __name__ == "__main__":
    main()
