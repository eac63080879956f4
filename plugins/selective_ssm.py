"""A selective diagonal state-space layer, as in Mamba (Gu & Dao 2023), one state per channel.

A. Gu and T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023,
arXiv:2312.00752), Algorithm 2: the step size Delta and the input matrix B depend on the input,
and the recurrence is discretised as ``h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t`` (zero-order
hold for A, Euler for B, as in Mamba's kernel). Here with one state per channel (Mamba's N = 1):

    Delta_t = softplus(W_Delta u_t + b_Delta),   B_t = W_B u_t + b_B,   x_t = W_x u_t + b_x,
    a_t = exp(-Delta_t * exp(a_log)),            h_t = a_t * h_{t-1} + Delta_t * B_t * x_t

for each of hidden_size channels (A = -exp(a_log) < 0, so 0 < a_t < 1). The readout (Mamba's C) and
the next layer see h. The decay a_t depends on the input only, so for one layer the Jacobian
``d h_t / d h_{t-1} = diag(a_t)`` is exactly diagonal and the Lyapunov exponents are the time averages
of ``ln a_t`` per channel, the closed form the tests check; a layer above sees the new h below as its
input, which makes the Jacobian block-triangular with the same diagonal blocks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.registry import register_architecture
from rnn_lyapunov.errors import InputError

#: F.softplus returns its input unchanged above this (its default threshold), so its slope there is 1.
SOFTPLUS_THRESHOLD = 20.0


def softplus_slope(pre_activation: torch.Tensor) -> torch.Tensor:
    """d softplus / dp as torch's ``F.softplus`` computes softplus: sigmoid(p), and exactly 1 above
    the threshold where it returns p (sigmoid(20) = 1 - 2e-9 would differ from step's own derivative)."""
    return torch.where(pre_activation > SOFTPLUS_THRESHOLD, torch.ones_like(pre_activation),
                       torch.sigmoid(pre_activation))

# Mamba's initial A: 1..16 over the state index n (S4D-real); here over channels, cycling
S4D_REAL_PERIOD = 16


@register_architecture("selective_ssm")
class SelectiveSSM(RecurrentArchitecture):
    """Selective diagonal SSM; a layer's state is its h (batch, hidden_size).

    Parameters per layer: ``weight_ih_l{k}`` (3 * hidden_size, layer input size): the rows of
    W_Delta, W_B, W_x in that order; with bias, ``bias_ih_l{k}`` (3 * hidden_size,); ``a_log_l{k}``
    (hidden_size,). Options ``dt_min``, ``dt_max`` (0 < dt_min < dt_max): ``init="default"`` draws each
    channel's initial step size softplus(b_Delta) log-uniformly between them (Mamba's 1e-3, 1e-1), and
    A as in S4D-real. ``init="orthogonal"`` is refused: there is no dense recurrent matrix.
    """

    description = "selective diagonal SSM (Mamba-style, Gu & Dao 2023), input-dependent decay and input; analytic Jacobian"
    gates_per_layer = None
    recurrent_weight_prefixes = ()

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, dt_min=1e-3, dt_max=1e-1):
        for name, value in (("dt_min", dt_min), ("dt_max", dt_max)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"selective_ssm option {name} must be a positive number, got {value!r}")
        if dt_min >= dt_max:
            raise InputError(f"selective_ssm options need dt_min < dt_max, got dt_min={dt_min!r}, dt_max={dt_max!r}")
        self.dt_min, self.dt_max = float(dt_min), float(dt_max)  # before the base class initialises with them
        super().__init__(input_size, hidden_size, num_layers, bias)

    def create_parameters(self):
        for layer in range(self.num_layers):
            layer_input_size = self.input_size if layer == 0 else self.hidden_size
            setattr(self, f"weight_ih_l{layer}", nn.Parameter(torch.empty(3 * self.hidden_size, layer_input_size)))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", nn.Parameter(torch.empty(3 * self.hidden_size)))
            setattr(self, f"a_log_l{layer}", nn.Parameter(torch.empty(self.hidden_size)))

    @torch.no_grad()
    def reset_parameters(self, init="default", init_scale=None, init_gain=None):
        if init == "orthogonal":
            raise InputError("init='orthogonal' needs a dense recurrent matrix; the selective SSM's recurrence is diagonal. "
                             "Use init='default' (Mamba's initialisation, options dt_min, dt_max) or 'uniform'.")
        super().reset_parameters(init, init_scale, init_gain)
        if init != "default":
            return
        size = self.hidden_size
        for layer in range(self.num_layers):
            getattr(self, f"a_log_l{layer}").copy_(torch.log(1.0 + torch.arange(size) % S4D_REAL_PERIOD))
            if self.bias:
                log_range = math.log(self.dt_max) - math.log(self.dt_min)
                step_size = torch.exp(math.log(self.dt_min) + log_range * torch.rand(size))
                bias = getattr(self, f"bias_ih_l{layer}")
                bias[:size].copy_(step_size + torch.log(-torch.expm1(-step_size)))  # softplus^-1(step_size)
                bias[size:].zero_()

    def decay(self, layer: int, step_pre_activation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Delta_t, a_t), each like ``step_pre_activation`` (batch, hidden_size): Delta = softplus(p), a = exp(-Delta exp(a_log))."""
        step_size = F.softplus(step_pre_activation)
        return step_size, torch.exp(-step_size * torch.exp(getattr(self, f"a_log_l{layer}")))

    def linearised_cell(self, layer, layer_input, h):
        """New h (batch, H) and its tangent map, with (dp, dB, dx) = W du the perturbations of the three projections:

        dh' = a dh + sigmoid(p) (B x - exp(a_log) a h) dp + Delta x dB + Delta B dx, since
        dDelta/dp = sigmoid(p) and da/dDelta = -exp(a_log) a.
        """
        weight = getattr(self, f"weight_ih_l{layer}")
        step_pre_activation, input_matrix, channel_input = F.linear(
            layer_input, weight, getattr(self, f"bias_ih_l{layer}", None)).chunk(3, dim=-1)
        step_size, decay = self.decay(layer, step_pre_activation)
        drive = input_matrix * channel_input
        new_h = decay * h + step_size * drive

        def tangent_map(input_rows, h_rows):
            result = None if h_rows is None else decay.unsqueeze(1) * h_rows
            if input_rows is None:
                return result
            slopes = torch.cat((softplus_slope(step_pre_activation) * (drive - torch.exp(getattr(self, f"a_log_l{layer}")) * decay * h),
                                step_size * channel_input, step_size * input_matrix), dim=-1).unsqueeze(1)
            pushed = (F.linear(input_rows, weight.to(input_rows.dtype)) * slopes)
            from_input = pushed.view(pushed.shape[0], pushed.shape[1], 3, self.hidden_size).sum(dim=2)
            return from_input if result is None else from_input + result

        return new_h, tangent_map
