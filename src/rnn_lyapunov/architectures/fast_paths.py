"""Opt-in speed hints of an architecture plugin, and the fast path they switch on.

Nothing here changes the map a plugin defines (its cell, state layout and options: see
:class:`~rnn_lyapunov.architectures.base.RecurrentArchitecture`); it changes only how fast the
engine gets the map's tangents. A plugin that sets no hints is exact and reasonably fast: the
tangent frame is pushed through its tangent maps as rows (:mod:`~rnn_lyapunov.architectures.layers`).
To opt in, declare one ``FastPaths`` on the class::

    class MyCell(RecurrentArchitecture):
        fast_paths = FastPaths(form_jacobian_for_full_frame=True, mixed_precision_tangents=True)

Measured (batch 8, float64, one CPU thread; ``benchmarks/bench_architectures.py``):

* ``form_jacobian_for_full_frame``: for a frame of at least ``state_size`` columns, form J once
  (one identity block per state block through the tangent map) and apply it as one product,
  instead of pushing every column through the gate blocks. Pushing was 10 % faster for a 32-unit
  GRU, forming 20 % faster from 64 units, hence :data:`FORM_JACOBIAN_MIN_STATE_SIZE`.
* ``blocks_moved_without_weights``: the state blocks whose perturbations reach the new state
  through no weight product (the LSTM's ``c``: dc' = f dc). With the hint above and one layer,
  their part of J is applied elementwise instead of being formed, which halves the formed product.
* ``mixed_precision_tangents``: the tangent map accepts float64 perturbation rows along a float32
  state, so the engine may carry the frame in float64 (:mod:`rnn_lyapunov.engine.method`), whose
  QR is then exact to float64 while the network runs in float32. True when the map only multiplies
  the rows by the layer's own tensors and perturbs the weights through ``weight_rows`` /
  ``pre_activation_rows`` (which cast the weights); the contract tests check it for every
  registered plugin.

The base class publishes the declared hints as class attributes of the same names, which is what
the engine (``mixed_precision_tangents``, read from any system) and :func:`step_with_tangents` read
at each call. Plugins written before ``FastPaths`` set those class attributes themselves, in the
class body, on the class later, or on an instance: all of that keeps working as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnn_lyapunov.architectures import layers
from rnn_lyapunov.errors import InputError

# below this state size, forming J costs more than it saves: pushing a full frame was 10 % faster for a
# 32-unit GRU, forming 20 % faster from 64 units (batch 8, float64, one thread; benchmarks/bench_architectures.py)
FORM_JACOBIAN_MIN_STATE_SIZE = 64

HINTS = ("form_jacobian_for_full_frame", "blocks_moved_without_weights", "mixed_precision_tangents")


@dataclass(frozen=True)
class FastPaths:
    """The speed hints of one architecture (module docstring); the defaults switch nothing on.

    Attributes:
        form_jacobian_for_full_frame: form J once when asked for >= state_size tangents (from a
            state of :data:`FORM_JACOBIAN_MIN_STATE_SIZE` on).
        blocks_moved_without_weights: indices of the layer's state blocks whose perturbations
            reach the new state through no weight product (the LSTM's ``c``: ``(1,)``).
        mixed_precision_tangents: the tangent map accepts float64 rows along a float32 state.
    """

    form_jacobian_for_full_frame: bool = False
    blocks_moved_without_weights: tuple[int, ...] = ()
    mixed_precision_tangents: bool = False

    def __post_init__(self):
        for name in ("form_jacobian_for_full_frame", "mixed_precision_tangents"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"FastPaths.{name} must be True or False, got {getattr(self, name)!r}")
        blocks = self.blocks_moved_without_weights
        if not isinstance(blocks, (tuple, list)) or not all(
                isinstance(index, int) and not isinstance(index, bool) and index >= 0 for index in blocks):
            raise InputError("FastPaths.blocks_moved_without_weights must be a tuple of state-block indices "
                             f"(ints >= 0), e.g. (1,) for an LSTM's c; got {blocks!r}")
        object.__setattr__(self, "blocks_moved_without_weights", tuple(blocks))


def resolve(cls) -> FastPaths:
    """The hints of plugin class ``cls``: its ``fast_paths``, with any hint it sets the older way (a
    class attribute of the same name, in its own body) read into it as before (truthy flags, any
    sequence of block indices)."""
    hints = cls.fast_paths
    if not isinstance(hints, FastPaths):
        raise InputError(f"{cls.__name__}.fast_paths must be a FastPaths(...) "
                         f"(rnn_lyapunov.architectures.fast_paths), got {type(hints).__name__}")
    if "fast_paths" in cls.__dict__:
        too_large = [index for index in hints.blocks_moved_without_weights if index >= cls.state_blocks_per_layer]
        if too_large:
            raise InputError(f"{cls.__name__}: blocks_moved_without_weights {too_large} are not state blocks "
                             f"(state_blocks_per_layer is {cls.state_blocks_per_layer}; indices from 0)")
    written_the_old_way = {name: cls.__dict__[name] for name in HINTS if name in cls.__dict__}
    if written_the_old_way:
        read = {name: tuple(value) if name == "blocks_moved_without_weights" else bool(value)
                for name, value in written_the_old_way.items()}
        hints = FastPaths(**{**{name: getattr(hints, name) for name in HINTS}, **read})
    return hints


def step_with_tangents(core, state: torch.Tensor, x: torch.Tensor, tangents: torch.Tensor):
    """``(step(state, x), J @ tangents)`` for tangents (batch, state_size, k): the analytic
    ``step_with_tangents`` of every core with a tangent map.

    With ``form_jacobian_for_full_frame``, k >= state_size tangents (batch, state_size, k) and a state of at least
    :data:`FORM_JACOBIAN_MIN_STATE_SIZE`, J is formed once and applied as (V^T J^T)^T (both factors
    contiguous), except the rows of ``blocks_moved_without_weights`` in a one-layer core
    (:func:`_partly_formed_step`); otherwise as :func:`~rnn_lyapunov.architectures.layers.stacked_step_with_tangents`.
    A transposed view either way: the column-major layout that the engine's QR works in.
    """
    if (core.form_jacobian_for_full_frame and tangents.shape[2] >= core.state_size
            and core.state_size >= FORM_JACOBIAN_MIN_STATE_SIZE):
        if core.num_layers == 1 and core.blocks_moved_without_weights:
            return _partly_formed_step(core, state, x, tangents)
        next_state, transposed = layers.step_and_transposed_jacobian(core, state, x, tangents.dtype)
        return next_state, torch.bmm(tangents.transpose(1, 2), transposed).transpose(1, 2)
    return layers.stacked_step_with_tangents(core, state, x, tangents)


def _partly_formed_step(core, state: torch.Tensor, x: torch.Tensor, tangents: torch.Tensor):
    """``step_with_tangents`` of a one-layer core for a full frame (batch, n, k), n = state_size.

    The rows of J^T for the blocks in ``blocks_moved_without_weights`` (the LSTM's c: dc' = f dc,
    dh' = o tanh'(c') dc') are diagonal, so a formed J would spend half of its product on zeros:
    those blocks' rows of the frame go through the tangent map (elementwise), and only the rows of
    J^T for the other blocks are formed, (batch, hidden_size, n) each, and applied by one product.
    """
    size, count = core.hidden_size, core.state_blocks_per_layer
    blocks, tangent_map = core.linearised_cell(0, x, *state.split(size, dim=1))
    frame_rows = tangents.transpose(1, 2).split(size, dim=2)  # (batch, k, size) per block
    without_weights = core.blocks_moved_without_weights
    pushed = tangent_map(None, *(rows if index in without_weights else None for index, rows in enumerate(frame_rows)))
    next_rows = layers.joined(list(layers.as_blocks(core, pushed, "linearised_cell's tangent_map")), 2)
    identity = layers.identity_rows(size, tangents.dtype, tangents.device)
    absent = (None,) * count
    for index in range(count):
        if index in without_weights:
            continue
        formed = tangent_map(None, *absent[:index], identity, *absent[index + 1:])
        transposed_rows = layers.joined(list(layers.as_blocks(core, formed, "linearised_cell's tangent_map")), 2)
        next_rows = next_rows.baddbmm_(frame_rows[index], transposed_rows)
    return layers.joined(list(layers.as_blocks(core, blocks, "linearised_cell")), 1), next_rows.transpose(1, 2)
