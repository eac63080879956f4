"""The paper figures: one module and one function per figure.

Each function takes an ``xarray.Dataset`` and returns a ``matplotlib.figure.Figure`` (built without
pyplot, so no display or global state is needed). Figures 1-5 read the sweep dataset
(``results/spectra/sweep.nc``, see docs/design.md "Sweep NetCDF"); ``validation`` reads the dataset
of :func:`rnn_lyapunov.analysis.validation.compute_validation`. ``FIGURES`` maps each figure's file stem to
its function; :func:`save_figure` writes a figure atomically (format from the suffix).
"""

from rnn_lyapunov.figures.convergence import convergence
from rnn_lyapunov.figures.engine_validation import validation
from rnn_lyapunov.figures.hyperparameter_grid import hyperparameter_grid
from rnn_lyapunov.figures.spectra_by_architecture import spectra_by_architecture
from rnn_lyapunov.figures.spectrum_during_training import spectrum_during_training
from rnn_lyapunov.figures.stability_readout import stability_correlations, stability_readout
from rnn_lyapunov.figures.style import save_figure

#: figure name (file stem) -> function(dataset) -> Figure
FIGURES = {
    "spectra_by_architecture": spectra_by_architecture,
    "spectrum_during_training": spectrum_during_training,
    "convergence": convergence,
    "hyperparameter_grid": hyperparameter_grid,
    "stability_readout": stability_readout,
    "validation": validation,
}

#: the figures drawn from the sweep dataset (all but ``validation``)
SWEEP_FIGURES = tuple(name for name in FIGURES if name != "validation")

__all__ = ["FIGURES", "SWEEP_FIGURES", "save_figure", "stability_correlations", *FIGURES]
