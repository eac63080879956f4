"""Advancing a state and a frame of tangent vectors by one step of a system.

Three ways, chosen once per computation, fastest first:

* the system's own ``step_with_tangents(state, x, tangents)``, which returns the next state and
  ``J @ tangents`` together without materialising a Jacobian per trajectory (for a vanilla RNN,
  ``J @ V = (1 - h'^2) * (W @ V)`` is one shared matrix product for the whole batch);
* the system's own ``jacobian(state, x)`` (batch, state_size, state_size), applied by one batched
  matrix product; fastest when the architecture provides it;
* forward-mode autodiff (``torch.func.jvp`` under ``torch.func.vmap`` over the frame's columns),
  which pushes the ``n_exponents`` tangent vectors through ``step`` without ever forming the
  ``state_size x state_size`` Jacobian, so asking for a few exponents of a large network is cheap.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import jvp, vmap

# (state (batch, state_size), x (batch, input_size), frame (batch, state_size, n_exponents))
#   -> (next_state (batch, state_size), next_frame (batch, state_size, n_exponents))
FramePropagator = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def jacobian_propagator(system) -> FramePropagator:
    """Propagate the frame with the system's analytic Jacobian (cast to the frame's dtype)."""

    def advance(state, x, frame):
        jacobian = system.jacobian(state, x)
        return system.step(state, x), torch.bmm(jacobian.to(frame.dtype), frame)

    return advance


def autodiff_propagator(system) -> FramePropagator:
    """Propagate the frame with forward-mode autodiff through ``system.step``."""

    def advance(state, x, frame):
        def step_from(current_state):
            return system.step(current_state, x)

        def push_forward(tangent):  # tangent: (batch, state_size)
            return jvp(step_from, (state,), (tangent,))[1]

        next_frame = vmap(push_forward, in_dims=2, out_dims=2)(frame)
        return system.step(state, x), next_frame

    return advance


def frame_propagator(system) -> FramePropagator:
    """The system's ``step_with_tangents`` or ``jacobian`` when it has one, autodiff otherwise."""
    if callable(getattr(system, "step_with_tangents", None)):
        return system.step_with_tangents
    if callable(getattr(system, "jacobian", None)):
        return jacobian_propagator(system)
    return autodiff_propagator(system)
