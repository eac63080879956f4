"""Fuzzing ``lyapunov_spectrum``: random shapes, dtypes, values (NaN, inf, huge, zero) and arguments.

Whatever it is given, the engine either returns a spectrum with no NaN and no +inf exponent (-inf
is allowed for a dead direction, and then a DeadDirectionWarning was emitted) or raises the
documented InputError / NonFiniteStateError. Any other exception, or a NaN reported as an
exponent, fails. Run with ``--hypothesis-show-statistics`` to see how many cases ran and how
they ended (``event`` lines).
"""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnn_lyapunov import lyapunov_spectrum
from rnn_lyapunov.engine.lyapunov import DeadDirectionWarning
from rnn_lyapunov.errors import InputError, NonFiniteStateError


FUZZ_SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow])
SPECIAL_VALUES = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e30, -1e30, 1e-300, 3.4e38]
ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda values: values}


@st.composite
def values(draw, dtype, shape):
    """Arrays of ordinary numbers (four draws in five) or with NaN, inf, huge, tiny or zero entries."""
    ordinary = st.floats(-3.0, 3.0, width=32)
    if draw(st.integers(0, 4)):
        return draw(hnp.arrays(dtype, shape, elements=ordinary))
    return draw(hnp.arrays(dtype, shape, elements=st.one_of(ordinary, st.sampled_from(SPECIAL_VALUES))))


def sometimes_out_of_range(valid, invalid):
    """Mostly valid argument values, one draw in ten from the invalid ones."""
    return st.one_of(*[valid] * 9, invalid)


class FuzzRNN:
    """state' = act(W state + U x), with every propagation path the engine supports."""

    def __init__(self, recurrent, input_weight, activation, path):
        self.recurrent, self.input_weight = recurrent, input_weight
        self.activation = ACTIVATIONS[activation]
        self.state_size = recurrent.shape[0]
        if path == "jacobian":
            self.jacobian = self._jacobian

    def step(self, state, x):
        return self.activation(state @ self.recurrent.T + x @ self.input_weight.T)

    def _jacobian(self, state, x):
        _, derivative = torch.func.jvp(self.activation, (state @ self.recurrent.T + x @ self.input_weight.T,),
                                       (torch.ones_like(state),))
        return derivative.unsqueeze(-1) * self.recurrent


@st.composite
def engine_cases(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    state_size = draw(st.integers(1, 4))
    input_size = draw(st.integers(0, 3))
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 8))
    recurrent = torch.from_numpy(draw(values(dtype, (state_size, state_size))))
    input_weight = torch.from_numpy(draw(values(dtype, (state_size, input_size))))
    inputs = torch.from_numpy(draw(values(dtype, (batch, steps, input_size))))
    system = FuzzRNN(recurrent, input_weight, draw(st.sampled_from(sorted(ACTIVATIONS))),
                     draw(st.sampled_from(["jacobian", "autodiff"])))
    arguments = {
        "n_exponents": draw(sometimes_out_of_range(st.one_of(st.none(), st.integers(1, state_size)),
                                                   st.sampled_from([-1, 0, state_size + 1, 1.5, True]))),
        "warmup_steps": draw(sometimes_out_of_range(st.integers(0, steps - 1), st.sampled_from([steps, -1]))),
        "reorthonormalize_every": draw(sometimes_out_of_range(st.integers(1, 3), st.sampled_from([0, -2]))),
        "record_every": draw(st.one_of(st.none(), st.integers(0, 6))),
    }
    return system, inputs, arguments


def check_spectrum_or_documented_error(compute):
    """Run ``compute()``; return the outcome name, failing on anything undocumented."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            spectrum = compute()
        except NonFiniteStateError:
            return "NonFiniteStateError"
        except InputError as error:
            return f"InputError: {str(error)[:25]}"
    kinds = {type(warning.message) for warning in caught
             if "torch.jit.script" not in str(warning.message)}  # torch's own forward-AD deprecation notice
    assert kinds <= {DeadDirectionWarning}, [str(warning.message) for warning in caught]
    exponents = spectrum.per_trajectory
    assert not torch.isnan(exponents).any(), exponents
    assert not torch.isposinf(exponents).any(), exponents
    if torch.isneginf(exponents).any():
        assert DeadDirectionWarning in kinds
    assert torch.equal(exponents, exponents.sort(dim=1, descending=True).values)
    assert not math.isnan(spectrum.kaplan_yorke_dimension)
    if spectrum.history is not None:
        assert not torch.isnan(spectrum.history).any()
    return "dead direction" if torch.isneginf(exponents).any() else "finite spectrum"


@pytest.mark.slow
@FUZZ_SETTINGS
@given(engine_cases())
def test_engine_returns_finite_spectrum_or_documented_error(case):
    system, inputs, arguments = case
    outcome = check_spectrum_or_documented_error(lambda: lyapunov_spectrum(system, inputs, **arguments))
    event(outcome)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.one_of(
    hnp.arrays(st.sampled_from([np.int64, np.bool_, np.complex64, np.float16]), hnp.array_shapes(min_dims=0, max_dims=4, max_side=3)),
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)),
    st.lists(st.floats(), max_size=3), st.none(), st.text(max_size=3),
))
def test_engine_refuses_malformed_inputs_with_input_error(inputs):
    system = FuzzRNN(torch.eye(2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64), "tanh", "jacobian")
    event(check_spectrum_or_documented_error(lambda: lyapunov_spectrum(system, inputs)))


def test_half_precision_inputs_get_input_error():
    from rnn_lyapunov.architectures.registry import get_architecture

    core = get_architecture("rnn")(input_size=2, hidden_size=3).half()
    with pytest.raises(InputError):
        lyapunov_spectrum(core, torch.zeros(1, 4, 2, dtype=torch.float16))
