"""Invariants of the synthetic and text datasets over random options (hypothesis)."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_lyapunov.datasets import build_dataset
from rnn_lyapunov.config.run_config import validate_run_config

FAST = settings(max_examples=25, deadline=None)


@FAST
@given(sequence_length=st.integers(2, 40), seed=st.integers(0, 2**31 - 1))
def test_adding_always_marks_one_step_per_half_and_sums_them(sequence_length, seed):
    dataset = build_dataset("adding", seed=seed, sequence_length=sequence_length, n_train=8, n_validation=1, n_test=1)
    values, markers = dataset.train.inputs[..., 0].double(), dataset.train.inputs[..., 1]
    half = sequence_length // 2
    assert torch.all(markers[:, :half].sum(dim=1) == 1) and torch.all(markers[:, half:].sum(dim=1) == 1)
    assert torch.allclose(dataset.train.targets[:, 0].double(), (values * markers).sum(dim=1), atol=1e-6)


@FAST
@given(n_symbols=st.integers(2, 6), delay=st.integers(1, 15), extra=st.integers(0, 5), seed=st.integers(0, 1000))
def test_signal_copy_symbol_is_always_readable_delay_steps_before_the_end(n_symbols, delay, extra, seed):
    length = delay + 1 + extra
    dataset = build_dataset("signal_copy", seed=seed, n_symbols=n_symbols, delay=delay, sequence_length=length,
                            n_train=8, n_validation=1, n_test=1)
    inputs = dataset.train.inputs
    assert inputs.shape == (8, length, n_symbols + 1)
    assert torch.equal(inputs[:, length - 1 - delay, :n_symbols].argmax(dim=1), dataset.train.targets)


@FAST
@given(text=st.text(alphabet="abcde \n", min_size=200, max_size=400), sequence_length=st.integers(1, 12))
def test_char_text_windows_reassemble_the_training_text(tmp_path_factory, text, sequence_length):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    dataset = build_dataset("char_text", text_file=str(path), sequence_length=sequence_length,
                            validation_fraction=0.1, test_fraction=0.1)
    vocabulary = dataset.metadata["vocabulary"]
    ids = torch.cat([dataset.train.inputs.reshape(-1), dataset.train.targets[-1:, -1]])
    assert "".join(vocabulary[i] for i in ids.tolist()) == text[: ids.numel()]


@FAST
@given(hidden_size=st.integers(1, 512), warmup_steps=st.integers(0, 100), dtype=st.sampled_from(["float32", "float64"]))
def test_validating_a_validated_config_changes_nothing(hidden_size, warmup_steps, dtype):
    once = validate_run_config({"hidden_size": hidden_size, "spectrum": {"warmup_steps": warmup_steps, "dtype": dtype}})
    assert validate_run_config(once) == once
