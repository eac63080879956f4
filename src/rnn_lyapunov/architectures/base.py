"""The base class every architecture plugin subclasses.

An architecture is a recurrent map ``state_t = step(state_{t-1}, x_t)`` on a flat state vector
(batch, state_size), which is exactly what :func:`rnn_lyapunov.engine.lyapunov.lyapunov_spectrum` needs.
A plugin writes ONE layer, ``cell``, and optionally its tangent map, ``linearised_cell``; this class
stacks the layers into ``step`` and, given the tangent map, into the engine's analytic paths
``step_with_tangents`` and ``jacobian`` (see :mod:`rnn_lyapunov.architectures.layers`). Speed hints
are opt-in and live apart from the map (:mod:`rnn_lyapunov.architectures.fast_paths`).

State layout: the concatenation over layers, first layer first, of each layer's
``state_blocks_per_layer`` blocks of ``hidden_size``, ``h`` first: ``h`` (RNN, GRU) or ``[h, c]`` (LSTM).

Parameter names follow ``torch.nn.RNN/LSTM/GRU`` (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``, ...) so a torch state dict loads into the matching plugin.
"""

from __future__ import annotations

import math
from typing import Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures import fast_paths, layers
from rnn_lyapunov.architectures.fast_paths import FastPaths
from rnn_lyapunov.errors import InputError

INITIALISATIONS = ("default", "uniform", "orthogonal")
_PARAMETER_NAMES: dict[tuple[str, int], str] = {}  # (name, layer) -> f"{name}_l{layer}", made once


def check_size(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise InputError naming the argument and what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _as_dtype_of(weight: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``weight`` in the dtype of the perturbation ``rows`` (float64 tangents along a float32 state)."""
    return weight if weight.dtype == rows.dtype else weight.to(rows.dtype)


class RecurrentArchitecture(nn.Module):
    """A recurrent core: ``step(state (batch, state_size), x (batch, input_size)) -> (batch, state_size)``.

    Subclasses set ``description`` (one line) and write ONE layer, whose state is
    ``state_blocks_per_layer`` blocks (batch, hidden_size), ``h`` first, and whose input is x for
    layer 0 and the new ``h`` of the layer below otherwise:

    * ``cell(layer, layer_input, *blocks) -> new blocks`` (one tensor for a one-block state, else
      a tuple of them); or
    * ``linearised_cell(layer, layer_input, *blocks) -> (new blocks, tangent_map)``, from which
      ``cell`` then follows; ``tangent_map(input_rows, *block_rows)`` pushes k perturbations given
      as rows (batch, k, ...), see :mod:`~rnn_lyapunov.architectures.layers`. With it the class
      gets ``step_with_tangents`` and ``jacobian``, cross-layer blocks included; without it both
      are None and the engine uses forward-mode autodiff through ``step``. Do the derivative work
      inside ``tangent_map``: ``step`` (training) calls ``linearised_cell`` too.

    A plugin may instead override ``step`` (and ``jacobian``, ``step_with_tangents``) whole.
    With ``gates_per_layer`` set (1 for RNN, 3 for GRU, 4 for LSTM) the base class creates the
    torch-style parameters of each layer: ``weight_ih_l{k}`` (gates * hidden_size, layer input
    size), ``weight_hh_l{k}`` (gates * hidden_size, hidden_size) and, with ``bias``, ``bias_ih_l{k}``
    and ``bias_hh_l{k}`` (gates * hidden_size,). A plugin with other parameters overrides
    ``create_parameters``. Extra constructor keywords are the plugin's own options.

    Class attributes (what defines the map):
        description: one-line summary shown by ``rnn-lyapunov architectures``.
        torch_module_type: the ``torch.nn`` module this plugin reproduces (for ``from_torch``), or None.
        state_blocks_per_layer: hidden_size-long vectors per layer in the state (2 for ``[h, c]``).
        gates_per_layer: row blocks of the torch-style weight matrices, or None (plugin's own).
        recurrent_weight_prefixes: names of the recurrent weights that ``init="orthogonal"`` sets.

    Optional, and not part of the map: ``fast_paths = FastPaths(...)``, the speed hints of
    :mod:`~rnn_lyapunov.architectures.fast_paths` (each with its measurement there).
    """

    description: ClassVar[str] = ""
    torch_module_type: ClassVar[type | None] = None
    state_blocks_per_layer: ClassVar[int] = 1
    gates_per_layer: ClassVar[int | None] = 1
    recurrent_weight_prefixes: ClassVar[tuple[str, ...]] = ("weight_hh",)
    fast_paths: ClassVar[FastPaths] = FastPaths()
    architecture_name: ClassVar[str | None] = None  # set by @register_architecture
    linearised_cell: ClassVar[Callable | None] = None
    # None unless the plugin has a tangent map or its own: the engine tests them with callable()
    step_with_tangents: ClassVar[Callable | None] = None
    jacobian: ClassVar[Callable | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.fast_paths = fast_paths.resolve(cls)
        for name in fast_paths.HINTS:  # published for the engine (any system may say so) and earlier readers
            setattr(cls, name, getattr(cls.fast_paths, name))
        analytic = callable(cls.linearised_cell)
        # fast_paths.step_with_tangents reads the published hints at each call, then stacks as layers does
        stacked_paths = (("step_with_tangents", fast_paths.step_with_tangents), ("jacobian", layers.stacked_jacobian))
        ours = (layers.stacked_step_with_tangents, fast_paths.step_with_tangents, layers.stacked_jacobian)
        for name, stacked in stacked_paths:
            if getattr(cls, name) is None or getattr(cls, name) in ours:  # a plugin's own method stays
                setattr(cls, name, stacked if analytic else None)

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
        return (self._layer_parameter("weight_ih", layer), self._layer_parameter("weight_hh", layer),
                self._layer_parameter("bias_ih", layer, None), self._layer_parameter("bias_hh", layer, None))

    def _layer_parameter(self, name: str, layer: int, *default) -> torch.Tensor | None:
        """``getattr(self, f"{name}_l{layer}", *default)``, read from the registered parameters first:
        a spectrum step reads each weight once, and ``nn.Module.__getattr__`` with the f-string
        costs ~3 us a read here, 10 % of a 32-unit RNN step with its frame."""
        key = _PARAMETER_NAMES.get((name, layer))
        if key is None:
            key = _PARAMETER_NAMES[(name, layer)] = f"{name}_l{layer}"
        parameter = self._parameters.get(key)
        return parameter if parameter is not None else getattr(self, key, *default)

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

    def cell(self, layer: int, layer_input: torch.Tensor, *blocks: torch.Tensor):
        """One layer's step: layer_input (batch, input_size or hidden_size), the layer's state blocks
        (batch, hidden_size) each -> its new blocks (one tensor, or a tuple of them), ``h`` first."""
        if self.linearised_cell is None:
            raise NotImplementedError(
                f"{type(self).__name__} defines neither cell, linearised_cell nor step: define "
                "cell(self, layer, layer_input, *blocks) returning the layer's new state blocks"
            )
        return self.linearised_cell(layer, layer_input, *blocks)[0]

    def step(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One time step of all layers: state (batch, state_size), x (batch, input_size) -> (batch, state_size)."""
        return layers.stacked_step(self, state, x)

    def weight_rows(self, layer: int, input_rows: torch.Tensor | None, hidden_rows: torch.Tensor | None):
        """Perturbations of ``W_ih u`` and ``W_hh h`` of a torch-style layer (input u), as rows.

        input_rows (batch, k, layer input size) and hidden_rows (batch or 1, k, hidden_size), either
        None when not perturbed -> two (..., k, gates * hidden_size), each None where its rows are.
        """
        # only the weights needed: a Module attribute lookup costs about as much as a small product
        return (None if input_rows is None else F.linear(input_rows, _as_dtype_of(self._layer_parameter("weight_ih", layer), input_rows)),
                None if hidden_rows is None else F.linear(hidden_rows, _as_dtype_of(self._layer_parameter("weight_hh", layer), hidden_rows)))

    def pre_activation_rows(self, layer: int, input_rows: torch.Tensor | None, hidden_rows: torch.Tensor | None):
        """The sum of the two ``weight_rows``: the pre-activations' perturbations (..., k, gates * hidden_size) or None."""
        from_input, from_hidden = self.weight_rows(layer, input_rows, hidden_rows)
        if from_input is None or from_hidden is None:
            return from_hidden if from_input is None else from_input
        return from_input + from_hidden

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


for _hint in fast_paths.HINTS:  # the base class publishes its (empty) hints as its subclasses do
    setattr(RecurrentArchitecture, _hint, getattr(RecurrentArchitecture.fast_paths, _hint))
