"""The paper figures: one module per figure, each registered with ``@register_figure``.

Each figure is a function that takes an ``xarray.Dataset`` and returns a
``matplotlib.figure.Figure`` (built without pyplot, so no display or global state is needed). The
registry (:mod:`rnn_lyapunov.figures.registry`) finds them by scanning this package and the
entry-point group ``rnn_lyapunov.figures``; :func:`get_figure` gives a figure's function (``.draw``),
input (``.needs``), caption and table, :func:`available_figures` their names.
:func:`save_figure` writes a figure atomically (format from the suffix).

Nothing is imported here until it is used (PEP 562), so importing a figure module, or the registry
from the workflow, does not import every other figure.
"""

from importlib import import_module

_PUBLIC_NAMES = {
    "register_figure": "rnn_lyapunov.figures.registry",
    "available_figures": "rnn_lyapunov.figures.registry",
    "get_figure": "rnn_lyapunov.figures.registry",
    "describe_figures": "rnn_lyapunov.figures.registry",
    "save_figure": "rnn_lyapunov.figures.style",
}

__all__ = sorted(_PUBLIC_NAMES)


def __getattr__(name):
    module_name = _PUBLIC_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'rnn_lyapunov.figures' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
