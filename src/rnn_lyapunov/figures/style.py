"""One look for every figure: seaborn theme, greyscale-safe colours, axis labels, saving.

The figures are built on ``matplotlib.figure.Figure`` objects directly (never ``pyplot``), so
making a figure touches no global state and needs no interactive backend; the rc settings below
are applied only inside :func:`figure_style`.

Greyscale safety: architectures differ in line style and marker as well as colour, and every
colour map is perceptually uniform with monotonic lightness (``cividis``), so the figures still
read when printed in black and white.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from rnn_lyapunov.analysis.sweep_data import ordered_architectures  # noqa: F401 - re-exported for the figures
from rnn_lyapunov.io.storage import atomic_path

#: Sequential colour map (epochs, losses, heatmaps): monotonic lightness, colour-blind safe.
SEQUENTIAL_CMAP = "cividis"

#: Axis labels with units, for exponents in nats per time step (the default). A sweep written in
#: bits per step (``spectrum.units: bits``) is labelled by :func:`in_units`, :func:`exponent_label`
#: and :func:`largest_label`, which read the units attribute of the file.
EXPONENT_LABEL = r"Lyapunov exponent $\lambda_i$ (nats/step)"
NORMALISED_INDEX_LABEL = r"normalised index $i/N$"
EPOCH_LABEL = "epoch"
VAL_LOSS_LABEL = "validation loss (nats)"
KY_LABEL = r"Kaplan-Yorke dim. $D_{KY}$ (dimensions)"
LARGEST_LABEL = r"largest exponent $\lambda_1$ (nats/step)"

_NATS_PER_STEP = ("nats/step", "nats per time step", "nats per step")


def in_units(label: str, data) -> str:
    """``label`` (written for nats per step) with the exponent units of ``data``.

    ``data``: a sweep (its ``lyapunov_exponents`` units attribute is read), or a short units string
    such as ``"bits/step"``. "nats/step" (and "nats per time step") becomes "bits/step" for a sweep
    written in bits; labels without exponent units are returned unchanged.
    """
    from rnn_lyapunov.analysis.sweep_data import per_step_units

    units = data if isinstance(data, str) else per_step_units(data)
    if units == "nats/step":
        return label
    for written in _NATS_PER_STEP:
        label = label.replace(written, units)
    return label


def exponent_label(data) -> str:
    """``Lyapunov exponent lambda_i (<units>)`` in the exponent units of ``data``."""
    return in_units(EXPONENT_LABEL, data)


def largest_label(data) -> str:
    """``largest exponent lambda_1 (<units>)`` in the exponent units of ``data``."""
    return in_units(LARGEST_LABEL, data)


def wrap_to_width(text: str, width_inches: float, font_points: float = 10.0) -> str:
    """``text`` broken into lines that fit ``width_inches`` at ``font_points`` (about 0.55 em a character)."""
    import textwrap

    characters = max(12, int(width_inches * 72.0 / (0.55 * font_points)))
    return "\n".join(textwrap.fill(line, characters) for line in text.split("\n"))


def figure_title(figure: Figure, text: str) -> None:
    """The figure's title, wrapped to its width."""
    figure.suptitle(wrap_to_width(text, figure.get_figwidth(), 11.0))


def figure_note(figure: Figure, text: str) -> None:
    """A small note under the whole figure (e.g. which settings were averaged), kept in the layout."""
    figure.supxlabel(wrap_to_width(text, figure.get_figwidth(), 8.5), fontsize="small", color="0.25")


#: Fixed order of the built-in architectures; plugins come after them, alphabetically.
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")

DEFAULT_DPI = 150


def _rc_parameters() -> dict:
    parameters = {}
    parameters.update(sns.axes_style("ticks"))
    parameters.update(sns.plotting_context("paper", font_scale=1.0))
    parameters.update({
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "figure.dpi": 100,
        "pdf.fonttype": 42,  # embed TrueType so the PDF text stays editable
    })
    return parameters


@contextlib.contextmanager
def figure_style():
    """Apply the shared rc settings for the duration of the block only."""
    with matplotlib.rc_context(_rc_parameters()):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure with constrained layout; ``width`` and ``height`` in inches."""
    return Figure(figsize=(width, height), layout="constrained")




def architecture_styles(names) -> dict[str, dict]:
    """``{architecture: {"color", "linestyle", "marker"}}`` distinguishable in greyscale.

    Colours are evenly spaced along ``cividis`` (dark to light) and each architecture also gets
    its own line style and marker.
    """
    ordered = ordered_architectures(names)
    colours = sequential_colours(len(ordered))
    return {
        name: {
            "color": colours[index],
            "linestyle": _LINESTYLES[index % len(_LINESTYLES)],
            "marker": _MARKERS[index % len(_MARKERS)],
        }
        for index, name in enumerate(ordered)
    }


def zero_line(ax, orientation: str = "horizontal") -> None:
    """A dashed grey line at zero (the boundary between expansion and contraction)."""
    line = ax.axhline if orientation == "horizontal" else ax.axvline
    line(0.0, color="0.4", linestyle="--", linewidth=0.8, zorder=0)


def panel_label(ax, letter: str) -> None:
    """Bold panel letter in the top-left corner, outside the axes."""
    ax.text(-0.02, 1.02, letter, transform=ax.transAxes, fontweight="bold",
            ha="right", va="bottom")


def sequential_colours(count: int) -> np.ndarray:
    """``count`` RGBA colours along the sequential map (dark = first)."""
    cmap = matplotlib.colormaps[SEQUENTIAL_CMAP]
    # Stop short of the pale yellow end, which is hard to see on white.
    return cmap(np.linspace(0.0, 0.78, max(count, 1)))


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = DEFAULT_DPI) -> Path:
    """Write ``figure`` atomically to ``path``; the format follows the suffix (``.png``, ``.pdf``)."""
    final = Path(path)
    with figure_style(), atomic_path(final, make_parents=True) as temporary:
        figure.savefig(temporary, dpi=dpi, format=final.suffix.lstrip(".") or None)
    return final


def spans_decades(values, ratio: float = 20.0) -> bool:
    """True when the finite values are all positive and span more than ``ratio``: use a log scale.

    Validation losses of a sweep often range from 1e-4 (solved) to ~1 (not learned); on a linear
    axis every solved run collapses onto zero.
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return finite.size > 1 and bool((finite > 0).all()) and finite.max() / finite.min() > ratio


def loss_norm(values):
    """A colour normalisation for losses: logarithmic when they span decades, linear otherwise."""
    from matplotlib.colors import LogNorm, Normalize

    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    return LogNorm(low, high) if spans_decades(finite) else Normalize(low, high)
