"""Stacking one-layer cells into the multi-layer map that the engine sees.

A plugin writes one layer: ``cell(layer, layer_input, layer_state) -> new_layer_state`` and,
optionally, ``linearised_cell(layer, layer_input, layer_state) -> (new_layer_state, tangent_map)``.
The functions here run the layers in order, each taking the layer below's new ``h`` (the first
``hidden_size`` entries of its new state) as its input, and chain the tangent maps so that the
cross-layer blocks of the Jacobian come out without any plugin writing them.

Perturbations travel as ROWS, (batch, k, n): k perturbations of an n-vector. A tangent map is
``tangent_map(input_rows, *block_rows) -> new_rows``: ``input_rows`` (batch, k, layer input size)
perturbs the layer's input, each of ``block_rows`` (batch or 1, k, hidden_size) one of the layer's
``state_blocks_per_layer`` state blocks, any of them None when it is not perturbed (never all);
``new_rows`` (batch, k, state_blocks_per_layer * hidden_size) perturbs the new layer state. Rows
make each weight product one matrix product for all k perturbations of all trajectories.
"""

from __future__ import annotations

import torch


def _joined(parts: list[torch.Tensor], dim: int) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def stacked_step(core, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """state (batch, state_size), x (batch, input_size) -> next state (batch, state_size)."""
    size, width = core.hidden_size, core.state_blocks_per_layer * core.hidden_size
    layer_input, blocks = x, []
    for layer in range(core.num_layers):
        block = core.cell(layer, layer_input, state[:, layer * width:(layer + 1) * width])
        blocks.append(block)
        layer_input = block[:, :size]
    return _joined(blocks, 1)


def step_and_transposed_jacobian(core, state: torch.Tensor, x: torch.Tensor):
    """Next state (batch, state_size) and J^T (batch, state_size, state_size), contiguous.

    Row i of J^T is the change of the next state per unit change of state entry i. A layer's own
    rows come from its tangent map applied to one identity block at a time (batch-free, so the
    weight products do not scale with the batch); the rows of the layers below from its tangent
    map applied to how the layer below's new ``h`` moves with them (already in J^T).
    """
    size, blocks_per_layer = core.hidden_size, core.state_blocks_per_layer
    width = blocks_per_layer * size
    transposed = state.new_empty(state.shape[0], core.state_size, core.state_size)
    identity = torch.eye(size, dtype=state.dtype, device=state.device).unsqueeze(0)
    absent = (None,) * blocks_per_layer
    layer_input, blocks = x, []
    for layer in range(core.num_layers):
        start, end = layer * width, (layer + 1) * width
        block, tangent_map = core.linearised_cell(layer, layer_input, state[:, start:end])
        for index in range(blocks_per_layer):
            row = start + index * size
            transposed[:, row:row + size, start:end] = tangent_map(None, *absent[:index], identity, *absent[index + 1:])
        if layer > 0:
            transposed[:, :start, start:end] = tangent_map(transposed[:, :start, start - width:start - width + size], *absent)
        transposed[:, end:, start:end] = 0  # the layers above do not feed back within a step
        blocks.append(block)
        layer_input = block[:, :size]
    return _joined(blocks, 1), transposed


def stacked_jacobian(core, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d step / d state: (batch, state_size, state_size), a transposed view of a contiguous J^T."""
    return step_and_transposed_jacobian(core, state, x)[1].transpose(1, 2)


def stacked_step_with_tangents(core, state: torch.Tensor, x: torch.Tensor, tangents: torch.Tensor):
    """``(step(state, x), J @ tangents)``; tangents (batch, state_size, k), J formed only for a full frame.

    With ``form_jacobian_for_full_frame`` and k >= state_size, J is formed once and applied as
    (V^T J^T)^T (both factors contiguous); otherwise the tangents are pushed through the tangent
    maps as rows. Either way the result is a transposed view, the column-major layout of the
    engine's QR.
    """
    if core.form_jacobian_for_full_frame and tangents.shape[2] >= core.state_size:
        next_state, transposed = step_and_transposed_jacobian(core, state, x)
        return next_state, torch.bmm(tangents.transpose(1, 2), transposed).transpose(1, 2)
    size, width = core.hidden_size, core.state_blocks_per_layer * core.hidden_size
    rows = tangents.transpose(1, 2)
    layer_input, input_rows, blocks, row_blocks = x, None, [], []
    for layer in range(core.num_layers):
        start, end = layer * width, (layer + 1) * width
        block, tangent_map = core.linearised_cell(layer, layer_input, state[:, start:end])
        layer_rows = tangent_map(input_rows, *rows[:, :, start:end].split(size, dim=2))
        blocks.append(block)
        row_blocks.append(layer_rows)
        layer_input, input_rows = block[:, :size], layer_rows[:, :, :size]
    return _joined(blocks, 1), _joined(row_blocks, 2).transpose(1, 2)
