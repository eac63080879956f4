"""How a spectrum is computed: the dtype of the tangent frame and how it is re-triangularised.

``tangent_dtype="auto"`` and ``factorization="auto"`` (the defaults) choose, from measurements on
the reference machine (docs/performance.md):

* a frame that is square or nearly so (``n_exponents >= 32`` and more than a quarter of the
  tangent dimension) spends most of its time re-triangularising, which is 2-4x cheaper by LU than by
  Householder QR from 64 columns on (:mod:`~rnn_lyapunov.engine.factorizations`; at 32 columns the
  replay of LU's row swaps costs more than it saves: QR was 10-14 % faster there, so LU starts at
  48). LU's roundoff is larger by a factor of up to the dimension, harmless in float64 (within 2e-9
  of QR every step on RNN, LSTM and GRU frames) but not in float32, so such a frame is carried in
  float64 whenever that is cheap: on the CPU, float64 arithmetic costs at most about twice float32,
  and a float64 frame also lets the adaptive interval grow. A float32 network then runs in float32
  (its trajectory is exactly the float32 one) while its tangents are pushed in float64;
* a thin frame (a few exponents of a large network) is bound by pushing the tangents through the
  network, which float64 would slow down, and its QR is cheap: it stays in the inputs' dtype with
  Householder QR;
* on a GPU the frame stays in the inputs' dtype (float64 throughput differs 2-64x between models)
  with Householder QR; pass ``tangent_dtype=torch.float64, factorization="lu"`` to choose otherwise.

A float64 frame for a float32 state needs a system whose tangent path accepts tangents wider than
its state: one with only ``jacobian`` (the engine casts J), or one that says so with
``mixed_precision_tangents = True`` (the built-in RNN, LSTM and GRU); forward-mode autodiff cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnn_lyapunov.devices import FLOAT_DTYPES
from rnn_lyapunov.engine.factorizations import FACTORIZATIONS, LU, QR
from rnn_lyapunov.engine.schedule import AUTO
from rnn_lyapunov.errors import InputError

# a frame is "square enough" for a float64 frame when it has at least this many columns ...
SQUARE_MIN_COLUMNS = 32
# ... and more than this fraction of the tangent dimension; LU pays from this many columns
SQUARE_MIN_FRACTION = 0.25
LU_MIN_COLUMNS = 48


@dataclass(frozen=True)
class Method:
    """The resolved choice: ``tangent_dtype`` (torch.float32 or torch.float64) and ``factorization`` ("qr" or "lu")."""

    tangent_dtype: torch.dtype
    factorization: str


def accepts_wider_tangents(system) -> bool:
    """Whether ``system`` can push float64 tangents along a float32 state (see the module docstring)."""
    if callable(getattr(system, "step_with_tangents", None)):
        return bool(getattr(system, "mixed_precision_tangents", False))
    return callable(getattr(system, "jacobian", None))


def frame_bound(n_exponents: int, tangent_size: int) -> bool:
    """Whether re-triangularising, not propagating, dominates the cost of a frame of this shape."""
    return n_exponents >= SQUARE_MIN_COLUMNS and n_exponents > SQUARE_MIN_FRACTION * tangent_size


def check_method_arguments(factorization, tangent_dtype) -> torch.dtype | None:
    """Check the two arguments; return the explicit tangent dtype, or None for "auto"."""
    if factorization != AUTO and factorization not in FACTORIZATIONS:
        raise InputError(f"factorization must be one of {AUTO}, {', '.join(FACTORIZATIONS)}; got {factorization!r}",
                         arguments=("factorization",))
    if tangent_dtype is None or tangent_dtype == AUTO:
        return None
    if isinstance(tangent_dtype, str) and tangent_dtype in FLOAT_DTYPES:
        return FLOAT_DTYPES[tangent_dtype]
    if tangent_dtype in FLOAT_DTYPES.values():
        return tangent_dtype
    raise InputError(f"tangent_dtype must be 'auto', 'float32', 'float64', torch.float32 or torch.float64; got "
                     f"{tangent_dtype!r}", arguments=("tangent_dtype",))


def check_tangent_dtype_width(tangent_dtype: torch.dtype, state_dtype: torch.dtype) -> None:
    """Refuse a tangent frame narrower than the states (float32 tangents along float64 states)."""
    if tangent_dtype == torch.float32 and state_dtype == torch.float64:
        raise InputError("tangent_dtype float32 is narrower than the float64 inputs: the tangent frame must be at "
                         "least as precise as the states. Use tangent_dtype float64 or 'auto'.",
                         arguments=("tangent_dtype",))


def resolve_method(system, inputs: torch.Tensor, n_exponents: int, tangent_size: int, *,
                   factorization: str = AUTO, tangent_dtype=None) -> Method:
    """The tangent dtype and factorization for this system, these inputs and this frame shape."""
    explicit_dtype = check_method_arguments(factorization, tangent_dtype)
    square_enough = frame_bound(n_exponents, tangent_size)
    if explicit_dtype is None:
        wider = (inputs.dtype == torch.float32 and inputs.device.type == "cpu" and square_enough
                 and accepts_wider_tangents(system))
        chosen_dtype = torch.float64 if wider else inputs.dtype
    else:
        chosen_dtype = explicit_dtype
        check_tangent_dtype_width(chosen_dtype, inputs.dtype)
        if chosen_dtype != inputs.dtype and not accepts_wider_tangents(system):
            raise InputError(
                f"tangent_dtype {chosen_dtype} with {inputs.dtype} inputs needs a system whose tangent path accepts "
                f"tangents wider than its state (a jacobian, or mixed_precision_tangents = True); "
                f"{type(system).__name__} has neither. Use tangent_dtype={inputs.dtype} or 'auto'.",
                arguments=("tangent_dtype",))
    if factorization == AUTO:
        factorization = LU if chosen_dtype == torch.float64 and square_enough and n_exponents >= LU_MIN_COLUMNS else QR
    return Method(tangent_dtype=chosen_dtype, factorization=factorization)
