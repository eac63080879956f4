"""A workflow job's stderr: its log file, and the terminal when the log cannot be written.

The scripts in ``workflow/scripts`` send stderr to the rule's log. On a full disk that log cannot
grow either: the job's error message is lost, Python fails to flush stderr at exit and Snakemake
reports a bare "exit status 120" with an empty log. :func:`open_job_log` returns a stream that
writes to the log and, from the first write the log refuses, to the job's own stderr (which
Snakemake shows), saying so; an :class:`~rnn_lyapunov.errors.InputError` then ends the job with
its one-paragraph message as the last line of both, instead of a traceback only.
"""

from __future__ import annotations

import contextlib
import io
import sys
import traceback

from rnn_lyapunov.errors import InputError


class JobLog(io.TextIOBase):
    """A text stream onto ``path`` (appended) that falls back to ``fallback`` when a write fails."""

    def __init__(self, path, fallback=None):
        self.path = str(path)
        self.fallback = sys.__stderr__ if fallback is None else fallback
        try:
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as error:
            self._file = None
            self._switch(error)

    def _switch(self, error: OSError) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # closing flushes, which the full disk refuses again
                self._file.close()
        self._file = None
        self.fallback.write(f"[cannot write the job log {self.path}: {error.strerror or error}; "
                            "the job's messages follow here]\n")

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._file is not None:
            try:
                self._file.write(text)
                self._file.flush()  # now, so a full disk shows here and not at exit (as "exit status 120")
                return len(text)
            except OSError as error:
                self._switch(error)
        self.fallback.write(text)
        return len(text)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as error:
                self._switch(error)
        self.fallback.flush()


def open_job_log(path) -> JobLog:
    """Point ``sys.stderr`` at the job log ``path`` and end the job on an InputError with its
    message (last line of the log, or of the terminal if the log is full), exit status 1."""
    log = JobLog(path)
    sys.stderr = log

    def hook(kind, error, trace):
        if not issubclass(kind, InputError):
            sys.__excepthook__(kind, error, trace)
            return
        log.write("".join(traceback.format_exception(kind, error, trace)))
        message = f"rnn-lyapunov: error: {error}\n"
        log.write(message)
        if log.fallback is not None and log._file is not None:
            log.fallback.write(message)  # the terminal sees it too: Snakemake prints only the log's path
        log.flush()

    sys.excepthook = hook
    return log
