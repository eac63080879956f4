"""Exception types that callers (and the command line) can tell apart from bugs."""


class RnnLyapunovError(Exception):
    """Base class of every error this package raises on purpose for bad input."""


class InputError(RnnLyapunovError, ValueError):
    """An argument, file or configuration value is wrong; the message names it and the fix.

    ``arguments``: the names of the function arguments the message is about (e.g.
    ``("warmup_steps",)``), so a caller can restate it in its own terms: a config key or a
    command-line flag (:func:`rnn_lyapunov.config.settings.restate`).
    """

    def __init__(self, message: str = "", *, arguments: tuple[str, ...] = ()):
        super().__init__(message)
        self.arguments = tuple(arguments)


class NonFiniteStateError(InputError):
    """The recurrent state became NaN or infinite: the network diverged on these inputs."""
