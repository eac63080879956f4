"""The one wiring from the validated ``spectrum.*`` settings to the engine.

Training (``rnn_lyapunov.training.spectra``), the ``rnn-lyapunov spectrum`` command and
``SpectrumMonitor`` (and the Lightning callback built on it) pass their settings to
:func:`~rnn_lyapunov.engine.lyapunov.lyapunov_spectrum` through :func:`engine_arguments`, and
check the schedule before any work through :func:`check_spectrum_schedule`; which setting becomes
which engine argument is said once, by ``Setting.engine_argument`` in
:mod:`rnn_lyapunov.config.settings`.
"""

from __future__ import annotations

from rnn_lyapunov.config.settings import SETTINGS, restate
from rnn_lyapunov.errors import InputError

ENGINE_SETTINGS = tuple(setting for setting in SETTINGS if setting.engine_argument)
# the engine arguments that check_schedule ties together (the others it checks alone, when it runs)
_SCHEDULE_ARGUMENTS = ("warmup_steps", "reorthonormalize_every", "record_every", "n_exponents")


def engine_arguments(spectrum: dict) -> dict:
    """``lyapunov_spectrum``'s keyword arguments from the ``spectrum`` settings, keyed by name
    (``{"warmup_steps": 0, ...}``, defaults filled in): one entry per setting with an
    ``engine_argument``, e.g. ``{"n_exponents": None, "warmup_steps": 0, "reorthonormalize_every":
    "auto", "factorization": "auto", "tangent_dtype": "auto", "record_every": 10}``."""
    return {setting.engine_argument: spectrum[setting.name] for setting in ENGINE_SETTINGS}


def check_spectrum_schedule(spectrum: dict, *, time_steps: int | None = None, state_size: int | None = None,
                            as_flags: bool = False) -> None:
    """The engine's schedule rules (``rnn_lyapunov.engine.arguments.check_schedule``) for the
    ``spectrum`` settings, before any work, with what is known so far: ``time_steps`` (the driving
    sequences' length) and ``state_size`` (the tangent dimension), None while unknown.

    Raises InputError naming the config keys (``spectrum.warmup_steps``) or, with ``as_flags``, the
    command-line flags (``--warmup-steps``) instead of the engine's argument names.
    """
    from rnn_lyapunov.engine.arguments import check_schedule

    arguments = engine_arguments(spectrum)
    try:
        check_schedule(**{name: arguments[name] for name in _SCHEDULE_ARGUMENTS}, time_steps=time_steps,
                       state_size=state_size)
    except InputError as error:
        raise restate(error, as_flags=as_flags) from None
