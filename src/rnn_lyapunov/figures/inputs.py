"""What a figure may read: the ``needs`` of ``@register_figure`` and how each input is opened.

A figure reads one input, a key of :data:`FIGURE_INPUTS`: ``"sweep"`` (the sweep NetCDF, read by
``load_sweep``; :func:`rnn_lyapunov.analysis.sweep_data.with_derived_quantities` then adds a
missing Kaplan-Yorke dimension and standard error) or ``"validation"`` (``load_validation``).
The readers are imported when used, so importing a figure module needs no I/O code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rnn_lyapunov.errors import InputError


def _load_sweep(path):
    from rnn_lyapunov.io.sweep_file import load_sweep  # imported here: reading a figure module needs no I/O code

    return load_sweep(path)


def _load_validation(path):
    from rnn_lyapunov.analysis.validation import load_validation

    return load_validation(path)


def _prepare_sweep(dataset):
    from rnn_lyapunov.analysis.sweep_data import with_derived_quantities

    return with_derived_quantities(dataset)


def _check_sweep(dataset, variables, figure):
    from rnn_lyapunov.analysis.sweep_data import require_variables

    require_variables(dataset, variables, figure)


def _check_validation(dataset, variables, figure):
    missing = [name for name in variables if name not in dataset.variables]
    if missing:
        raise InputError(
            f"figure {figure!r} needs the validation variables {missing}, which this dataset lacks; compute it "
            "with rnn_lyapunov.analysis.validation.compute_validation (workflow rule validate_engine)."
        )


@dataclass(frozen=True)
class FigureInput:
    """One kind of input a figure can read (the ``needs`` of :func:`register_figure`).

    ``load(path) -> Dataset`` opens the file; ``prepare(dataset) -> Dataset`` adds what can be
    derived (idempotent); ``check(dataset, variables, figure)`` raises InputError naming what lacks.
    """

    name: str
    description: str
    load: Callable
    prepare: Callable
    check: Callable


#: ``needs`` -> how to read it. The workflow maps each key to its file (workflow/rules/figures.smk).
FIGURE_INPUTS: dict[str, FigureInput] = {
    "sweep": FigureInput(
        "sweep", "the sweep of training runs (results/spectra/sweep.nc, load_sweep)",
        _load_sweep, _prepare_sweep, _check_sweep),
    "validation": FigureInput(
        "validation", "the engine validation (results/validation/validation.nc, load_validation)",
        _load_validation, lambda dataset: dataset, _check_validation),
}
