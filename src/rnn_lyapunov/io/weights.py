"""Loading weights files safely and recognising what kind of state dict they hold.

Two layouts are understood:

- a :class:`~rnn_lyapunov.architectures.model.SequenceModel` state dict: keys ``core.*`` (the recurrent plugin)
  and ``readout.*`` (the linear readout);
- a plain ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` state dict: keys ``weight_ih_l0``, ``weight_hh_l0``,
  ... (the plugins use torch's parameter names, so it loads into ``SequenceModel.core``).

Files are read by :func:`rnn_lyapunov.io.readers.read_torch` (``weights_only=True``): a pickle
that would import or call arbitrary Python is refused before any of it runs, and every failure
becomes an :class:`InputError` naming the file and the fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from rnn_lyapunov.errors import InputError

SEQUENCE_MODEL = "sequence_model"
TORCH_MODULE = "torch_module"
# Checkpoints that wrap the state dict in a dict (optimizer state, epoch, ...) keep it under one of these.
_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model_state", "model")
_LAYER_KEY = re.compile(r"^weight_hh_l(\d+)$")


@dataclass(frozen=True)
class LoadedWeights:
    """A state dict and what its keys and shapes say about the network.

    Attributes:
        core_state: the recurrent core's parameters, keys without the ``core.`` prefix.
        readout_state: the readout's parameters (``weight`` (output_size, hidden_size), ``bias``),
            empty for a plain torch module.
        layout: ``"sequence_model"`` or ``"torch_module"``.
        hidden_size, num_layers, input_size, output_size: inferred from the torch-style shapes,
            None when the keys do not follow torch's naming (a plugin with its own parameters).
    """

    core_state: dict
    readout_state: dict
    layout: str
    hidden_size: int | None
    num_layers: int | None
    input_size: int | None
    output_size: int | None


def load_weights_file(path: str | os.PathLike) -> dict:
    """The state dict in ``path`` ({name: tensor}); InputError for anything else.

    Refuses a missing or empty file, a truncated or non-torch file, a pickle with Python objects
    other than tensors (``weights_only=True``), and a file whose content is not a state dict.
    """
    from rnn_lyapunov.io.readers import read_torch

    path = Path(path)
    loaded = read_torch(path, what="weights file",
                        remedy="Pass a state dict saved with torch.save(model.state_dict(), path).")
    return _state_dict_of(loaded, path)


def _is_state_dict(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in value.items())


def _state_dict_of(loaded, path: Path) -> dict:
    if _is_state_dict(loaded):
        return dict(loaded)
    if isinstance(loaded, dict):
        for key in _WRAPPER_KEYS:
            if _is_state_dict(loaded.get(key)):
                return dict(loaded[key])
    kind = f"a dict with keys {sorted(map(str, loaded))[:8]}" if isinstance(loaded, dict) else f"a {type(loaded).__name__}"
    raise InputError(
        f"weights file {path} holds {kind}, not a state dict of tensors; save it with "
        "torch.save(model.state_dict(), path)."
    )


def interpret_state_dict(state_dict: dict, path: str | os.PathLike = "the weights file") -> LoadedWeights:
    """Split ``state_dict`` into core and readout parts and infer sizes from the torch-style shapes.

    Non-finite values are refused here (naming the key), so a diverged checkpoint is reported as
    such rather than as a diverging spectrum computation.
    """
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise InputError(
                f"{path}: parameter {key} contains NaN or inf, so the network it describes cannot be "
                "evaluated; use a checkpoint saved before training diverged."
            )
    if any(key.startswith("core.") for key in state_dict):
        layout = SEQUENCE_MODEL
        core = {key[len("core."):]: value for key, value in state_dict.items() if key.startswith("core.")}
        readout = {key[len("readout."):]: value for key, value in state_dict.items() if key.startswith("readout.")}
        other = sorted(key for key in state_dict if not key.startswith(("core.", "readout.")))
        if other:
            raise InputError(
                f"{path}: keys {other[:5]} belong neither to core.* nor readout.*; this is not a state dict "
                "of an rnn-lyapunov SequenceModel."
            )
    else:
        layout, core, readout = TORCH_MODULE, dict(state_dict), {}
    layers = sorted(int(match.group(1)) for key in core if (match := _LAYER_KEY.match(key)))
    hidden_size = num_layers = input_size = None
    if layers and "weight_ih_l0" in core and core["weight_ih_l0"].dim() == 2 and core["weight_hh_l0"].dim() == 2:
        hidden_size = int(core["weight_hh_l0"].shape[1])
        input_size = int(core["weight_ih_l0"].shape[1])
        num_layers = layers[-1] + 1
    output_size = None
    if "weight" in readout and readout["weight"].dim() == 2:
        output_size = int(readout["weight"].shape[0])
    return LoadedWeights(core, readout, layout, hidden_size, num_layers, input_size, output_size)


def first_mismatch(expected: dict, given: dict) -> str | None:
    """A sentence naming the first key that is missing, unexpected or shaped differently, or None.

    ``expected`` and ``given`` map parameter names to tensors; keys are compared in sorted order.
    """
    for key in sorted(set(expected) | set(given)):
        if key not in given:
            return f"parameter {key} (shape {tuple(expected[key].shape)}) is missing from the weights file"
        if key not in expected:
            return f"the weights file has parameter {key} (shape {tuple(given[key].shape)}) that the model does not have"
        if tuple(expected[key].shape) != tuple(given[key].shape):
            return (f"parameter {key} has shape {tuple(given[key].shape)} in the weights file but "
                    f"{tuple(expected[key].shape)} in the model")
    return None


def build_model_from_weights(weights: LoadedWeights, architecture: str, *, hidden_size: int | None = None,
                             num_layers: int | None = None, input_size: int | None = None,
                             options: dict | None = None, path: str | os.PathLike = "the weights file"):
    """A ``SequenceModel`` of ``architecture`` holding ``weights`` (sizes given win over inferred ones).

    A plain torch-module state dict fills ``model.core`` (the readout keeps its fresh values and
    is not used for spectra). Raises InputError naming the first mismatching key and both shapes
    when the weights do not fit the architecture.
    """
    from rnn_lyapunov.architectures.model import create_model

    sizes = {"hidden_size": hidden_size if hidden_size is not None else weights.hidden_size,
             "num_layers": num_layers if num_layers is not None else weights.num_layers,
             "input_size": input_size if input_size is not None else weights.input_size}
    missing = [name for name, value in sizes.items() if value is None]
    if missing:
        flags = " ".join(f"--{name.replace('_', '-')}" for name in missing)
        raise InputError(
            f"cannot infer {', '.join(missing)} from the keys of {path} (they do not follow torch's "
            f"weight_ih_l0 / weight_hh_l0 naming); pass {flags}."
        )
    model = create_model(architecture, output_size=weights.output_size or 1, **sizes, **(options or {}))
    parts = [(model.core, weights.core_state, "core.")]
    if weights.layout == SEQUENCE_MODEL:
        parts.append((model.readout, weights.readout_state, "readout."))
    for module, given, prefix in parts:
        expected = module.state_dict()
        problem = first_mismatch(expected, given)
        if problem is not None:
            prefix = prefix if weights.layout == SEQUENCE_MODEL else ""
            problem = re.sub(r"parameter (\S+)", lambda match: f"parameter {prefix}{match.group(1)}", problem, count=1)
            raise InputError(
                f"the weights in {path} do not fit architecture {architecture!r} with "
                f"{', '.join(f'{name}={value}' for name, value in sizes.items())}: {problem}. Check "
                "--architecture (an LSTM has 4 gate blocks per weight, a GRU 3, an RNN 1) and the size flags."
            )
        with torch.no_grad():
            module.load_state_dict({key: value.to(expected[key].dtype) for key, value in given.items()})
    return model, sizes
