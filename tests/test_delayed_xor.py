"""delayed_xor: targets against a direct numpy computation of |s(t-d) - s(t-2d)|, and its task's scoring."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnn_lyapunov.datasets import build_dataset
from rnn_lyapunov.datasets.tasks import TASKS
from rnn_lyapunov.errors import InputError


@pytest.mark.parametrize("delay, length", [(1, 3), (3, 20), (7, 50)])
def test_targets_are_the_xor_of_the_bits_delay_and_twice_delay_ago(delay, length):
    dataset = build_dataset("delayed_xor", seed=4, delay=delay, sequence_length=length, n_train=30, n_validation=5,
                            n_test=5)
    assert (dataset.task, dataset.input_size, dataset.output_size) == ("classification_every_step", 1, 2)
    for split in (dataset.train, dataset.validation, dataset.test):
        bits = split.inputs[:, :, 0].numpy().astype(int)
        assert split.inputs.shape[1:] == (length, 1) and set(np.unique(bits)) <= {0, 1}
        targets = split.targets.numpy()
        for row in range(len(bits)):  # element by element, as the definition reads
            for t in range(length):
                expected = abs(bits[row, t - delay] - bits[row, t - 2 * delay]) if t >= 2 * delay else -100
                assert targets[row, t] == expected


def test_bits_are_fair_and_independent_of_the_seed_of_other_splits():
    dataset = build_dataset("delayed_xor", seed=1, delay=2, sequence_length=50, n_train=200, n_validation=5, n_test=5)
    assert dataset.train.inputs.mean().item() == pytest.approx(0.5, abs=0.02)  # 10,000 bits: 4 standard errors
    scored = dataset.train.targets[:, 4:].float()
    assert scored.mean().item() == pytest.approx(0.5, abs=0.02)  # the XOR of two fair bits is fair


def test_unscored_steps_are_skipped_by_loss_and_accuracy():
    outputs = torch.randn(2, 5, 2)
    labels = torch.tensor([[-100, -100, 1, 0, 1], [-100, -100, 0, 0, 1]])
    loss, correct, terms = TASKS["classification_every_step"].loss_terms(outputs, labels)
    scored_outputs, scored_labels = outputs[:, 2:].reshape(-1, 2), labels[:, 2:].reshape(-1)
    assert terms == 6
    torch.testing.assert_close(loss, F.cross_entropy(scored_outputs, scored_labels, reduction="sum"))
    assert int(correct) == int((scored_outputs.argmax(1) == scored_labels).sum())


def test_sequences_without_any_scored_step_are_refused():
    with pytest.raises(InputError, match="sequence_length must be > 2 \\* delay = 10"):
        build_dataset("delayed_xor", seed=0, delay=5, sequence_length=10)
