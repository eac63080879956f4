"""Linear recurrent unit (LRU) of Orvieto et al. (2023).

A. Orvieto, S. L. Smith, A. Gu, A. Fernando, C. Gulcehre, R. Pascanu and S. De, "Resurrecting
Recurrent Neural Networks for Long Sequences", ICML 2023 (arXiv:2303.06349). A diagonal complex
linear recurrence with the stable exponential parametrisation of the paper's sec. 3.3:

    h_t = lambda * h_{t-1} + gamma * (B u_t + b),   lambda = exp(-exp(nu_log) + i exp(theta_log)),
    gamma = exp(gamma_log)  (initialised to sqrt(1 - |lambda|^2), the paper's normalisation)

so that |lambda| = exp(-exp(nu_log)) < 1 for every value of the parameters. The state holds the
real and imaginary parts, ``[Re h, Im h]`` per layer; the readout and the next layer see ``Re h`` (the
paper's output ``Re(C h)`` with the complex C folded into the readout's real weights on Re h: a
readout of Re h alone, since the imaginary part reaches Re h through the rotation). The paper's
skip ``D u`` and the MLP between layers are left out: the recurrence is what this package measures.

The tangent map is the recurrence itself, ``dh' = lambda dh + gamma B du``: each channel's 2 x 2
block is |lambda| times a rotation, so its two Lyapunov exponents are both ``ln|lambda_j| =
-exp(nu_log_j)``, the closed form the tests check.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.registry import register_architecture
from rnn_lyapunov.errors import InputError


def _check_option(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"lru option {name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


@register_architecture("lru")
class LinearRecurrentUnit(RecurrentArchitecture):
    """LRU; per layer the state is ``[Re h, Im h]``, (batch, 2 * hidden_size).

    Parameters per layer: ``nu_log_l{k}``, ``theta_log_l{k}``, ``gamma_log_l{k}`` (hidden_size,),
    ``weight_ih_l{k}`` (2 * hidden_size, layer input size): the rows of Re B then Im B, and, with
    bias, ``bias_ih_l{k}`` (2 * hidden_size,).

    Options (the paper's ring initialisation, used by ``init="default"``): ``r_min``, ``r_max``:
    |lambda| drawn so that |lambda|^2 is uniform in [r_min^2, r_max^2] (0 <= r_min < r_max <= 1);
    ``max_phase``: arg lambda uniform in [0, max_phase]. ``init="uniform"`` draws every parameter in
    [-init_scale, init_scale] instead (|lambda| = exp(-exp(nu_log)) stays below 1). There is no dense
    recurrent matrix, so ``init="orthogonal"`` is refused.
    """

    description = "linear recurrent unit (Orvieto et al. 2023), diagonal complex, state [Re h, Im h]; analytic Jacobian"
    state_blocks_per_layer = 2
    gates_per_layer = None
    recurrent_weight_prefixes = ()

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, r_min=0.0, r_max=1.0, max_phase=2 * math.pi):
        # set before the base class initialises the parameters with them
        self.r_min = _check_option("r_min", r_min, 0.0, 1.0)
        self.r_max = _check_option("r_max", r_max, 0.0, 1.0)
        if self.r_min >= self.r_max:
            raise InputError(f"lru options need r_min < r_max, got r_min={r_min!r}, r_max={r_max!r}")
        self.max_phase = _check_option("max_phase", max_phase, 1e-9, 2 * math.pi)
        super().__init__(input_size, hidden_size, num_layers, bias)

    def create_parameters(self):
        for layer in range(self.num_layers):
            layer_input_size = self.input_size if layer == 0 else self.hidden_size
            for name in ("nu_log", "theta_log", "gamma_log"):
                setattr(self, f"{name}_l{layer}", nn.Parameter(torch.empty(self.hidden_size)))
            setattr(self, f"weight_ih_l{layer}", nn.Parameter(torch.empty(2 * self.hidden_size, layer_input_size)))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", nn.Parameter(torch.empty(2 * self.hidden_size)))

    @torch.no_grad()
    def reset_parameters(self, init="default", init_scale=None, init_gain=None):
        if init == "orthogonal":
            raise InputError("init='orthogonal' needs a dense recurrent matrix; the LRU's recurrence is diagonal. Use "
                             "init='default' (the paper's ring initialisation, options r_min, r_max, max_phase) or 'uniform'.")
        super().reset_parameters(init, init_scale, init_gain)
        if init != "default":
            return
        for layer in range(self.num_layers):
            radius_squared = self.r_min**2 + (self.r_max**2 - self.r_min**2) * torch.rand(self.hidden_size)
            radius_squared.clamp_(min=1e-12, max=1.0 - 1e-7)  # |lambda| in (0, 1): nu_log finite
            getattr(self, f"nu_log_l{layer}").copy_(torch.log(-0.5 * torch.log(radius_squared)))
            getattr(self, f"theta_log_l{layer}").copy_(torch.log(self.max_phase * torch.rand(self.hidden_size).clamp_(min=1e-6)))
            getattr(self, f"gamma_log_l{layer}").copy_(0.5 * torch.log1p(-radius_squared))
            weight = getattr(self, f"weight_ih_l{layer}")
            weight.normal_(0.0, 1.0 / math.sqrt(2 * weight.shape[1]))  # Glorot for Re B and Im B
            if self.bias:
                getattr(self, f"bias_ih_l{layer}").zero_()

    def eigenvalues(self, layer: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(Re lambda, Im lambda) of one layer, each (hidden_size,)."""
        modulus = torch.exp(-torch.exp(getattr(self, f"nu_log_l{layer}")))
        phase = torch.exp(getattr(self, f"theta_log_l{layer}"))
        return modulus * torch.cos(phase), modulus * torch.sin(phase)

    def linearised_cell(self, layer, layer_input, real, imaginary):
        """New (Re h, Im h), each (batch, H), and the tangent map of the recurrence (the map itself, without b)."""
        weight = getattr(self, f"weight_ih_l{layer}")
        lambda_real, lambda_imaginary = self.eigenvalues(layer)
        gamma = torch.exp(getattr(self, f"gamma_log_l{layer}"))
        drive_real, drive_imaginary = F.linear(layer_input, weight, getattr(self, f"bias_ih_l{layer}", None)).chunk(2, dim=-1)
        new_real = lambda_real * real - lambda_imaginary * imaginary + gamma * drive_real
        new_imaginary = lambda_imaginary * real + lambda_real * imaginary + gamma * drive_imaginary

        def tangent_map(input_rows, real_rows, imaginary_rows):  # rows (batch or 1, k, ...), None where not perturbed
            parts_real, parts_imaginary = [], []
            if input_rows is not None:
                pushed_real, pushed_imaginary = F.linear(input_rows, weight.to(input_rows.dtype)).chunk(2, dim=-1)
                parts_real.append(gamma * pushed_real)
                parts_imaginary.append(gamma * pushed_imaginary)
            if real_rows is not None:
                parts_real.append(lambda_real * real_rows)
                parts_imaginary.append(lambda_imaginary * real_rows)
            if imaginary_rows is not None:
                parts_real.append(-lambda_imaginary * imaginary_rows)
                parts_imaginary.append(lambda_real * imaginary_rows)
            return sum(parts_real[1:], parts_real[0]), sum(parts_imaginary[1:], parts_imaginary[0])

        return (new_real, new_imaginary), tangent_map
