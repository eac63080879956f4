"""Checking a system's analytic ``jacobian`` against the autograd Jacobian of its ``step``.

``step`` is the single source of truth of an architecture; ``jacobian`` is an optimisation that
must agree with it. The reference is reverse-mode autograd (``torch.func.jacrev``) of ``step`` over
the whole batch, in float64, so a Jacobian that mixes batch rows would be caught too.
"""

from __future__ import annotations

import copy
import math

import torch
from torch.func import jacrev

from rnn_lyapunov.errors import InputError


def autograd_jacobian(system, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d step / d state by autograd: (batch, state_size, state_size).

    The full (batch, state_size, batch, state_size) derivative is formed and its per-trajectory
    diagonal blocks returned; cost grows as batch^2, so keep the batch small.
    """
    full = jacrev(lambda current: system.step(current, x))(state)
    return full.diagonal(dim1=0, dim2=2).permute(2, 0, 1)


def _in_dtype(system, dtype: torch.dtype):
    """``system`` itself if its parameters are already ``dtype``, else a converted deep copy."""
    parameters = getattr(system, "parameters", None)
    if not callable(parameters):
        return system
    if all(parameter.dtype == dtype for parameter in parameters() if parameter.is_floating_point()):
        return system
    return copy.deepcopy(system).to(dtype)


def check_jacobian(
    system,
    state: torch.Tensor | None = None,
    x: torch.Tensor | None = None,
    *,
    batch: int = 4,
    input_size: int | None = None,
    dtype: torch.dtype = torch.float64,
    atol: float = 1e-10,
    rtol: float = 0.0,
    seed: int = 0,
) -> float:
    """Compare ``system.jacobian(state, x)`` with the autograd Jacobian of ``system.step``.

    When the system also has ``step_with_tangents(state, x, tangents)`` (the engine's fast path),
    its output is compared with ``(step(state, x), J @ tangents)`` for three random tangents.

    Args:
        system: anything with ``state_size``, ``step`` and ``jacobian`` (e.g. a plugin instance,
            ``model.system()`` or ``from_torch(module)``). An ``nn.Module`` whose parameters are not
            in ``dtype`` is deep-copied and converted; the original is untouched.
        state: (batch, state_size); default standard normal * 0.5 (seeded), so that gates and
            cell states are away from zero and every term of the Jacobian matters.
        x: (batch, input_size); default standard normal (seeded).
        batch: trajectories when ``state``/``x`` are generated.
        input_size: when ``x`` is generated; default ``system.input_size``.
        dtype: dtype of the comparison (float64 so that rounding does not hide small errors).
        atol: largest allowed absolute difference of any entry.
        rtol: plus this fraction of the autograd entry's size (as ``torch.allclose``): for systems
            whose Jacobian entries are far from 1, where float64 rounding alone exceeds ``atol``.
        seed: seed of the generated state and input.

    Returns:
        The largest absolute difference between the two Jacobians (float).

    Raises:
        InputError: the system has no ``jacobian``, or no input size is known.
        AssertionError: the shapes differ or a difference exceeds ``atol + rtol * |autograd|`` (the message gives
            the worst entry and the layer blocks it falls in).
    """
    if not callable(getattr(system, "jacobian", None)):
        raise InputError(
            f"{type(system).__name__} has no jacobian method to check; the engine uses forward-mode "
            "autodiff for it, which needs no check"
        )
    system = _in_dtype(system, dtype)
    state_size = int(system.state_size)
    generator = torch.Generator().manual_seed(seed)
    if state is None:
        state = 0.5 * torch.randn(batch, state_size, generator=generator, dtype=dtype)
    state = state.to(dtype)
    if x is None:
        input_size = input_size if input_size is not None else getattr(system, "input_size", None)
        if input_size is None:
            raise InputError("pass x or input_size: the system has no input_size attribute")
        x = torch.randn(state.shape[0], input_size, generator=generator, dtype=dtype)
    x = x.to(dtype)
    parameters = getattr(system, "parameters", None)
    if callable(parameters):
        device = next(iter(parameters()), state).device
        state, x = state.to(device), x.to(device)

    with torch.no_grad():
        analytic = system.jacobian(state, x)
    reference = autograd_jacobian(system, state, x).detach()
    name = getattr(system, "architecture_name", None) or type(system).__name__
    if analytic.shape != reference.shape:
        raise AssertionError(
            f"{name}.jacobian returned shape {tuple(analytic.shape)}; expected (batch, state_size, state_size) "
            f"= {tuple(reference.shape)}"
        )
    difference = (analytic - reference).abs()
    max_error = float(difference.max())
    excess = _excess(difference, reference, atol, rtol)
    if not float(excess.max()) <= 0.0:  # also catches NaN
        trajectory, row, column = (int(index) for index in torch.unravel_index(
            torch.nan_to_num(excess, nan=math.inf).argmax(), excess.shape))
        block = _block_note(system, row, column)
        worst = float(difference[trajectory, row, column])
        raise AssertionError(
            f"{name}.jacobian differs from the autograd Jacobian of {name}.step by {worst:.3g} > "
            f"{_tolerance_text(atol, rtol)} "
            f"(worst at trajectory {trajectory}, row {row}, column {column}{block}: analytic "
            f"{float(analytic[trajectory, row, column]):.6g}, autograd {float(reference[trajectory, row, column]):.6g}). "
            "step is the source of truth: fix the tangent map that linearised_cell returns (or the plugin's own "
            "jacobian), or remove it to let the engine use autodiff of step."
        )
    if callable(getattr(system, "step_with_tangents", None)):
        max_error = max(max_error, _check_step_with_tangents(system, state, x, reference, atol, rtol, generator, name))
    return max_error


def _excess(difference: torch.Tensor, reference: torch.Tensor, atol: float, rtol: float) -> torch.Tensor:
    """Each difference minus its allowance ``atol + rtol * |reference|`` (> 0: too far; NaN stays NaN)."""
    return difference - (atol + rtol * reference.abs())


def _tolerance_text(atol: float, rtol: float) -> str:
    return f"atol={atol:g}" if not rtol else f"atol + rtol |autograd| (atol={atol:g}, rtol={rtol:g})"


def _check_step_with_tangents(system, state, x, reference, atol, rtol, generator, name) -> float:
    """``step_with_tangents(state, x, V)`` must return ``(step(state, x), J @ V)``."""
    tangents = torch.randn(*reference.shape[:2], 3, generator=generator, dtype=reference.dtype).to(reference.device)
    with torch.no_grad():
        next_state, pushed = system.step_with_tangents(state, x, tangents)
        expected_state = system.step(state, x)
    expected = reference @ tangents
    if pushed.shape != expected.shape or next_state.shape != expected_state.shape:
        raise AssertionError(
            f"{name}.step_with_tangents returned shapes {tuple(next_state.shape)} and {tuple(pushed.shape)}; "
            f"expected {tuple(expected_state.shape)} and (batch, state_size, k) = {tuple(expected.shape)}"
        )
    state_error = float((next_state - expected_state).abs().max())
    tangent_error = float((pushed - expected).abs().max())
    if not float(_excess((next_state - expected_state).abs(), expected_state, atol, rtol).max()) <= 0.0:
        raise AssertionError(f"{name}.step_with_tangents returns a next state that differs from {name}.step by "
                             f"{state_error:.3g} > {_tolerance_text(atol, rtol)}")
    if not float(_excess((pushed - expected).abs(), expected, atol, rtol).max()) <= 0.0:
        raise AssertionError(
            f"{name}.step_with_tangents differs from (autograd Jacobian of {name}.step) @ tangents by "
            f"{tangent_error:.3g} > {_tolerance_text(atol, rtol)}. step is the source of truth: fix "
            "step_with_tangents or delete it."
        )
    return max(state_error, tangent_error)


def _block_note(system, row: int, column: int) -> str:
    hidden_size = getattr(system, "hidden_size", None)
    blocks = getattr(system, "state_blocks_per_layer", None)
    if not hidden_size or not blocks:
        return ""
    width = hidden_size * blocks
    return f", i.e. d(layer {row // width} state) / d(layer {column // width} state)"
