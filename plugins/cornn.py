"""Coupled oscillatory RNN (coRNN) of Rusch & Mishra (2021).

T. K. Rusch and S. Mishra, "Coupled Oscillatory Recurrent Neural Network (coRNN): An accurate and
(gradient) stable architecture for learning long time dependencies", ICLR 2021
(arXiv:2010.00951). A network of damped, driven nonlinear oscillators
y'' = tanh(W y + Wz y' + V u + b) - gamma y - epsilon y', discretised with the IMEX scheme of the
paper's Eq. (3):

    z_n = z_{n-1} + dt tanh(W y_{n-1} + Wz z_{n-1} + V u_n + b) - dt gamma y_{n-1} - dt epsilon z_n
    y_n = y_{n-1} + dt z_n

This plugin has no ``linearised_cell`` (so no analytic ``jacobian``) on purpose: the engine then
pushes tangent vectors through ``step`` by forward-mode autodiff, and this architecture keeps that
path tested.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("cornn")
class CoupledOscillatoryRNN(RecurrentArchitecture):
    """coRNN; layer k > 0 is driven by layer k-1's new position ``y``.

    State: (batch, num_layers * 2 * hidden_size), per layer ``[y, z]`` (position, velocity);
    ``output`` is the last layer's ``y``. Parameters per layer: ``weight_ih_l{k}`` (V),
    ``weight_hh_l{k}`` (W, acting on y), ``weight_zh_l{k}`` (Wz, acting on z) and, with bias,
    ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (whose sum is b).

    Options (defaults: the paper's permuted sequential MNIST settings):
        dt: time step of the discretisation (> 0).
        gamma: oscillator stiffness (>= 0).
        epsilon: damping (>= 0).
    """

    description = "coupled oscillatory RNN (Rusch & Mishra 2021), state [y, z] per layer; autodiff Jacobian"
    state_blocks_per_layer = 2
    gates_per_layer = 1
    recurrent_weight_prefixes = ("weight_hh", "weight_zh")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, dt=0.042, gamma=2.7, epsilon=4.7):
        for name, value, minimum in (("dt", dt, None), ("gamma", gamma, 0.0), ("epsilon", epsilon, 0.0)):
            valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not valid or (value <= 0 if minimum is None else value < minimum):
                allowed = "a positive number" if minimum is None else "a number >= 0"
                raise InputError(f"coRNN option {name} must be {allowed}, got {value!r}")
        super().__init__(input_size, hidden_size, num_layers, bias)
        self.dt, self.gamma, self.epsilon = float(dt), float(gamma), float(epsilon)

    def create_parameters(self):
        super().create_parameters()
        for layer in range(self.num_layers):
            setattr(self, f"weight_zh_l{layer}", nn.Parameter(torch.empty(self.hidden_size, self.hidden_size)))

    def cell(self, layer, layer_input, y, z):
        """New (y, z) of one layer, each (batch, N), driven by x (layer 0) or the new y below."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        drive = torch.tanh(
            F.linear(layer_input, weight_ih, bias_ih) + F.linear(y, weight_hh, bias_hh)
            + F.linear(z, getattr(self, f"weight_zh_l{layer}"))
        )
        z_new = (z + self.dt * (drive - self.gamma * y)) / (1 + self.dt * self.epsilon)
        return y + self.dt * z_new, z_new

    def extra_repr(self):
        return f"{super().extra_repr()}, dt={self.dt}, gamma={self.gamma}, epsilon={self.epsilon}"
