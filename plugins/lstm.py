"""LSTM, the same map as ``torch.nn.LSTM`` (Hochreiter & Schmidhuber 1997; gates i, f, g, o).

i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x + b_ih + W_hh h + b_hh), split in four;
c' = f * c + i * g;  h' = o * tanh(c').
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architecture import RecurrentArchitecture
from rnn_lyapunov.registry import register_architecture


@register_architecture("lstm")
class LSTM(RecurrentArchitecture):
    """Multi-layer LSTM; layer k > 0 takes layer k-1's new ``h`` as its input.

    State: (batch, num_layers * 2 * hidden_size), per layer ``[h, c]``, first layer first; so a
    one-layer LSTM of hidden size N has a 2N-dimensional state and 2N Lyapunov exponents.
    """

    description = "LSTM (torch.nn.LSTM), state [h, c] per layer; analytic Jacobian"
    torch_module_type = nn.LSTM
    state_blocks_per_layer = 2
    gates_per_layer = 4

    def _layer(self, layer, layer_input, h, c):
        """Gate activations and the new cell/hidden state of one layer, each (batch, hidden_size)."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        gates = F.linear(layer_input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
        input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=1)
        input_gate, forget_gate, output_gate = input_gate.sigmoid(), forget_gate.sigmoid(), output_gate.sigmoid()
        candidate = candidate.tanh()
        c_new = forget_gate * c + input_gate * candidate
        h_new = output_gate * c_new.tanh()
        return input_gate, forget_gate, candidate, output_gate, c_new, h_new

    def step(self, state, x):
        size, layer_input, new_blocks = self.hidden_size, x, []
        for layer in range(self.num_layers):
            block = self.layer_state(state, layer)
            *_, c_new, h_new = self._layer(layer, layer_input, block[:, :size], block[:, size:])
            new_blocks += [h_new, c_new]
            layer_input = h_new
        return torch.cat(new_blocks, dim=1)

    def _linearised_layer(self, layer, layer_input, h, c):
        """New h and c of one layer, f, dh'/dc (batch, N) and the map from perturbations to (dh', dc').

        ``through_gates(d_pre, d_c)``: d_pre (batch, 4N, k) perturbs the gate pre-activations and
        d_c (batch, N, k) or None the old cell state; returns (dh', dc'), each (batch, N, k):
        dc' = g i(1-i) P_i + c f(1-f) P_f + i (1-g^2) P_g + f d_c,  dh' = tanh(c') o(1-o) P_o + o (1-tanh^2 c') dc'.
        """
        i, f, g, o, c_new, h_new = self._layer(layer, layer_input, h, c)
        tanh_c = c_new.tanh()
        scale_i, scale_f, scale_g = (g * i * (1 - i)).unsqueeze(2), (c * f * (1 - f)).unsqueeze(2), (i * (1 - g * g)).unsqueeze(2)
        scale_o, h_per_c = (tanh_c * o * (1 - o)).unsqueeze(2), (o * (1 - tanh_c * tanh_c)).unsqueeze(2)

        def through_gates(d_pre, d_c=None):
            p_i, p_f, p_g, p_o = d_pre.split(self.hidden_size, dim=-2)
            d_c_new = scale_i * p_i + scale_f * p_f + scale_g * p_g
            if d_c is not None:
                d_c_new = d_c_new + f.unsqueeze(2) * d_c
            return scale_o * p_o + h_per_c * d_c_new, d_c_new

        return h_new, c_new, f, h_per_c.squeeze(2), through_gates

    def step_with_tangents(self, state, x, tangents):
        """Next state and J @ tangents (batch, state_size, k), without forming J (the engine's fast path)."""
        size, layer_input, input_tangent, blocks, tangent_blocks = self.hidden_size, x, None, [], []
        for layer in range(self.num_layers):
            start = 2 * size * layer
            h, c = state[:, start:start + size], state[:, start + size:start + 2 * size]
            h_new, c_new, _, _, through_gates = self._linearised_layer(layer, layer_input, h, c)
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            d_pre = torch.matmul(weight_hh, tangents[:, start:start + size])
            if input_tangent is not None:  # layer k's input is layer k-1's new h
                d_pre = d_pre + torch.matmul(weight_ih, input_tangent)
            d_h, d_c = through_gates(d_pre, tangents[:, start + size:start + 2 * size])
            blocks += [h_new, c_new]
            tangent_blocks += [d_h, d_c]
            layer_input, input_tangent = h_new, d_h
        return torch.cat(blocks, dim=1), torch.cat(tangent_blocks, dim=1)

    def jacobian(self, state, x):
        """d step / d state: (batch, state_size, state_size), formed block by block.

        Own h columns: through_gates(W_hh); own c columns are diagonal: dc'/dc = diag(f),
        dh'/dc = diag(o (1-tanh^2 c') f); columns of the layers below: through_gates(W_ih @ rows
        of layer k-1's h').
        """
        size = self.hidden_size
        jacobian = state.new_zeros(state.shape[0], self.state_size, self.state_size)
        layer_input, rows_below = x, None
        for layer in range(self.num_layers):
            start, end = 2 * size * layer, 2 * size * (layer + 1)
            h, c = state[:, start:start + size], state[:, start + size:end]
            h_new, _, f, h_per_c, through_gates = self._linearised_layer(layer, layer_input, h, c)
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            rows_h, rows_c = through_gates(weight_hh)  # own h columns, (batch, N, N) each
            rows_h = torch.cat([rows_h, torch.diag_embed(h_per_c * f)], dim=2)
            rows_c = torch.cat([rows_c, torch.diag_embed(f)], dim=2)
            if rows_below is not None:
                below_h, below_c = through_gates(torch.matmul(weight_ih, rows_below))
                rows_h, rows_c = torch.cat([below_h, rows_h], dim=2), torch.cat([below_c, rows_c], dim=2)
            jacobian[:, start:end, :end] = torch.cat([rows_h, rows_c], dim=1)
            rows_below, layer_input = rows_h, h_new
        return jacobian
