"""Derivatives of the gate nonlinearities, accurate where a unit saturates.

``1 - tanh(a)^2`` and ``s (1 - s)`` with ``s = sigmoid(a)`` cancel when the unit saturates: in
float32 ``tanh(a)`` rounds to 1 from |a| ~ 9 and ``sigmoid(a)`` from a ~ 17, so these forms give a
derivative of exactly 0 (a spurious -inf exponent) or one with few correct digits, and the most
negative exponents of a saturated float32 network come out wrong. ``sech(a)^2`` and
``sigmoid(a) sigmoid(-a)`` are the same functions without the cancellation (relative error of a
few eps at any ``a``). Autograd uses the cancelling forms, which agree with these to within a few
eps times the unit's gain, so the Jacobian contract tests (float64, 1e-12) hold either way.
"""

from __future__ import annotations

import torch


def tanh_derivative(pre_activation: torch.Tensor) -> torch.Tensor:
    """d tanh(a) / da = sech(a)^2, elementwise; 0 where cosh(a) overflows (the true value underflows there too)."""
    return torch.cosh(pre_activation).reciprocal().square()


def sigmoid_derivative(pre_activation: torch.Tensor, value: torch.Tensor | None = None) -> torch.Tensor:
    """d sigmoid(a) / da = sigmoid(a) sigmoid(-a), elementwise; ``value``: sigmoid(a) when already computed."""
    if value is None:
        value = torch.sigmoid(pre_activation)
    return value * torch.sigmoid(-pre_activation)
