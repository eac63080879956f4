"""CI: what `pip install rnn-lyapunov` alone (the light core, no extra) must do, run in a venv of its own.

A spectrum of a torch.nn.GRU through from_torch and of an nn.RNN whose exponents are known in
closed form, a SpectrumMonitor's per-run file, and none of the extras' packages importable.
"""

import importlib.util
import math
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from rnn_lyapunov import SpectrumMonitor, from_torch, lyapunov_spectrum

EXTRAS_ONLY = ("snakemake", "seaborn", "matplotlib", "sklearn", "optuna", "lightning")

installed = [name for name in EXTRAS_ONLY if importlib.util.find_spec(name) is not None]
assert not installed, f"the core install brought packages of the extras: {installed}"

torch.manual_seed(0)
gru = nn.GRU(3, 8, batch_first=True)
inputs = torch.randn(2, 200, 3)
exponents = lyapunov_spectrum(from_torch(gru), inputs, warmup_steps=50).exponents
assert exponents.shape == (8,) and torch.isfinite(exponents).all(), exponents
assert (exponents[:-1] >= exponents[1:]).all(), f"exponents not in descending order: {exponents}"
assert exponents[0] < 0, f"a small random GRU with these inputs contracts; largest exponent {exponents[0]}"

# At the fixed point 0 of a bias-free tanh RNN under zero input the Jacobian is W_hh = diag(0.5, 0.25).
rnn = nn.RNN(1, 2, bias=False, batch_first=True)
with torch.no_grad():
    rnn.weight_hh_l0.copy_(torch.diag(torch.tensor([0.5, 0.25])))
zeros = torch.zeros(1, 100, 1)
expected = [math.log(0.5), math.log(0.25)]
got = lyapunov_spectrum(from_torch(rnn), zeros, warmup_steps=60).exponents.tolist()
assert all(abs(a - b) < 1e-12 for a, b in zip(got, expected)), (got, expected)

with tempfile.TemporaryDirectory() as directory:
    path = Path(directory) / "run.nc"
    monitor = SpectrumMonitor(rnn, zeros, path, warmup_steps=60)
    monitor.record(0, train_loss=1.0)
    written = monitor.dataset()["lyapunov_exponents"].sel(epoch=0).values.tolist()
    assert path.is_file() and all(abs(a - b) < 1e-12 for a, b in zip(written, expected)), written

print(f"core install OK (torch {torch.__version__}): GRU exponents {[round(x, 4) for x in exponents.tolist()[:3]]}..., "
      f"diag(0.5, 0.25) RNN {got}; none of {', '.join(EXTRAS_ONLY)} importable", file=sys.stderr)
