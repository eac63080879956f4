"""Lyapunov spectra of input-driven recurrent systems by repeated QR (Benettin et al. 1980).

A frame of ``n_exponents`` orthonormal tangent vectors is pushed through the linearised dynamics
along a trajectory and re-orthonormalised by a QR decomposition every ``reorthonormalize_every``
steps; the time-averaged logs of the diagonal of R are the exponents (Benettin, Galgani, Giorgilli
& Strelcyn 1980; Shimada & Nagashima 1979; for input-driven RNNs, Vogt et al. 2022). Only the
current state and frame are kept, so memory does not grow with the number of steps.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from rnn_lyapunov.errors import InputError, NonFiniteStateError
from rnn_lyapunov.engine.spectrum import Spectrum
from rnn_lyapunov.engine.tangents import frame_propagator

FRAME_SEED = 0


class DeadDirectionWarning(RuntimeWarning):
    """A tangent direction collapsed to zero: its exponent is -inf (the map is singular there)."""


def lyapunov_spectrum(
    system,
    inputs,
    *,
    initial_state=None,
    n_exponents: int | None = None,
    warmup_steps: int = 0,
    reorthonormalize_every: int = 1,
    record_every: int | None = None,
    progress: bool = False,
) -> Spectrum:
    """Lyapunov spectrum of ``system`` driven by a batch of input sequences.

    Args:
        system: an object with ``state_size: int`` and ``step(state, x) -> next_state``
            (state: (batch, state_size), x: (batch, input_size)); optionally
            ``jacobian(state, x)`` -> (batch, state_size, state_size), the derivative of ``step``
            with respect to ``state``, or ``step_with_tangents(state, x, tangents)`` ->
            (next_state, J @ tangents) with tangents (batch, state_size, n_exponents); without
            either, forward-mode autodiff pushes the tangent vectors through ``step`` without
            forming the full Jacobian. Optionally ``initial_state(batch)`` -> (batch, state_size).
        inputs: (batch, time, input_size) tensor; ``input_size`` may be 0 for an autonomous map.
            The computation runs on its device and in its dtype; one trajectory per batch row.
        initial_state: (batch, state_size); default ``system.initial_state(batch)`` if the system
            has one, else zeros.
        n_exponents: how many of the largest exponents to compute, 1..state_size (default all).
        warmup_steps: steps that evolve the state and the frame before averaging starts.
        reorthonormalize_every: steps between QR decompositions (1 = every step); between them the
            frame is propagated unnormalised, so large values can overflow in float32.
        record_every: record running estimates every this many averaged steps (a multiple of
            ``reorthonormalize_every``) into ``Spectrum.history``; None records nothing.
        progress: show a progress bar over time steps.

    Returns:
        A :class:`Spectrum`: exponents in natural log per time step (nats per step), each
        trajectory's spectrum sorted in descending order, accumulated in float64.

    Raises:
        InputError: a bad argument (the message names it and what is allowed).
        NonFiniteStateError: the state became NaN or infinite (names the step and trajectories).
    """
    _check_system(system)
    inputs = _check_inputs(inputs)
    batch, time_steps, _ = inputs.shape
    state_size = int(system.state_size)
    check_schedule(warmup_steps=warmup_steps, reorthonormalize_every=reorthonormalize_every,
                   record_every=record_every, time_steps=time_steps, n_exponents=n_exponents, state_size=state_size)
    n_exponents = state_size if n_exponents is None else int(n_exponents)
    _check_parameters_match(system, inputs)
    _check_input_size(system, inputs)
    state = _initial_state(system, initial_state, batch, inputs)

    frame = initial_frame(state_size, n_exponents, dtype=inputs.dtype, device=inputs.device)
    frame = frame.expand(batch, state_size, n_exponents).clone()
    advance = frame_propagator(system)
    log_growth_sums = torch.zeros(batch, n_exponents, dtype=torch.float64, device=inputs.device)
    history, history_steps = [], []
    steps_since_qr = 0
    first_dead_direction_step = None

    with torch.no_grad():
        for time_index in tqdm(range(time_steps), disable=not progress, desc="Lyapunov spectrum", unit="step"):
            if time_index == 0:
                state, frame = _first_step(advance, state, inputs, frame)
            else:
                state, frame = advance(state, inputs[:, time_index], frame)
            _check_finite_state(state, time_index)
            steps_since_qr += 1
            last_warmup_step = time_index == warmup_steps - 1
            if steps_since_qr < reorthonormalize_every and not last_warmup_step and time_index != time_steps - 1:
                continue
            frame, log_growth = orthonormalize(frame, time_index)
            steps_since_qr = 0
            if first_dead_direction_step is None and torch.isneginf(log_growth).any():
                first_dead_direction_step = time_index
            if time_index < warmup_steps:
                continue
            log_growth_sums += log_growth
            averaged_steps = time_index - warmup_steps + 1
            if record_every is not None and (averaged_steps % record_every == 0 or time_index == time_steps - 1):
                history.append((log_growth_sums / averaged_steps).cpu())
                history_steps.append(averaged_steps)

    if first_dead_direction_step is not None:
        # Once per computation: a singular map hits the same zero at every later QR step.
        warnings.warn(
            f"a tangent direction collapsed to zero (first at step {first_dead_direction_step}, a zero on "
            "the diagonal of R); its exponent is -inf. The map is singular along that direction.",
            DeadDirectionWarning,
            stacklevel=2,
        )
    averaged_steps = time_steps - warmup_steps
    per_trajectory = (log_growth_sums / averaged_steps).cpu().sort(dim=1, descending=True).values
    recorded = None
    if history:
        recorded = torch.stack(history).sort(dim=2, descending=True).values
    return Spectrum(
        per_trajectory=per_trajectory,
        history=recorded,
        history_steps=torch.tensor(history_steps, dtype=torch.int64) if history else None,
        steps=averaged_steps,
        warmup_steps=warmup_steps,
        reorthonormalize_every=reorthonormalize_every,
    )


def initial_frame(state_size: int, n_exponents: int, *, dtype, device) -> torch.Tensor:
    """A fixed, seeded random orthonormal frame: (state_size, n_exponents).

    Random rather than the identity so that no column starts inside an invariant subspace (for a
    triangular map the identity's first column is an eigenvector). The first ``k`` columns are
    the same for every ``n_exponents >= k``, so asking for fewer exponents gives the leading ones
    of the full computation.
    """
    generator = torch.Generator().manual_seed(FRAME_SEED)
    gaussian = torch.randn(state_size, state_size, generator=generator, dtype=torch.float64)
    orthonormal, _ = torch.linalg.qr(gaussian)
    return orthonormal[:, :n_exponents].to(dtype=dtype, device=device)


def orthonormalize(frame: torch.Tensor, time_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """QR-decompose each frame: (batch, state_size, n_exponents) -> (Q, log|diag R| in float64 (batch, n_exponents))."""
    orthonormal, triangular = torch.linalg.qr(frame)
    log_growth = triangular.diagonal(dim1=-2, dim2=-1).abs().double().log()
    if torch.isnan(log_growth).any():
        raise NonFiniteStateError(
            f"the tangent vectors became NaN or infinite at step {time_index}: the Jacobian is not "
            "finite there. Check the system's jacobian, or use float64 inputs."
        )
    return orthonormal, log_growth


def _check_system(system) -> None:
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


def _check_inputs(inputs) -> torch.Tensor:
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
    if inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise InputError(f"inputs need at least one trajectory and one time step, got shape {tuple(inputs.shape)}")
    bad = ~torch.isfinite(inputs)
    if bad.any():
        trajectory, time_index, _ = (int(index) for index in bad.nonzero()[0])
        raise InputError(
            f"inputs contain NaN or inf (first at trajectory {trajectory}, step {time_index}); "
            "clean or mask the input sequences."
        )
    return inputs


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value!r}", arguments=(name,))


def check_schedule(*, warmup_steps=0, reorthonormalize_every=1, record_every=None, time_steps: int | None = None,
                   n_exponents=None, state_size: int | None = None) -> None:
    """The rules that tie the spectrum settings together, checked in one place.

    ``warmup_steps < time_steps``; ``record_every`` a multiple of ``reorthonormalize_every``;
    ``1 <= n_exponents <= state_size``. Arguments left at None (``time_steps``, ``state_size``)
    are not known yet and skip their rule, so a config can be checked before any data exist.
    Raises InputError whose ``arguments`` name the offending arguments, for callers that
    restate it as config keys or command-line flags.
    """
    _check_int("warmup_steps", warmup_steps, 0)
    if time_steps is not None and warmup_steps >= time_steps:
        raise InputError(
            f"warmup_steps ({warmup_steps}) must be smaller than the number of time steps in inputs "
            f"({time_steps}); lower warmup_steps or pass longer sequences.", arguments=("warmup_steps",))
    _check_int("reorthonormalize_every", reorthonormalize_every, 1)
    if record_every is not None:
        _check_int("record_every", record_every, 1)
        if record_every % reorthonormalize_every:
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


def _check_parameters_match(system, inputs: torch.Tensor) -> None:
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


def _check_input_size(system, inputs: torch.Tensor) -> None:
    input_size = getattr(system, "input_size", None)
    if isinstance(input_size, (int, np.integer)) and not isinstance(input_size, bool) and input_size != inputs.shape[2]:
        raise InputError(
            f"inputs have {inputs.shape[2]} features per step but the system expects input_size = {input_size}; "
            "pass inputs of shape (batch, time, input_size)."
        )


def _first_step(advance, state, inputs, frame):
    """The first step, where a shape or dtype mismatch between system and inputs shows up."""
    try:
        return advance(state, inputs[:, 0], frame)
    except (RuntimeError, TypeError, IndexError) as error:
        raise InputError(
            f"system.step failed on the first step with state {tuple(state.shape)} and inputs "
            f"{tuple(inputs.shape)} ({inputs.dtype}): {error}. Check that the inputs' feature size and dtype "
            "match the system."
        ) from error


def _initial_state(system, initial_state, batch: int, inputs: torch.Tensor) -> torch.Tensor:
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


def _check_finite_state(state: torch.Tensor, time_index: int) -> None:
    finite_rows = torch.isfinite(state).all(dim=1)
    if bool(finite_rows.all()):
        return
    diverged = (~finite_rows).nonzero().flatten().tolist()
    shown = ", ".join(str(index) for index in diverged[:10]) + (" ..." if len(diverged) > 10 else "")
    raise NonFiniteStateError(
        f"the state became NaN or infinite at step {time_index} in trajectory {shown}: the network "
        "diverged on these inputs. Try float64, a smaller initialisation scale or learning rate, "
        "or shorter sequences."
    )
