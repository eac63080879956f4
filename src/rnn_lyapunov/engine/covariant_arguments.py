"""Checking the arguments of :func:`rnn_lyapunov.engine.covariant.covariant_lyapunov_vectors` and planning
its segments. Every check raises :class:`InputError` naming the argument and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnn_lyapunov.errors import InputError

FLOAT64_BYTES = 8


@dataclass(frozen=True)
class Plan:
    """What the computation does: ``segments`` [(start, stop)] cover warmup_steps..time-1, in order;
    ``kept_steps`` the steps whose vectors are returned and ``kept_positions`` {step: position}."""

    n_vectors: int
    warmup_steps: int
    backward_steps: int
    time_steps: int
    kept_steps: tuple[int, ...]
    kept_positions: dict
    segments: tuple[tuple[int, int], ...]
    stored_r_factor_bytes: int
    checkpoint_bytes: int

    @property
    def segment_steps(self) -> int:
        return max(stop - start for start, stop in self.segments)

    @property
    def recomputed_steps(self) -> int:
        """Steps run twice: every segment but the last is replayed from its checkpoint."""
        return sum(stop - start for start, stop in self.segments[:-1])


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_int(name: str, value, minimum: int) -> int:
    if not _is_int(value) or value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value!r}", arguments=(name,))
    return int(value)


def plan_computation(*, time_steps: int, tangent_size: int, batch: int, n_vectors, warmup_steps, backward_steps,
                     steps_to_keep, segment_steps, state_size: int, budget_bytes: int) -> Plan:
    """Check the schedule and choose the segments (see :mod:`rnn_lyapunov.engine.covariant`, "Memory")."""
    warmup_steps = _check_int("warmup_steps", warmup_steps, 0)
    backward_steps = _check_int("backward_steps", backward_steps, 0)
    if n_vectors is None:
        n_vectors = tangent_size
    if not _is_int(n_vectors) or not 1 <= n_vectors <= tangent_size:
        raise InputError(f"n_vectors must be an int in 1..{tangent_size} (the tangent dimension), got {n_vectors!r}",
                         arguments=("n_vectors",))
    n_vectors = int(n_vectors)
    first, stop = warmup_steps, time_steps - backward_steps
    if first >= stop:
        raise InputError(
            f"warmup_steps ({warmup_steps}) + backward_steps ({backward_steps}) must be smaller than the number of "
            f"time steps in inputs ({time_steps}): CLVs exist only at the steps between them. Pass longer sequences "
            "or fewer warm-up or backward steps.", arguments=("warmup_steps", "backward_steps"))
    kept = _kept_steps(steps_to_keep, first, stop)
    steps_after_warmup = time_steps - warmup_steps
    r_bytes_per_step = batch * n_vectors * n_vectors * FLOAT64_BYTES
    checkpoint_bytes_each = batch * (state_size + tangent_size * n_vectors) * FLOAT64_BYTES
    if segment_steps is None:
        segment_steps = _automatic_segment(steps_after_warmup, r_bytes_per_step, budget_bytes)
    else:
        segment_steps = min(_check_int("segment_steps", segment_steps, 1), steps_after_warmup)
    segments = tuple((start, min(start + segment_steps, time_steps))
                     for start in range(warmup_steps, time_steps, segment_steps))
    return Plan(n_vectors=n_vectors, warmup_steps=warmup_steps, backward_steps=backward_steps, time_steps=time_steps,
                kept_steps=kept, kept_positions={step: position for position, step in enumerate(kept)},
                segments=segments, stored_r_factor_bytes=segment_steps * r_bytes_per_step,
                checkpoint_bytes=(len(segments) - 1) * checkpoint_bytes_each)


def _automatic_segment(steps: int, r_bytes: int, budget_bytes: int) -> int:
    """All steps while their R factors fit in the budget, else as many as fit: every step but those of the
    last segment is recomputed once, so the longest segment within the budget recomputes least."""
    return max(1, min(steps, budget_bytes // r_bytes))


def _kept_steps(steps_to_keep, first: int, stop: int) -> tuple[int, ...]:
    window = f"warmup_steps <= t < time - backward_steps, here {first}..{stop - 1}"
    if steps_to_keep is None:
        return tuple(range(first, stop))
    if isinstance(steps_to_keep, torch.Tensor):
        steps_to_keep = steps_to_keep.tolist()
    try:
        steps = list(steps_to_keep)
    except TypeError:
        raise InputError(f"steps_to_keep must be a sequence of step indices ({window}), got {steps_to_keep!r}",
                         arguments=("steps_to_keep",)) from None
    if not steps or not all(_is_int(step) for step in steps):
        raise InputError(f"steps_to_keep must be a non-empty sequence of int step indices ({window}), got {steps_to_keep!r}",
                         arguments=("steps_to_keep",))
    outside = [int(step) for step in steps if not first <= step < stop]
    if outside:
        raise InputError(f"steps_to_keep has steps outside the window where CLVs exist ({window}): {outside[:5]}",
                         arguments=("steps_to_keep",))
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        raise InputError("steps_to_keep must be strictly increasing (each step once)", arguments=("steps_to_keep",))
    return tuple(int(step) for step in steps)


def check_initial_frame(initial_frame, batch: int, tangent_size: int, n_vectors: int, dtype, device) -> torch.Tensor:
    """The starting frame (batch, tangent_size, n_vectors), not yet orthonormal."""
    if initial_frame is None:
        from rnn_lyapunov.engine.lyapunov import initial_frame as seeded_frame

        return seeded_frame(tangent_size, n_vectors, dtype=dtype, device=device).expand(batch, -1, -1)
    allowed = f"({tangent_size}, {n_vectors}) or ({batch}, {tangent_size}, {n_vectors})"
    if not isinstance(initial_frame, torch.Tensor) or tuple(initial_frame.shape) not in (
            (tangent_size, n_vectors), (batch, tangent_size, n_vectors)):
        shape = tuple(initial_frame.shape) if isinstance(initial_frame, torch.Tensor) else type(initial_frame).__name__
        raise InputError(f"initial_frame must be a tensor of shape {allowed} (tangent_size, n_vectors), got {shape}",
                         arguments=("initial_frame",))
    frame = initial_frame.to(dtype=dtype, device=device).expand(batch, tangent_size, n_vectors)
    singular_values = torch.linalg.svdvals(frame.double())
    if not bool(torch.isfinite(singular_values).all()) or bool((singular_values[:, -1] <= 1e-10 * singular_values[:, 0]).any()):
        raise InputError("initial_frame must be finite with linearly independent columns (full column rank)",
                         arguments=("initial_frame",))
    return frame
