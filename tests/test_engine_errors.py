"""Bad input gets a clear InputError naming the argument; singular or diverging maps never give NaN."""

import math

import numpy as np
import pytest
import torch

from rnn_lyapunov import NonFiniteStateError, lyapunov_spectrum
from rnn_lyapunov.engine.lyapunov import DeadDirectionWarning
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.engine.systems import LinearMap, TanhRNN


@pytest.fixture
def rnn():
    return TanhRNN(hidden_size=4, input_size=2, seed=0)


@pytest.fixture
def inputs(rnn):
    return rnn.random_inputs(2, 20, generator=torch.Generator().manual_seed(0))


def test_inputs_of_wrong_rank_are_refused(rnn, inputs):
    with pytest.raises(InputError, match=r"\(batch, time, input_size\)"):
        lyapunov_spectrum(rnn, inputs[0])


def test_integer_inputs_are_refused(rnn, inputs):
    with pytest.raises(InputError, match="float32 or float64"):
        lyapunov_spectrum(rnn, inputs.long())


def test_non_tensor_inputs_are_refused(rnn):
    with pytest.raises(InputError, match="torch.Tensor"):
        lyapunov_spectrum(rnn, [[1.0]])


def test_numpy_inputs_are_accepted(rnn, inputs):
    from_numpy = lyapunov_spectrum(rnn, inputs.numpy())
    assert torch.equal(from_numpy.per_trajectory, lyapunov_spectrum(rnn, inputs).per_trajectory)


def test_nan_in_inputs_names_trajectory_and_step(rnn, inputs):
    inputs[1, 7, 0] = float("nan")
    with pytest.raises(InputError, match="trajectory 1, step 7"):
        lyapunov_spectrum(rnn, inputs)


@pytest.mark.parametrize("n_exponents", [0, 5, -1, 2.5, True])
def test_n_exponents_outside_range_is_refused(rnn, inputs, n_exponents):
    with pytest.raises(InputError, match=r"n_exponents must be an int in 1\.\.4"):
        lyapunov_spectrum(rnn, inputs, n_exponents=n_exponents)


def test_warmup_not_shorter_than_inputs_is_refused(rnn, inputs):
    with pytest.raises(InputError, match=r"warmup_steps \(20\) must be smaller"):
        lyapunov_spectrum(rnn, inputs, warmup_steps=20)


@pytest.mark.parametrize("argument", ["warmup_steps", "reorthonormalize_every", "record_every"])
def test_negative_schedule_arguments_are_refused(rnn, inputs, argument):
    with pytest.raises(InputError, match=argument):
        lyapunov_spectrum(rnn, inputs, **{argument: -1})


def test_record_every_must_be_a_multiple_of_the_qr_interval(rnn, inputs):
    with pytest.raises(InputError, match="multiple of reorthonormalize_every"):
        lyapunov_spectrum(rnn, inputs, reorthonormalize_every=3, record_every=4)


def test_system_without_step_is_refused(inputs):
    class NotASystem:
        state_size = 3

    with pytest.raises(InputError, match="has no step"):
        lyapunov_spectrum(NotASystem(), inputs)


def test_initial_state_of_wrong_shape_is_refused(rnn, inputs):
    with pytest.raises(InputError, match=r"initial_state must have shape \(batch, state_size\) = \(2, 4\)"):
        lyapunov_spectrum(rnn, inputs, initial_state=torch.zeros(2, 5))


def test_module_with_other_dtype_than_inputs_is_refused():
    cell = torch.nn.RNNCell(2, 3)

    class CellSystem:
        state_size = 3

        def step(self, state, x):
            return cell(x, state)

        def parameters(self):
            return cell.parameters()

    with pytest.raises(InputError, match="float32 but inputs are torch.float64"):
        lyapunov_spectrum(CellSystem(), torch.zeros(1, 5, 2, dtype=torch.float64))


def test_diverging_state_names_step_and_trajectory():
    growing = LinearMap(torch.tensor([[1e200]], dtype=torch.float64))
    with pytest.raises(NonFiniteStateError, match=r"step 1 in trajectory 0, 1.*float64"):
        lyapunov_spectrum(growing, torch.zeros(2, 10, 0, dtype=torch.float64))


@pytest.mark.parametrize("trajectories", [10, 12])
def test_a_diverging_batch_names_at_most_ten_trajectories(trajectories):
    """All trajectories diverge at step 1: the message lists the first ten, and "..." only when more did."""
    growing = LinearMap(torch.tensor([[1e200]], dtype=torch.float64))
    with pytest.raises(NonFiniteStateError) as caught:
        lyapunov_spectrum(growing, torch.zeros(trajectories, 10, 0, dtype=torch.float64))
    listed = "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"
    assert f"in trajectory {listed}{' ...' if trajectories > 10 else ''}: the network diverged" in str(caught.value)


def test_singular_direction_gives_minus_infinity_and_a_warning_never_nan():
    singular = LinearMap(torch.tensor([[0.5, 1.0], [0.0, 0.0]], dtype=torch.float64))
    with pytest.warns(DeadDirectionWarning, match="collapsed to zero"):
        spectrum = lyapunov_spectrum(singular, torch.zeros(2, 30, 0, dtype=torch.float64), warmup_steps=5)
    assert spectrum.exponents[0] == pytest.approx(math.log(0.5), abs=1e-12)
    assert spectrum.exponents[1] == -math.inf
    assert not spectrum.per_trajectory.isnan().any()
    assert not np.isnan(spectrum.kaplan_yorke_dimension)


def test_dead_direction_is_warned_once_per_computation():
    singular = LinearMap(torch.tensor([[0.5, 1.0], [0.0, 0.0]], dtype=torch.float64))
    with pytest.warns(DeadDirectionWarning, match="first at step 0") as record:
        lyapunov_spectrum(singular, torch.zeros(2, 30, 0, dtype=torch.float64))
    assert len(record) == 1


def test_inputs_with_wrong_feature_size_are_refused(rnn):
    with pytest.raises(InputError, match="expects input_size = 2"):
        lyapunov_spectrum(rnn, torch.zeros(1, 5, 3, dtype=torch.float64))


def test_step_failing_on_mismatched_inputs_is_an_input_error():
    weight = torch.ones(2, 1, dtype=torch.float64)

    class UndeclaredInputSize:
        state_size = 2

        def step(self, state, x):
            return torch.tanh(state + x @ weight.T)

    with pytest.raises(InputError, match="failed on the first step"):
        lyapunov_spectrum(UndeclaredInputSize(), torch.zeros(1, 5, 0, dtype=torch.float64))
