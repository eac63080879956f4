"""floss(): moving the leading exponent toward the target on fresh inputs, what it updates, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov import create_model, floss, from_torch, lyapunov_spectrum
from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.training.flossing import FlossingDivergedError, Flosser, flossed_system


def _fresh(seed, batch, steps):
    return torch.randn(batch, steps, 1, generator=torch.Generator().manual_seed(seed))


@pytest.mark.slow  # ~10 s on a loaded 2-core machine
def test_flossing_a_contracting_rnn_moves_its_leading_exponent_toward_zero_on_fresh_inputs():
    model = create_model("rnn", input_size=1, hidden_size=32, output_size=1, init="orthogonal", init_gain=0.5)
    readout = model.readout.weight.detach().clone()
    held_out = _fresh(999, 8, 200)  # never flossed on; measured by the engine, not by the flossing code

    def leading():
        return lyapunov_spectrum(model.system(), held_out, n_exponents=1, warmup_steps=50).exponents[0].item()

    before = leading()
    assert before < -0.6  # contracting: lambda_1 = log 0.5 + the mean log tanh' < -0.69
    result = floss(model, lambda update: _fresh(update, 1, 30), n_exponents=1, updates=25, learning_rate=0.03,
                   warmup_steps=10)
    after = leading()
    assert abs(after) < 0.25 * abs(before)
    assert result.before.shape == result.after.shape == (1,) and result.losses.shape == (25,)
    assert abs(result.after[0]) < 0.25 * abs(result.before[0])  # also on the flossing code's own evaluation batch
    torch.testing.assert_close(model.readout.weight, readout, rtol=0, atol=0)  # only the recurrent core moves


def test_flossing_a_torch_module_updates_its_own_parameters_toward_a_target_spectrum():
    module = nn.GRU(2, 6, num_layers=2)
    old = [parameter.detach().clone() for parameter in module.parameters()]
    inputs = torch.randn(4, 25, 2)
    target = torch.tensor([-0.1, -0.2], dtype=torch.float64)

    def engine_spectrum():  # the first batch of two sequences, as the engine computes it
        return lyapunov_spectrum(from_torch(module), inputs[:2], n_exponents=2, warmup_steps=5,
                                 reorthonormalize_every=1, factorization="qr")

    first_loss = ((engine_spectrum().per_trajectory - target) ** 2).mean().item()
    result = floss(module, inputs, n_exponents=2, target=[-0.1, -0.2], updates=5, learning_rate=0.01,
                   warmup_steps=5, batch_size=2)
    assert all(not torch.equal(parameter, before) for parameter, before in zip(module.parameters(), old))
    torch.testing.assert_close(result.after, engine_spectrum().exponents, rtol=0, atol=1e-5)
    assert result.losses[0].item() == pytest.approx(first_loss, rel=1e-4)  # mean over sequences and exponents


class _DetachedRNN(RecurrentArchitecture):
    """An RNN whose step hides its weights from autograd: flossing cannot move it."""

    def cell(self, layer, layer_input, h):
        weight_ih, weight_hh, bias_ih, bias_hh = (w.detach() for w in self.layer_weights(layer))
        return torch.tanh(F.linear(layer_input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh))


@pytest.mark.parametrize("changes, named", [
    ({"target": math.nan}, "target"), ({"target": math.inf}, "target"), ({"target": [0.0, 0.1, 0.2]}, "target"),
    ({"n_exponents": 7}, "n_exponents"), ({"warmup_steps": 20}, "warmup_steps"), ({"updates": -1}, "updates"),
    ({"learning_rate": 0.0}, "learning_rate"), ({"optimizer": "lbfgs"}, "optimizer"),
    ({"batch_size": 5}, "batch_size")])
def test_bad_arguments_are_refused_naming_the_argument(changes, named):
    arguments = {"n_exponents": 2, "updates": 1, "learning_rate": 0.01, "warmup_steps": 5, **changes}
    with pytest.raises(InputError, match=named) as raised:
        floss(nn.RNN(1, 6), torch.randn(4, 20, 1), **arguments)
    assert named in raised.value.arguments


def test_a_step_that_autograd_cannot_differentiate_is_refused():
    with pytest.raises(InputError, match="not differentiable") as raised:
        floss(_DetachedRNN(1, 4), torch.randn(2, 10, 1), n_exponents=1, updates=1, learning_rate=0.01)
    assert raised.value.arguments == ("module",)


def test_an_update_that_goes_non_finite_stops_naming_the_update_and_keeps_the_weights():
    module = nn.RNN(1, 6)
    inputs = torch.randn(2, 20, 1)
    with pytest.raises(FlossingDivergedError, match=r"update \d.*smaller flossing learning rate"):
        floss(module, inputs, n_exponents=1, updates=5, learning_rate=1e38, optimizer="sgd")
    assert all(torch.isfinite(parameter).all() for parameter in module.parameters())
    flosser = Flosser(flossed_system(nn.RNN(1, 6)), n_exponents=1, learning_rate=1e38, optimizer="sgd")
    for update in range(5):
        kept = [parameter.detach().clone() for parameter in flosser.parameters]
        try:
            flosser.update(inputs, where=f"episode 3 update {update}")
        except FlossingDivergedError as error:
            assert f"episode 3 update {update}" in str(error)
            break
    else:
        pytest.fail("a learning rate of 1e38 never made the weights non-finite")
    for parameter, before in zip(flosser.parameters, kept):
        torch.testing.assert_close(parameter, before, rtol=0, atol=0)


def test_the_snippets_of_the_flossing_page_run():
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "flossing.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert snippets
    for snippet in snippets:
        exec(compile(snippet, "docs/flossing.md", "exec"), {})


def test_a_flosser_restored_from_its_state_continues_bitwise():
    """What a checkpoint needs: the weights plus Flosser.state_dict() give the same next updates."""
    import copy

    inputs = torch.randn(3, 20, 1)
    model = create_model("rnn", input_size=1, hidden_size=5, output_size=1)
    flosser = Flosser(flossed_system(model), n_exponents=2, learning_rate=0.01, warmup_steps=4)
    for update in range(2):
        flosser.update(inputs[update:update + 1])
    saved_model, saved_state = copy.deepcopy(model.state_dict()), copy.deepcopy(flosser.state_dict())
    continued = [flosser.update(inputs[2:3]), flosser.update(inputs[0:1])]
    restored_model = create_model("rnn", input_size=1, hidden_size=5, output_size=1)
    restored_model.load_state_dict(saved_model)
    restored = Flosser(flossed_system(restored_model), n_exponents=2, learning_rate=0.01, warmup_steps=4)
    restored.load_state_dict(saved_state)
    assert [restored.update(inputs[2:3]), restored.update(inputs[0:1])] == continued
    for name, parameter in model.state_dict().items():
        assert torch.equal(restored_model.state_dict()[name], parameter), name
