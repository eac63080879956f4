"""Training speed: against a plain torch model, and the spectra's share of a training run.

1. ``--compare`` (the default part): one Adam training step on a batch of one-hot characters (82
   classes, batch 64 x 100 steps, cross-entropy at every step) for our ``create_model`` (fused
   sequence path, and the step loop for reference) and for the authors' CharRNN shape written in
   plain torch (``nn.RNN``/``nn.LSTM``/``nn.GRU`` + ``nn.Linear``): RNN-256, LSTM-128, LSTM-512,
   GRU-128. Rounds are interleaved (each round times every model once), times are medians,
   ratios (ours / torch) come from the same run. ``--device cuda`` runs the same table on a GPU.
2. ``--share``: ``train_run`` with the default config (``run_config.DEFAULTS``) and with char_text,
   then every run of config/config.yaml (the default workflow), timing every call of
   ``compute_spectrum``: the spectra's share of training (target <= 10 % for the workflow).
3. ``--paths``: training time of a sample of the workflow's runs with the fused sequence path and
   with the step loop, interleaved (what the sequence path saves the workflow).

    python benchmarks/bench_training.py [--compare] [--share] [--paths] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from rnn_lyapunov import create_model
from rnn_lyapunov.training import loop
from rnn_lyapunov.datasets import prepare_dataset
from rnn_lyapunov.config.sweep import expand_sweep

SCENARIOS = {
    "defaults (signal_copy, delay 20)": {},
    "char_text (sequence length 100)": {"dataset": "char_text"},
}
WORKFLOW_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


CHARACTERS, BATCH, STEPS = 82, 64, 100
PEER_WORKLOADS = {"RNN-256": ("rnn", 256), "LSTM-128": ("lstm", 128), "LSTM-512": ("lstm", 512), "GRU-128": ("gru", 128)}
TORCH_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class TorchCharRNN(nn.Module):
    """The authors' CharRNN shape in plain torch: a fused recurrent module and a linear readout."""

    def __init__(self, architecture: str, hidden_size: int):
        super().__init__()
        self.recurrent = TORCH_MODULES[architecture](CHARACTERS, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, CHARACTERS)

    def forward(self, inputs):
        return self.readout(self.recurrent(inputs)[0]), None


def training_step_seconds(model, optimizer, inputs, targets, device) -> float:
    """Seconds of one Adam step: forward, cross-entropy at every step, backward, update."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    outputs, _ = model(inputs)
    loss = F.cross_entropy(outputs.reshape(-1, CHARACTERS), targets.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def compare_with_torch(rounds: int, device: torch.device, with_loop: bool = True) -> dict:
    """Median seconds per training step of each model, rounds interleaved; prints the table."""
    generator = torch.Generator().manual_seed(0)
    characters = torch.randint(CHARACTERS, (BATCH, STEPS + 1), generator=generator)
    inputs = F.one_hot(characters[:, :-1], CHARACTERS).float().to(device)
    targets = characters[:, 1:].to(device)
    contenders = {}
    for workload, (architecture, hidden_size) in PEER_WORKLOADS.items():
        def ours(path="auto"):
            model = create_model(architecture, input_size=CHARACTERS, hidden_size=hidden_size, output_size=CHARACTERS)
            model.sequence_path = path
            return model.to(device)

        models = {"ours": ours(), "torch": TorchCharRNN(architecture, hidden_size).to(device)}
        if with_loop:
            models["ours, step loop"] = ours("loop")
        for name, model in models.items():
            contenders[workload, name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
    times = {key: [] for key in contenders}
    for round_index in range(rounds + 1):  # round 0 warms up (allocator, kernels) and is not counted
        for key, (model, optimizer) in contenders.items():
            seconds = training_step_seconds(model, optimizer, inputs, targets, device)
            if round_index:
                times[key].append(seconds)
    medians = {key: statistics.median(values) for key, values in times.items()}
    loop_column = "  step loop ms  loop / torch" if with_loop else ""
    print(f"\ntraining step, batch {BATCH} x {STEPS} steps, {CHARACTERS} classes, Adam, {device}, "
          f"{torch.get_num_threads()} thread(s), {rounds} interleaved rounds, medians, torch {torch.__version__}")
    print(f"{'workload':<10} {'ours ms':>9} {'torch ms':>9} {'ours / torch':>13}{loop_column}")
    for workload in PEER_WORKLOADS:
        ours, peer = medians[workload, "ours"], medians[workload, "torch"]
        line = f"{workload:<10} {1e3 * ours:9.1f} {1e3 * peer:9.1f} {ours / peer:13.2f}"
        if with_loop:
            looped = medians[workload, "ours, step loop"]
            line += f"  {1e3 * looped:12.1f}  {looped / peer:12.2f}"
        print(line)
    return medians


def measure(config: dict) -> tuple[float, float, int]:
    """(total seconds, seconds inside compute_spectrum, number of spectra) of one run."""
    spent = []
    original = loop.compute_spectrum

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    loop.compute_spectrum = timed  # the name train_run calls
    try:
        with tempfile.TemporaryDirectory() as directory:
            start = time.perf_counter()
            loop.train_run(config, f"{directory}/run", f"{directory}/run.nc", progress=False)
            total = time.perf_counter() - start
    finally:
        loop.compute_spectrum = original
    return total, sum(spent), len(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="ours against plain torch (default when no part is named)")
    parser.add_argument("--share", action="store_true", help="the spectra's share of training")
    parser.add_argument("--paths", action="store_true", help="workflow runs: fused sequence path against the step loop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-loop", action="store_true", help="leave the step-loop column out of --compare")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--architecture", default="rnn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workflow-runs", type=int, default=None, help="only the first N runs of the workflow (--share, --paths)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.compare or not (args.share or args.paths):
        compare_with_torch(args.rounds, torch.device(args.device), with_loop=not args.no_loop)
    if args.share:
        print(f"\n{'scenario':<62} {'total s':>8} {'spectra s':>9} {'spectra':>7} {'share':>6}")
        for name, overrides in SCENARIOS.items():
            config = {"epochs": args.epochs, "architecture": args.architecture, "threads": args.threads,
                      "device": "cpu", **overrides}
            total, spectra, count = measure(config)
            print(f"{name:<62} {total:8.2f} {spectra:9.2f} {count:7d} {spectra / total:6.1%}")
        measure_workflow_default(args.workflow_runs)
    if args.paths:
        compare_sequence_paths(args.workflow_runs)


def workflow_runs(results_dir: str, first: int | None = None) -> list[dict]:
    """The run configs of config/config.yaml (its datasets prepared under ``results_dir``), every
    ``len / first``-th one when ``first`` is given (so the sample spans the sweep's axes)."""
    config = yaml.safe_load(WORKFLOW_CONFIG.read_text())
    for name, preparation in config["datasets"].items():
        prepare_dataset(name, Path(results_dir) / "data" / name, seed=preparation["seed"], **preparation["options"])
    runs = expand_sweep(config, results_dir=results_dir)
    return runs if first is None else runs[::max(1, len(runs) // first)][:first]


def measure_workflow_default(first: int | None = None) -> None:
    """Every run of config/config.yaml (the default workflow's job), as the workflow trains them."""
    totals = {"total": 0.0, "spectra": 0.0, "count": 0}
    with tempfile.TemporaryDirectory() as results_dir:
        runs = workflow_runs(results_dir, first)
        for run in runs:
            total, spectra, count = measure(run)
            totals["total"] += total
            totals["spectra"] += spectra
            totals["count"] += count
    name = f"workflow default, {len(runs)} runs of config/config.yaml"
    print(f"{name:<62} {totals['total']:8.2f} {totals['spectra']:9.2f} {totals['count']:7d} "
          f"{totals['spectra'] / totals['total']:6.1%}")


def compare_sequence_paths(first: int | None = None) -> None:
    """Each sampled workflow run trained with the fused sequence path and with the step loop, one
    after the other (interleaved); prints the summed seconds of both and their ratio."""
    original = loop.build_model
    totals = {"auto": 0.0, "loop": 0.0}
    with tempfile.TemporaryDirectory() as results_dir:
        runs = workflow_runs(results_dir, first)
        try:
            for run in runs:
                for path in totals:
                    def build(config, dataset, path=path):
                        model = original(config, dataset)
                        model.sequence_path = path
                        return model

                    loop.build_model = build
                    totals[path] += measure(run)[0]
        finally:
            loop.build_model = original
    print(f"\nworkflow runs (config/config.yaml, {len(runs)} of them), whole train_run incl. spectra: fused sequence "
          f"path {totals['auto']:.1f} s, step loop {totals['loop']:.1f} s, fused / loop {totals['auto'] / totals['loop']:.2f}")


if __name__ == "__main__":
    main()
