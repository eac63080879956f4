"""The ``rnn-lyapunov`` command."""

from rnn_lyapunov.cli.commands import main

__all__ = ["main"]
