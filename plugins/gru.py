"""GRU, the same map as ``torch.nn.GRU`` (Cho et al. 2014; gates r, z, n in torch's order).

r = sigma(W_ir x + b_ir + W_hr h + b_hr);  z = sigma(W_iz x + b_iz + W_hz h + b_hz);
n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("gru")
class GRU(RecurrentArchitecture):
    """Multi-layer GRU; layer k > 0 takes layer k-1's new ``h`` as its input.

    State: (batch, num_layers * hidden_size), the layers' ``h`` one after another.
    """

    description = "GRU (torch.nn.GRU); analytic Jacobian"
    torch_module_type = nn.GRU
    gates_per_layer = 3

    def _layer(self, layer, layer_input, h):
        """Input part and hidden part of the pre-activations, gates and new h of one layer."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        from_input = F.linear(layer_input, weight_ih, bias_ih)
        from_hidden = F.linear(h, weight_hh, bias_hh)
        input_r, input_z, input_n = from_input.chunk(3, dim=1)
        hidden_r, hidden_z, hidden_n = from_hidden.chunk(3, dim=1)
        reset = torch.sigmoid(input_r + hidden_r)
        update = torch.sigmoid(input_z + hidden_z)
        candidate = torch.tanh(input_n + reset * hidden_n)
        h_new = (1 - update) * candidate + update * h
        return hidden_n, reset, update, candidate, h_new

    def step(self, state, x):
        layer_input, new_blocks = x, []
        for layer in range(self.num_layers):
            *_, layer_input = self._layer(layer, layer_input, self.layer_state(state, layer))
            new_blocks.append(layer_input)
        return torch.cat(new_blocks, dim=1)

    def _linearised_layer(self, layer, layer_input, h):
        """New h and z of one layer (batch, N) and the map from perturbations to dh'.

        Perturbations are rows: ``through_gates(input_side, hidden_side, d_h)`` takes perturbations
        of the input-side and hidden-side pre-activations (..., m, 3N), either None when absent,
        and of the old h (batch, m, N) or None; returns dh' (batch, m, N):
        dr = r(1-r)(P_i,r + P_h,r), dz = z(1-z)(P_i,z + P_h,z),
        dn = (1-n^2)(P_i,n + (W_hn h + b_hn) dr + r P_h,n), dh' = (h - n) dz + (1 - z) dn + z d_h.
        """
        hidden_n, r, z, n, h_new = self._layer(layer, layer_input, h)
        scale_r, scale_z = (r * (1 - r)).unsqueeze(1), (z * (1 - z)).unsqueeze(1)
        scale_n, hidden_n, reset = (1 - n * n).unsqueeze(1), hidden_n.unsqueeze(1), r.unsqueeze(1)
        h_minus_n, keep = (h - n).unsqueeze(1), (1 - z).unsqueeze(1)

        def through_gates(input_side, hidden_side, d_h=None):
            parts = [side.split(self.hidden_size, dim=-1) for side in (input_side, hidden_side) if side is not None]
            d_r = scale_r * sum(part[0] for part in parts)
            d_z = scale_z * sum(part[1] for part in parts)
            inner = hidden_n * d_r
            if input_side is not None:
                inner = inner + parts[0][2]
            if hidden_side is not None:
                inner = inner + reset * parts[-1][2]
            d_h_new = h_minus_n * d_z + keep * (scale_n * inner)
            return d_h_new if d_h is None else d_h_new + z.unsqueeze(1) * d_h

        return h_new, z, through_gates

    def step_with_tangents(self, state, x, tangents):
        """Next state and J @ tangents (batch, state_size, k) without forming J (the engine's fast path).

        Works on the tangents as rows (batch, k, state_size), so each weight product is one matrix
        product for all tangents of all trajectories; returns a transposed (column-major) view.
        With at least state_size tangents, J is formed instead.
        """
        if tangents.shape[2] >= self.state_size:
            # A full frame: forming J once is cheaper than pushing every tangent through the three
            # gate blocks (measured in benchmarks/bench_architectures.py).
            return self.step_with_formed_jacobian(state, x, tangents)
        size, layer_input, input_rows, blocks, row_blocks = self.hidden_size, x, None, [], []
        rows = tangents.transpose(1, 2)
        for layer in range(self.num_layers):
            start, end = layer * size, (layer + 1) * size
            h_new, _, through_gates = self._linearised_layer(layer, layer_input, state[:, start:end])
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            input_side = None if input_rows is None else F.linear(input_rows, weight_ih)
            d_h = through_gates(input_side, F.linear(rows[:, :, start:end], weight_hh), rows[:, :, start:end])
            blocks.append(h_new)
            row_blocks.append(d_h)
            layer_input, input_rows = h_new, d_h
        return torch.cat(blocks, dim=1), torch.cat(row_blocks, dim=2).transpose(1, 2)

    def jacobian(self, state, x):
        """d step / d state: (batch, state_size, state_size), returned as a transposed view.

        Built as its transpose, one row per perturbed state entry: the own h gives
        through_gates(None, W_hh^T) + diag(z); a layer below gives through_gates(its rows of h' @ W_ih^T, None).
        """
        size = self.hidden_size
        transposed = state.new_zeros(state.shape[0], self.state_size, self.state_size)
        layer_input, rows_below = x, None
        for layer in range(self.num_layers):
            start, end = layer * size, (layer + 1) * size
            h_new, z, through_gates = self._linearised_layer(layer, layer_input, state[:, start:end])
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            rows = through_gates(None, weight_hh.T) + torch.diag_embed(z)  # own block, transposed (batch, N, N)
            if rows_below is not None:
                rows = torch.cat([through_gates(F.linear(rows_below, weight_ih), None), rows], dim=1)
            transposed[:, :end, start:end] = rows
            rows_below, layer_input = rows, h_new
        return transposed.transpose(1, 2)
