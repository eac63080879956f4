"""Covariant Lyapunov vectors of input-driven recurrent systems by Ginelli's method.

Ginelli, Poggi, Turchi, Chate, Livi & Politi, "Characterizing dynamics with covariant Lyapunov
vectors", PRL 99, 130601 (2007); Kuptsov & Parlitz, "Theory and computation of covariant Lyapunov
vectors", J. Nonlinear Sci. 22, 727 (2012), sec. 6.

Forward: a frame of ``n_vectors`` tangent vectors is pushed along the trajectory and QR-factorised
every step, ``J_t Q_{t-1} = Q_t R_t`` (Benettin et al. 1980); the warm-up steps bring ``Q`` onto the
backward (Gram-Schmidt) Lyapunov vectors. Backward: the CLVs at step t are ``V_t = Q_t C_t`` with
``C_t`` upper triangular, and covariance ``J_t V_{t-1} = V_t diag(s_t)`` gives
``C_{t-1} = R_t^{-1} C_t diag(s_t)``: starting from ``C = I`` at the last step, each backward step is
one triangular solve whose column norms are ``1 / |s_t|``, normalised away. The first
``backward_steps`` of the backward pass (the last steps of the inputs) only bring ``C`` onto its
attractor; ``log |s_t|`` at the kept steps are the local growth rates (nats per step).

Memory. Only the k x k factors ``R_t`` of the steps after warm-up are needed, never the frames of
every step: ``Q_t`` is kept at the steps asked for only. The R factors of ``L`` steps take
``L * batch * k^2 * 8`` bytes (float64 frame); when that exceeds :data:`STORED_R_BUDGET_BYTES`,
the steps after warm-up are cut into segments of as many steps as fit in it, and only one segment's
R factors are held at a time: the forward pass stores a checkpoint (state and frame, ``batch *
(state_size + n * k) * 8`` bytes) at the start of each segment, and the backward pass recomputes
each segment's R factors from its checkpoint, last segment first (one extra forward pass over all
but the last segment). Memory is then the budget plus one checkpoint per segment, whatever the
length. The same operations on the same numbers give the same factors, so the result does not
depend on the segment length.
"""

from __future__ import annotations

import math

import torch

from rnn_lyapunov.engine.arguments import (check_input_size, check_inputs, check_parameters_match, check_system,
                                           check_tangent_size, initial_state_of)
from rnn_lyapunov.engine.covariant_arguments import Plan, check_initial_frame, plan_computation
from rnn_lyapunov.engine.covariant_result import clv_dataset
from rnn_lyapunov.engine.lyapunov import _first_step
from rnn_lyapunov.engine.method import AUTO, resolve_method
from rnn_lyapunov.engine.factorizations import QR
from rnn_lyapunov.engine.tangents import frame_propagator
from rnn_lyapunov.errors import NonFiniteStateError

# the R factors held at once, at most (bytes); above it the backward pass recomputes segments
STORED_R_BUDGET_BYTES = 256 * 2**20


def covariant_lyapunov_vectors(system, inputs, *, n_vectors: int | None = None, warmup_steps: int,
                               backward_steps: int, steps_to_keep=None, initial_state=None, initial_frame=None,
                               tangent_dtype=AUTO, segment_steps: int | None = None):
    """The leading covariant Lyapunov vectors (CLVs) and their local growth rates along each trajectory.

    Args:
        system: as for :func:`rnn_lyapunov.lyapunov_spectrum`: ``state_size`` and ``step(state, x)``,
            with ``step_with_tangents`` or ``jacobian`` when it has them (forward-mode autodiff otherwise);
            any registered architecture, ``model.system()`` or ``from_torch(module)``.
        inputs: (batch, time, input_size), float32 or float64, one trajectory per row; input_size 0
            for an autonomous map.
        n_vectors: how many of the leading CLVs, 1..tangent_size (default all).
        warmup_steps: the first steps, which only bring the QR frame onto the backward Lyapunov
            vectors (as long as a spectrum's warm-up).
        backward_steps: the last steps, which only bring the backward iteration onto the CLVs.
            CLVs exist at the steps in between: ``warmup_steps <= t < time - backward_steps``.
        steps_to_keep: the steps t (0-based input index; the vector lives at the state after input
            t) at which to return vectors, increasing, within that window; default every one of them.
        initial_state: (batch, state_size); default ``system.initial_state(batch)`` or zeros.
        initial_frame: (tangent_size, n_vectors) or (batch, tangent_size, n_vectors) of full column
            rank, orthonormalised here; default the spectrum engine's seeded random frame.
        tangent_dtype: "auto" (as for spectra: the inputs' dtype, or float64 where that is cheap),
            torch.float64 or the inputs' dtype.
        segment_steps: steps whose R factors are held at once (see the module docstring); default all
            steps after warm-up while they fit in ``STORED_R_BUDGET_BYTES``, else as many as fit.

    Returns:
        An ``xarray.Dataset`` with ``vectors`` (trajectory, step, state, vector): unit-norm CLVs, the
        sign of each arbitrary; ``local_growth_rates`` (trajectory, step, vector): log of the factor
        by which step t stretched each CLV, nats per step, float64, whose mean over many steps is
        the Lyapunov exponent; coordinate ``vector`` 1-based, in order of decreasing exponent.
        Attributes give the settings and the memory held (``stored_r_factor_bytes``,
        ``checkpoint_bytes``, ``segment_steps``, ``recomputed_steps``).

    Raises:
        InputError: a bad argument, named in the message and in ``error.arguments``.
        NonFiniteStateError: the state or the frame became NaN or infinite, or the map was singular
            along a tracked direction (then that direction has no CLV).
    """
    check_system(system)
    inputs = check_inputs(inputs)
    batch, time_steps, _ = inputs.shape
    tangent_size = check_tangent_size(system)
    plan = plan_computation(time_steps=time_steps, tangent_size=tangent_size, batch=batch, n_vectors=n_vectors,
                            warmup_steps=warmup_steps, backward_steps=backward_steps, steps_to_keep=steps_to_keep,
                            segment_steps=segment_steps, state_size=int(system.state_size),
                            budget_bytes=STORED_R_BUDGET_BYTES)
    check_parameters_match(system, inputs)
    check_input_size(system, inputs)
    method = resolve_method(system, inputs, plan.n_vectors, tangent_size, factorization=QR, tangent_dtype=tangent_dtype)
    state = initial_state_of(system, initial_state, batch, inputs)
    frame = check_initial_frame(initial_frame, batch, tangent_size, plan.n_vectors, method.tangent_dtype, inputs.device)
    with torch.no_grad():
        vectors, growth_rates = _ginelli(frame_propagator(system), state, frame, inputs, plan)
    return clv_dataset(vectors, growth_rates, plan, tangent_dtype=str(method.tangent_dtype).removeprefix("torch."))


def _ginelli(advance, state, frame, inputs, plan: Plan):
    """Forward to the last segment with checkpoints, then each segment backward, last first.

    Returns vectors (batch, kept, tangent_size, k) and growth rates (batch, kept, k), float64 on the CPU.
    """
    batch, k = inputs.shape[0], plan.n_vectors
    vectors = torch.empty(batch, len(plan.kept_steps), frame.shape[1], k, dtype=torch.float64)
    growth_rates = torch.empty(batch, len(plan.kept_steps), k, dtype=torch.float64)
    frame = _orthonormal(frame)
    state, frame = _run(advance, state, frame, inputs, 0, plan.warmup_steps)
    checkpoints = []
    for start, stop in plan.segments[:-1]:
        checkpoints.append((state, frame))
        state, frame = _run(advance, state, frame, inputs, start, stop)
    # the last segment continues from where the forward pass stands; the others replay their checkpoint
    coefficients = torch.eye(k, dtype=torch.float64, device=inputs.device).expand(batch, k, k)
    # one buffer for every segment's R factors: a fresh one per segment would hold two at the peak
    buffer = torch.empty(plan.segment_steps, batch, k, k, dtype=frame.dtype, device=frame.device)
    for index in range(len(plan.segments) - 1, -1, -1):
        start, stop = plan.segments[index]
        if index < len(plan.segments) - 1:
            state, frame = checkpoints.pop()
        factors, kept_frames = _segment(advance, state, frame, inputs, start, stop, plan, buffer[:stop - start])
        coefficients = _backward(factors, kept_frames, coefficients, start, plan, vectors, growth_rates)
    return vectors, growth_rates


def _orthonormal(frame):
    orthonormal, _ = torch.linalg.qr(frame)
    return orthonormal


def _run(advance, state, frame, inputs, start: int, stop: int):
    """Steps start..stop-1 with QR every step, keeping nothing: (state, orthonormal frame)."""
    for time_index in range(start, stop):
        state, frame = _step(advance, state, inputs, time_index, frame)
        frame, _ = torch.linalg.qr(frame)
    _check_finite(state, frame, stop - 1)
    return state, frame


def _step(advance, state, inputs, time_index, frame):
    if time_index == 0:
        return _first_step(advance, state, inputs, frame)
    return advance(state, inputs[:, time_index], frame)


def _segment(advance, state, frame, inputs, start: int, stop: int, plan: Plan, factors):
    """Steps start..stop-1, writing R_t into ``factors`` (stop - start, batch, k, k); returns it and Q_t at the
    kept steps {t: (batch, n, k)}."""
    kept_frames = {}
    for time_index in range(start, stop):
        state, frame = _step(advance, state, inputs, time_index, frame)
        frame, factors[time_index - start] = torch.linalg.qr(frame)
        if time_index in plan.kept_positions:
            kept_frames[time_index] = frame
    _check_finite(state, frame, stop - 1)
    return factors, kept_frames


def _backward(factors, kept_frames, coefficients, start: int, plan: Plan, vectors, growth_rates):
    """Ginelli's backward iteration over one segment: C_{t-1} = R_t^{-1} C_t, columns normalised.

    coefficients: C (batch, k, k) float64 at the segment's last step; returns C before its first step.
    Writes the vectors Q_t C_t and the local growth rates -log|R_t^{-1} c_j| at the kept steps.
    """
    for offset in range(factors.shape[0] - 1, -1, -1):
        time_index = start + offset
        solved = torch.linalg.solve_triangular(factors[offset].double(), coefficients, upper=True)
        norms = torch.linalg.vector_norm(solved, dim=1)  # (batch, k): 1 / |stretch of each CLV over step t|
        position = plan.kept_positions.get(time_index)
        if position is not None:
            vectors[:, position] = (kept_frames[time_index].double() @ coefficients).cpu()
            growth_rates[:, position] = norms.log().neg().cpu()
        coefficients = solved / norms.unsqueeze(1)
    if not bool(torch.isfinite(coefficients).all()):
        raise NonFiniteStateError(
            f"the backward iteration of the CLVs became NaN or infinite in steps {start}..{start + factors.shape[0] - 1}: "
            "the map is singular along a tracked direction there (a zero on the diagonal of R), so that direction has "
            "no covariant vector. Ask for fewer n_vectors or check the system's Jacobian.")
    return coefficients


def _check_finite(state, frame, last_step: int) -> None:
    largest = torch.stack((torch.linalg.vector_norm(state, math.inf), torch.linalg.vector_norm(frame, math.inf).to(state.dtype)))
    if not bool(torch.isfinite(largest).all()):
        raise NonFiniteStateError(
            f"the state or the tangent frame became NaN or infinite by step {last_step}: the network diverged or "
            "its Jacobian is not finite on these inputs. Try float64, shorter sequences or a smaller initialisation scale.")
