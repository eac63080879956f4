"""GRU, the same map as ``torch.nn.GRU`` (Cho et al. 2014; gates r, z, n in torch's order).

r = sigma(W_ir x + b_ir + W_hr h + b_hr);  z = sigma(W_iz x + b_iz + W_hz h + b_hz);
n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.derivatives import sigmoid_derivative, tanh_derivative
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("gru")
class GRU(RecurrentArchitecture):
    """GRU; a layer's state is its ``h`` (batch, hidden_size)."""

    description = "GRU (torch.nn.GRU); analytic Jacobian"
    torch_module_type = nn.GRU
    gates_per_layer = 3
    # forming J once beats pushing a full frame through the three gate blocks (benchmarks/bench_architectures.py)
    form_jacobian_for_full_frame = True
    mixed_precision_tangents = True

    def linearised_cell(self, layer, layer_input, h):
        """New h (batch, N) and its tangent map, from P_i, P_h, the perturbations of W_ih x and W_hh h:

        dr = r'(P_i,r + P_h,r), dz = z'(P_i,z + P_h,z),
        dn = n'(P_i,n + (W_hn h + b_hn) dr + r P_h,n), dh' = (h - n) dz + (1 - z) dn + z d_h,
        with sigmoid' = sigmoid(a) sigmoid(-a) and tanh' = sech^2 of each gate's pre-activation a
        (:mod:`~rnn_lyapunov.architectures.derivatives`).
        """
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        input_r, input_z, input_n = F.linear(layer_input, weight_ih, bias_ih).chunk(3, dim=1)
        hidden_r, hidden_z, hidden_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=1)
        pre_r, pre_z = input_r + hidden_r, input_z + hidden_z
        r, z = torch.sigmoid(pre_r), torch.sigmoid(pre_z)
        pre_n = input_n + r * hidden_n
        n = torch.tanh(pre_n)

        def tangent_map(input_rows, h_rows):
            sides = [side.split(self.hidden_size, dim=-1)  # (r, z, n) parts of P_i and/or P_h
                     for side in self.weight_rows(layer, input_rows, h_rows) if side is not None]
            d_r = sigmoid_derivative(pre_r).unsqueeze(1) * sum(side[0] for side in sides)
            d_z = sigmoid_derivative(pre_z).unsqueeze(1) * sum(side[1] for side in sides)
            inner = hidden_n.unsqueeze(1) * d_r
            if input_rows is not None:
                inner = inner + sides[0][2]
            if h_rows is not None:  # r gates only the hidden side
                inner = inner + r.unsqueeze(1) * sides[-1][2]
            d_h = (h - n).unsqueeze(1) * d_z + ((1 - z) * tanh_derivative(pre_n)).unsqueeze(1) * inner
            return d_h if h_rows is None else d_h + z.unsqueeze(1) * h_rows

        return (1 - z) * n + z * h, tangent_map
