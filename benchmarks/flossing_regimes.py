"""The measurements behind ``detach_state=True`` (docs/flossing.md, "Regimes").

1. Gradient statistics: for a 32-unit tanh RNN (orthogonal recurrent weights times a gain: 0.5
   contracting, 2.5 chaotic), the gradient of lambda_1 with respect to ``weight_hh_l0`` on 8 single
   sequences of T steps (float64): median norm and the mean cosine between each sequence's gradient
   and their mean, with the state kept on the tape (exact) or detached.
2. Flossing runs: 150 Adam updates (learning rate 1e-2, one fresh Gaussian sequence of T steps per
   update, warm-up 16) of the chaotic network, exact or detached gradient, 3 seeds; lambda_1
   measured by the engine on 16 held-out 300-step sequences before and after.

    python benchmarks/flossing_regimes.py gradients
    python benchmarks/flossing_regimes.py flossing [--steps 55 220] [--batch 8] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse

import torch

from rnn_lyapunov import create_model, differentiable_exponents, floss, lyapunov_spectrum
from rnn_lyapunov.training.flossing import FlossingDivergedError


def _sequences(seed: int, batch: int, steps: int) -> torch.Tensor:
    return torch.randn(batch, steps, 1, generator=torch.Generator().manual_seed(seed))


def _network(gain: float, seed: int = 0):
    torch.manual_seed(seed)
    return create_model("rnn", input_size=1, hidden_size=32, output_size=1, init="orthogonal", init_gain=gain)


def gradients(steps=(30, 55, 110, 220, 440)) -> None:
    for gain in (0.5, 2.5):
        system = _network(gain).double().system()
        for length in steps:
            for detach_state in (False, True):
                rows = []
                for sequence in range(8):
                    exponent = differentiable_exponents(system, _sequences(sequence, 1, length).double(), n_exponents=1,
                                                        warmup_steps=16, detach_state=detach_state)
                    rows.append(torch.autograd.grad(exponent.sum(), system.weight_hh_l0)[0].flatten())
                stacked = torch.stack(rows)
                cosine = torch.nn.functional.cosine_similarity(stacked, stacked.mean(0, keepdim=True)).mean()
                print(f"gain {gain} T {length:4d} detach_state={detach_state!s:5}: median |grad| "
                      f"{stacked.norm(dim=1).median():.3g}, mean cos(grad_i, mean grad) {cosine:.2f}", flush=True)


def flossing(steps=(55, 220), seeds=(1, 2, 3), batch: int = 1) -> None:
    held_out = _sequences(999, 16, 300)
    for length in steps:
        for seed in seeds:
            for detach_state in (False, True):
                model = _network(2.5, seed)

                def leading():
                    spectrum = lyapunov_spectrum(model.system(), held_out, n_exponents=1, warmup_steps=50)
                    return spectrum.exponents[0].item()

                before = leading()
                try:
                    result = floss(model, lambda update: _sequences(1000 * seed + update, batch, length), n_exponents=1,
                                   updates=150, learning_rate=1e-2, warmup_steps=16, detach_state=detach_state)
                    note = f"loss {result.losses[:10].mean():.4f} -> {result.losses[-10:].mean():.4f}"
                except FlossingDivergedError as error:
                    note = f"stopped: {error}"
                print(f"T={length} seed={seed} detach_state={detach_state}: "
                      f"lambda_1 {before:+.3f} -> {leading():+.3f}; {note}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("gradients", "flossing"))
    parser.add_argument("--steps", nargs="+", type=int)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="flossing only")
    parser.add_argument("--batch", type=int, default=1, help="flossing only: sequences per update")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    steps = {"steps": tuple(arguments.steps)} if arguments.steps else {}
    if arguments.what == "gradients":
        gradients(**steps)
    else:
        flossing(**steps, seeds=tuple(arguments.seeds), batch=arguments.batch)
