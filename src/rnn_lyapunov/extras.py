"""Which optional extra provides which third-party package, and the error for a missing one.

``pip install rnn-lyapunov`` (the core) installs what the engine, the architectures,
``from_torch``, ``SpectrumMonitor`` (it validates its settings with jsonschema and writes NetCDF
with xarray and netCDF4) and the commands ``architectures``, ``datasets``, ``spectrum`` and
``train`` import. Everything else comes with an extra, listed in :data:`EXTRAS`; the same packages
are in ``[project.optional-dependencies]`` of pyproject.toml (a test keeps the two in step).

A module that needs an extra calls :func:`require` before it uses it. The error is a
:class:`MissingExtraError`: an ``ImportError`` for Python callers and an
:class:`~rnn_lyapunov.errors.InputError` for the ``rnn-lyapunov`` command, which exits with
code 2 and the ``pip install`` line instead of reporting an internal error.
"""

from __future__ import annotations

import importlib.util

from rnn_lyapunov.errors import InputError

# extra -> {import name: distribution name}. Only packages our code imports are listed; an
# extra's other members (pygments for `snakemake --report`) need no check.
EXTRAS: dict[str, dict[str, str]] = {
    "workflow": {"snakemake": "snakemake", "matplotlib": "matplotlib", "seaborn": "seaborn",
                 "sklearn": "scikit-learn", "pandas": "pandas"},
    "search": {"optuna": "optuna", "sklearn": "scikit-learn"},
    "lightning": {"lightning": "lightning"},
}


class MissingExtraError(InputError, ImportError):
    """A package of an optional extra is not installed; the message gives the ``pip install`` line.

    ``name``: the missing package's import name (``ImportError.name``).
    """

    def __init__(self, message: str, *, name: str | None = None):
        super().__init__(message)
        self.name = name


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install 'rnn-lyapunov[{extra}]'"


def require(extra: str, *modules: str, needed_by: str) -> None:
    """Raise :class:`MissingExtraError` unless ``modules`` of ``extra`` (default: all of them) are importable.

    ``needed_by`` names what the user asked for (``"rnn-lyapunov search"``, a module). Only
    looks the packages up (``importlib.util.find_spec``), so the check costs no import.
    """
    provided = EXTRAS[extra]
    unknown = set(modules) - set(provided)
    if unknown:
        raise ValueError(f"extras.EXTRAS[{extra!r}] does not list {sorted(unknown)}; add them there and to pyproject.toml.")
    missing = [provided[module] for module in modules or provided if not _importable(module)]
    if missing:
        raise MissingExtraError(f"{needed_by} needs {', '.join(missing)} from the optional extra '{extra}', which "
                                f"{'is' if len(missing) == 1 else 'are'} not installed: {install_hint(extra)} "
                                f"(from a source checkout: pip install -e '.[{extra}]').", name=missing[0])


def missing_extra(error: ModuleNotFoundError) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for a module that no :func:`require` call guarded, or None
    if the missing module belongs to no extra (then it is a bug or a broken install)."""
    top = (error.name or "").partition(".")[0]
    extras = [extra for extra, provided in EXTRAS.items() if top in provided]
    if not extras:
        return None
    hints = " or ".join(install_hint(extra) for extra in extras)
    return MissingExtraError(f"{top} is not installed; it comes with the optional extra "
                             f"{' or '.join(repr(extra) for extra in extras)}: {hints}.", name=top)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or sys.modules[module] is None
        return False
