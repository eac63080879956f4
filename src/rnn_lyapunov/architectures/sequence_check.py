"""Checking a plugin's ``forward_sequence`` against its step loop.

``step`` is the single source of truth of an architecture (the Lyapunov engine steps it);
``forward_sequence`` is how training runs a whole sequence at once and must compute the same
network: the same per-step outputs, the same final state and the same parameter gradients, or
the network that is trained would not be the one whose spectrum is measured. The reference is
:func:`~rnn_lyapunov.architectures.model.step_loop` (``step`` then ``output`` at every time step)
on the same Parameters, differentiated by autograd.
"""

from __future__ import annotations

import copy

import torch

from rnn_lyapunov.errors import InputError

# float32's and float64's agreement of two orderings of the same sums (torch's kernels form the
# input projections of all steps in one product and sum the weight gradients over time in another order)
TOLERANCES = {torch.float32: 1e-6, torch.float64: 1e-10}


def _relative_gap(got: torch.Tensor, expected: torch.Tensor) -> float:
    """max |got - expected|, relative to max(1, max |expected|)."""
    scale = max(1.0, float(expected.abs().max()))
    return float((got - expected).abs().max()) / scale


def check_forward_sequence(core, *, batch: int = 3, steps: int = 6, dtype: torch.dtype = torch.float64,
                           atol: float | None = None, seed: int = 0) -> dict[str, float]:
    """Compare ``core.forward_sequence`` with the step loop on random inputs and a random state.

    Args:
        core: a RecurrentArchitecture with ``forward_sequence(inputs (batch, time, input_size),
            state (batch, state_size)) -> (outputs (batch, time, hidden_size), final state)``;
            a converted deep copy is checked, the original is untouched.
        batch, steps: the size of the random sequence.
        dtype: torch.float32 or torch.float64.
        atol: largest allowed gap, relative to max(1, max |reference|); default 1e-6 in float32,
            1e-10 in float64.
        seed: seeds the inputs (standard normal), the initial state (0.5 x standard normal) and the
            random weights of the scalar whose parameter gradients are compared.

    Returns:
        The relative gaps: ``{"outputs": ..., "final state": ..., "gradient of <parameter>": ...}``.

    Raises:
        AssertionError: a gap above ``atol``; the message names what disagrees and by how much.
        InputError: the core has no ``forward_sequence``.
    """
    if not callable(getattr(core, "forward_sequence", None)):
        raise InputError(f"{type(core).__name__} has no forward_sequence to check; the step loop is its only path")
    from rnn_lyapunov.architectures.model import step_loop

    tolerance = TOLERANCES[dtype] if atol is None else atol
    core = copy.deepcopy(core).to(dtype).train()
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, steps, core.input_size, generator=generator, dtype=dtype)
    state = 0.5 * torch.randn(batch, core.state_size, generator=generator, dtype=dtype)
    output_weights = torch.randn(batch, steps, core.hidden_size, generator=generator, dtype=dtype)
    state_weights = torch.randn(batch, core.state_size, generator=generator, dtype=dtype)
    names, parameters = zip(*core.named_parameters())

    def run(path):
        outputs, final_state = path(inputs, state)
        scalar = (outputs * output_weights).sum() + (final_state * state_weights).sum()
        # a parameter the scalar does not reach (a forward_sequence on copies of the weights) has gradient 0
        gradients = torch.autograd.grad(scalar, parameters, allow_unused=True)
        return outputs.detach(), final_state.detach(), [torch.zeros_like(parameter) if gradient is None else gradient
                                                        for parameter, gradient in zip(parameters, gradients)]

    fused, looped = run(core.forward_sequence), run(lambda inputs, state: step_loop(core, inputs, state))
    gaps = {}
    for what, got, expected in (("outputs", fused[0], looped[0]), ("final state", fused[1], looped[1])):
        if got.shape != expected.shape:
            raise AssertionError(f"{type(core).__name__}.forward_sequence returned {what} of shape "
                                 f"{tuple(got.shape)}; the step loop gives {tuple(expected.shape)}")
        gaps[what] = _relative_gap(got, expected)
    gaps.update({f"gradient of {name}": _relative_gap(got, expected)
                 for name, got, expected in zip(names, fused[2], looped[2])})
    worst = max(gaps, key=gaps.get)
    if gaps[worst] > tolerance:
        raise AssertionError(
            f"{type(core).__name__}.forward_sequence disagrees with the step loop in {dtype}: {worst} differs "
            f"by {gaps[worst]:.2e} (relative to max(1, |step loop|); allowed {tolerance:.0e}); every gap: "
            + ", ".join(f"{name} {gap:.2g}" for name, gap in gaps.items()))
    return gaps
