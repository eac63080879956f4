"""The base class stacks one-layer cells: multi-layer step, tangents and Jacobian from one layer's code.

The references are independent of the stacking code: the layers composed by hand in the test, and
autograd (reverse mode, ``torch.func.jacrev``) of ``step``.
"""

import pytest
import torch

from rnn_lyapunov import check_jacobian, lyapunov_spectrum
from rnn_lyapunov.architectures import fast_paths
from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.engine.jacobian_check import autograd_jacobian
from rnn_lyapunov.engine.lyapunov import initial_frame
from rnn_lyapunov.errors import InputError


class GatedLeak(RecurrentArchitecture):
    """A two-block toy layer, cell only: h' = tanh(W_ih u + b_ih + W_hh h + b_hh) + 0.3 c, c' = sigmoid(h) c."""

    description = "two-block toy, cell only"
    state_blocks_per_layer = 2

    def cell(self, layer, layer_input, h, c):
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        drive = torch.tanh(layer_input @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)
        return drive + 0.3 * c, torch.sigmoid(h) * c


class LinearisedGatedLeak(GatedLeak):
    """The same layer with its tangent map; ``cell`` stays the parent's, so autograd checks the map."""

    description = "two-block toy with a tangent map"

    def linearised_cell(self, layer, layer_input, h, c):
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        drive = torch.tanh(layer_input @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)
        gate = torch.sigmoid(h)

        def tangent_map(input_rows, h_rows, c_rows):
            d_h, d_c = [], []
            if input_rows is not None or h_rows is not None:
                d_h.append((1 - drive * drive).unsqueeze(1) * self.pre_activation_rows(layer, input_rows, h_rows))
            if h_rows is not None:
                d_c.append((c * gate * (1 - gate)).unsqueeze(1) * h_rows)
            if c_rows is not None:
                d_h.append(0.3 * c_rows)
                d_c.append(gate.unsqueeze(1) * c_rows)
            return sum(d_h), sum(d_c) if d_c else torch.zeros_like(d_h[0])

        return (drive + 0.3 * c, gate * c), tangent_map


def _toy(cls, num_layers, **kwargs):
    core = cls(input_size=3, hidden_size=4, num_layers=num_layers, **kwargs).double()
    core.reset_parameters(init="uniform", init_scale=0.8)
    return core


def _state_and_input(core, batch=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = 0.5 * torch.randn(batch, core.state_size, generator=generator, dtype=torch.float64)
    return state, torch.randn(batch, core.input_size, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_step_composes_the_layers_in_the_documented_layout(num_layers):
    core = _toy(GatedLeak, num_layers)
    state, x = _state_and_input(core)
    expected, layer_input = [], x
    for layer in range(num_layers):  # per layer [h, c], first layer first; layer k is driven by layer k-1's new h
        h, c = state[:, 8 * layer:8 * layer + 4], state[:, 8 * layer + 4:8 * layer + 8]
        h_new, c_new = core.cell(layer, layer_input, h, c)
        expected += [h_new, c_new]
        layer_input = h_new
    next_state = core.step(state, x)
    torch.testing.assert_close(next_state, torch.cat(expected, dim=1), atol=0, rtol=0)
    torch.testing.assert_close(core.output(next_state), expected[-2], atol=0, rtol=0)


def test_a_cell_only_plugin_has_no_analytic_path():
    """The engine tests ``callable(getattr(system, ...))``: both must be absent so that it uses autodiff."""
    core = _toy(GatedLeak, 2)
    assert not callable(getattr(core, "step_with_tangents", None))
    assert not callable(getattr(core, "jacobian", None))
    with pytest.raises(InputError, match="no jacobian method"):
        check_jacobian(core)


def test_a_cell_only_plugin_gets_the_autograd_spectrum_through_the_engine_with_two_layers():
    core = _toy(GatedLeak, 2)
    inputs = torch.randn(2, 15, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spectrum = lyapunov_spectrum(core, inputs)

    state = core.initial_state(2)
    frame = initial_frame(core.state_size, core.state_size, dtype=torch.float64, device="cpu").expand(2, -1, -1)
    log_growth = torch.zeros(2, core.state_size, dtype=torch.float64)
    for time_index in range(inputs.shape[1]):  # Benettin by hand, from the engine's frame, with autograd's J
        x = inputs[:, time_index]
        frame, triangular = torch.linalg.qr(autograd_jacobian(core, state, x).detach() @ frame)
        log_growth += triangular.diagonal(dim1=1, dim2=2).abs().log()
        with torch.no_grad():
            state = core.step(state, x)
    expected = (log_growth / inputs.shape[1]).sort(dim=1, descending=True).values
    torch.testing.assert_close(spectrum.per_trajectory, expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("moved_without_weights", [(), (1,)], ids=["all-formed", "c-pushed"])
@pytest.mark.parametrize("full_frame", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_a_plugin_with_a_tangent_map_gets_the_autograd_jacobian(num_layers, full_frame, moved_without_weights,
                                                                monkeypatch):
    """c moves the toy's state through no weights (dh' = 0.3 dc, dc' = sigmoid(h) dc): with one layer
    and a full frame, "c-pushed" forms only J's h rows (fast_paths._partly_formed_step)."""
    monkeypatch.setattr(LinearisedGatedLeak, "form_jacobian_for_full_frame", full_frame)
    monkeypatch.setattr(fast_paths, "FORM_JACOBIAN_MIN_STATE_SIZE", 1)  # form J at this toy size too
    monkeypatch.setattr(LinearisedGatedLeak, "blocks_moved_without_weights", moved_without_weights)
    core = _toy(LinearisedGatedLeak, num_layers)
    state, x = _state_and_input(core)
    assert check_jacobian(core, state, x, atol=1e-12) <= 1e-12  # jacobian and step_with_tangents (3 tangents)
    reference = autograd_jacobian(core, state, x).detach()
    if num_layers > 1:  # the cross-layer blocks are really there
        assert reference[:, 8:16, :8].abs().max() > 1e-2
    frame = torch.linalg.qr(torch.randn(3, core.state_size, core.state_size, dtype=torch.float64))[0]
    with torch.no_grad():
        next_state, pushed = core.step_with_tangents(state, x, frame)
    torch.testing.assert_close(next_state, core.step(state, x), atol=1e-14, rtol=0)
    torch.testing.assert_close(pushed, reference @ frame, atol=1e-12, rtol=0)


def test_a_subclass_without_the_tangent_map_loses_the_analytic_path_and_an_own_jacobian_stays():
    class NoTangentMap(LinearisedGatedLeak):
        linearised_cell = None

    class OwnJacobian(GatedLeak):
        def jacobian(self, state, x):
            return autograd_jacobian(self, state, x)

    assert NoTangentMap.jacobian is None and NoTangentMap.step_with_tangents is None
    assert callable(LinearisedGatedLeak.jacobian) and callable(LinearisedGatedLeak.step_with_tangents)
    assert OwnJacobian.jacobian is not LinearisedGatedLeak.jacobian and OwnJacobian.step_with_tangents is None


def test_a_cell_returning_the_wrong_number_of_blocks_is_an_input_error():
    class OneBlockTooFew(GatedLeak):
        def cell(self, layer, layer_input, h, c):
            return h

    core = _toy(OneBlockTooFew, 1)
    state, x = _state_and_input(core)
    with pytest.raises(InputError, match=r"OneBlockTooFew.cell returned 1 block\(s\) but state_blocks_per_layer is 2"):
        core.step(state, x)
