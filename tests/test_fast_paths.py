"""The opt-in speed hints (``fast_paths = FastPaths(...)``): declared apart from the map, honoured when a
plugin still writes them the older way (class attributes), and refused when malformed. References:
autograd's Jacobian of the plugin's own step, and the engine's documented dtype choice."""

import pytest
import torch

from rnn_lyapunov.architectures import fast_paths
from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.fast_paths import FastPaths
from rnn_lyapunov.architectures.registry import get_architecture
from rnn_lyapunov.engine.method import resolve_method
from rnn_lyapunov.errors import InputError

LSTM = get_architecture("lstm")


def _jacobian(core, state, x):
    """d step / d state by reverse-mode autograd of the plugin's own step, (batch, n, n)."""
    return torch.stack([torch.autograd.functional.jacobian(lambda s, u=u: core.step(s.unsqueeze(0), u.unsqueeze(0))[0], s)
                        for s, u in zip(state, x)])


def test_the_contract_lists_the_hints_only_in_fast_paths():
    documented = RecurrentArchitecture.__doc__.split("Class attributes (what defines the map):")[1]
    documented = documented.split("Optional, and not part of the map")[0]
    for hint in fast_paths.HINTS:
        assert hint not in documented
    assert LSTM.fast_paths == FastPaths(form_jacobian_for_full_frame=True, blocks_moved_without_weights=(1,),
                                        mixed_precision_tangents=True)


def test_hints_written_the_older_way_are_honoured(monkeypatch):
    class OldStyle(RecurrentArchitecture):  # an LSTM cell whose plugin predates FastPaths
        description = "old-style LSTM"
        state_blocks_per_layer = 2
        gates_per_layer = 4
        linearised_cell = LSTM.linearised_cell
        form_jacobian_for_full_frame = 1  # truthy, and a list: read as they were before FastPaths
        blocks_moved_without_weights = [1]
        mixed_precision_tangents = True

    assert OldStyle.fast_paths == LSTM.fast_paths
    monkeypatch.setattr(fast_paths, "FORM_JACOBIAN_MIN_STATE_SIZE", 1)
    partly_formed = []
    real = fast_paths._partly_formed_step
    monkeypatch.setattr(fast_paths, "_partly_formed_step", lambda *a: partly_formed.append(1) or real(*a))
    torch.manual_seed(0)
    core = OldStyle(input_size=2, hidden_size=3).double().requires_grad_(False)
    state, x = 0.5 * torch.randn(2, 6, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64)
    frame = torch.randn(2, 6, 6, dtype=torch.float64)
    next_state, pushed = core.step_with_tangents(state, x, frame)
    assert partly_formed == [1]  # the hint switched the fast path on
    torch.testing.assert_close(pushed, _jacobian(core, state, x) @ frame, atol=1e-12, rtol=0)
    # and the engine lets a float32 core carry its frame in float64, as for mixed_precision_tangents = True
    method = resolve_method(core.float(), torch.zeros(2, 5, 2), 6, 6, tangent_dtype="float64")
    assert method.tangent_dtype == torch.float64


def test_a_subclass_can_switch_the_hints_off():
    class Plain(LSTM):
        fast_paths = FastPaths()

    assert not Plain.form_jacobian_for_full_frame and Plain.blocks_moved_without_weights == ()
    assert not Plain.mixed_precision_tangents
    resolve_method(LSTM(2, 3), torch.zeros(2, 5, 2), 6, 6, tangent_dtype="float64")  # the parent's hint holds
    with pytest.raises(InputError, match="tangent"):
        resolve_method(Plain(2, 3), torch.zeros(2, 5, 2), 6, 6, tangent_dtype="float64")


@pytest.mark.parametrize("hints, message", [
    ({"form_jacobian_for_full_frame": 1}, "True or False"),
    ({"blocks_moved_without_weights": 1}, "tuple of state-block indices"),
    ({"blocks_moved_without_weights": (2,)}, "not state blocks"),
])
def test_malformed_hints_are_refused_naming_them(hints, message):
    with pytest.raises(InputError, match=message):
        class Bad(RecurrentArchitecture):
            state_blocks_per_layer = 2
            fast_paths = FastPaths(**hints)
