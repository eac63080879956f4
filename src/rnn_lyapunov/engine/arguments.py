"""Checking the arguments of :func:`rnn_lyapunov.engine.lyapunov.lyapunov_spectrum`.

Every check raises :class:`InputError` naming the argument and what is allowed; ``check_schedule``
is the one home of the rules that tie the spectrum settings together, and its errors carry the
argument names so that a caller can restate them as config keys or command-line flags.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rnn_lyapunov.errors import InputError, NonFiniteStateError


def check_system(system) -> None:
    missing = [name for name in ("state_size", "step") if not hasattr(system, name)]
    if missing:
        raise InputError(
            f"system {type(system).__name__} has no {' and no '.join(missing)}: a system needs "
            "`state_size: int` and `step(state, x) -> next_state`. For a torch.nn.RNN/LSTM/GRU use "
            "rnn_lyapunov.from_torch(module); for a model from create_model use model.system()."
        )
    if not callable(system.step):
        raise InputError(f"system.step of {type(system).__name__} is not callable")
    state_size = system.state_size
    if isinstance(state_size, bool) or not isinstance(state_size, (int, np.integer)) or state_size < 1:
        raise InputError(f"system.state_size must be a positive int, got {state_size!r}")


def check_inputs(inputs) -> torch.Tensor:
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(inputs)
    if not isinstance(inputs, torch.Tensor):
        raise InputError(
            f"inputs must be a torch.Tensor of shape (batch, time, input_size), got {type(inputs).__name__}"
        )
    if inputs.dim() != 3:
        raise InputError(
            f"inputs must have shape (batch, time, input_size), got {tuple(inputs.shape)}; for an "
            "autonomous map pass torch.zeros(batch, time, 0)."
        )
    if inputs.dtype not in (torch.float32, torch.float64):
        # float16/bfloat16 have no batched QR kernel and would lose the small exponents anyway.
        raise InputError(f"inputs must be float32 or float64, got {inputs.dtype}; convert with inputs.float() or inputs.double()")
    if inputs.device.type == "meta":  # shapes without values: nothing to integrate
        raise InputError("inputs are on the 'meta' device, which holds shapes but no values; create them on "
                         "'cpu' or 'cuda' (inputs.to_empty(device='cpu') gives uninitialised memory).")
    if inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise InputError(f"inputs need at least one trajectory and one time step, got shape {tuple(inputs.shape)}")
    # NaN or inf shows in the extremes, found without an inputs-sized temporary (memory stays flat in steps)
    lowest, highest = (float(value) for value in torch.aminmax(inputs)) if inputs.numel() else (0.0, 0.0)
    if not (math.isfinite(lowest) and math.isfinite(highest)):
        trajectory, time_index, _ = (int(index) for index in (~torch.isfinite(inputs)).nonzero()[0])
        raise InputError(
            f"inputs contain NaN or inf (first at trajectory {trajectory}, step {time_index}); "
            "clean or mask the input sequences."
        )
    return inputs


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value!r}", arguments=(name,))


def check_schedule(*, warmup_steps=0, reorthonormalize_every=1, record_every=None, time_steps: int | None = None,
                   n_exponents=None, state_size: int | None = None, reorthonormalize_tolerance=None) -> None:
    """The rules that tie the spectrum settings together, checked in one place.

    ``warmup_steps < time_steps``; ``reorthonormalize_every`` an int >= 1 or ``"auto"``;
    ``reorthonormalize_tolerance`` (only with ``"auto"``) a number in (0, 1); ``record_every`` a
    multiple of an int ``reorthonormalize_every``; ``1 <= n_exponents <= state_size``. Arguments
    left at None (``time_steps``, ``state_size``) are not known yet and skip their rule, so a
    config can be checked before any data exist. Raises InputError whose ``arguments`` name the
    offending arguments, for callers that restate it as config keys or command-line flags.
    """
    _check_int("warmup_steps", warmup_steps, 0)
    if time_steps is not None and warmup_steps >= time_steps:
        raise InputError(
            f"warmup_steps ({warmup_steps}) must be smaller than the number of time steps in inputs "
            f"({time_steps}); lower warmup_steps or pass longer sequences.", arguments=("warmup_steps",))
    adaptive = isinstance(reorthonormalize_every, str)
    if adaptive and reorthonormalize_every != "auto":
        raise InputError(f"reorthonormalize_every must be an int >= 1 or 'auto', got {reorthonormalize_every!r}",
                         arguments=("reorthonormalize_every",))
    if not adaptive:
        if isinstance(reorthonormalize_every, bool) or not isinstance(reorthonormalize_every, (int, np.integer)) or (
                reorthonormalize_every < 1):
            raise InputError(f"reorthonormalize_every must be an int >= 1 or 'auto', got {reorthonormalize_every!r}",
                             arguments=("reorthonormalize_every",))
        if reorthonormalize_tolerance is not None:
            raise InputError(
                f"reorthonormalize_tolerance ({reorthonormalize_tolerance!r}) only applies to "
                f"reorthonormalize_every='auto', got reorthonormalize_every={reorthonormalize_every}; drop the "
                "tolerance or set reorthonormalize_every='auto'.",
                arguments=("reorthonormalize_tolerance", "reorthonormalize_every"))
    elif reorthonormalize_tolerance is not None and (
            isinstance(reorthonormalize_tolerance, bool) or not isinstance(reorthonormalize_tolerance, (int, float))
            or not 0 < reorthonormalize_tolerance < 1):
        raise InputError(f"reorthonormalize_tolerance must be a number in (0, 1) (relative error per QR, e.g. 1e-7), "
                         f"got {reorthonormalize_tolerance!r}", arguments=("reorthonormalize_tolerance",))
    if record_every is not None:
        _check_int("record_every", record_every, 1)
        if not adaptive and record_every % reorthonormalize_every:
            raise InputError(
                f"record_every ({record_every}) must be a multiple of reorthonormalize_every "
                f"({reorthonormalize_every}): estimates exist only right after a QR step.",
                arguments=("record_every", "reorthonormalize_every"))
    if n_exponents is not None:
        upper = "the state size" if state_size is None else state_size
        if isinstance(n_exponents, bool) or not isinstance(n_exponents, (int, np.integer)) or n_exponents < 1 or (
                state_size is not None and n_exponents > state_size):
            raise InputError(f"n_exponents must be an int in 1..{upper} (the state size), got {n_exponents!r}",
                             arguments=("n_exponents",))


def check_parameters_match(system, inputs: torch.Tensor) -> None:
    parameters = getattr(system, "parameters", None)
    if not callable(parameters):
        return
    for parameter in parameters():
        if parameter.is_floating_point() and parameter.dtype != inputs.dtype:
            raise InputError(
                f"the system's parameters are {parameter.dtype} but inputs are {inputs.dtype}; convert "
                f"one to match (e.g. system.to({inputs.dtype}) or inputs.to({parameter.dtype}))."
            )
        if parameter.device != inputs.device:
            raise InputError(
                f"the system's parameters are on {parameter.device} but inputs are on {inputs.device}; "
                "move one to the other's device."
            )
    named = getattr(system, "named_parameters", None)
    broken = [name for name, parameter in named() if parameter.is_floating_point()
              and not bool(torch.isfinite(parameter).all())] if callable(named) else []
    if broken:
        # Not a divergence of the dynamics: no dtype or step size makes a spectrum of NaN weights finite.
        raise NonFiniteStateError(
            f"the system's weights hold NaN or infinity (parameters {', '.join(broken[:5])}"
            f"{' ...' if len(broken) > 5 else ''}), so its spectrum is undefined; the training that produced them "
            "diverged: lower the learning rate or clip the gradients (grad_clip), and start from finite weights.")


def check_input_size(system, inputs: torch.Tensor) -> None:
    input_size = getattr(system, "input_size", None)
    if isinstance(input_size, (int, np.integer)) and not isinstance(input_size, bool) and input_size != inputs.shape[2]:
        raise InputError(
            f"inputs have {inputs.shape[2]} features per step but the system expects input_size = {input_size}; "
            "pass inputs of shape (batch, time, input_size)."
        )


def initial_state_of(system, initial_state, batch: int, inputs: torch.Tensor) -> torch.Tensor:
    state_size = int(system.state_size)
    if initial_state is None:
        if callable(getattr(system, "initial_state", None)):
            initial_state = system.initial_state(batch)
        else:
            initial_state = torch.zeros(batch, state_size)
    if not isinstance(initial_state, torch.Tensor) or tuple(initial_state.shape) != (batch, state_size):
        shape = tuple(initial_state.shape) if isinstance(initial_state, torch.Tensor) else type(initial_state).__name__
        raise InputError(f"initial_state must have shape (batch, state_size) = ({batch}, {state_size}), got {shape}")
    state = initial_state.to(dtype=inputs.dtype, device=inputs.device)
    if not torch.isfinite(state).all():
        raise InputError("initial_state contains NaN or inf")
    return state


def check_tangent_size(system) -> int:
    """The dimension of the system's tangent dynamics: ``tangent_size`` if it has one, else ``state_size``."""
    state_size = int(system.state_size)
    tangent_size = getattr(system, "tangent_size", None)
    if tangent_size is None or tangent_size == state_size:
        return state_size
    if isinstance(tangent_size, bool) or not isinstance(tangent_size, (int, np.integer)) or not 1 <= tangent_size:
        raise InputError(f"system.tangent_size must be a positive int, got {tangent_size!r}")
    if not callable(getattr(system, "step_with_tangents", None)):
        raise InputError(f"system {type(system).__name__} has tangent_size {tangent_size} != state_size {state_size} "
                         "but no step_with_tangents: only that method knows how tangents of another size move.")
    return int(tangent_size)

