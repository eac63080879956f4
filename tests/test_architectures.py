"""Contract tests run over every registered architecture, initialisation options, create_model."""

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_lyapunov import available_architectures, check_jacobian, create_model
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.engine.jacobian_check import autograd_jacobian
from rnn_lyapunov.architectures.registry import get_architecture
from rnn_lyapunov.architectures import fast_paths, layers
from rnn_lyapunov.architectures.model import SequenceModel, step_loop
from rnn_lyapunov.architectures.sequence_check import TOLERANCES, check_forward_sequence

ARCHITECTURES = available_architectures()
WITH_JACOBIAN = [name for name in ARCHITECTURES if callable(getattr(get_architecture(name), "jacobian", None))]


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_step_output_and_initial_state_have_the_declared_shapes(name, num_layers):
    core = get_architecture(name)(input_size=3, hidden_size=4, num_layers=num_layers).double()
    state = core.initial_state(5)
    assert state.shape == (5, core.state_size) and state.dtype == torch.float64 and not state.any()
    next_state = core.step(0.5 * torch.randn(5, core.state_size, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64))
    assert next_state.shape == (5, core.state_size)
    assert core.output(next_state).shape == (5, 4)
    assert core.state_size == num_layers * core.state_blocks_per_layer * 4


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("name", WITH_JACOBIAN)
def test_analytic_jacobian_passes_check_jacobian(name, num_layers):
    core = get_architecture(name)(input_size=3, hidden_size=4, num_layers=num_layers)
    assert check_jacobian(core, atol=1e-12) <= 1e-12


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(WITH_JACOBIAN),
    input_size=st.integers(1, 4),
    hidden_size=st.integers(1, 5),
    num_layers=st.integers(1, 3),
    bias=st.booleans(),
    scale=st.floats(0.1, 3.0),
)
def test_analytic_jacobian_matches_autograd_for_any_size_and_scale(name, input_size, hidden_size, num_layers, bias, scale):
    torch.manual_seed(0)  # the weights are drawn from torch's global generator: one example, one network
    core = get_architecture(name)(input_size, hidden_size, num_layers=num_layers, bias=bias)
    core.reset_parameters(init="uniform", init_scale=scale)
    # rtol: with three layers at scale 3 the entries reach 1e15, where float64 rounding alone is ~1.
    check_jacobian(core, batch=2, atol=1e-10, rtol=1e-12)


def test_check_jacobian_reports_a_wrong_jacobian_with_its_block():
    core = get_architecture("lstm")(input_size=2, hidden_size=3, num_layers=2).double()
    correct = core.jacobian

    def wrong(state, x):
        jacobian = correct(state, x)
        jacobian[:, 7, 1] += 0.01  # row 7 is in layer 1, column 1 in layer 0
        return jacobian

    core.jacobian = wrong
    with pytest.raises(AssertionError, match=r"row 7, column 1, i.e. d\(layer 1 state\) / d\(layer 0 state\)"):
        check_jacobian(core)


def test_check_jacobian_reports_a_wrong_step_with_tangents():
    core = get_architecture("gru")(input_size=2, hidden_size=3, num_layers=2).double()
    correct = core.step_with_tangents
    core.step_with_tangents = lambda state, x, tangents: (lambda result: (result[0], 1.001 * result[1]))(correct(state, x, tangents))
    with pytest.raises(AssertionError, match=r"step_with_tangents differs from \(autograd Jacobian of gru.step\) @ tangents"):
        check_jacobian(core)


def test_check_jacobian_leaves_a_float32_system_untouched():
    core = get_architecture("gru")(input_size=2, hidden_size=3)
    check_jacobian(core)
    assert all(parameter.dtype == torch.float32 for parameter in core.parameters())


def test_autograd_reference_equals_finite_differences():
    """The reference itself, against central differences (independent of autograd)."""
    core = get_architecture("rnn")(input_size=2, hidden_size=3, num_layers=2).double()
    state, x = torch.randn(2, 6, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64)
    step = 1e-6
    columns = []
    with torch.no_grad():
        for column in range(6):
            offset = torch.zeros(6, dtype=torch.float64)
            offset[column] = step
            columns.append((core.step(state + offset, x) - core.step(state - offset, x)) / (2 * step))
    torch.testing.assert_close(autograd_jacobian(core, state, x).detach(), torch.stack(columns, dim=2), atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_uniform_init_draws_every_parameter_within_the_scale(name):
    core = get_architecture(name)(input_size=3, hidden_size=16)
    core.reset_parameters(init="uniform", init_scale=0.3)
    values = torch.cat([parameter.detach().flatten() for parameter in core.parameters()])
    assert values.abs().max() <= 0.3
    assert values.abs().max() > 0.29  # the whole range is used, not a narrower default


DENSE_RECURRENCE = [name for name in ARCHITECTURES if get_architecture(name).recurrent_weight_prefixes]


@pytest.mark.parametrize("gain", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("name", DENSE_RECURRENCE)
def test_orthogonal_init_gives_scaled_orthogonal_recurrent_blocks(name, gain):
    core = get_architecture(name)(input_size=3, hidden_size=8, num_layers=2)
    core.reset_parameters(init="orthogonal", init_gain=gain)
    recurrent = [p for n, p in core.named_parameters() if n.startswith(core.recurrent_weight_prefixes)]
    assert recurrent
    for weight in recurrent:
        for block in weight.detach().double().split(8, dim=0):
            torch.testing.assert_close(block.T @ block, gain**2 * torch.eye(8, dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", [name for name in ARCHITECTURES if name not in DENSE_RECURRENCE])
def test_orthogonal_init_is_refused_without_a_dense_recurrent_matrix(name):
    """A diagonal recurrence (LRU, selective SSM) declares no recurrent_weight_prefixes: nothing to make orthogonal."""
    core = get_architecture(name)(input_size=3, hidden_size=8)
    with pytest.raises(InputError, match="init='orthogonal' needs a dense recurrent matrix"):
        core.reset_parameters(init="orthogonal")


@pytest.mark.parametrize("name", [name for name in ARCHITECTURES if name in DENSE_RECURRENCE])
def test_default_init_follows_torch_convention(name):
    """Every parameter uniform on [-1/sqrt(H), 1/sqrt(H)] (torch.nn.RNN's reset_parameters), H = 25:
    bounded from both sides, and the whole range filled uniformly (a zero or narrower init fails)."""
    from scipy.stats import kstest

    torch.manual_seed(0)
    core = get_architecture(name)(input_size=3, hidden_size=25)
    values = torch.cat([parameter.detach().flatten() for parameter in core.parameters()]).double().numpy()
    bound = 1 / 5
    assert values.size >= 750 and abs(values).max() <= bound
    assert abs(values).max() > 0.99 * bound  # 750 draws: all below 0.99 bound with chance 0.99^750 = 5e-4
    assert kstest(values, "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_create_model_forward_shapes_and_shared_system(name):
    model = create_model(name, input_size=3, hidden_size=6, output_size=2, num_layers=2, dropout=0.2)
    outputs, final_state = model(torch.randn(4, 7, 3))
    assert outputs.shape == (4, 7, 2) and final_state.shape == (4, model.core.state_size)
    assert model.system() is model.core
    assert model.readout.in_features == 6


def test_create_model_outputs_are_the_readout_of_each_steps_features():
    model = create_model("gru", input_size=2, hidden_size=3, output_size=1).eval()
    inputs = torch.randn(2, 4, 2)
    outputs, _ = model(inputs)
    state = model.core.initial_state(2)
    for time_index in range(4):
        state = model.core.step(state, inputs[:, time_index])
        torch.testing.assert_close(outputs[:, time_index], model.readout(model.core.output(state)))


def test_dropout_acts_on_the_readout_input_only_in_train_mode():
    model = create_model("rnn", input_size=2, hidden_size=64, output_size=64, dropout=0.5)
    inputs = torch.randn(3, 5, 2)
    outputs_train, state_train = model.train()(inputs)
    outputs_eval, state_eval = model.eval()(inputs)
    torch.testing.assert_close(state_train, state_eval)  # the recurrence never sees dropout
    assert not torch.allclose(outputs_train, outputs_eval)


def test_create_model_passes_architecture_options():
    model = create_model("rnn", input_size=2, hidden_size=3, output_size=1, nonlinearity="relu")
    assert model.core.nonlinearity == "relu"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"hidden_size": -1}, "hidden_size must be an int >= 1"),
        ({"input_size": 0}, "input_size must be an int >= 1"),
        ({"output_size": 2.5}, "output_size must be an int >= 1"),
        ({"num_layers": 0}, "num_layers must be an int >= 1"),
        ({"init": "xavier"}, "init must be one of default, uniform, orthogonal"),
        ({"init": "uniform"}, "init='uniform' needs init_scale"),
        ({"init": "uniform", "init_scale": -1.0}, "init_scale must be a positive finite number"),
        ({"init_scale": 0.5}, "init_scale is only used with init='uniform'"),
        ({"init": "orthogonal", "init_gain": 0}, "init_gain must be a positive finite number"),
        # init_gain with either other init (each sorts on another side of "orthogonal")
        ({"init": "uniform", "init_scale": 0.5, "init_gain": 2.0}, "init_gain is only used with init='orthogonal'"),
        ({"init_gain": 2.0}, "init_gain is only used with init='orthogonal'"),
        ({"init": "orthogonal", "init_scale": 0.5}, "init_scale is only used with init='uniform'"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"nonlinearity": "sigmoid"}, "nonlinearity must be one of tanh, relu"),
        ({"hidden": 3}, "unknown option.*hidden.*nonlinearity='tanh'"),
    ],
)
def test_create_model_refuses_bad_values_naming_the_argument(arguments, message):
    keywords = {"input_size": 2, "hidden_size": 3, "output_size": 1, **arguments}
    with pytest.raises(InputError, match=message):
        create_model("rnn", **keywords)


def test_create_model_unknown_option_for_option_free_architecture():
    with pytest.raises(InputError, match="unknown option.*nonlinearity.*options \\(with defaults\\) are: none"):
        create_model("gru", input_size=2, hidden_size=3, output_size=1, nonlinearity="relu")
    with pytest.raises(InputError, match="unknown option.*nonlinearity.*options \\(with defaults\\) are: lstm_state"):
        create_model("lstm", input_size=2, hidden_size=3, output_size=1, nonlinearity="relu")


@pytest.mark.parametrize("function", ["tanh", "sigmoid"])
def test_gate_derivatives_keep_their_digits_where_a_unit_saturates(function):
    from rnn_lyapunov.architectures.derivatives import sigmoid_derivative, tanh_derivative

    values = [-30.0, -12.0, -3.0, 0.0, 0.5, 9.0, 17.0, 30.0]
    pre_activation = torch.tensor(values)
    derivative = {"tanh": tanh_derivative, "sigmoid": sigmoid_derivative}[function]
    # closed forms in float64 without cancellation: sech(a)^2, and e^-|a| / (1 + e^-|a|)^2
    closed_forms = {"tanh": lambda a: 1 / math.cosh(a) ** 2,
                    "sigmoid": lambda a: math.exp(-abs(a)) / (1 + math.exp(-abs(a))) ** 2}
    exact = torch.tensor([closed_forms[function](a) for a in values], dtype=torch.float64)
    assert torch.allclose(derivative(pre_activation).double(), exact, rtol=1e-5, atol=0)
    # the cancelling forms that autograd uses lose every digit there in float32
    value = getattr(torch, function)(pre_activation)
    cancelling = 1 - value * value if function == "tanh" else value * (1 - value)
    assert cancelling[-1] == 0 and exact[-1] > 0


@pytest.mark.parametrize("full_frame", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("name", [name for name in ARCHITECTURES
                                  if getattr(get_architecture(name), "mixed_precision_tangents", False)])
def test_float64_tangents_along_a_float32_state_match_the_float64_jacobian(name, num_layers, full_frame, monkeypatch):
    """What mixed_precision_tangents promises: float64 rows in, float64 J @ tangents out, the state in float32."""
    monkeypatch.setattr(fast_paths, "FORM_JACOBIAN_MIN_STATE_SIZE", 1)  # the formed-J path at this small size too
    core = get_architecture(name)(input_size=3, hidden_size=5, num_layers=num_layers).requires_grad_(False)
    generator = torch.Generator().manual_seed(1)
    state = 0.5 * torch.randn(4, core.state_size, generator=generator)
    x = torch.randn(4, 3, generator=generator)
    columns = core.state_size if full_frame else 2
    tangents = torch.randn(4, core.state_size, columns, generator=generator, dtype=torch.float64)
    next_state, pushed = core.step_with_tangents(state, x, tangents)
    assert next_state.dtype == torch.float32 and torch.equal(next_state, core.step(state, x))
    assert pushed.dtype == torch.float64
    reference = autograd_jacobian(copy.deepcopy(core).double(), state.double(), x.double()) @ tangents
    # float32 gate values multiply exact float64 rows: agreement to float32's precision, not worse
    assert torch.allclose(pushed, reference, rtol=0, atol=1e-6 * float(reference.abs().max()))


@pytest.mark.parametrize("name", [name for name in ARCHITECTURES if callable(get_architecture(name).linearised_cell)])
def test_tangent_maps_leave_their_argument_rows_unchanged(name):
    """The identity rows are shared between steps (layers.identity_rows): a tangent map that wrote
    into its arguments would corrupt every later Jacobian."""
    core = get_architecture(name)(input_size=3, hidden_size=5).double().requires_grad_(False)
    generator = torch.Generator().manual_seed(2)
    blocks = (0.5 * torch.randn(4, 5, generator=generator, dtype=torch.float64),) * core.state_blocks_per_layer
    _, tangent_map = core.linearised_cell(0, torch.randn(4, 3, generator=generator, dtype=torch.float64), *blocks)
    identity = layers.identity_rows(5, torch.float64, torch.device("cpu"))
    arguments = [torch.randn(4, 2, 3, generator=generator, dtype=torch.float64)]
    arguments += [torch.randn(4, 2, 5, generator=generator, dtype=torch.float64) for _ in blocks]
    for perturbed in range(len(arguments)):
        rows = [argument if index == perturbed else None for index, argument in enumerate(arguments)]
        copies = [None if argument is None else argument.clone() for argument in rows]
        tangent_map(*rows)
        assert all(argument is None or torch.equal(argument, copy) for argument, copy in zip(rows, copies))
        if perturbed > 0:  # the batch-free identity, as step_and_transposed_jacobian passes it
            tangent_map(None, *[identity if index == perturbed - 1 else None for index in range(len(blocks))])
            assert torch.equal(identity[0], torch.eye(5, dtype=torch.float64))


WITH_SEQUENCE = [name for name in ARCHITECTURES if callable(getattr(get_architecture(name), "forward_sequence", None))]
# every plugin with a sequence path in its default form, and the built-in rnn's other nonlinearity
SEQUENCE_VARIANTS = [(name, {}) for name in WITH_SEQUENCE] + [("rnn", {"nonlinearity": "relu"})] * ("rnn" in WITH_SEQUENCE)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("name, options", SEQUENCE_VARIANTS)
def test_forward_sequence_equals_the_step_loop_with_its_gradients(name, options, num_layers, bias, dtype):
    """What training runs must be the system the engine steps: outputs, final state and every
    parameter's gradient equal to the step loop's (check_forward_sequence raises otherwise)."""
    core = get_architecture(name)(input_size=3, hidden_size=5, num_layers=num_layers, bias=bias, **options)
    core.reset_parameters(init="uniform", init_scale=0.8)  # large enough that relu units switch and gates saturate partly
    gaps = check_forward_sequence(core, dtype=dtype, steps=7)
    assert set(gaps) >= {"outputs", "final state", "gradient of weight_hh_l0"}
    assert max(gaps.values()) <= TOLERANCES[dtype]


def test_check_forward_sequence_refuses_a_sequence_path_that_disagrees_with_step():
    class SlightlyOffGRU(get_architecture("gru")):
        def forward_sequence(self, inputs, state):
            outputs, final_state = super().forward_sequence(inputs, state)
            return outputs, final_state * 1.001

    core = SlightlyOffGRU(input_size=2, hidden_size=3)
    with pytest.raises(AssertionError, match=r"SlightlyOffGRU.forward_sequence disagrees with the step loop in "
                                             r"torch.float64: final state differs by [1-9]\.\d+e-04"):
        check_forward_sequence(core)


def test_model_takes_the_sequence_path_in_training_and_evaluation(monkeypatch):
    model = create_model("lstm", input_size=2, hidden_size=3, output_size=2, num_layers=2)
    calls = []
    original = type(model.core).forward_sequence
    monkeypatch.setattr(type(model.core), "forward_sequence", lambda self, *a: calls.append(1) or original(self, *a))
    inputs = torch.randn(4, 5, 2)
    model.train()(inputs)[0].sum().backward()
    with torch.no_grad():
        evaluated, final_state = model.eval()(inputs)
    assert len(calls) == 2
    looped, looped_state = step_loop(model.core, inputs, model.core.initial_state(4))
    torch.testing.assert_close(evaluated, model.readout(looped), atol=1e-6, rtol=0)
    torch.testing.assert_close(final_state, looped_state, atol=1e-6, rtol=0)


def test_a_core_without_sequence_path_runs_the_step_loop_and_says_so_once(monkeypatch, caplog):
    from rnn_lyapunov.architectures import model as model_module

    monkeypatch.setattr(model_module, "_LOOP_LOGGED", set())
    model = create_model("cornn", input_size=2, hidden_size=3, output_size=1).double()
    inputs = torch.randn(2, 4, 2, dtype=torch.float64)
    with caplog.at_level("INFO", logger="rnn_lyapunov.architectures.model"):
        outputs, final_state = model(inputs)
        model(inputs)
    assert [record.getMessage() for record in caplog.records] == [
        "CoupledOscillatoryRNN runs sequences through its step loop (it has no forward_sequence)"]
    looped, looped_state = step_loop(model.core, inputs, model.core.initial_state(2))
    assert torch.equal(outputs, model.readout(looped)) and torch.equal(final_state, looped_state)


def test_sequence_path_loop_is_honoured_and_a_bad_value_refused():
    model = create_model("rnn", input_size=2, hidden_size=3, output_size=1).double()
    model.sequence_path = "loop"
    model.core.forward_sequence = lambda inputs, state: pytest.fail("sequence_path='loop' took forward_sequence")
    assert model(torch.randn(2, 4, 2, dtype=torch.float64))[0].shape == (2, 4, 1)
    with pytest.raises(InputError, match="sequence_path must be one of auto, loop, got 'fused'"):
        SequenceModel(model.core, output_size=1, sequence_path="fused")
