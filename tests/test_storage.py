"""Atomic writes leave ordinary permissions and nothing behind on failure."""

import os
import stat

import pytest

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.storage import atomic_path, write_text_atomic


def test_atomically_written_file_has_the_permissions_of_a_plain_open(tmp_path):
    old_mask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "atomic.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old_mask)
    mode = stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_path(target) as temporary:
            temporary.write_text("partial")
            raise RuntimeError("writer failed")
    assert target.read_text() == "previous"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.txt"]


def test_missing_directory_is_an_input_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_text_atomic(tmp_path / "missing" / "result.txt", "x")
