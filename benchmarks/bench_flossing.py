"""What one flossing update costs against one training batch, per architecture and size.

A flossing update: the leading ``n_exponents`` exponents of ``--flossing-batch`` sequences of
``--steps`` steps through the QR iteration on the autograd tape (rnn_lyapunov.differentiable_exponents),
backward, one Adam step on the recurrent core. A training batch: the same model's forward over
``--train-batch`` sequences of the same length, cross-entropy at every step, backward, one Adam step.
Both in float32 on the CPU, each timed as the median of ``--repeats`` calls after one warm-up call.
Report ratios from one run: the absolute times depend on the machine and its load.

    python benchmarks/bench_flossing.py [--sizes 32 64] [--architectures rnn lstm gru] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from rnn_lyapunov import create_model
from rnn_lyapunov.training.flossing import Flosser, flossed_system


def _median_seconds(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(architecture: str, hidden_size: int, *, steps: int, warmup_steps: int, n_exponents: int,
            flossing_batch: int, train_batch: int, repeats: int, detach_state: bool = True) -> tuple[float, float]:
    """(seconds per flossing update, seconds per training batch)."""
    torch.manual_seed(0)
    model = create_model(architecture, input_size=1, hidden_size=hidden_size, output_size=2)
    flosser = Flosser(flossed_system(model), n_exponents=n_exponents, learning_rate=1e-3, warmup_steps=warmup_steps,
                      detach_state=detach_state)
    flossing_inputs = torch.randn(flossing_batch, steps, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_inputs = torch.randn(train_batch, steps, 1)
    labels = torch.randint(0, 2, (train_batch, steps))

    def training_batch():
        outputs, _ = model(train_inputs)
        loss = F.cross_entropy(outputs.reshape(-1, 2), labels.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return (_median_seconds(lambda: flosser.update(flossing_inputs), repeats),
            _median_seconds(training_batch, repeats))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--steps", type=int, default=55)
    parser.add_argument("--warmup-steps", type=int, default=16)
    parser.add_argument("--exponent-fraction", type=float, default=0.25, help="n_exponents = this x hidden_size")
    parser.add_argument("--flossing-batch", type=int, default=1)
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="rnn at 32 units, 3 repeats")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.architectures, arguments.sizes, arguments.repeats = ["rnn"], [32], 3
    torch.set_num_threads(1)
    print(f"{'architecture':>12} {'hidden':>6} {'k':>3} {'flossing update ms':>19} {'training batch ms':>18} "
          f"{'ratio':>6}")
    for architecture in arguments.architectures:
        for size in arguments.sizes:
            k = max(1, round(arguments.exponent_fraction * size))
            flossing, training = measure(architecture, size, steps=arguments.steps, warmup_steps=arguments.warmup_steps,
                                         n_exponents=k, flossing_batch=arguments.flossing_batch,
                                         train_batch=arguments.train_batch, repeats=arguments.repeats)
            print(f"{architecture:>12} {size:>6} {k:>3} {1e3 * flossing:>19.1f} {1e3 * training:>18.1f} "
                  f"{flossing / training:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
