"""The figures of the authors' experiments (config/paper/*.yaml), the generic grid and the figure targets.

``experiment_sweep`` builds small sweeps shaped like experiments A (architecture zipped with hidden
size, x dropout), B (LSTM over dropout x learning rate, spectra at epochs 4 and 15) and C (LSTM and
GRU sizes x init scales drawn uniformly), written in bits per step like the authors' configs, the
way ``rnn_lyapunov.figures.synthetic`` does: per-run files from ``Spectrum`` objects
(``io.run_file.run_dataset``) combined by ``io.sweep_file.combine_runs``.
"""

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures import heatmaps
from rnn_lyapunov.figures.registry import (
    available_figures, default_figures, describe_figures, figure_files, figure_options, get_figure,
    workflow_figures,
)
from rnn_lyapunov.figures.synthetic import synthetic_sweep

REPOSITORY = Path(__file__).resolve().parents[1]
EXPERIMENT_FIGURES = {"architectures": "architecture_spectra", "grid": "grid_epochs",
                      "initialisation": "largest_exponent_vs_loss"}


# --- sweeps shaped like the experiments ----------------------------------------------------------


def _spectrum(rng, n_exponents, top, n_trajectories=3):
    """Per-trajectory spectra in nats per step, descending; the top exponent near ``top``."""
    from rnn_lyapunov.engine.spectrum import Spectrum

    index = np.arange(1, n_exponents + 1) / n_exponents
    rows = top - 2.0 * index**1.2 + rng.normal(0.0, 0.02, size=(n_trajectories, n_exponents))
    return Spectrum(per_trajectory=torch.from_numpy(-np.sort(-rows, axis=-1)))


def _run(rng, settings, *, n_epochs, spectrum_epochs, units, n_trajectories=3, base_loss=1.5):
    """One per-run dataset: spectra at ``spectrum_epochs`` (0 always), losses at every epoch."""
    from rnn_lyapunov.io.run_file import run_dataset

    n_exponents = settings["hidden_size"]  # the h-only LSTM of the paper configs: one exponent per unit
    start = np.log(settings.get("init_scale", 0.08) * 10.0)
    spectra = {}
    for epoch in sorted({0, *spectrum_epochs}):
        top = start * np.exp(-epoch / 4.0) - 0.05 * settings.get("dropout", 0.0)
        spectra[epoch] = _spectrum(rng, n_exponents, top, n_trajectories)
    final = (base_loss + 0.5 * abs(start) + 2.0 * settings.get("dropout", 0.0)
             + 20 * settings.get("learning_rate", 0.002))
    val_loss = final + np.exp(-np.arange(n_epochs + 1) / 3.0) + rng.normal(0, 0.01, n_epochs + 1)
    hyperparameters = {"run_id": settings["run_id"], "architecture": settings["architecture"],
                       "dataset": "char_text", "hidden_size": settings["hidden_size"], "num_layers": 1,
                       "state_size": n_exponents, "init": "uniform", "init_scale": settings.get("init_scale", 0.08),
                       "learning_rate": settings.get("learning_rate", 0.002), "optimizer": "adam",
                       "dropout": settings.get("dropout", 0.0), "seed": settings.get("seed", 0)}
    config = {**hyperparameters, "epochs": n_epochs, "lr_decay": 0.95, "device": "cuda",
              "spectrum": {"epochs": list(spectrum_epochs), "units": units, "lstm_state": "h_only"}}
    return run_dataset(spectra, {"train_loss": np.r_[np.nan, val_loss[1:] - 0.1], "val_loss": val_loss,
                                 "val_accuracy": np.exp(-val_loss)},
                       n_trajectories=n_trajectories, n_exponents=n_exponents, hyperparameters=hyperparameters,
                       units=units, metric_attributes={"val_loss": {"units": "1"}},
                       attributes={"config": json.dumps(config, sort_keys=True)})


def experiment_sweep(name: str, *, units: str = "bits", seed: int = 0):
    """A small sweep with the structure of ``config/paper/<name>.yaml``."""
    from rnn_lyapunov.io.sweep_file import combine_runs

    rng = np.random.default_rng(seed)
    runs = []
    if name == "architectures":  # A: zip(architecture, hidden_size) x dropout; spectra at 0, 2, 4, 6
        pairs = [("rnn", 6), ("rnn", 10), ("lstm", 4), ("lstm", 8), ("gru", 5), ("gru", 9)]
        for (architecture, size), dropout in itertools.product(pairs, (0.0, 0.2, 0.4)):
            settings = {"run_id": f"{architecture}-h{size}-do{dropout:g}", "architecture": architecture,
                        "hidden_size": size, "dropout": dropout}
            runs.append(_run(rng, settings, n_epochs=6, spectrum_epochs=(2, 4, 6), units=units))
    elif name == "grid":  # B: LSTM, dropout x learning rate; spectra at 4 and 15 (and 0)
        for dropout, learning_rate in itertools.product((0.0, 0.04, 0.08, 0.12, 0.16, 0.2),
                                                        (0.001, 0.003, 0.005, 0.007, 0.01)):
            settings = {"run_id": f"do{dropout:g}-lr{learning_rate:g}", "architecture": "lstm", "hidden_size": 6,
                        "dropout": dropout, "learning_rate": learning_rate}
            runs.append(_run(rng, settings, n_epochs=15, spectrum_epochs=(4, 15), units=units))
    elif name == "initialisation":  # C: (lstm, gru) x sizes x init scale sampled in [0.04, 0.24]
        scales = np.round(np.random.default_rng(2022).uniform(0.04, 0.24, 14), 6)
        for architecture, size, scale in itertools.product(("lstm", "gru"), (4, 8), scales):
            settings = {"run_id": f"{architecture}-h{size}-p{scale:g}", "architecture": architecture,
                        "hidden_size": size, "init_scale": float(scale), "dropout": 0.1}
            runs.append(_run(rng, settings, n_epochs=5, spectrum_epochs=(5,), units=units))
    else:
        raise ValueError(name)
    return combine_runs(runs)


@pytest.fixture(scope="module")
def sweeps():
    return {name: experiment_sweep(name) for name in EXPERIMENT_FIGURES}


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_sweep(seed=0)


def bare(sweep):
    """Only the mean spectra, the validation loss and the coordinates: nothing derived."""
    return sweep[["lyapunov_exponents", "val_loss"]]


def axis_texts(figure) -> list[str]:
    """Every axis label of the figure, colour bars included."""
    return [text for ax in figure.axes for text in (ax.get_xlabel(), ax.get_ylabel()) if text]


def one_line(text: str) -> str:
    return " ".join(text.split())


def note_of(figure) -> str:
    """The note under the panels (what was averaged), on one line."""
    return one_line(figure._supxlabel.get_text()) if figure._supxlabel is not None else ""


def test_the_sweeps_have_the_shape_of_the_experiments(sweeps):
    grid = sweeps["grid"]
    assert grid.sizes["run"] == 30 and grid["lyapunov_exponents"].attrs["units"] == "bits per time step"
    assert sorted(np.flatnonzero(sweep_data.recorded_epoch_mask(grid).isel(run=0).values)) == [0, 4, 15]
    assert sweep_data.varying_hyperparameters(grid) == ["dropout", "learning_rate"]
    assert sweep_data.varying_hyperparameters(sweeps["architectures"]) == ["hidden_size", "dropout", "architecture"]
    assert sweep_data.varying_hyperparameters(sweeps["initialisation"]) == ["init_scale", "hidden_size", "architecture"]


# --- registration, options and workflow targets --------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPERIMENT_FIGURES.values()))
def test_experiment_figures_are_registered_but_not_default(name):
    figure = get_figure(name)
    assert figure.needs == "sweep" and figure.default is False
    assert name in available_figures() and name not in default_figures()
    assert describe_figures()[name]["default"] is False
    assert figure.caption.startswith("**") and "figures.extra" in figure.caption


def test_the_general_figures_stay_default():
    assert {"spectra_by_architecture", "spectrum_during_training", "convergence", "hyperparameter_grid",
            "stability_readout", "validation"} <= set(default_figures())


def test_workflow_targets_include_an_experiment_figure_only_when_listed():
    default = figure_files("results/figures")
    for name in EXPERIMENT_FIGURES.values():
        assert f"results/figures/{name}.png" not in default
    files = figure_files("results/figures", ["grid_epochs"])
    assert {"results/figures/grid_epochs.png", "results/figures/grid_epochs.pdf"} <= set(files)
    assert "results/figures/architecture_spectra.png" not in files
    assert set(default) < set(files)
    assert workflow_figures(["grid_epochs", "grid_epochs", "convergence"]) == default_figures() + ["grid_epochs"]


def test_an_unknown_extra_figure_is_refused_listing_the_known_ones():
    with pytest.raises(InputError, match=r"unknown figure 'grid_epoch'; known figures: .*grid_epochs.*"
                                         r"Did you mean 'grid_epochs'"):
        workflow_figures(["grid_epoch"])


def test_grid_axes_reach_the_grid_figures_only_when_set():
    settings = {"early_epoch": 4, "dpi": 80, "extra": ["grid_epochs"], "grid_axes": ["dropout", "learning_rate"]}
    assert figure_options("grid_epochs", settings) == {"early_epoch": 4, "grid_axes": ["dropout", "learning_rate"]}
    assert figure_options("hyperparameter_grid", settings) == {"grid_axes": ["dropout", "learning_rate"]}
    assert figure_options("hyperparameter_grid", {"early_epoch": 0, "dpi": 80, "extra": []}) == {}
    assert figure_options("architecture_spectra", settings) == {}


@pytest.mark.parametrize("config, name", sorted(EXPERIMENT_FIGURES.items()))
def test_each_paper_config_lists_its_figure(config, name):
    settings = yaml.safe_load((REPOSITORY / f"config/paper/{config}.yaml").read_text())
    assert name in settings["figures"]["extra"]
    workflow_figures(settings["figures"]["extra"])  # every name is known


# --- drawing -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPERIMENT_FIGURES.values()))
@pytest.mark.parametrize("source", ["synthetic", "architectures", "grid", "initialisation"])
def test_experiment_figures_draw_from_every_sweep_with_labelled_axes(sweeps, synthetic, name, source):
    sweep = synthetic if source == "synthetic" else sweeps[source]
    figure = get_figure(name).draw(sweep, **({"early_epoch": 4} if name == "grid_epochs" else {}))
    assert figure.axes
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_xlabel() or ax.get_ylabel()
    labelled = axis_texts(figure)
    units = "nats/step" if source == "synthetic" else "bits/step"
    assert any(units in text for text in labelled), labelled
    other = "bits/step" if units == "nats/step" else "nats/step"
    assert not any(other in text for text in labelled), labelled


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPERIMENT_FIGURES.values()))
def test_experiment_figures_draw_a_sweep_without_derived_variables(sweeps, synthetic, name):
    for sweep in (bare(synthetic), bare(sweeps["initialisation"])):
        figure = get_figure(name).draw(sweep)
        assert figure.axes


@pytest.mark.parametrize("name", sorted(EXPERIMENT_FIGURES.values()))
def test_experiment_figures_name_a_missing_variable(synthetic, name):
    with pytest.raises(InputError, match="val_loss"):
        get_figure(name).draw(synthetic.drop_vars("val_loss"))


def test_architecture_spectra_has_a_panel_per_architecture_and_size(sweeps):
    figure = get_figure("architecture_spectra").draw(sweeps["architectures"])
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    titles = sorted(ax.get_title(loc="left") for ax in panels)
    assert len(panels) == 6
    assert "lstm, N = 8 (3 runs)" in titles and "rnn, N = 6 (3 runs)" in titles
    # One line per epoch with a spectrum (0, 2, 4, 6), coloured along the sequential map.
    lines = [line for line in panels[0].get_lines() if len(line.get_xdata()) > 2]
    assert len(lines) == 4
    assert len({tuple(line.get_color()) for line in lines}) == 4
    (bar,) = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert "epoch" in bar.get_ylabel()
    assert "dropout (0 to 0.4, 3 values)" in note_of(figure)
    # The h-only LSTM's N exponents fill i/N up to 1.
    assert max(line.get_xdata().max() for line in lines) == pytest.approx(1.0)


def test_grid_epochs_shows_the_early_and_the_last_epoch_over_dropout_and_learning_rate(sweeps):
    figure = get_figure("grid_epochs").draw(sweeps["grid"], early_epoch=4)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    first_column = [one_line(ax.get_ylabel()) for ax in panels if ax.get_ylabel()]
    assert any("epoch 4 (early)" in label for label in first_column)
    assert any("epoch 15 (last with a spectrum)" in label for label in first_column)
    assert all(label.endswith("learning rate") for label in first_column)
    assert {ax.get_xlabel() for ax in panels} >= {"dropout"}
    titles = [one_line(ax.get_title()) for ax in panels if ax.get_title()]
    assert titles[0] == "validation loss" and any("largest exponent" in title for title in titles)
    assert any("Kaplan-Yorke" in title for title in titles)
    bars = [ax.get_xlabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert any("bits/step" in label for label in bars)
    # 6 dropout x 5 learning-rate cells per panel, one run each: nothing averaged.
    assert panels[0].collections[0].get_array().shape == (5, 6)
    assert note_of(figure) == ""


def test_largest_exponent_vs_loss_has_a_series_per_architecture_and_size(sweeps):
    figure = get_figure("largest_exponent_vs_loss").draw(sweeps["initialisation"])
    main = figure.axes[0]
    assert main.get_ylabel() == r"largest exponent $\lambda_1$ (bits/step)"
    assert main.get_xlabel().startswith("final validation loss")
    assert len(main.collections) == 4  # (lstm, gru) x (4, 8)
    (legend,) = figure.legends
    legend = [text.get_text() for text in legend.get_texts()]
    assert {"lstm, N = 4", "lstm, N = 8", "gru, N = 4", "gru, N = 8"} <= set(legend)
    assert any(text.startswith("$p$ = ") for text in legend)  # marker area follows the init scale
    areas = np.concatenate([collection.get_sizes() for collection in main.collections])
    assert areas.min() < areas.max()
    assert [ax.get_xlabel() for ax in figure.axes[1:]] == ["init scale $p$", "init scale $p$"]


def test_largest_exponent_vs_loss_without_varying_init_scale_has_one_panel(synthetic):
    figure = get_figure("largest_exponent_vs_loss").draw(synthetic.isel(run=synthetic["init_scale"].values == 0.5))
    assert len(figure.axes) == 1
    assert len({tuple(sizes) for sizes in (c.get_sizes() for c in figure.axes[0].collections)}) == 1


# --- the generic grid ----------------------------------------------------------------------------


def grid_panels(figure):
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def test_hyperparameter_grid_draws_dropout_by_learning_rate(sweeps):
    figure = get_figure("hyperparameter_grid").draw(sweeps["grid"])
    panels = grid_panels(figure)
    assert len(panels) == 5  # loss and four features, no facet
    assert panels[-1].get_xlabel() == "dropout"
    assert panels[0].get_ylabel().endswith("learning rate")
    assert [tick.get_text() for tick in panels[-1].get_xticklabels()] == ["0", "0.04", "0.08", "0.12", "0.16", "0.2"]
    assert note_of(figure) == ""  # nothing averaged
    bars = [ax.get_ylabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert any("bits/step" in label for label in bars) and not any("nats/step" in label for label in bars)


def test_hyperparameter_grid_facets_a_third_hyperparameter_and_notes_averaged_ones(sweeps, synthetic):
    figure = get_figure("hyperparameter_grid").draw(synthetic)
    titles = [ax.get_title() for ax in grid_panels(figure) if ax.get_title()]
    assert titles == ["architecture: rnn", "architecture: lstm", "architecture: gru"]
    assert grid_panels(figure)[-1].get_xlabel() == "learning rate"
    # Experiment A over dropout x learning rate: hidden size and architecture are averaged, noted.
    figure = get_figure("hyperparameter_grid").draw(sweeps["architectures"], grid_axes=["dropout", "architecture"])
    assert grid_panels(figure)[-1].get_xlabel() == "dropout"
    assert "hidden size $N$ (units) (4 to 10, 6 values)" in note_of(figure)


def test_hyperparameter_grid_bins_a_sampled_axis(sweeps):
    figure = get_figure("hyperparameter_grid").draw(sweeps["initialisation"])
    panels = grid_panels(figure)
    assert panels[-1].get_xlabel() == "init scale $p$"
    assert len(panels[-1].get_xticklabels()) == heatmaps.N_BINS
    assert "cut into" in note_of(figure)
    assert {ax.get_title() for ax in panels if ax.get_title()} == {"architecture: lstm", "architecture: gru"}


def test_grid_axes_option_picks_the_axes_and_unknown_names_are_refused(sweeps):
    figure = get_figure("hyperparameter_grid").draw(sweeps["grid"], grid_axes=["learning_rate", "dropout"])
    assert grid_panels(figure)[-1].get_xlabel() == "learning rate"
    with pytest.raises(InputError, match=r"grid_axes names \['momentum'\].*varies \['dropout', 'learning_rate'\]"):
        get_figure("hyperparameter_grid").draw(sweeps["grid"], grid_axes=["dropout", "momentum"])
    with pytest.raises(InputError, match="names a hyperparameter twice"):
        get_figure("hyperparameter_grid").draw(sweeps["grid"], grid_axes=["dropout", "dropout"])


def test_a_run_config_key_the_sweep_varies_can_be_an_axis(sweeps):
    grid = sweeps["grid"].copy()
    configs = [json.loads(text) for text in grid["run_config"].values]
    for index, config in enumerate(configs):
        config["batch_size"] = [32, 64][index % 2]
    grid["run_config"] = ("run", [json.dumps(config) for config in configs])
    assert "batch_size" in sweep_data.varying_hyperparameters(grid)
    figure = get_figure("hyperparameter_grid").draw(grid, grid_axes=["batch_size", "dropout"])
    assert grid_panels(figure)[-1].get_xlabel() == "batch size"
    assert "learning rate" in note_of(figure)


def test_cell_labels_are_written_only_where_they_fit(sweeps, synthetic):
    small = get_figure("hyperparameter_grid").draw(synthetic)
    assert all(ax.texts for ax in grid_panels(small))  # 2 x 2 cells: every value written
    labels = [text.get_text() for ax in grid_panels(small) for text in ax.texts]
    assert all(len(label) <= 6 for label in labels), labels
    # A 40 x 40 grid leaves no room for labels.
    rng = np.random.default_rng(0)
    levels = [f"level {index:02d}" for index in range(40)]  # text: never binned
    frame = heatmaps.grid_frame(pd.DataFrame({"a": np.repeat(levels, 40), "b": np.tile(levels, 40)}),
                                heatmaps.GridAxes("a", "b"), {"q": rng.normal(size=1600)})[0]
    from rnn_lyapunov.figures import style

    with style.figure_style():
        figure = style.new_figure(4.0, 3.0)
        ax = figure.add_subplot()
        heatmap = heatmaps.draw_heatmap(ax, heatmaps.cell_means(frame, "q"), norm=heatmaps.colour_norm(frame["q"]))
        assert heatmaps.label_cells(figure, [heatmap]) == 0
    assert not ax.texts
    numeric = heatmaps.grid_frame(pd.DataFrame({"a": np.arange(40.0), "b": np.zeros(40)}),
                                  heatmaps.GridAxes("a", "b"), {"q": np.ones(40)})[0]
    assert len(numeric["_x"].cat.categories) == heatmaps.N_BINS  # 40 numbers are cut into intervals


def test_a_sweep_varying_nothing_still_draws_the_grid(synthetic):
    figure = get_figure("hyperparameter_grid").draw(synthetic.isel(run=[0]))
    assert len(grid_panels(figure)) == 5


# --- the workflow --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_workflow_draws_extra_figures_only_when_listed(tmp_path):
    from test_workflow import copy_workflow, snakemake

    directory = copy_workflow(tmp_path)
    plain = snakemake(directory, "-n", "--cores", "2", "figures")
    assert plain.returncode == 0, plain.stderr[-3000:] + plain.stdout[-3000:]
    assert "name=hyperparameter_grid" in plain.stdout and "name=grid_epochs" not in plain.stdout
    extra = snakemake(directory, "-n", "--cores", "2", "figures", "--config",
                      'figures={"extra": ["grid_epochs"], "grid_axes": ["learning_rate", "init_scale"]}')
    assert extra.returncode == 0, extra.stderr[-3000:] + extra.stdout[-3000:]
    assert "name=grid_epochs" in extra.stdout and "name=architecture_spectra" not in extra.stdout
    unknown = snakemake(directory, "-n", "--cores", "2", "--config", 'figures={"extra": ["grid_epoch"]}')
    assert unknown.returncode != 0
    output = unknown.stderr + unknown.stdout
    assert re.search(r"figures\.extra: unknown figure 'grid_epoch'; known figures: .*grid_epochs", output), output
    assert not (directory / "results").exists()
