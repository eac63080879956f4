"""``char_text``: character-level next-character prediction on Shakespeare or War and Peace.

Two corpora ship with the package (sources in ``resources/README.txt``), chosen by the option
``corpus``:

* ``"shakespeare"`` (default): ``resources/shakespeare.txt``, eight plays, about 1 MB; split
  90/5/5; the vocabulary is the set of characters of the training part plus index 0, which
  stands for any character unseen in training;
* ``"war_and_peace"``: Tolstoy's *War and Peace* (Maude translation, Project Gutenberg #2600),
  3,202,303 characters, stored xz-compressed (``resources/war_and_peace.txt.xz``, read with
  ``lzma``, its sha256 checked on first use). Its defaults follow Vogt et al. (2022): split
  80/10/10 and the vocabulary of the whole text (82 characters, no unknown index).

A user may point ``text_file`` at another UTF-8 text (with the shakespeare defaults). The text is
split by position (train first, then validation, then test), so no sentence straddles two splits
in a shuffled way. ``validation_fraction``, ``test_fraction`` and ``vocabulary`` ("train": the
training part's characters plus the unknown index 0; "corpus": every character of the whole text,
sorted) default to the corpus's settings above when left as None.

Shapes: inputs int64 token ids ``(n, sequence_length)`` (one-hot encoded to
``(batch, sequence_length, vocabulary_size)`` by ``encode_inputs``); targets int64
``(n, sequence_length)``, the next character at every step. Sequences are consecutive,
non-overlapping windows of the split, so consecutive validation sequences continue each other.
"""

from __future__ import annotations

import functools
import hashlib
import lzma
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.datasets.base import DatasetBuilder, SequenceDataset, Split, require_fraction, require_positive_int
from rnn_lyapunov.datasets.registry import register_dataset

UNKNOWN_TOKEN = "\N{REPLACEMENT CHARACTER}"
VOCABULARIES = ("train", "corpus")
#: corpus name -> packaged file, sha256 of its decompressed text (None: not checked) and the
#: defaults of the options left as None.
CORPORA = {
    "shakespeare": {"file": "shakespeare.txt", "sha256": None,
                    "defaults": {"validation_fraction": 0.05, "test_fraction": 0.05, "vocabulary": "train"}},
    "war_and_peace": {"file": "war_and_peace.txt.xz",
                      "sha256": "eaecfcb30408e2bc35ffe69b297127e3a6ca75548c033df4d2e703b5ff711f8d",
                      "defaults": {"validation_fraction": 0.1, "test_fraction": 0.1, "vocabulary": "corpus"}},
}


def read_compressed_text(path, *, sha256: str | None, what: str) -> str:
    """The UTF-8 text of the xz file ``path``; InputError if it is damaged or its hash differs.

    ``sha256``: hex digest of the decompressed bytes (None: not checked).
    """
    try:
        data = lzma.decompress(Path(path).read_bytes())
    except (lzma.LZMAError, EOFError) as error:
        raise InputError(f"{what} ({path}) is damaged: it does not decompress as xz ({error}). "
                         "Reinstall rnn-lyapunov to restore it.") from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise InputError(f"{what} ({path}) is damaged: the sha256 of its text is {digest}, expected "
                         f"{sha256}. Reinstall rnn-lyapunov to restore it.")
    return data.decode("utf-8")


@functools.lru_cache(maxsize=None)
def packaged_corpus(name: str = "shakespeare") -> str:
    """The text of corpus ``name`` shipped with the package (read, and checked, once per process)."""
    if name not in CORPORA:
        raise InputError(f"dataset 'char_text': unknown corpus {name!r}; allowed: {', '.join(CORPORA)}.")
    entry = CORPORA[name]
    resource = resources.files("rnn_lyapunov").joinpath("resources", entry["file"])
    if entry["file"].endswith(".xz"):
        with resources.as_file(resource) as path:
            return read_compressed_text(path, sha256=entry["sha256"], what=f"the packaged {name} corpus")
    return resource.read_text(encoding="utf-8")


def _token_ids(text: str, vocabulary) -> torch.Tensor:
    """int64 (len(text),): each character's position in ``vocabulary``, 0 for one not in it."""
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    known = np.array([ord(character) for character in vocabulary], dtype=np.int64)
    table = np.zeros(int(max(code_points.max(initial=0), known.max(initial=0))) + 1, dtype=np.int64)
    table[known] = np.arange(len(vocabulary))
    return torch.from_numpy(table[code_points])


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
    description = ("next-character prediction on Shakespeare (~1 MB) or War and Peace (~3 MB; option corpus), "
                   "packaged, one-hot characters")
    default_options = {
        "corpus": "shakespeare",
        "sequence_length": 100,
        "validation_fraction": None,  # None: the corpus's default (shakespeare 0.05, war_and_peace 0.1)
        "test_fraction": None,        # None: the corpus's default (shakespeare 0.05, war_and_peace 0.1)
        "vocabulary": None,           # None: the corpus's default (shakespeare "train", war_and_peace "corpus")
        "max_characters": None,
        "text_file": None,
    }

    def resolve_options(self, options: dict) -> dict:
        """The options with the corpus's defaults in place of None (so they are recorded)."""
        resolved = super().resolve_options(options)
        corpus = resolved["corpus"]
        if corpus not in CORPORA:
            raise InputError(f"dataset 'char_text': option corpus must be one of {', '.join(map(repr, CORPORA))}, "
                             f"got {corpus!r}.")
        if resolved["text_file"] is not None and corpus != "shakespeare":
            raise InputError(f"dataset 'char_text': give either corpus={corpus!r} or text_file, not both.")
        for key, value in CORPORA[corpus]["defaults"].items():
            if resolved[key] is None:
                resolved[key] = value
        return resolved

    def check_values(self, resolved: dict) -> None:
        require_positive_int(resolved, "sequence_length", self.name)
        fractions = [require_fraction(resolved, key, self.name) for key in ("validation_fraction", "test_fraction")]
        if sum(fractions) >= 1.0:
            raise InputError(f"dataset 'char_text': options validation_fraction + test_fraction = {sum(fractions):g} "
                             "leave no training text; their sum must be below 1.")
        if resolved["vocabulary"] not in VOCABULARIES:
            allowed = ", ".join(map(repr, VOCABULARIES))
            raise InputError(f"dataset 'char_text': option vocabulary must be one of {allowed}, "
                             f"got {resolved['vocabulary']!r}.")
        if resolved["max_characters"] is not None:
            require_positive_int(resolved, "max_characters", self.name)
        text_file = resolved["text_file"]
        if text_file is not None and (not isinstance(text_file, str) or not Path(text_file).is_file()):
            raise InputError(f"dataset 'char_text': option text_file {text_file!r} does not exist; give the path of "
                             "a UTF-8 text file, or null for the packaged corpus.")
        # Every split must hold one sequence; the text's length is known without building the data.
        for split, n_sequences in zip(("training", "validation", "test"), self._split_sequences(resolved)):
            if n_sequences < 1:
                raise InputError(f"dataset 'char_text': the {split} part of the text is shorter than one sequence of "
                                 f"sequence_length = {resolved['sequence_length']}; use shorter sequences, a larger "
                                 "fraction or a longer text.")

    def _text(self, resolved: dict) -> str:
        if resolved["text_file"] is None:
            return packaged_corpus(resolved["corpus"])
        return Path(resolved["text_file"]).read_text(encoding="utf-8")

    def _split_sequences(self, resolved: dict) -> list[int]:
        """Sequences in the training, validation and test parts (as :meth:`build` cuts the text)."""
        n_characters = len(self._text(resolved))
        if resolved["max_characters"] is not None:
            n_characters = min(n_characters, resolved["max_characters"])
        n_validation = int(n_characters * resolved["validation_fraction"])
        n_test = int(n_characters * resolved["test_fraction"])
        parts = (n_characters - n_validation - n_test, n_validation, n_test)
        return [(part - 1) // resolved["sequence_length"] for part in parts]

    def validation_shape(self, resolved: dict) -> tuple[int, int]:
        return self._split_sequences(resolved)[1], resolved["sequence_length"]

    def build(self, *, seed, corpus, sequence_length, validation_fraction, test_fraction, vocabulary,
              max_characters, text_file) -> SequenceDataset:
        # The seed is unused: the split is by position and the windows are fixed.
        options = dict(corpus=corpus, sequence_length=sequence_length, validation_fraction=validation_fraction,
                       test_fraction=test_fraction, vocabulary=vocabulary, max_characters=max_characters,
                       text_file=text_file)
        self.check_values(options)
        fractions = [float(validation_fraction), float(test_fraction)]
        text = self._text(options)
        # "corpus": every character of the whole text, before max_characters cuts it.
        corpus_characters = sorted(set(text)) if vocabulary == "corpus" else None
        if max_characters is not None:
            text = text[:max_characters]
        n_validation = int(len(text) * fractions[0])
        n_test = int(len(text) * fractions[1])
        n_train = len(text) - n_validation - n_test
        parts = text[:n_train], text[n_train:n_train + n_validation], text[n_train + n_validation:]
        if corpus_characters is None:
            vocabulary_characters = [UNKNOWN_TOKEN, *sorted(set(parts[0]) - {UNKNOWN_TOKEN})]
            unknown_index = 0
        else:
            vocabulary_characters, unknown_index = corpus_characters, None
        splits = [_windows(_token_ids(part, vocabulary_characters), sequence_length) for part in parts]
        size = len(vocabulary_characters)
        return SequenceDataset(
            name=self.name, task="next_token", input_size=size, output_size=size,
            train=splits[0], validation=splits[1], test=splits[2], input_encoding="one_hot",
            metadata={"vocabulary": "".join(vocabulary_characters), "unknown_index": unknown_index,
                      "source": f"packaged {corpus}" if text_file is None else str(text_file)})
