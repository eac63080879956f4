"""Stacking one-layer cells into the multi-layer map that the engine sees.

A layer's state is ``state_blocks_per_layer`` blocks of ``hidden_size`` (``h``, or ``h, c``, ...),
``h`` first. A plugin writes one layer: ``cell(layer, layer_input, *blocks) -> new blocks`` and,
optionally, ``linearised_cell(layer, layer_input, *blocks) -> (new blocks, tangent_map)``; "new
blocks" is one (batch, hidden_size) tensor for a one-block state, else a tuple of them. The
functions here run the layers in order, each taking the new ``h`` of the layer below as its input,
and chain the tangent maps, so that no plugin writes the cross-layer blocks of the Jacobian.

Perturbations travel as ROWS, (batch, k, n): k perturbations of an n-vector, so that each weight
product is one matrix product for all k perturbations of all trajectories. A tangent map is
``tangent_map(input_rows, *block_rows) -> new block rows``: ``input_rows`` (batch, k, layer input
size) perturbs the layer's input, each of ``block_rows`` (batch or 1, k, hidden_size) one state
block, any of them None when not perturbed (never all); it returns the rows of the new blocks as
``cell`` returns the blocks, and never writes into its arguments (:func:`identity_rows` are shared).

One general path stacks any core: each function below loops over the layers, splitting the state
into blocks and joining the new ones. Its one fast path: a core whose whole state is one block
(one layer, one block: the RNN and GRU of one layer) is neither split nor joined, and its J^T is
the tangent map's image of the identity itself (~10 us of a 32-unit RNN step's ~130, batch 8,
float64). The opt-in speed hints of a plugin (forming J for a full frame) live in
:mod:`~rnn_lyapunov.architectures.fast_paths`.
"""

from __future__ import annotations

import functools

import torch

from rnn_lyapunov.errors import InputError

def scaled_rows(fresh_rows: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """``fresh_rows * slopes`` for rows (batch or 1, k, m) made by the caller and slopes (batch, 1, m):
    in place when the shapes allow (a second frame-sized tensor per step costs page faults);
    batch-free identity rows (1, k, m) broadcast to a new tensor instead."""
    if fresh_rows.shape[0] == slopes.shape[0]:
        return fresh_rows.mul_(slopes)
    return fresh_rows * slopes


@functools.lru_cache(maxsize=32)
def identity_rows(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The (1, size, size) identity as perturbation rows, made once per (size, dtype, device):
    ``torch.eye`` every step cost ~9 us, 5 % of a 32-unit step. Shared, hence read-only: a tangent
    map never writes into its arguments (the plugin contract tests check this)."""
    return torch.eye(size, dtype=dtype, device=device).unsqueeze(0)


def as_blocks(core, result, what: str = "cell") -> tuple:
    blocks = (result,) if isinstance(result, torch.Tensor) else tuple(result)
    if len(blocks) != core.state_blocks_per_layer:
        raise InputError(
            f"{type(core).__name__}.{what} returned {len(blocks)} block(s) but state_blocks_per_layer is "
            f"{core.state_blocks_per_layer}: return one (batch, ..., hidden_size) tensor per state block, h first"
        )
    return blocks


def _blocks_of(core, tensor: torch.Tensor, dim: int) -> tuple:
    """``tensor`` split into hidden_size-long blocks along ``dim``; a one-block state is not split
    (a split costs ~10 us; a 32-unit RNN step with its frame costs ~300 us)."""
    if core.num_layers * core.state_blocks_per_layer == 1:
        return (tensor,)
    return tensor.split(core.hidden_size, dim=dim)


def joined(parts: list[torch.Tensor], dim: int) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def stacked_step(core, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """state (batch, state_size), x (batch, input_size) -> next state (batch, state_size)."""
    count = core.state_blocks_per_layer
    old_blocks, layer_input, new_blocks = _blocks_of(core, state, 1), x, []
    for layer in range(core.num_layers):
        blocks = as_blocks(core, core.cell(layer, layer_input, *old_blocks[layer * count:(layer + 1) * count]))
        new_blocks.extend(blocks)
        layer_input = blocks[0]
    return joined(new_blocks, 1)


def step_and_transposed_jacobian(core, state: torch.Tensor, x: torch.Tensor, dtype: torch.dtype | None = None):
    """Next state (batch, state_size) and J^T (batch, state_size, state_size), contiguous, in ``dtype``
    (default the state's; the tangents' in :mod:`~rnn_lyapunov.architectures.fast_paths`).

    Row i of J^T is how the next state moves per unit change of state entry i. A layer's own rows
    come from its tangent map applied to one identity block at a time (batch-free, so that the
    weight products do not grow with the batch); the rows of the layers below, from its tangent
    map applied to how the new ``h`` of the layer below moves with them (already in J^T).
    """
    size, count = core.hidden_size, core.state_blocks_per_layer
    width = count * size
    dtype = state.dtype if dtype is None else dtype
    identity = identity_rows(size, dtype, state.device)
    if core.num_layers * count == 1:  # the one fast path (module docstring): J^T is the identity's image
        new_state, tangent_map = core.linearised_cell(0, x, state)
        transposed = as_blocks(core, tangent_map(None, identity), "linearised_cell's tangent_map")[0]
        shape = (state.shape[0], size, size)
        if (transposed.shape != shape or transposed.dtype != dtype or not transposed.is_contiguous()
                or transposed.data_ptr() == identity.data_ptr()):  # batch-free rows of a linear cell, say
            transposed = transposed.to(dtype).expand(shape).clone(memory_format=torch.contiguous_format)
        return as_blocks(core, new_state, "linearised_cell")[0], transposed
    transposed = state.new_empty(state.shape[0], core.state_size, core.state_size, dtype=dtype)
    absent = (None,) * count
    old_blocks, layer_input, new_blocks = _blocks_of(core, state, 1), x, []

    def write(rows: slice, start: int, result) -> None:
        for index, block_rows in enumerate(as_blocks(core, result, "linearised_cell's tangent_map")):
            transposed[:, rows, start + index * size:start + (index + 1) * size] = block_rows

    for layer in range(core.num_layers):
        start, end = layer * width, (layer + 1) * width
        blocks, tangent_map = core.linearised_cell(layer, layer_input, *old_blocks[layer * count:(layer + 1) * count])
        for index in range(count):
            row = start + index * size
            write(slice(row, row + size), start, tangent_map(None, *absent[:index], identity, *absent[index + 1:]))
        if layer > 0:
            write(slice(0, start), start, tangent_map(transposed[:, :start, start - width:start - width + size], *absent))
        if end < core.state_size:
            transposed[:, end:, start:end] = 0  # the layers above do not act back within a step
        new_blocks.extend(as_blocks(core, blocks, "linearised_cell"))
        layer_input = new_blocks[-count]
    return joined(new_blocks, 1), transposed


def stacked_jacobian(core, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d step / d state: (batch, state_size, state_size), a transposed view of a contiguous J^T."""
    return step_and_transposed_jacobian(core, state, x)[1].transpose(1, 2)


def stacked_step_with_tangents(core, state: torch.Tensor, x: torch.Tensor, tangents: torch.Tensor):
    """``(step(state, x), J @ tangents)`` for tangents (batch, state_size, k), J never formed.

    The tangents are pushed through the tangent maps as rows, and may be float64 along a float32
    state (the tangent maps promote; ``weight_rows`` casts the weights). The result is a transposed
    view: the column-major layout that the engine's QR works in. (A core's ``step_with_tangents`` is
    :func:`~rnn_lyapunov.architectures.fast_paths.step_with_tangents`, which comes here unless a speed
    hint forms J.)
    """
    count = core.state_blocks_per_layer
    if core.num_layers * count == 1:  # the one fast path (module docstring): no blocks to split and join
        new_state, tangent_map = core.linearised_cell(0, x, state)
        rows = tangent_map(None, tangents.transpose(1, 2))
        return (as_blocks(core, new_state, "linearised_cell")[0],
                as_blocks(core, rows, "linearised_cell's tangent_map")[0].transpose(1, 2))
    old_blocks, old_rows = _blocks_of(core, state, 1), _blocks_of(core, tangents.transpose(1, 2), 2)
    layer_input, input_rows, new_blocks, new_rows = x, None, [], []
    for layer in range(core.num_layers):
        blocks, tangent_map = core.linearised_cell(layer, layer_input, *old_blocks[layer * count:(layer + 1) * count])
        blocks = as_blocks(core, blocks, "linearised_cell")
        rows = as_blocks(core, tangent_map(input_rows, *old_rows[layer * count:(layer + 1) * count]),
                         "linearised_cell's tangent_map")
        new_blocks.extend(blocks)
        new_rows.extend(rows)
        layer_input, input_rows = blocks[0], rows[0]
    return joined(new_blocks, 1), joined(new_rows, 2).transpose(1, 2)

