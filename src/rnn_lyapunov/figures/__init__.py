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

from rnn_lyapunov.extras import require
from rnn_lyapunov.lazy_exports import lazy_exports

# Every figure module imports matplotlib or seaborn: say which extra brings them before any does.
require("workflow", "matplotlib", "seaborn", needed_by="rnn_lyapunov.figures (the paper figures)")

_PUBLIC_NAMES = {
    "register_figure": "rnn_lyapunov.figures.registry",
    "available_figures": "rnn_lyapunov.figures.registry",
    "get_figure": "rnn_lyapunov.figures.registry",
    "describe_figures": "rnn_lyapunov.figures.registry",
    "save_figure": "rnn_lyapunov.figures.style",
}

__all__ = sorted(_PUBLIC_NAMES)


__getattr__, __dir__ = lazy_exports('rnn_lyapunov.figures', _PUBLIC_NAMES, globals())
