"""Systems whose Lyapunov exponents are known independently of this package.

They validate the engine (tests, the ``validation`` figure, benchmarks). Each follows the system
protocol of :func:`rnn_lyapunov.lyapunov_spectrum`: ``state_size``, ``step(state, x)``,
``jacobian(state, x)``, ``initial_state(batch)``. Parameters are kept in float64 and cast to the
dtype of the state, so the same system runs in float32 and float64.
"""

from __future__ import annotations

import math

import torch


class _CastingCache:
    """Parameters cast once per (dtype, device) instead of every step."""

    def __init__(self, **tensors: torch.Tensor):
        self._tensors = tensors
        self._cache: dict = {}

    def get(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        key = (like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = {name: value.to(dtype=like.dtype, device=like.device) for name, value in self._tensors.items()}
        return self._cache[key]


class HenonMap:
    """Henon map ``x' = 1 - a x^2 + y, y' = b x``; state (batch, 2), no input (input_size 0).

    At a=1.4, b=0.3 the exponents are about (0.41922, -1.62319) nats per step, and their sum is
    ln b exactly, since det J = -b at every point.
    """

    state_size = 2

    def __init__(self, a: float = 1.4, b: float = 0.3, seed: int = 0):
        self.a, self.b, self.seed = a, b, seed

    def initial_state(self, batch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        return 0.1 * (torch.rand(batch, 2, generator=generator, dtype=torch.float64) - 0.5)

    def step(self, state, x):
        position, momentum = state[:, 0], state[:, 1]
        return torch.stack((1.0 - self.a * position**2 + momentum, self.b * position), dim=1)

    def jacobian(self, state, x):
        position = state[:, 0]
        jacobian = torch.zeros(state.shape[0], 2, 2, dtype=state.dtype, device=state.device)
        jacobian[:, 0, 0] = -2.0 * self.a * position
        jacobian[:, 0, 1] = 1.0
        jacobian[:, 1, 0] = self.b
        return jacobian


class LogisticMap:
    """Logistic map ``x' = r x (1 - x)``; state (batch, 1), no input. At r=4 the exponent is ln 2."""

    state_size = 1

    def __init__(self, r: float = 4.0, seed: int = 0):
        self.r, self.seed = r, seed

    def initial_state(self, batch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        return 0.1 + 0.8 * torch.rand(batch, 1, generator=generator, dtype=torch.float64)

    def step(self, state, x):
        return self.r * state * (1.0 - state)

    def jacobian(self, state, x):
        return (self.r * (1.0 - 2.0 * state)).unsqueeze(-1)


class LinearMap:
    """A fixed linear map ``s' = A s``; state (batch, n), no input.

    Its exponents are ln|eigenvalues of A| (sorted descending), also for non-normal A.
    """

    def __init__(self, matrix: torch.Tensor):
        if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {tuple(matrix.shape)}")
        self.matrix = matrix.to(torch.float64)
        self.state_size = matrix.shape[0]
        self._cast = _CastingCache(matrix=self.matrix)

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.ones(batch, self.state_size, dtype=torch.float64)

    def step(self, state, x):
        return state @ self._cast.get(state)["matrix"].T

    def jacobian(self, state, x):
        return self._cast.get(state)["matrix"].expand(state.shape[0], -1, -1)

    def exact_exponents(self) -> torch.Tensor:
        """ln|eigenvalues|, descending: (state_size,)."""
        return torch.linalg.eigvals(self.matrix).abs().log().sort(descending=True).values


class GaussianProductMap:
    """Products of iid Gaussian n x n matrices: ``s' = M_t s`` with ``M_t`` read from the input.

    Each step's input is a fresh matrix flattened row-major (input_size n*n) with iid entries of
    variance 1/n (:meth:`random_inputs`). The exponents are known in closed form (Newman 1986):
    ``lambda_i = (ln(2/n) + digamma((n - i + 1) / 2)) / 2``.
    """

    def __init__(self, n: int):
        self.n = n
        self.state_size = n

    @property
    def input_size(self) -> int:
        return self.n * self.n

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.ones(batch, self.n, dtype=torch.float64) / math.sqrt(self.n)

    def random_inputs(self, batch: int, steps: int, *, generator=None, dtype=torch.float64) -> torch.Tensor:
        """(batch, steps, n*n) Gaussian entries with variance 1/n."""
        draws = torch.randn(batch, steps, self.n * self.n, generator=generator, dtype=torch.float64)
        return (draws / math.sqrt(self.n)).to(dtype)

    def step(self, state, x):
        return torch.bmm(x.view(-1, self.n, self.n), state.unsqueeze(-1)).squeeze(-1)

    def jacobian(self, state, x):
        return x.view(-1, self.n, self.n)

    def exact_exponents(self) -> torch.Tensor:
        """Newman's closed form, descending: (n,)."""
        index = torch.arange(1, self.n + 1, dtype=torch.float64)
        return 0.5 * (math.log(2.0 / self.n) + torch.special.digamma((self.n - index + 1) / 2))


class TanhRNN:
    """A random vanilla RNN ``h' = tanh(W h + U x + b)``; state (batch, hidden_size).

    ``W`` has iid N(0, gain^2 / hidden_size) entries (chaotic for gain > 1 without input; Sompolinsky,
    Crisanti & Sommers 1988), ``U`` iid N(0, 1 / input_size), ``b`` iid N(0, 0.01). Its tangents may be
    float64 along a float32 state (``mixed_precision_tangents``).
    """

    mixed_precision_tangents = True

    def __init__(self, hidden_size: int, input_size: int = 0, gain: float = 1.5, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.state_size = hidden_size
        self.input_size = input_size
        self.recurrent_weight = gain / math.sqrt(hidden_size) * torch.randn(
            hidden_size, hidden_size, generator=generator, dtype=torch.float64)
        self.input_weight = torch.randn(hidden_size, input_size, generator=generator, dtype=torch.float64) / math.sqrt(
            max(input_size, 1))
        self.bias = 0.1 * torch.randn(hidden_size, generator=generator, dtype=torch.float64)
        self.seed = seed
        self._cast = _CastingCache(recurrent=self.recurrent_weight, input=self.input_weight, bias=self.bias)

    def initial_state(self, batch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed + 1)
        return 0.5 * torch.randn(batch, self.state_size, generator=generator, dtype=torch.float64)

    def random_inputs(self, batch: int, steps: int, *, generator=None, dtype=torch.float64) -> torch.Tensor:
        """(batch, steps, input_size) standard normal inputs."""
        return torch.randn(batch, steps, self.input_size, generator=generator, dtype=torch.float64).to(dtype)

    def step(self, state, x):
        weights = self._cast.get(state)
        return torch.tanh(state @ weights["recurrent"].T + x @ weights["input"].T + weights["bias"])

    def step_with_tangents(self, state, x, tangents):
        """Next state (batch, hidden_size) and J @ tangents (batch, hidden_size, k) in one pass."""
        next_state = self.step(state, x)
        recurrent = self._cast.get(tangents)["recurrent"]
        # W @ V for every trajectory at once; the per-trajectory Jacobian is never formed.
        return next_state, (1.0 - next_state**2).unsqueeze(-1) * torch.matmul(recurrent, tangents)

    def jacobian(self, state, x):
        next_state = self.step(state, x)
        # d tanh(a)/da = 1 - tanh(a)^2, scaling the rows of W.
        return (1.0 - next_state**2).unsqueeze(-1) * self._cast.get(state)["recurrent"]
