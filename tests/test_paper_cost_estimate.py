"""benchmarks/bench_paper_cost.py's GPU estimate counts a fused recurrent core as cuDNN runs it."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import bench_paper_cost as cost  # noqa: E402

from rnn_lyapunov.architectures.model import create_model  # noqa: E402


def model(architecture):
    return create_model(architecture, input_size=cost.VOCABULARY, hidden_size=6, output_size=cost.VOCABULARY,
                        init="uniform", init_scale=0.08, bias=False, dropout=0.1)


def test_the_cpu_unrolls_a_fused_rnn_into_per_step_operations_that_the_estimate_replaces():
    inputs = torch.zeros(2, cost.WINDOW, cost.VOCABULARY)
    # ATen runs nn.RNN's tanh cell step by step on the CPU: at least one operation per time step.
    assert cost.core_operations(model("rnn"), inputs) >= cost.WINDOW
    # A core without a fused kernel keeps its eager count and adds no cuDNN launches.
    assert cost.core_operations(model("cornn"), inputs) == 0 and cost.cudnn_seconds(model("cornn")) == 0.0
    assert cost.cudnn_seconds(model("rnn")) == pytest.approx(
        cost.CUDNN_KERNELS_PER_STEP * cost.WINDOW * cost.CUDNN_SECONDS_PER_KERNEL)


def test_the_fused_estimate_is_below_counting_every_cpu_operation_as_an_eager_launch():
    _, estimate = cost.seconds_per_batch("gru", 6, torch.device("cpu"), batches=1)
    network = model("gru")
    inputs = torch.nn.functional.one_hot(torch.randint(cost.VOCABULARY, (cost.BATCH, cost.WINDOW)),
                                         cost.VOCABULARY).float()
    eager = (cost.core_operations(network, inputs) + 1) * cost.GPU_SECONDS_PER_OPERATION
    assert estimate < eager
