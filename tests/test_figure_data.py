"""What the figures draw, against a numpy computation on the raw arrays of a small synthetic sweep.

The rendering tests (test_figures.py) check that a file has bytes, labels and units; these check that
the right runs, epochs and values are drawn. The reference here reads the sweep's arrays directly
(``lyapunov_exponents`` (run, epoch, exponent) and ``val_loss`` (run, epoch), NaN-padded) and
selects with numpy alone: a run's final spectrum epoch is the last epoch with a finite exponent, its
final loss the last finite ``val_loss``, the best run of an architecture the one of lowest final loss
among those with a spectrum (the rule in docs and ``representative_runs``'s docstring).
"""

import matplotlib
import numpy as np
import pytest

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures.registry import get_figure
from rnn_lyapunov.figures.synthetic import synthetic_sweep

matplotlib.use("Agg")


class Reference:
    """The sweep's selections computed with numpy from its raw arrays."""

    def __init__(self, sweep):
        self.epochs = sweep["epoch"].values
        self.exponents = sweep["lyapunov_exponents"].transpose("run", "epoch", "exponent").values.astype(float)
        self.loss = sweep["val_loss"].transpose("run", "epoch").values.astype(float)
        self.architectures = sweep["architecture"].values.astype(str)
        self.state_size = sweep["state_size"].values.astype(float)
        self.scales = sweep["init_scale"].values.astype(float)
        self.rates = sweep["learning_rate"].values.astype(float)
        self.recorded = np.isfinite(self.exponents).any(axis=2)  # (run, epoch)
        self.n_runs = self.loss.shape[0]

    def last_spectrum_index(self, run):
        indices = np.flatnonzero(self.recorded[run])
        return indices[-1] if indices.size else None

    def first_spectrum_index_from(self, run, early_epoch):
        indices = np.flatnonzero(self.recorded[run] & (self.epochs >= early_epoch))
        return indices[0] if indices.size else None

    def final_loss(self, run):
        finite = np.flatnonzero(np.isfinite(self.loss[run]))
        return self.loss[run, finite[-1]] if finite.size else np.nan

    def spectrum(self, run, epoch_index):
        values = self.exponents[run, epoch_index]
        return values[np.isfinite(values)]

    def best_run(self, architecture):
        candidates = [run for run in range(self.n_runs)
                      if self.architectures[run] == architecture and self.last_spectrum_index(run) is not None]
        losses = [self.final_loss(run) if np.isfinite(self.final_loss(run)) else np.inf for run in candidates]
        return candidates[int(np.argmin(losses))]


@pytest.fixture(scope="module")
def sweep():
    return synthetic_sweep(seed=0)


@pytest.fixture(scope="module")
def reference(sweep):
    return Reference(sweep)


def test_the_synthetic_sweep_separates_best_from_worst_runs(reference):
    # otherwise argmin and argmax could pick the same run and the tests below could not tell them apart
    for architecture in ("rnn", "lstm", "gru"):
        runs = np.flatnonzero(reference.architectures == architecture)
        losses = [reference.final_loss(run) for run in runs]
        assert np.ptp(losses) > 0.05


def test_selection_helpers_match_numpy(sweep, reference):
    final_epoch = sweep_data.final_spectrum_epoch(sweep).values
    early_epoch = sweep_data.early_spectrum_epoch(sweep, 1).values
    final_loss = sweep_data.final_validation_loss(sweep).values
    for run in range(reference.n_runs):
        assert final_epoch[run] == reference.epochs[reference.last_spectrum_index(run)]
        assert early_epoch[run] == reference.epochs[reference.first_spectrum_index_from(run, 1)]
        assert final_loss[run] == reference.final_loss(run)
    # the sweep holds a run that stopped early: its final epoch is not the sweep's last label
    assert sorted(set(final_epoch)) == [2.0, 4.0]
    picked = sweep_data.at_epochs(sweep["lyapunov_exponents"], sweep_data.final_spectrum_epoch(sweep)).values
    for run in range(reference.n_runs):
        np.testing.assert_array_equal(picked[run], reference.exponents[run, reference.last_spectrum_index(run)])


def test_representative_run_is_the_lowest_final_loss_per_architecture(sweep, reference):
    chosen = sweep_data.representative_runs(sweep)
    assert chosen == {name: reference.best_run(name) for name in ("rnn", "lstm", "gru")}


def test_representative_runs_skip_runs_without_a_spectrum_or_a_finite_loss(sweep, reference):
    # the best rnn run loses its spectra, the second best its loss: the third best is chosen
    ranked = sorted(np.flatnonzero(reference.architectures == "rnn"), key=reference.final_loss)
    changed = sweep.copy(deep=True)
    changed["lyapunov_exponents"][dict(run=ranked[0])] = np.nan
    changed["val_loss"][dict(run=ranked[1])] = np.nan
    assert sweep_data.representative_runs(changed)["rnn"] == ranked[2]


def test_spectra_by_architecture_draws_each_best_runs_final_spectrum(sweep, reference):
    figure = get_figure("spectra_by_architecture").draw(sweep)
    lines = [line for line in figure.axes[0].get_lines() if "(epoch" in line.get_label()]
    assert len(lines) == 3
    for architecture, line in zip(("rnn", "lstm", "gru"), lines):
        run = reference.best_run(architecture)
        last = reference.last_spectrum_index(run)
        assert line.get_label().startswith(architecture) and line.get_label().endswith(f"(epoch {reference.epochs[last]})")
        expected = reference.spectrum(run, last)
        np.testing.assert_array_equal(line.get_ydata(), expected)
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, expected.size + 1) / reference.state_size[run])


def test_spectrum_during_training_draws_every_recorded_epoch_of_the_best_run(sweep, reference):
    figure = get_figure("spectrum_during_training").draw(sweep)
    for row, architecture in enumerate(("rnn", "lstm", "gru")):
        run = reference.best_run(architecture)
        spectrum_ax, largest_ax, _ = figure.axes[3 * row: 3 * row + 3]
        recorded = np.flatnonzero(reference.recorded[run])
        drawn = [line for line in spectrum_ax.get_lines() if np.size(line.get_xdata()) > 2]
        assert len(drawn) == recorded.size
        for line, epoch_index in zip(drawn, recorded):
            np.testing.assert_array_equal(line.get_ydata(), reference.spectrum(run, epoch_index))
        (largest,) = [line for line in largest_ax.get_lines() if np.size(line.get_xdata()) == recorded.size]
        np.testing.assert_array_equal(largest.get_xdata(), reference.epochs[recorded])
        np.testing.assert_array_equal(largest.get_ydata(), [reference.spectrum(run, i).max() for i in recorded])


def test_largest_exponent_vs_loss_plots_every_runs_final_values(sweep, reference):
    figure = get_figure("largest_exponent_vs_loss").draw(sweep)
    points = np.concatenate([collection.get_offsets() for collection in figure.axes[0].collections])
    expected = np.array([(reference.final_loss(run), reference.spectrum(run, reference.last_spectrum_index(run)).max())
                         for run in range(reference.n_runs)])
    np.testing.assert_allclose(points[np.lexsort(points.T[::-1])], expected[np.lexsort(expected.T[::-1])], rtol=1e-12)


def _heatmap_values(ax):
    (mesh,) = ax.collections
    return np.ma.filled(mesh.get_array(), np.nan).astype(float)


def test_hyperparameter_grid_loss_cells_are_each_runs_final_loss(sweep, reference):
    figure = get_figure("hyperparameter_grid").draw(sweep, grid_axes=("learning_rate", "init_scale", "architecture"))
    panels = [ax for ax in figure.axes if ax.get_title()][:3]  # first row: the final loss, one panel per architecture
    assert len(panels) == 3
    for ax in panels:
        architecture = ax.get_title().split(": ")[-1]
        values = _heatmap_values(ax).reshape(2, 2)  # rows: init_scale ascending, columns: learning_rate ascending
        # each cell is labelled with its levels: a tick at every row and column centre
        assert [float(label.get_text()) for label in ax.get_yticklabels()] == [0.5, 1.5]
        assert list(ax.get_yticks()) == [0.5, 1.5]
        for row, scale in enumerate((0.5, 1.5)):
            for column, rate in enumerate((1e-3, 1e-2)):
                (run,) = np.flatnonzero((reference.architectures == architecture) & (reference.scales == scale)
                                        & (reference.rates == rate))
                assert values[row, column] == pytest.approx(reference.final_loss(run), rel=1e-12)


def test_grid_epochs_loss_cells_are_the_loss_at_the_early_and_the_last_spectrum_epoch(sweep, reference):
    figure = get_figure("grid_epochs").draw(sweep, early_epoch=1, grid_axes=("learning_rate", "init_scale", "architecture"))
    loss_panels = [ax for ax in figure.axes if ax.get_ylabel() and ax.collections]
    assert len(loss_panels) == 6  # (early, last) x three architectures, the loss column first
    seen = set()
    for ax in loss_panels:
        label = " ".join(ax.get_ylabel().split())
        stage = "early" if "(early)" in label else "last"
        (architecture,) = [name for name in ("rnn", "lstm", "gru") if f"architecture {name}" in label]
        seen.add((stage, architecture))
        values = _heatmap_values(ax).reshape(2, 2)
        for row, scale in enumerate((0.5, 1.5)):
            for column, rate in enumerate((1e-3, 1e-2)):
                (run,) = np.flatnonzero((reference.architectures == architecture) & (reference.scales == scale)
                                        & (reference.rates == rate))
                index = (reference.first_spectrum_index_from(run, 1) if stage == "early"
                         else reference.last_spectrum_index(run))
                assert values[row, column] == pytest.approx(reference.loss[run, index], rel=1e-12)
    assert len(seen) == 6


def test_a_grid_axis_with_many_numbers_is_cut_into_equal_intervals_with_missing_last():
    """More distinct numbers than a grid shows: value v in [0, 1] falls in interval floor(v N_BINS)
    (the top edge in the last), and a missing value gets its own last level."""
    from rnn_lyapunov.figures import heatmaps

    numbers = np.linspace(0.0, 1.0, heatmaps.MAX_LEVELS + 5)
    levels, binned = heatmaps.axis_levels("dropout", [*numbers, None])
    assert binned and len(levels.categories) == heatmaps.N_BINS + 1 and levels.categories[-1] == "none"
    expected = np.minimum(np.floor(numbers * heatmaps.N_BINS), heatmaps.N_BINS - 1).astype(int)
    np.testing.assert_array_equal(levels.codes[:-1], expected)
    assert levels[-1] == "none"
