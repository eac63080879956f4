"""Systems from ``torch.nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` modules you already have.

``from_torch(module)`` finds the registered plugin whose ``torch_module_type`` matches the module
(the core never imports a plugin by name) and returns an instance that uses the module's own
Parameter objects, so its spectrum is the spectrum of your trained network, and keeps following
it if you train further. To copy weights instead of sharing them, load a plain state dict: the
plugins name their parameters as torch does, so ``core.load_state_dict(module.state_dict())`` works.
"""

from __future__ import annotations

from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.architectures.registry import ARCHITECTURES


def _plugin_for(module: nn.Module) -> type[RecurrentArchitecture] | None:
    """The registered class reproducing ``type(module)``: an exact type match first, then the nearest base."""
    candidates = {name: cls for name, cls in ARCHITECTURES.items() if cls.torch_module_type is not None}
    for name in sorted(candidates):
        if type(module) is candidates[name].torch_module_type:
            return candidates[name]
    best, best_distance = None, None
    for name in sorted(candidates):
        module_type = candidates[name].torch_module_type
        if isinstance(module, module_type):
            distance = type(module).__mro__.index(module_type)
            if best_distance is None or distance < best_distance:
                best, best_distance = candidates[name], distance
    return best


def _check_supported(module: nn.Module) -> None:
    kind = type(module).__name__
    if getattr(module, "bidirectional", False):
        raise InputError(
            f"{kind}(bidirectional=True) is not a causal dynamical system (the backward direction reads "
            "the future inputs), so it has no Lyapunov spectrum here; use bidirectional=False"
        )
    if getattr(module, "proj_size", 0):
        raise InputError(
            f"{kind}(proj_size={module.proj_size}) is not supported: only LSTMs without projection "
            "(proj_size=0) have a plugin"
        )
    if getattr(module, "dropout", 0) and module.training:
        raise InputError(
            f"{kind}(dropout={module.dropout}) is in training mode, where dropout between layers makes "
            "each step random; call module.eval() first (dropout is then inactive) or use dropout=0"
        )


def from_torch(module: nn.Module, *, lstm_state: str = "full"):
    """A system (``state_size``, ``step``, ``jacobian``, ``initial_state``) sharing ``module``'s parameters.

    ``lstm_state``: for an ``nn.LSTM``, ``"full"`` (default) is the true (h, c) system with 2N
    exponents per layer; ``"h_only"`` is the convention of Vogt et al. (2022), the Jacobian of h
    with c held fixed (N exponents per layer; not the LSTM's spectrum, see
    ``rnn_lyapunov.architectures.hidden_only``). Ignored for RNN and GRU.

    Accepts ``nn.RNN`` (tanh or relu), ``nn.LSTM`` and ``nn.GRU`` with any ``num_layers``, with or
    without bias; ``batch_first`` does not matter (the system steps one time index at a time;
    ``lyapunov_spectrum`` always takes inputs as (batch, time, input_size)). The state layout is the
    package's: per layer ``h`` (RNN, GRU) or ``[h, c]`` (LSTM), first layer first; a torch
    ``(h_n, c_n)`` of shape (num_layers, batch, hidden_size) maps to
    ``torch.cat([torch.cat([h_n[k], c_n[k]], 1) for k in range(num_layers)], 1)``.

    Raises:
        InputError: bidirectional modules, LSTMs with ``proj_size > 0``, inter-layer dropout in
            training mode, or a module type no registered plugin reproduces.
    """
    if not isinstance(module, nn.Module):
        raise InputError(f"from_torch expects a torch.nn.Module (nn.RNN, nn.LSTM or nn.GRU), got {type(module).__name__}")
    plugin = _plugin_for(module)
    if plugin is None:
        supported = sorted({cls.torch_module_type.__name__ for _, cls in ARCHITECTURES.items() if cls.torch_module_type is not None})
        raise InputError(
            f"no architecture plugin reproduces {type(module).__name__}; supported torch modules: "
            f"{', '.join(supported)}. For another module, write a plugin with torch_module_type set "
            "(see docs/architectures.md, 'Add your own architecture')."
        )
    _check_supported(module)
    from rnn_lyapunov.architectures.hidden_only import spectrum_system

    return spectrum_system(plugin.from_torch_module(module), lstm_state)
