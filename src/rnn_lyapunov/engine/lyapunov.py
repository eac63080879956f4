"""Lyapunov spectra of input-driven recurrent systems by repeated QR (Benettin et al. 1980).

A frame of ``n_exponents`` orthonormal tangent vectors is pushed through the linearised dynamics
along a trajectory and re-orthonormalised by a QR decomposition every ``reorthonormalize_every``
steps; the time-averaged logs of the diagonal of R are the exponents (Benettin, Galgani, Giorgilli
& Strelcyn 1980; Shimada & Nagashima 1979; for input-driven RNNs, Vogt et al. 2022). Between the
ends of averaging windows the frame may instead be re-triangularised by LU, which gives the same
exponents (:mod:`rnn_lyapunov.engine.factorizations`). Only the current state and frame are kept,
so memory does not grow with the number of steps.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from rnn_lyapunov.engine.arguments import (check_input_size, check_inputs, check_parameters_match, check_schedule,
                                           check_system, check_tangent_size, initial_state_of)
from rnn_lyapunov.errors import InputError, NonFiniteStateError
from rnn_lyapunov.engine.factorizations import LU, QR, LUFactorization, householder
from rnn_lyapunov.engine.method import AUTO, resolve_method
from rnn_lyapunov.engine.schedule import closing_step, schedule_for
from rnn_lyapunov.engine.spectrum import Spectrum
from rnn_lyapunov.engine.tangents import frame_propagator

FRAME_SEED = 0
INPUT_CHUNK_STEPS = 1024
CACHED_FRAME_MAX_SIZE = 256


class DeadDirectionWarning(RuntimeWarning):
    """A tangent direction collapsed to zero: its exponent is -inf (the map is singular there)."""


def lyapunov_spectrum(
    system,
    inputs,
    *,
    initial_state=None,
    n_exponents: int | None = None,
    warmup_steps: int = 0,
    reorthonormalize_every: int | str = 1,
    reorthonormalize_tolerance: float | None = None,
    factorization: str = AUTO,
    tangent_dtype=AUTO,
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
            forming the full Jacobian. Optionally ``initial_state(batch)`` -> (batch, state_size),
            and ``tangent_size: int``: the dimension of the tangent dynamics when it is smaller than
            the state (the h-only LSTM of Vogt et al. 2022 carries c in its state but has tangents
            of h alone); it needs ``step_with_tangents`` taking tangents (batch, tangent_size, k).
        inputs: (batch, time, input_size) tensor; ``input_size`` may be 0 for an autonomous map.
            The computation runs on its device and in its dtype; one trajectory per batch row.
        initial_state: (batch, state_size); default ``system.initial_state(batch)`` if the system
            has one, else zeros.
        n_exponents: how many of the largest exponents to compute, 1..tangent_size (default all;
            tangent_size is state_size unless the system says otherwise).
        warmup_steps: steps that evolve the state and the frame before averaging starts.
        reorthonormalize_every: steps between QR decompositions (1 = every step; between them the
            frame is propagated unnormalised, so large values lose the smallest exponents and can
            overflow in float32), or ``"auto"``: the longest interval at which every tracked
            direction keeps a relative error <= ``reorthonormalize_tolerance`` per QR, adapted from
            the measured spread of the spectrum and the dtype's precision (see
            :mod:`rnn_lyapunov.engine.schedule`); ``Spectrum.interval_counts`` reports the intervals used.
        reorthonormalize_tolerance: with ``"auto"``, that relative error: each exponent then stays
            within this many nats per step of QR-every-step (default 1e-6 for float64 inputs, 1e-4
            for float32 inputs, whatever the frame's dtype: the states' own roundoff moves a float32
            network's exponents by more). Not allowed with an int ``reorthonormalize_every``.
        factorization: how the frame is re-triangularised between the ends of averaging windows:
            ``"qr"`` (Householder), ``"lu"`` (partial pivoting; the same exponents, cheaper, a little
            more roundoff) or ``"auto"`` (LU for a float64 frame of at least 48 columns and more than a
            quarter of the tangent dimension, QR otherwise). The end of warm-up, every record step
            and the last step are always Householder QR. See :mod:`rnn_lyapunov.engine.method`.
        tangent_dtype: dtype of the tangent frame: ``"auto"`` (the inputs' dtype, except float64
            for a near-square frame of a float32 system on the CPU that accepts wider tangents),
            ``torch.float64`` or the inputs' dtype. The state always evolves in the inputs' dtype.
        record_every: record running estimates every this many averaged steps (a multiple of an
            int ``reorthonormalize_every``; any int >= 1 with ``"auto"``, which then closes an
            interval at each record step) into ``Spectrum.history``; None records nothing.
        progress: show a progress bar over time steps.

    Returns:
        A :class:`Spectrum`: exponents in natural log per time step (nats per step), each
        trajectory's spectrum sorted in descending order, accumulated in float64.

    Raises:
        InputError: a bad argument (the message names it and what is allowed).
        NonFiniteStateError: the state or the frame became NaN or infinite (names the trajectories and
            the steps since the last QR: finiteness is checked at QR steps only, so that the host
            never waits for the device between them).
    """
    check_system(system)
    inputs = check_inputs(inputs)
    batch, time_steps, _ = inputs.shape
    tangent_size = check_tangent_size(system)
    check_schedule(warmup_steps=warmup_steps, reorthonormalize_every=reorthonormalize_every,
                   record_every=record_every, time_steps=time_steps, n_exponents=n_exponents, state_size=tangent_size,
                   reorthonormalize_tolerance=reorthonormalize_tolerance)
    n_exponents = tangent_size if n_exponents is None else int(n_exponents)
    check_parameters_match(system, inputs)
    check_input_size(system, inputs)
    method = resolve_method(system, inputs, n_exponents, tangent_size, factorization=factorization,
                            tangent_dtype=tangent_dtype)
    state = initial_state_of(system, initial_state, batch, inputs)
    schedule = schedule_for(reorthonormalize_every, reorthonormalize_tolerance, method.tangent_dtype,
                            method.factorization, tangent_size, state_dtype=inputs.dtype)
    factorizations = {QR: householder, LU: LUFactorization()} if method.factorization == LU else {QR: householder}
    factorization_counts = {name: 0 for name in factorizations}

    frame = initial_frame(tangent_size, n_exponents, dtype=method.tangent_dtype, device=inputs.device)
    frame = frame.expand(batch, tangent_size, n_exponents).clone()
    advance = frame_propagator(system)
    log_growth_sums = torch.zeros(batch, n_exponents, dtype=torch.float64, device=inputs.device)
    history, history_steps = [], []
    interval_counts: dict[int, int] = {}  # interval -> QRs closing one that long
    first_dead_direction_step = None
    # (batch, input_size) views of the inputs, made a chunk of steps at a time: indexing inputs[:, t]
    # costs a few us per step, and views of every step at once would hold ~0.5 KiB per step
    steps_inputs = inputs[:, :INPUT_CHUNK_STEPS].unbind(1)
    interval = 1 if schedule.adaptive else schedule.every
    last_qr = -1
    next_qr = closing_step(-1, interval, warmup_steps=warmup_steps, record_every=record_every, time_steps=time_steps)

    with torch.no_grad():
        steps = tqdm(range(time_steps), desc="Lyapunov spectrum", unit="step") if progress else range(time_steps)
        for time_index in steps:
            if time_index == 0:
                state, frame = _first_step(advance, state, inputs, frame)
            else:
                chunk, offset = divmod(time_index, INPUT_CHUNK_STEPS)
                if offset == 0:
                    steps_inputs = inputs[:, chunk * INPUT_CHUNK_STEPS:(chunk + 1) * INPUT_CHUNK_STEPS].unbind(1)
                state, frame = advance(state, steps_inputs[offset], frame)
            if time_index != next_qr:
                continue  # no check between QRs: it would make the host wait for the device every step
            averaged_steps = time_index - warmup_steps + 1
            last_step = time_index == time_steps - 1
            record_step = (record_every is not None and averaged_steps > 0
                           and (averaged_steps % record_every == 0 or last_step))
            # the ends of averaging windows take Householder QR: it folds the last LU frame's triangle into the sums
            window_end = averaged_steps == 0 or last_step or record_step
            used = QR if window_end else schedule.factorization
            frame, log_growth = factorizations[used](frame)
            factorization_counts[used] += 1
            steps_closed = time_index - last_qr
            # the one host sync of a QR step: finiteness, dead directions and the schedule's statistics together
            readings = _readings(state, schedule.summed_windows(log_growth, steps_closed))
            _raise_if_not_finite(state, readings, last_qr + 1, time_index)
            if first_dead_direction_step is None and readings.dead_direction:
                first_dead_direction_step = time_index
            interval_counts[steps_closed] = interval_counts.get(steps_closed, 0) + 1
            if schedule.adaptive:
                interval = schedule.next_interval(readings.spreads, readings.sizes)
            last_qr = time_index
            next_qr = closing_step(time_index, interval, warmup_steps=warmup_steps, record_every=record_every,
                                   time_steps=time_steps)
            if time_index < warmup_steps:
                continue
            log_growth_sums += log_growth
            if record_step:
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
        reorthonormalize_tolerance=schedule.tolerance if schedule.adaptive else None,
        interval_counts=dict(sorted(interval_counts.items())),
        factorization=method.factorization,
        tangent_dtype=str(method.tangent_dtype).removeprefix("torch."),
        factorization_counts=factorization_counts,
    )


def initial_frame(state_size: int, n_exponents: int, *, dtype, device) -> torch.Tensor:
    """A fixed, seeded random orthonormal frame: (state_size, n_exponents).

    Random rather than the identity so that no column starts inside an invariant subspace (for a
    triangular map the identity's first column is an eigenvector). The first ``k`` columns are
    the same for every ``n_exponents >= k``, so asking for fewer exponents gives the leading ones
    of the full computation.
    """
    make = _cached_seeded_orthonormal if state_size <= CACHED_FRAME_MAX_SIZE else _seeded_orthonormal
    return make(state_size)[:, :n_exponents].to(dtype=dtype, device=device, copy=True)


def _seeded_orthonormal(size: int) -> torch.Tensor:
    """(size, size) float64."""
    generator = torch.Generator().manual_seed(FRAME_SEED)
    orthonormal, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
    return orthonormal


# a training run takes many small spectra: their seeded frames are made once (read-only, <= 0.5 MiB each)
_cached_seeded_orthonormal = functools.lru_cache(maxsize=4)(_seeded_orthonormal)


def _frame_message(first: int, last: int) -> str:
    where = f"step {last}" if first == last else f"steps {first}..{last}"
    return (f"the tangent vectors became NaN or infinite at {where}: the Jacobian is not finite there, or "
            "the frame overflowed between QRs. Check the system's jacobian, use float64 inputs or a "
            "smaller reorthonormalize_every.")


class Readings(NamedTuple):
    """What one QR step reads back to the host, in one transfer."""

    state_broken: bool  # some state entry is NaN or infinite
    frame_broken: bool  # some log|diag R| is NaN or +inf
    dead_direction: bool  # some log|diag R| is -inf
    spreads: list[float]  # per window of the schedule: worst-case spread over the batch of summed log|diag R|
    sizes: list[float]  # per window: the largest |summed log R_ii|


def _readings(state: torch.Tensor, summed: torch.Tensor) -> Readings:
    """:class:`Readings` of the state (batch, state_size) and the schedule's summed windows (windows, batch, k),
    the latest QR's log|diag R| first. NaN and inf pass through every reduction here, so that the
    largest |state| and the extremes of log|diag R| show them (a few small ops: each costs ~5 us)."""
    lowest, highest = torch.aminmax(summed, dim=2)  # (windows, batch)
    per_window = torch.stack((highest - lowest, highest, lowest.neg())).amax(dim=2)  # (3, windows)
    largest_state = torch.linalg.vector_norm(state, math.inf).unsqueeze(0)
    *values, state_size = torch.cat((per_window.flatten(), largest_state)).tolist()
    count = len(values) // 3
    spreads, highest, negated_lowest = values[:count], values[count:2 * count], values[2 * count:]
    return Readings(
        state_broken=not math.isfinite(state_size),
        frame_broken=math.isnan(highest[0]) or highest[0] == math.inf or math.isnan(negated_lowest[0]),
        dead_direction=negated_lowest[0] == math.inf,
        spreads=spreads,
        sizes=[max(high, low) for high, low in zip(highest, negated_lowest)],
    )


def _raise_if_not_finite(state: torch.Tensor, readings: Readings, first: int, last: int) -> None:
    if readings.state_broken:
        finite_rows = torch.isfinite(state).all(dim=1)
        diverged = (~finite_rows).nonzero().flatten().tolist()
        shown = ", ".join(str(index) for index in diverged[:10]) + (" ..." if len(diverged) > 10 else "")
        where = f"step {last}" if first == last else f"steps {first}..{last} (checked at QR steps only)"
        raise NonFiniteStateError(
            f"the state became NaN or infinite at {where} in trajectory {shown}: the network "
            "diverged on these inputs. Try float64, a smaller initialisation scale or learning rate, "
            "or shorter sequences.")
    if readings.frame_broken:
        raise NonFiniteStateError(_frame_message(first, last))


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
