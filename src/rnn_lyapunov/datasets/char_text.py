"""``char_text``: character-level next-character prediction on Shakespeare.

The corpus ships with the package (``rnn_lyapunov/resources/shakespeare.txt``, eight plays,
about 1 MB; its source is named in ``resources/README.txt``); a user may point ``text_file`` at
another UTF-8 text. The text is split by position (train first, then validation, then test), so
no sentence straddles two splits in a shuffled way; the vocabulary is the set of characters of
the training part plus index 0, which stands for any character unseen in training.

Shapes: inputs int64 token ids ``(n, sequence_length)`` (one-hot encoded to
``(batch, sequence_length, vocabulary_size)`` by ``encode_inputs``); targets int64
``(n, sequence_length)``, the next character at every step. Sequences are consecutive,
non-overlapping windows of the split, so consecutive validation sequences continue each other.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.datasets.base import DatasetBuilder, SequenceDataset, Split, require_fraction, require_positive_int
from rnn_lyapunov.datasets.registry import register_dataset

UNKNOWN_TOKEN = "\N{REPLACEMENT CHARACTER}"


def packaged_corpus() -> str:
    """The Shakespeare text shipped with the package."""
    return resources.files("rnn_lyapunov").joinpath("resources/shakespeare.txt").read_text(encoding="utf-8")


def _windows(token_ids: torch.Tensor, sequence_length: int) -> Split:
    """Consecutive windows: inputs ids[k*L:(k+1)*L], targets the same shifted by one character."""
    n_sequences = (token_ids.shape[0] - 1) // sequence_length
    if n_sequences < 1:
        raise InputError(
            f"dataset 'char_text': a split of {token_ids.shape[0]} characters is shorter than one "
            f"sequence of sequence_length={sequence_length}; use a longer text or shorter sequences.")
    used = n_sequences * sequence_length
    return Split(token_ids[:used].reshape(n_sequences, sequence_length),
                 token_ids[1:used + 1].reshape(n_sequences, sequence_length))


@register_dataset("char_text")
class CharText(DatasetBuilder):
    description = "next-character prediction on ~1 MB of Shakespeare (packaged), one-hot characters"
    default_options = {
        "sequence_length": 100,
        "validation_fraction": 0.05,
        "test_fraction": 0.05,
        "max_characters": None,
        "text_file": None,
    }

    def build(self, *, seed, sequence_length, validation_fraction, test_fraction,
              max_characters, text_file) -> SequenceDataset:
        # The seed is unused: the split is by position and the windows are fixed.
        options = dict(sequence_length=sequence_length, validation_fraction=validation_fraction,
                       test_fraction=test_fraction, max_characters=max_characters)
        require_positive_int(options, "sequence_length", self.name)
        fractions = [require_fraction(options, key, self.name) for key in ("validation_fraction", "test_fraction")]
        if text_file is None:
            text = packaged_corpus()
        else:
            path = Path(text_file)
            if not path.is_file():
                raise InputError(f"dataset 'char_text': text_file {str(path)!r} does not exist.")
            text = path.read_text(encoding="utf-8")
        if max_characters is not None:
            text = text[:require_positive_int(options, "max_characters", self.name)]
        n_validation = int(len(text) * fractions[0])
        n_test = int(len(text) * fractions[1])
        n_train = len(text) - n_validation - n_test
        parts = text[:n_train], text[n_train:n_train + n_validation], text[n_train + n_validation:]
        vocabulary = [UNKNOWN_TOKEN, *sorted(set(parts[0]) - {UNKNOWN_TOKEN})]
        index = {character: position for position, character in enumerate(vocabulary)}
        splits = [
            _windows(torch.tensor([index.get(character, 0) for character in part], dtype=torch.int64),
                     sequence_length)
            for part in parts
        ]
        return SequenceDataset(
            name=self.name, task="next_token", input_size=len(vocabulary), output_size=len(vocabulary),
            train=splits[0], validation=splits[1], test=splits[2], input_encoding="one_hot",
            metadata={"vocabulary": "".join(vocabulary), "unknown_index": 0,
                      "source": "packaged Shakespeare" if text_file is None else str(text_file)})
