"""Exception types that callers (and the command line) can tell apart from bugs."""


class RnnLyapunovError(Exception):
    """Base class of every error this package raises on purpose for bad input."""


class InputError(RnnLyapunovError, ValueError):
    """An argument, file or configuration value is wrong; the message names it and the fix."""


class NonFiniteStateError(InputError):
    """The recurrent state became NaN or infinite: the network diverged on these inputs."""
