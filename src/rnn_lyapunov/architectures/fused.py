"""A whole sequence through torch's fused RNN kernels, on a plugin's own parameters.

Training steps a core over 100-step sequences; a Python loop over ``step`` pays the interpreter and
autograd bookkeeping of every small operation at every time step, where ``torch.nn.RNN``/``LSTM``/
``GRU`` run the sequence inside ATen (a C++ loop on the CPU with the input projections of all steps
in one product; one cuDNN call on a GPU). :func:`fused_sequence` calls those same kernels
(``torch._VF.rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``, as ``nn.RNN.forward`` does) with the
core's registered Parameter objects as the weight list: no copy, so the optimizer updates exactly
what the kernel differentiates and what the Lyapunov engine later steps. A plugin whose layers are
those of a torch module exposes it as ``forward_sequence`` (see :class:`SequenceModel`), and the
contract tests check it against the step loop (outputs, final state, parameter gradients).
"""

from __future__ import annotations

import torch
from torch import _VF

# the ATen entry points of nn.RNN (tanh, relu), nn.GRU and nn.LSTM; the LSTM's takes (h, c) as a list
KERNELS = {"rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu, "gru": _VF.gru, "lstm": _VF.lstm}
_CUDNN_MODES = {"rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU", "gru": "GRU", "lstm": "LSTM"}


def flat_weights(core) -> list[torch.Tensor]:
    """The core's Parameters in the order the kernels take them: per layer ``weight_ih_l{k}``,
    ``weight_hh_l{k}`` and, with bias, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (the objects themselves)."""
    weights = []
    for layer in range(core.num_layers):
        weight_ih, weight_hh, bias_ih, bias_hh = core.layer_weights(layer)
        weights += (weight_ih, weight_hh, bias_ih, bias_hh) if core.bias else (weight_ih, weight_hh)
    return weights


def _share_one_cudnn_buffer(core, kernel: str, weights: list[torch.Tensor]) -> None:
    """On a GPU, make the Parameters views of one buffer, as ``nn.RNN.flatten_parameters`` does:
    cuDNN otherwise copies them into one at every call (and warns). The Parameter objects stay the
    same (their storage moves), so the optimizer and the engine still see them; done again only when
    the storage changed (``.to()``, ``deepcopy``)."""
    pointers = tuple(weight.data_ptr() for weight in weights)
    if getattr(core, "_cudnn_weight_pointers", None) == pointers:
        return
    first = weights[0]
    acceptable = (torch.backends.cudnn.is_acceptable(first) and len(set(pointers)) == len(pointers)
                  and all(weight.is_cuda and weight.dtype == first.dtype for weight in weights))
    if acceptable and torch._use_cudnn_rnn_flatten_weight():
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():  # in place on the Parameters' storage
            torch._cudnn_rnn_flatten_weight(
                weights, 4 if core.bias else 2, core.input_size, cudnn_rnn.get_cudnn_mode(_CUDNN_MODES[kernel]),
                core.hidden_size, 0, core.num_layers, True, False)
    core._cudnn_weight_pointers = tuple(weight.data_ptr() for weight in weights)


def fused_sequence(core, kernel: str, inputs: torch.Tensor, state: torch.Tensor):
    """Run ``core`` over a whole sequence with one fused kernel call.

    Args:
        core: a RecurrentArchitecture whose layers are torch's (torch-style parameter names,
            ``state_blocks_per_layer`` blocks ``h`` or ``[h, c]`` per layer).
        kernel: ``"rnn_tanh"``, ``"rnn_relu"``, ``"gru"`` or ``"lstm"``.
        inputs: (batch, time, input_size).
        state: (batch, state_size), the core's flat layout (per layer its blocks, first layer first).

    Returns:
        ``(outputs (batch, time, hidden_size), final state (batch, state_size))``: ``outputs[:, t]``
        is ``core.output`` of the state after step t (the last layer's ``h``).
    """
    batch, blocks = inputs.shape[0], core.state_blocks_per_layer
    # (batch, layers, blocks, hidden) -> per block (layers, batch, hidden), the kernels' layout
    layered = state.reshape(batch, core.num_layers, blocks, core.hidden_size).permute(2, 1, 0, 3)
    weights = flat_weights(core)
    if inputs.is_cuda:
        _share_one_cudnn_buffer(core, kernel, weights)
    initial = [layered[block].contiguous() for block in range(blocks)]
    # dropout 0: the plugins have none inside the recurrence (SequenceModel drops the readout's input)
    arguments = (weights, core.bias, core.num_layers, 0.0, core.training, False, True)
    if kernel == "lstm":
        outputs, *final = KERNELS[kernel](inputs, initial, *arguments)
    else:
        outputs, final = KERNELS[kernel](inputs, initial[0], *arguments)
        final = [final]
    final_state = torch.stack(final).permute(2, 1, 0, 3).reshape(batch, core.state_size)
    return outputs, final_state
