"""GRU, the same map as ``torch.nn.GRU`` (Cho et al. 2014; gates r, z, n in torch's order).

r = sigma(W_ir x + b_ir + W_hr h + b_hr);  z = sigma(W_iz x + b_iz + W_hz h + b_hz);
n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.fast_paths import FastPaths
from rnn_lyapunov.architectures.derivatives import tanh_derivative
from rnn_lyapunov.architectures.fused import fused_sequence
from rnn_lyapunov.architectures.layers import scaled_rows
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("gru")
class GRU(RecurrentArchitecture):
    """GRU; a layer's state is its ``h`` (batch, hidden_size)."""

    description = "GRU (torch.nn.GRU); analytic Jacobian"
    torch_module_type = nn.GRU
    gates_per_layer = 3
    # forming J once beats pushing a full frame through the three gate blocks (benchmarks/bench_architectures.py)
    fast_paths = FastPaths(form_jacobian_for_full_frame=True, mixed_precision_tangents=True)

    def linearised_cell(self, layer, layer_input, h):
        """New h (batch, N) and its tangent map, from P_i, P_h, the perturbations of W_ih x and W_hh h:

        dr = r'(P_i,r + P_h,r), dz = z'(P_i,z + P_h,z),
        dn = n'(P_i,n + (W_hn h + b_hn) dr + r P_h,n), dh' = (h - n) dz + (1 - z) dn + z d_h,
        with sigmoid' = sigmoid(a) sigmoid(-a) and tanh' = sech^2 of each gate's pre-activation a
        (:mod:`~rnn_lyapunov.architectures.derivatives`).
        """
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        size = self.hidden_size
        # r and z in one pass over their 2 H pre-activations, as torch's fused GRU cell does
        input_rz, input_n = F.linear(layer_input, weight_ih, bias_ih).split_with_sizes((2 * size, size), dim=1)
        hidden_rz, hidden_n = F.linear(h, weight_hh, bias_hh).split_with_sizes((2 * size, size), dim=1)
        pre_rz = input_rz + hidden_rz
        rz = torch.sigmoid(pre_rz)
        r, z = rz.chunk(2, dim=1)
        pre_n = torch.addcmul(input_n, r, hidden_n)
        n = torch.tanh(pre_n)
        h_minus_n = h - n
        slopes = {}  # made on the first call of tangent_map (training's step never calls it)

        def slope(side: str) -> torch.Tensor:
            """(batch, 1, 3 H): what a perturbation of each (r, z, n) part of P_i ("input") or P_h
            ("hidden") adds to dh'; the two differ only in n, where r gates the hidden side."""
            if side not in slopes:
                if not slopes:
                    complement = torch.sigmoid(-pre_rz)  # 1 - sigmoid(a) without cancellation, so sigmoid' = rz complement
                    candidate = tanh_derivative(pre_n).mul_(complement[:, size:])  # (1 - z) tanh'(pre_n)
                    reset_update = torch.cat((candidate * hidden_n, h_minus_n), dim=1).mul_(rz).mul_(complement)
                    slopes["parts"] = reset_update, candidate
                reset_update, candidate = slopes["parts"]
                slopes[side] = torch.cat((reset_update, candidate if side == "input" else candidate * r), dim=1).unsqueeze(1)
            return slopes[side]

        def tangent_map(input_rows, h_rows):
            from_input, from_hidden = self.weight_rows(layer, input_rows, h_rows)  # fresh: scaled in place
            scaled = [scaled_rows(rows, slope(side)) for rows, side in ((from_input, "input"), (from_hidden, "hidden"))
                      if rows is not None]
            total = scaled[0] if len(scaled) == 1 else scaled[0] + scaled[1]
            d_h = total.view(total.shape[0], total.shape[1], 3, size).sum(dim=2)
            return d_h if h_rows is None else d_h.addcmul_(z.unsqueeze(1), h_rows)

        return torch.addcmul(n, z, h_minus_n), tangent_map  # (1 - z) n + z h, as torch's GRU cell computes it

    def forward_sequence(self, inputs, state):
        """Every step at once with torch.nn.GRU's kernel on these parameters (see ``fused_sequence``):
        inputs (batch, time, input_size), state (batch, state_size) -> (last layer's h at each step
        (batch, time, hidden_size), final state (batch, state_size))."""
        return fused_sequence(self, "gru", inputs, state)
