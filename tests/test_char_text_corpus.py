"""The War and Peace corpus of char_text: its vocabulary, split, windows and the hash check."""

import hashlib
import lzma
from importlib import resources

import pytest
import torch

from rnn_lyapunov.datasets import build_dataset
from rnn_lyapunov.datasets.char_text import CORPORA, packaged_corpus, read_compressed_text
from rnn_lyapunov.errors import InputError

SHA256 = "eaecfcb30408e2bc35ffe69b297127e3a6ca75548c033df4d2e703b5ff711f8d"
PACKAGED = resources.files("rnn_lyapunov").joinpath("resources", "war_and_peace.txt.xz")


@pytest.fixture(scope="module")
def text():
    """The decompressed text, read here with lzma independently of the builder."""
    data = lzma.decompress(PACKAGED.read_bytes())
    assert hashlib.sha256(data).hexdigest() == SHA256
    return data.decode("utf-8")


@pytest.fixture(scope="module")
def war_and_peace():
    return build_dataset("char_text", corpus="war_and_peace")


def decode(dataset, ids):
    return "".join(dataset.metadata["vocabulary"][index] for index in ids.tolist())


def test_the_vocabulary_is_the_82_characters_of_the_text(text, war_and_peace):
    assert len(text) == 3_202_303
    assert war_and_peace.input_size == war_and_peace.output_size == 82
    assert war_and_peace.metadata["vocabulary"] == "".join(sorted(set(text)))
    assert war_and_peace.metadata["unknown_index"] is None
    # The vocabulary is the whole text's even when max_characters keeps only its start.
    assert build_dataset("char_text", corpus="war_and_peace", max_characters=5_000).input_size == 82


def test_the_text_is_split_80_10_10_by_position_into_windows_of_100(text, war_and_peace):
    options = war_and_peace.metadata["options"]
    assert (options["validation_fraction"], options["test_fraction"], options["sequence_length"]) == (0.1, 0.1, 100)
    n_held_out = int(len(text) * 0.1)
    n_train = len(text) - 2 * n_held_out
    assert n_train / len(text) == pytest.approx(0.8, abs=1e-6)
    starts = {"train": 0, "validation": n_train, "test": n_train + n_held_out}
    lengths = {"train": n_train, "validation": n_held_out, "test": len(text) - n_train - n_held_out}
    for name, start in starts.items():
        split = war_and_peace.split(name)
        assert len(split) == (lengths[name] - 1) // 100 and split.sequence_length == 100
        assert decode(war_and_peace, split.inputs[0]) == text[start:start + 100]
        end = start + 100 * len(split)  # the last target is the character after the last window
        assert decode(war_and_peace, split.targets[-1]) == text[end - 99:end + 1]
    one_hot = war_and_peace.encode_inputs(war_and_peace.train.inputs[:2])
    assert one_hot.shape == (2, 100, 82) and torch.equal(one_hot.sum(-1), torch.ones(2, 100))


def test_shakespeare_stays_the_default_with_its_own_settings():
    dataset = build_dataset("char_text", max_characters=20_000)
    options = dataset.metadata["options"]
    assert (options["corpus"], options["validation_fraction"], options["test_fraction"], options["vocabulary"]) == (
        "shakespeare", 0.05, 0.05, "train")
    assert dataset.metadata["unknown_index"] == 0 and dataset.metadata["source"] == "packaged shakespeare"


def test_the_hash_check_refuses_a_damaged_copy(tmp_path, text):
    packaged = PACKAGED.read_bytes()
    corrupted = bytearray(packaged)
    corrupted[len(corrupted) // 2] ^= 0xFF
    (tmp_path / "flipped.txt.xz").write_bytes(bytes(corrupted))
    with pytest.raises(InputError, match="damaged: it does not decompress"):
        read_compressed_text(tmp_path / "flipped.txt.xz", sha256=SHA256, what="war and peace")
    # A valid xz file whose text differs by one character: only the hash can tell.
    (tmp_path / "edited.txt.xz").write_bytes(lzma.compress(("X" + text[1:]).encode("utf-8"), preset=0))
    with pytest.raises(InputError, match="damaged: the sha256 of its text is"):
        read_compressed_text(tmp_path / "edited.txt.xz", sha256=SHA256, what="war and peace")
    (tmp_path / "truncated.txt.xz").write_bytes(packaged[: len(packaged) // 3])
    with pytest.raises(InputError, match="damaged"):
        read_compressed_text(tmp_path / "truncated.txt.xz", sha256=SHA256, what="war and peace")
    assert read_compressed_text(PACKAGED, sha256=SHA256, what="war and peace") == text


def test_the_builder_checks_the_packaged_file_against_its_recorded_hash(monkeypatch):
    assert CORPORA["war_and_peace"]["sha256"] == SHA256
    monkeypatch.setitem(CORPORA["war_and_peace"], "sha256", "0" * 64)
    packaged_corpus.cache_clear()
    try:
        with pytest.raises(InputError, match="packaged war_and_peace corpus .* is damaged"):
            build_dataset("char_text", corpus="war_and_peace")
    finally:
        packaged_corpus.cache_clear()


def test_bad_corpus_options_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="corpus must be one of 'shakespeare', 'war_and_peace'"):
        build_dataset("char_text", corpus="tolstoy")
    (tmp_path / "a.txt").write_text("ab" * 500, encoding="utf-8")
    with pytest.raises(InputError, match="either corpus='war_and_peace' or text_file"):
        build_dataset("char_text", corpus="war_and_peace", text_file=str(tmp_path / "a.txt"))
    with pytest.raises(InputError, match="vocabulary must be one of 'train', 'corpus'"):
        build_dataset("char_text", vocabulary="all")
