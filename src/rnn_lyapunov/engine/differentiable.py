"""Finite-time Lyapunov exponents that autograd differentiates: the QR iteration on the tape.

The same algorithm as :func:`rnn_lyapunov.engine.lyapunov.lyapunov_spectrum` with a QR at every
step (Benettin et al. 1980), written so that every operation stays on the autograd tape: the
tangent maps (the plugin's analytic ``step_with_tangents`` or ``jacobian`` where it has one,
forward-mode ``jvp`` through ``step`` otherwise), one ``torch.linalg.qr`` per step with the signs
fixed so that ``diag R > 0`` (the unique QR, a smooth function of the frame), and the logs of
``diag R`` summed in float64. This is what gradient flossing (Engelken, NeurIPS 2023) backpropagates
through; :func:`rnn_lyapunov.floss` is the optimisation loop built on it.

Memory: the graph keeps, per step, a few frame-sized tensors (batch, tangent_size, n_exponents) (the
propagated frame, Q and R of its QR) and the tangent map's saved activations, so it grows as
steps x batch x (tangent_size x n_exponents + state); measured in docs/flossing.md.
"""

from __future__ import annotations

import torch

from rnn_lyapunov.engine.arguments import (check_input_size, check_inputs, check_parameters_match, check_schedule,
                                           check_system, check_tangent_size, initial_state_of)
from rnn_lyapunov.engine.lyapunov import initial_frame
from rnn_lyapunov.engine.tangents import frame_propagator
from rnn_lyapunov.errors import InputError


def differentiable_exponents(system, inputs, *, n_exponents: int, warmup_steps: int = 0, initial_state=None,
                             detach_state: bool = True) -> torch.Tensor:
    """The leading ``n_exponents`` finite-time Lyapunov exponents, differentiable w.r.t. the system's parameters.

    Args:
        system: as for :func:`~rnn_lyapunov.lyapunov_spectrum`: a registered architecture's core,
            ``model.system()`` or ``from_torch(module)`` (whose parameters are the module's own, so
            gradients reach them).
        inputs: (batch, time, input_size), float32 or float64; the frame and state use its dtype.
        n_exponents: how many of the largest exponents, 1..tangent_size.
        warmup_steps: steps that evolve state and frame (on the tape) before the logs are summed;
            must be < time.
        initial_state: (batch, state_size); default ``system.initial_state(batch)`` or zeros.
        detach_state: cut the state out of the graph at every step, so that the gradient flows only
            through each Jacobian's explicit dependence on the parameters (and through the frame);
            False keeps the full derivative, in which the state at step t depends on the parameters
            through every earlier step.

    What the gradient means. The value is ``(1/T) sum_t log R_t,ii`` along one trajectory; its exact
    derivative contains d state_t / d theta, which along a chaotic trajectory grows like
    ``exp(lambda_1 t)``: for sequences much longer than ``1 / lambda_1`` the exact gradient of a
    finite-time exponent is dominated by how the trajectory itself moves, varies wildly from one
    sequence to the next and says little about the mean exponent (the limit and the derivative do
    not commute). ``detach_state=True`` (the default) keeps the part that does not explode: the
    change of the Jacobians at the visited states, chained through the frame, which the QR keeps
    bounded. Measured on a 32-unit tanh RNN (docs/flossing.md): on a contracting network the two
    gradients agree to three digits; on a gain-2.5 chaotic one the exact gradient's norm grows from
    1.6e2 (30 steps) to 2.8e33 (440 steps; float32 overflows soon after) while the detached one stays
    near 1, and flossing on 55-step sequences reaches the target with either. Neither reliably did on
    220-step single sequences (detached 1 seed of 3, exact 0 of 3): use short sequences (tens of
    steps, as the paper does) either way.

    Returns:
        (batch, n_exponents) tensor in float64, nats per step, each row in descending order.

    Raises:
        InputError: a bad argument (the message names it and what is allowed).
    """
    check_system(system)
    inputs = check_inputs(inputs)
    batch, time_steps, _ = inputs.shape
    tangent_size = check_tangent_size(system)
    if n_exponents is None:
        raise InputError(f"n_exponents must be an int in 1..{tangent_size} (the tangent dimension), got None",
                         arguments=("n_exponents",))
    check_schedule(warmup_steps=warmup_steps, time_steps=time_steps, n_exponents=n_exponents, state_size=tangent_size)
    if not isinstance(detach_state, bool):
        raise InputError(f"detach_state must be True or False, got {detach_state!r}", arguments=("detach_state",))
    check_parameters_match(system, inputs)
    check_input_size(system, inputs)
    state = initial_state_of(system, initial_state, batch, inputs)
    frame = initial_frame(tangent_size, int(n_exponents), dtype=inputs.dtype, device=inputs.device)
    frame = frame.expand(batch, tangent_size, int(n_exponents))
    advance = frame_propagator(system)
    log_sums = torch.zeros(batch, int(n_exponents), dtype=torch.float64, device=inputs.device)
    for time_index in range(time_steps):
        if detach_state:
            state = state.detach()
        state, frame = advance(state, inputs[:, time_index], frame)
        frame, log_growth = positive_qr(frame)
        if time_index >= warmup_steps:
            log_sums = log_sums + log_growth
    exponents = log_sums / (time_steps - warmup_steps)
    return exponents.sort(dim=1, descending=True).values


def positive_qr(frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The QR with ``diag R > 0``: frame (batch, n, k) -> (Q (batch, n, k), log diag R (batch, k) in float64).

    Householder QR leaves the signs of ``diag R`` to the reflections; flipping the matching columns
    of Q makes the factorisation unique and so a smooth function of the frame, whose derivative is
    the one ``torch.linalg.qr``'s backward implements. Out of place throughout (autograd's tape).
    """
    orthonormal, triangular = torch.linalg.qr(frame)
    diagonal = triangular.diagonal(dim1=-2, dim2=-1)
    signs = torch.where(diagonal < 0, -1.0, 1.0).to(frame.dtype).detach()
    return orthonormal * signs.unsqueeze(1), (diagonal * signs).double().log()


def not_differentiable(exponents: torch.Tensor) -> str | None:
    """Why flossing cannot move the network whose exponents (or flossing loss) ``exponents`` are,
    or None when it can. The one rule of ``rnn_lyapunov.training.flossing.Flosser`` and of the run
    config's validation (``rnn_lyapunov.config.run_checks.check_flossable``); it lives here, below
    both layers, so that planning refuses exactly what the first flossing update would. No graph
    back to a parameter means no flossing gradient at all."""
    if exponents.requires_grad:
        return None
    return ("the flossing loss does not depend on the network's parameters: its step is not differentiable "
            "(torch.no_grad, .detach() or a non-torch operation inside step)")
