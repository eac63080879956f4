"""Figure 6: the engine against systems with known exponents (data: rnn_lyapunov.analysis.validation)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("henon_running_estimate", "henon_reference", "logistic_running_estimate", "logistic_reference",
            "gaussian_exponents", "gaussian_stderr", "gaussian_reference", "tanh_abs_error")
ERROR_FLOOR = 1e-17  # exact agreement is drawn at this floor on the log axis
STEP_DIMS = ("step", "record_step")  # record_step: files written before the rename
CAPTION = """
**The engine against systems with known exponents.** a: Henon map (a = 1.4, b = 0.3), running estimate
minus the reference exponents (0.41922, -1.62319) nats per step. b: logistic map at r = 4, running
estimate minus ln 2. c: products of iid Gaussian 10 x 10 matrices with entry variance 1/N: engine
(mean +/- 1 standard error over trajectories) vs Newman's (1986) closed form
lambda_i = (ln(2/N) + digamma((N - i + 1)/2)) / 2. d: a random tanh RNN: absolute error of every
exponent in float32 and float64 with QR re-orthonormalisation every 1, 5 or 10 steps, relative to float64
re-orthonormalised every step (exact agreement drawn at 1e-17). Computed by
``rnn_lyapunov.analysis.validation``.
"""


def _running(ax, steps, estimates, references, names, title):
    """Running estimate minus reference vs steps: the deviation should shrink towards 0."""
    colours = style.sequential_colours(len(names))
    for estimate, reference, name, colour, linestyle in zip(estimates, references, names, colours, ("-", "--")):
        ax.plot(steps, estimate - reference, color=colour, linestyle=linestyle,
                label=f"{name}: final {estimate[-1]:.4f}, reference {reference:.5f}")
    style.zero_line(ax)
    ax.set_xscale("log")
    ax.set_xlabel("steps accumulated after warm-up (steps)")
    ax.set_ylabel("running estimate $-$ reference (nats/step)")
    ax.set_title(title, loc="left", fontsize="medium")
    ax.legend(fontsize="small", loc="best")


@register_figure("validation", needs="validation", variables=REQUIRED, caption=CAPTION)
def validation(dataset: xr.Dataset) -> Figure:
    """Four panels from the validation dataset (``rnn_lyapunov.analysis.validation.compute_validation``):

    a, Henon map running estimates minus the references (0.41922, -1.62319); b, logistic map
    (r=4) running estimate minus ln 2; c, products of Gaussian random matrices vs Newman's closed form (mean +/- 1 standard
    error); d, |error| of each exponent of a random tanh RNN in float32/float64 with
    re-orthonormalisation every 1, 5, 10 steps vs float64 every step. Exponents in nats/step.
    """
    step = next((name for name in STEP_DIMS if name in dataset["henon_running_estimate"].dims), STEP_DIMS[0])
    steps = dataset[step].values
    with style.figure_style():
        figure = style.new_figure(9.0, 6.4)
        (henon_ax, logistic_ax), (gaussian_ax, precision_ax) = figure.subplots(2, 2)
        henon = dataset["henon_running_estimate"].transpose("henon_exponent", step).values
        _running(henon_ax, steps, henon, dataset["henon_reference"].values,
                 [r"$\lambda_1$", r"$\lambda_2$"], "Henon map (a = 1.4, b = 0.3)")
        _running(logistic_ax, steps, [dataset["logistic_running_estimate"].values],
                 [float(dataset["logistic_reference"])], [r"$\lambda$"], "logistic map (r = 4), reference ln 2")
        index = dataset["gaussian_exponent"].values
        gaussian_ax.plot(index, dataset["gaussian_reference"].values, color="0.5", linestyle="-",
                         linewidth=2.0, label="Newman (1986) closed form")
        gaussian_ax.errorbar(index, dataset["gaussian_exponents"].values,
                             yerr=dataset["gaussian_stderr"].values, color="0.05", marker="o", markersize=3,
                             linestyle="none", capsize=2, label=r"engine, mean $\pm$ 1 s.e.")
        gaussian_ax.set_xlabel("exponent index $i$")
        gaussian_ax.set_ylabel(style.EXPONENT_LABEL)
        gaussian_ax.set_title(f"products of {len(index)}x{len(index)} Gaussian matrices (variance 1/N)",
                              loc="left", fontsize="medium")
        gaussian_ax.legend(fontsize="small", loc="lower left")
        _precision(precision_ax, dataset)
        for ax, letter in zip((henon_ax, logistic_ax, gaussian_ax, precision_ax), "abcd"):
            style.panel_label(ax, letter)
    return figure


def _precision(ax, dataset):
    errors = dataset["tanh_abs_error"].transpose("dtype", "reorthonormalize_every", "tanh_exponent")
    intervals = errors["reorthonormalize_every"].values
    colours = style.sequential_colours(len(intervals))
    linestyles = {"float32": "-", "float64": "--"}
    index = errors["tanh_exponent"].values
    for dtype in errors["dtype"].values:
        for interval, colour in zip(intervals, colours):
            if str(dtype) == "float64" and int(interval) == 1:
                continue  # the reference itself
            values = errors.sel(dtype=dtype, reorthonormalize_every=interval).values
            ax.plot(index, np.maximum(values, ERROR_FLOOR), color=colour,
                    linestyle=linestyles.get(str(dtype), ":"), marker="o", markersize=2.5,
                    label=f"{dtype}, QR every {int(interval)}")
    ax.set_yscale("log")
    ax.set_xlabel("exponent index $i$")
    ax.set_ylabel(r"$|\lambda_i - \lambda_i^{\mathrm{ref}}|$ (nats/step)")
    size = dataset.attrs.get("tanh_hidden_size", len(index))
    ax.set_title(f"tanh RNN (N = {size}); ref: float64, QR every step", loc="left", fontsize="medium")
    ax.legend(fontsize="x-small", loc="center left", ncol=1)  # the gap between float32 and float64
