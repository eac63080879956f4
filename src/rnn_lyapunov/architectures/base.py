"""The base class every architecture plugin subclasses.

An architecture is a recurrent map ``state_t = step(state_{t-1}, x_t)`` on a flat state vector
(batch, state_size), which is exactly what :func:`rnn_lyapunov.engine.lyapunov.lyapunov_spectrum` needs.
``step`` is the single source of truth; an analytic ``jacobian`` is an optional speed-up that
``check_jacobian`` compares with autograd.

State layout: the concatenation over layers, first layer first, of each layer's block; a block
is ``h`` (RNN, GRU) or ``[h, c]`` (LSTM): ``state_blocks_per_layer`` vectors of ``hidden_size``.

Parameter names follow ``torch.nn.RNN/LSTM/GRU`` (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``, ...) so a torch state dict loads into the matching plugin.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from rnn_lyapunov.errors import InputError

INITIALISATIONS = ("default", "uniform", "orthogonal")


def check_size(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise InputError naming the argument and what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class RecurrentArchitecture(nn.Module):
    """A recurrent core: ``step(state (batch, state_size), x (batch, input_size)) -> (batch, state_size)``.

    Subclasses set ``description`` (one line), implement ``step`` and may implement ``jacobian``.
    With ``gates_per_layer`` set (1 for RNN, 3 for GRU, 4 for LSTM) the base class creates the
    torch-style parameters of each layer: ``weight_ih_l{k}`` (gates * hidden_size, layer input
    size), ``weight_hh_l{k}`` (gates * hidden_size, hidden_size) and, with ``bias``, ``bias_ih_l{k}``
    and ``bias_hh_l{k}`` (gates * hidden_size,). A plugin with other parameters overrides
    ``create_parameters``. Extra constructor keywords are the plugin's own options.

    Class attributes:
        description: one-line summary shown by ``rnn-lyapunov architectures``.
        torch_module_type: the ``torch.nn`` module this plugin reproduces (for ``from_torch``), or None.
        state_blocks_per_layer: hidden_size-long vectors per layer in the state (2 for ``[h, c]``).
        gates_per_layer: row blocks of the torch-style weight matrices, or None (plugin's own).
        recurrent_weight_prefixes: names of the recurrent weights that ``init="orthogonal"`` sets.
    """

    description: ClassVar[str] = ""
    torch_module_type: ClassVar[type | None] = None
    state_blocks_per_layer: ClassVar[int] = 1
    gates_per_layer: ClassVar[int | None] = 1
    recurrent_weight_prefixes: ClassVar[tuple[str, ...]] = ("weight_hh",)
    architecture_name: ClassVar[str | None] = None  # set by @register_architecture

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, **options):
        if options:
            raise InputError(
                f"unknown option(s) {', '.join(sorted(options))} for architecture "
                f"{self.architecture_name or type(self).__name__!r}"
            )
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.num_layers = check_size("num_layers", num_layers)
        if not isinstance(bias, bool):
            raise InputError(f"bias must be True or False, got {bias!r}")
        self.bias = bias
        self.create_parameters()
        self.reset_parameters()

    # -- parameters -------------------------------------------------------------------------

    def create_parameters(self) -> None:
        """Create the torch-style parameters of every layer (see the class docstring)."""
        gates = self.gates_per_layer
        if gates is None:
            raise NotImplementedError(f"{type(self).__name__} sets gates_per_layer=None but does not override create_parameters")
        for layer in range(self.num_layers):
            layer_input_size = self.input_size if layer == 0 else self.hidden_size
            rows = gates * self.hidden_size
            setattr(self, f"weight_ih_l{layer}", nn.Parameter(torch.empty(rows, layer_input_size)))
            setattr(self, f"weight_hh_l{layer}", nn.Parameter(torch.empty(rows, self.hidden_size)))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", nn.Parameter(torch.empty(rows)))
                setattr(self, f"bias_hh_l{layer}", nn.Parameter(torch.empty(rows)))

    def layer_weights(self, layer: int):
        """``(weight_ih, weight_hh, bias_ih or None, bias_hh or None)`` of one layer."""
        return (
            getattr(self, f"weight_ih_l{layer}"),
            getattr(self, f"weight_hh_l{layer}"),
            getattr(self, f"bias_ih_l{layer}", None),
            getattr(self, f"bias_hh_l{layer}", None),
        )

    @torch.no_grad()
    def reset_parameters(self, init: str = "default", init_scale: float | None = None, init_gain: float | None = None) -> None:
        """(Re-)initialise every parameter, using the global torch RNG.

        Args:
            init: ``"default"``: torch's RNN convention, every parameter uniform in
                [-1/sqrt(hidden_size), 1/sqrt(hidden_size)]; ``"uniform"``: every parameter
                (weights and biases) uniform in [-init_scale, init_scale], as in the sweeps of
                Vogt et al. (2022); ``"orthogonal"``: each hidden_size x hidden_size block of the
                recurrent weights a random orthogonal matrix times ``init_gain`` (so W^T W =
                init_gain^2 I), every other parameter as in ``"default"``.
            init_scale: the p of ``"uniform"`` (required there, not allowed otherwise).
            init_gain: the g of ``"orthogonal"`` (default 1.0; not allowed otherwise).
        """
        if init not in INITIALISATIONS:
            raise InputError(f"init must be one of {', '.join(INITIALISATIONS)}; got {init!r}")
        if init_scale is not None and init != "uniform":
            raise InputError(f"init_scale is only used with init='uniform' (got init={init!r}); drop it or set init='uniform'")
        if init_gain is not None and init != "orthogonal":
            raise InputError(f"init_gain is only used with init='orthogonal' (got init={init!r}); drop it or set init='orthogonal'")
        if init == "uniform":
            if init_scale is None:
                raise InputError("init='uniform' needs init_scale: the p of the uniform range [-p, p], e.g. init_scale=0.5")
            scale = _check_positive_number("init_scale", init_scale)
        else:
            scale = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            parameter.uniform_(-scale, scale)
        if init == "orthogonal":
            gain = 1.0 if init_gain is None else _check_positive_number("init_gain", init_gain)
            for name, parameter in self.named_parameters():
                if name.startswith(self.recurrent_weight_prefixes):
                    for block in parameter.split(self.hidden_size, dim=0):
                        nn.init.orthogonal_(block, gain=gain)

    # -- the system protocol --------------------------------------------------------------------

    @property
    def state_size(self) -> int:
        """Length of the flat state vector: num_layers * state_blocks_per_layer * hidden_size."""
        return self.num_layers * self.state_blocks_per_layer * self.hidden_size

    def layer_state(self, state: torch.Tensor, layer: int) -> torch.Tensor:
        """The block of ``state`` (batch, state_size) belonging to ``layer``: (batch, blocks * hidden_size)."""
        width = self.state_blocks_per_layer * self.hidden_size
        return state[:, layer * width:(layer + 1) * width]

    def _parameter_like(self) -> torch.Tensor | None:
        return next(iter(self.parameters()), None)

    def initial_state(self, batch: int) -> torch.Tensor:
        """Zeros (batch, state_size) on the parameters' device and in their dtype."""
        reference = self._parameter_like()
        if reference is None:
            return torch.zeros(batch, self.state_size)
        return reference.new_zeros(batch, self.state_size)

    def step(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One time step: state (batch, state_size), x (batch, input_size) -> (batch, state_size)."""
        raise NotImplementedError

    def step_with_formed_jacobian(self, state: torch.Tensor, x: torch.Tensor, tangents: torch.Tensor):
        """Next state and J @ tangents by forming J (needs ``jacobian``).

        For a full frame (tangents (batch, state_size, k >= state_size)) this is cheaper than pushing
        every tangent through the gates. Computed as (V^T J^T)^T: both factors contiguous and a
        column-major result, the layout the engine's QR wants.
        """
        transposed_jacobian = self.jacobian(state, x).transpose(1, 2)
        return self.step(state, x), torch.bmm(tangents.transpose(1, 2), transposed_jacobian).transpose(1, 2)

    def output(self, state: torch.Tensor) -> torch.Tensor:
        """Features for the readout: the last layer's ``h``, (batch, hidden_size).

        ``h`` is the first of the last layer's ``state_blocks_per_layer`` vectors.
        """
        start = (self.num_layers - 1) * self.state_blocks_per_layer * self.hidden_size
        return state[:, start:start + self.hidden_size]

    # -- torch.nn interop ---------------------------------------------------------------------

    @classmethod
    def torch_module_options(cls, module: nn.Module) -> dict:
        """The plugin options that reproduce ``module`` (e.g. the RNN's nonlinearity)."""
        return {}

    @classmethod
    def from_torch_module(cls, module: nn.Module) -> "RecurrentArchitecture":
        """An instance whose parameters ARE ``module``'s Parameter objects (shared, not copied).

        Training ``module`` afterwards changes this system too. The caller (``from_torch``) has
        already refused configurations this class cannot reproduce.
        """
        if cls.torch_module_type is None or not isinstance(module, cls.torch_module_type):
            raise InputError(f"{cls.__name__} reproduces {cls.torch_module_type}, not {type(module).__name__}")
        with torch.random.fork_rng(devices=[]):  # the throw-away initial values must not advance the caller's RNG
            core = cls(
                input_size=module.input_size, hidden_size=module.hidden_size, num_layers=module.num_layers,
                bias=bool(module.bias), **cls.torch_module_options(module),
            )
        ours = dict(core.named_parameters())
        theirs = dict(module.named_parameters())
        if set(ours) != set(theirs):
            raise InputError(
                f"cannot share parameters of {type(module).__name__} with {cls.__name__}: names differ "
                f"(only in the torch module: {sorted(set(theirs) - set(ours))}; only in ours: {sorted(set(ours) - set(theirs))})"
            )
        for name, parameter in theirs.items():
            if parameter.shape != ours[name].shape:
                raise InputError(f"parameter {name} has shape {tuple(parameter.shape)} in the torch module, {tuple(ours[name].shape)} in ours")
            setattr(core, name, parameter)
        return core

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, num_layers={self.num_layers}, "
                f"bias={self.bias}, state_size={self.state_size}")
