"""Drawing a registered figure from its input file into PNG and PDF files (what the workflow calls).

Nothing here knows a figure by name: the input, options and table come from the registry.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnn_lyapunov.figures.registry import get_figure
from rnn_lyapunov.figures.style import save_figure
from rnn_lyapunov.io.storage import write_text_atomic


def load_figure_input(name: str, path: str | os.PathLike):
    """The dataset figure ``name`` reads (its ``needs``), opened from ``path`` with derived quantities added."""
    return get_figure(name).load(path)


def render_figure(name: str, dataset, outputs, *, dpi: int = 150, options: dict | None = None,
                  table_path: str | os.PathLike | None = None) -> None:
    """Draw figure ``name`` from ``dataset`` and write it to each path in ``outputs`` atomically.

    The format follows each path's suffix (``.png`` at ``dpi``, ``.pdf`` vector). ``options`` are
    keyword arguments of the figure function (e.g. ``early_epoch`` for ``stability_readout``).
    ``table_path``: for a figure registered with ``drawn_from_table``, its CSV (written by
    :func:`write_figure_table`), drawn instead of computing the table again.
    """
    options = dict(options or {})
    if table_path is not None:
        import pandas as pd

        options["table"] = pd.read_csv(table_path)
    figure = get_figure(name).draw(dataset, **options)
    for path in outputs:
        save_figure(figure, Path(path), dpi=dpi)


def write_figure_table(name: str, dataset, path: str | os.PathLike, *, options: dict | None = None) -> None:
    """The table of figure ``name`` (e.g. the correlations of ``stability_readout``) as CSV, atomically."""
    table = get_figure(name).make_table(dataset, **(options or {}))
    write_text_atomic(path, table.to_csv(index=False, float_format="%.6g"), make_parents=True)
