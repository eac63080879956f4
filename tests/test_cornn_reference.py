"""The coRNN plugin against the published IMEX scheme of Rusch & Mishra (2021), Eq. (3).

    y_n = y_{n-1} + dt z_n
    z_n = z_{n-1} + dt tanh(W y_{n-1} + Wz z_{n-1} + V u_n + b) - dt gamma y_{n-1} - dt epsilon z_n

The damping term is implicit (z_n on both sides) and the position update uses the NEW velocity.
The reference below is written in numpy from these two lines alone: the implicit equation is
solved as the linear system (1 + dt epsilon) I z_n = rhs with np.linalg.solve, and each step's
result is also checked as a residual of the paper's equations, so an explicit-Euler step (damping
on z_{n-1}, or y moved by z_{n-1}) fails.
"""

import numpy as np
import pytest
import torch

from rnn_lyapunov.architectures.registry import get_architecture


def _parameters(core, layer):
    weights = {name: parameter.detach().double().numpy() for name, parameter in core.named_parameters()}
    bias = weights[f"bias_ih_l{layer}"] + weights[f"bias_hh_l{layer}"]
    return weights[f"weight_ih_l{layer}"], weights[f"weight_hh_l{layer}"], weights[f"weight_zh_l{layer}"], bias


def _paper_step(y, z, u, V, W, Wz, b, dt, gamma, epsilon):
    """One step of Eq. (3) for vectors y, z (N,), u (input,): the implicit z_n by a linear solve."""
    n = y.shape[0]
    rhs = z + dt * np.tanh(W @ y + Wz @ z + V @ u + b) - dt * gamma * y
    z_new = np.linalg.solve((1.0 + dt * epsilon) * np.eye(n), rhs)
    return y + dt * z_new, z_new


def _paper_residuals(y, z, y_new, z_new, u, V, W, Wz, b, dt, gamma, epsilon):
    """The two equations of Eq. (3) as residuals, zero for the paper's scheme."""
    z_residual = z_new - (z + dt * np.tanh(W @ y + Wz @ z + V @ u + b) - dt * gamma * y - dt * epsilon * z_new)
    y_residual = y_new - (y + dt * z_new)
    return np.abs(z_residual).max(), np.abs(y_residual).max()


@pytest.mark.parametrize("num_layers", [1, 2])
def test_cornn_trajectory_matches_the_papers_imex_scheme(num_layers):
    # large dt and damping so that implicit and explicit damping differ by far more than the tolerance
    dt, gamma, epsilon = 0.3, 1.5, 2.0
    hidden, inputs, steps, batch = 4, 3, 12, 2
    torch.manual_seed(3)
    core = get_architecture("cornn")(inputs, hidden, num_layers=num_layers, dt=dt, gamma=gamma, epsilon=epsilon).double()
    core.reset_parameters(init="uniform", init_scale=0.8)
    rng = np.random.default_rng(5)
    sequence = rng.normal(size=(steps, batch, inputs))
    start = rng.normal(scale=0.5, size=(batch, core.state_size))

    state = torch.from_numpy(start.copy())
    ours = []
    with torch.no_grad():
        for x in sequence:
            state = core.step(state, torch.from_numpy(x))
            ours.append(state.numpy().copy())

    for trajectory in range(batch):
        blocks = start[trajectory].reshape(num_layers, 2, hidden)  # per layer [y, z]
        ys, zs = [blocks[k, 0].copy() for k in range(num_layers)], [blocks[k, 1].copy() for k in range(num_layers)]
        for t, x in enumerate(sequence):
            drive = x[trajectory]
            for layer in range(num_layers):
                V, W, Wz, b = _parameters(core, layer)
                y_new, z_new = _paper_step(ys[layer], zs[layer], drive, V, W, Wz, b, dt, gamma, epsilon)
                ys[layer], zs[layer], drive = y_new, z_new, y_new  # layer k+1 is driven by the new y of layer k
            reference = np.concatenate([np.concatenate([ys[k], zs[k]]) for k in range(num_layers)])
            np.testing.assert_allclose(ours[t][trajectory], reference, rtol=0, atol=1e-12)


def test_each_cornn_step_satisfies_both_equations_of_the_paper():
    dt, gamma, epsilon = 0.25, 2.7, 4.7
    torch.manual_seed(11)
    core = get_architecture("cornn")(2, 5, dt=dt, gamma=gamma, epsilon=epsilon).double()
    core.reset_parameters(init="uniform", init_scale=1.0)
    rng = np.random.default_rng(1)
    y, z, u = rng.normal(size=5), rng.normal(size=5), rng.normal(size=2)
    with torch.no_grad():
        new = core.step(torch.from_numpy(np.concatenate([y, z])[None]), torch.from_numpy(u[None]))[0].numpy()
    z_residual, y_residual = _paper_residuals(y, z, new[:5], new[5:], u, *_parameters(core, 0), dt, gamma, epsilon)
    assert z_residual < 1e-13 and y_residual < 1e-13
    # the explicit-Euler damping, z_n = z + dt (tanh(.) - gamma y - epsilon z), misses by dt^2 eps |...|:
    # far above the tolerance here, so the check above can tell the two schemes apart
    V, W, Wz, b = _parameters(core, 0)
    z_explicit = z + dt * (np.tanh(W @ y + Wz @ z + V @ u + b) - gamma * y - epsilon * z)
    assert _paper_residuals(y, z, y + dt * z_explicit, z_explicit, u, V, W, Wz, b, dt, gamma, epsilon)[0] > 1e-2
