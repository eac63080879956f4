"""Drawing a named figure from its input file into PNG and PDF files (what the workflow calls)."""

from __future__ import annotations

import os
from pathlib import Path

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.storage import write_text_atomic
from rnn_lyapunov.figures import FIGURES, save_figure, stability_correlations


def figure_function(name: str):
    """The function drawing figure ``name``; InputError listing the known names otherwise."""
    if name not in FIGURES:
        raise InputError(f"unknown figure {name!r}; known figures: {', '.join(FIGURES)}.")
    return FIGURES[name]


def load_figure_input(name: str, path: str | os.PathLike):
    """The dataset figure ``name`` reads: the validation dataset or the sweep (``load_sweep``)."""
    figure_function(name)
    if name == "validation":
        from rnn_lyapunov.analysis.validation import load_validation

        return load_validation(path)
    from rnn_lyapunov.config.sweep import load_sweep

    return load_sweep(path)


def render_figure(name: str, dataset, outputs, *, dpi: int = 150, options: dict | None = None) -> None:
    """Draw figure ``name`` from ``dataset`` and write it to each path in ``outputs`` atomically.

    The format follows each path's suffix (``.png`` at ``dpi``, ``.pdf`` vector). ``options`` are
    keyword arguments of the figure function (e.g. ``early_epoch`` for ``stability_readout``).
    """
    figure = figure_function(name)(dataset, **(options or {}))
    for path in outputs:
        save_figure(figure, Path(path), dpi=dpi)


def write_stability_correlations(sweep, path: str | os.PathLike, **options) -> None:
    """``stability_correlations(sweep, **options)`` as CSV, written atomically."""
    table = stability_correlations(sweep, **options)
    write_text_atomic(path, table.to_csv(index=False, float_format="%.6g"), make_parents=True)
