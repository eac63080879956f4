"""Every registered figure renders from the tiny synthetic sweep; sweep handling and error messages.

The figures are never listed here: every test about "each figure" is parametrised over the registry,
so a new figure module is tested as soon as it registers.
"""

import io
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures.registry import (
    available_figures, default_figures, figure_files, figures_needing, get_figure,
)
from rnn_lyapunov.figures.render import load_figure_input, render_figure, write_figure_table
from rnn_lyapunov.figures.stability_readout import stability_correlations
from rnn_lyapunov.figures.synthetic import synthetic_sweep
from rnn_lyapunov.io.storage import write_netcdf_atomic
from rnn_lyapunov.io.sweep_file import load_sweep

WORKFLOW_DIR = Path(__file__).resolve().parents[1] / "workflow"
SWEEP_FIGURES = figures_needing("sweep")
TABLE_FIGURES = [name for name in available_figures() if get_figure(name).table is not None]
# Figures whose inner panels leave the axis labels to the outer row and column (heatmap grids).
SHARED_LABEL_FIGURES = {"hyperparameter_grid", "grid_epochs"}
# Figures of skill scores only (no axis in exponent units).
# clv_angles: angles between vectors; flossing_effect: the flossing episodes' exponents, which the
# run file records in nats per step whatever spectrum.units says (docs/design.md).
NO_EXPONENT_AXES = {"readout_comparison", "clv_angles", "flossing_effect"}
# Figures of the CLV angles (spectrum.clv_angles): no loss needed, and a bare sweep has no angles.
CLV_FIGURES = {"clv_angles"}
# Figures that read each run's config (flossing_effect: its arm and delay), which a bare sweep lacks.
CONFIG_FIGURES = {"flossing_effect"}


def draw(name, data, /, **options):
    return get_figure(name).draw(data, **options)


def png_size(figure) -> int:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=30)
    return buffer.tell()


def bare(sweep):
    """What another tool might write: the mean spectrum, the validation loss and the hyperparameters."""
    stripped = sweep[["lyapunov_exponents", "val_loss"]]
    assert set(stripped.data_vars) == {"lyapunov_exponents", "val_loss"}
    assert "trajectory" not in stripped.dims and "architecture" in stripped.coords
    return stripped


@pytest.fixture(scope="module")
def sweep():
    return synthetic_sweep(seed=0)


@pytest.fixture(scope="module")
def rendered(sweep, tmp_path_factory):
    """Each sweep figure drawn once to PNG and PDF: {name: (png, pdf)}."""
    directory = tmp_path_factory.mktemp("figures")
    paths = {}
    for name in SWEEP_FIGURES:
        png, pdf = directory / f"{name}.png", directory / f"{name}.pdf"
        render_figure(name, sweep, [png, pdf], dpi=60)
        paths[name] = (png, pdf)
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEP_FIGURES)
def test_sweep_figure_writes_non_empty_png_and_pdf(rendered, name):
    png, pdf = rendered[name]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > 5_000 and pdf.stat().st_size > 5_000


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEP_FIGURES)
def test_rendered_png_is_not_blank(rendered, name):
    pixels = matplotlib.image.imread(rendered[name][0])
    grey = pixels[..., :3].mean(axis=-1)
    assert grey.var() > 1e-3  # a blank (all white) image has zero variance
    assert (grey < 0.5).mean() > 0.005  # and some dark ink: lines, labels


def test_sweep_and_validation_figures_are_registered():
    assert SWEEP_FIGURES and figures_needing("validation")
    assert set(SWEEP_FIGURES) | set(figures_needing("validation")) == set(available_figures())


@pytest.mark.parametrize("name", available_figures())
def test_every_figure_has_a_report_caption(name):
    figure = get_figure(name)
    assert figure.caption.startswith("**") and len(figure.caption) > 100  # a bold title, then the text
    if figure.table is not None:
        assert (figure.table_caption or figure.caption).strip()


def test_one_report_template_shows_each_figures_own_caption():
    template = (WORKFLOW_DIR / "report" / "figure.rst").read_text()
    assert "{{ snakemake.params.caption }}" in template
    assert sorted(path.name for path in (WORKFLOW_DIR / "report").glob("*.rst")) == ["figure.rst"]


def test_every_default_figure_is_a_workflow_target_and_the_others_when_listed():
    files = figure_files("results/figures")
    for name in default_figures():
        assert {f"results/figures/{name}.png", f"results/figures/{name}.pdf"} <= set(files), name
    assert {f"results/figures/{name}.csv" for name in TABLE_FIGURES if name in default_figures()} <= set(files)
    others = sorted(set(available_figures()) - set(default_figures()))
    assert not any(f"/{name}." in file for name in others for file in files)
    listed = figure_files("results/figures", others)
    for name in available_figures():
        assert {f"results/figures/{name}.png", f"results/figures/{name}.pdf"} <= set(listed), name
    rules = (WORKFLOW_DIR / "rules" / "figures.smk").read_text()
    assert "FIGURE_FILES = figure_files(" in rules and "rule figure:" in rules  # one rule, from the registry
    assert 'FIGURE_SETTINGS["extra"]' in rules


def test_synthetic_sweep_round_trips_through_load_sweep(sweep, tmp_path):
    path = tmp_path / "sweep.nc"
    write_netcdf_atomic(sweep, path)
    loaded = load_figure_input("spectra_by_architecture", path)
    assert loaded.identical(load_sweep(path))  # nothing to derive: the synthetic sweep has it all
    np.testing.assert_array_equal(loaded["lyapunov_exponents"].values, sweep["lyapunov_exponents"].values)
    assert set(loaded["architecture"].values) == {"rnn", "lstm", "gru"}


def test_synthetic_sweep_has_the_sweep_schema(sweep):
    expected_dims = {
        "lyapunov_exponents": ("run", "epoch", "exponent"),
        "lyapunov_exponents_per_trajectory": ("run", "epoch", "trajectory", "exponent"),
        "lyapunov_stderr": ("run", "epoch", "exponent"),
        "kaplan_yorke_dimension": ("run", "epoch"),
        "train_loss": ("run", "epoch"), "val_loss": ("run", "epoch"), "val_accuracy": ("run", "epoch"),
    }
    for name, dims in expected_dims.items():
        assert sweep[name].dims == dims, name
    # The running-estimate dim is being renamed convergence_step -> step; the figures read both.
    assert sweep["lyapunov_running_estimate"].dims in {
        ("run", step, "trajectory", "exponent") for step in sweep_data.STEP_DIMS}
    for name in ("architecture", "dataset", "hidden_size", "num_layers", "state_size", "init", "init_scale",
                 "learning_rate", "optimizer", "dropout", "seed"):
        assert sweep[name].dims == ("run",), name


def test_final_epoch_skips_nan_padding(sweep):
    final = sweep_data.final_spectrum_epoch(sweep)
    assert final.sel(run="gru-scale1.5-lr0.01") == 2  # this run stopped after epoch 2
    assert final.sel(run="rnn-scale0.5-lr0.001") == 4


def test_early_epoch_is_the_first_recorded_at_or_after_the_request(sweep):
    early = sweep_data.early_spectrum_epoch(sweep, 1)
    assert (early.values == 1).all()


def test_monotone_loss_gives_spearman_rho_of_one(sweep):
    # Final loss an increasing function of the epoch-0 largest exponent: rank correlation exactly 1.
    largest_at_init = sweep["lyapunov_exponents"].sel(epoch=0).max("exponent")
    monotone = sweep.assign(val_loss=(2.0 + np.tanh(largest_at_init)).broadcast_like(sweep["val_loss"]))
    table = stability_correlations(monotone, early_epoch=0).set_index("feature")
    assert table.loc["largest_exponent", "spearman_rho"] == pytest.approx(1.0)
    assert table.loc["largest_exponent", "n_runs"] == sweep.sizes["run"]
    reversed_loss = monotone.assign(val_loss=-monotone["val_loss"])
    table = stability_correlations(reversed_loss, early_epoch=0).set_index("feature")
    assert table.loc["largest_exponent", "spearman_rho"] == pytest.approx(-1.0)


def test_stability_correlations_csv_has_one_row_per_feature(sweep, tmp_path):
    path = tmp_path / "stability_readout.csv"
    write_figure_table("stability_readout", sweep, path, options={"early_epoch": 0})
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[:5] == ["feature", "family", "label", "early_epoch", "spearman_rho"]
    assert len(lines) == 1 + 4 + 1  # four spectrum features and the early-loss baseline
    assert lines[-1].startswith("early_val_loss,baseline,")


def test_the_early_loss_baseline_is_ranked_against_the_final_loss(sweep):
    # Final loss an increasing function of the loss at epoch 1: the baseline's rho is exactly 1, and
    # its interval (Fisher z) is degenerate there; a noisy copy gets an interval around its rho.
    early_loss = sweep["val_loss"].sel(epoch=1)
    monotone = sweep.assign(val_loss=sweep["val_loss"].copy(data=np.broadcast_to(
        (3.0 + early_loss.values)[:, None], sweep["val_loss"].shape).copy()))
    monotone["val_loss"].loc[{"epoch": 1}] = early_loss
    row = stability_correlations(monotone, early_epoch=1).set_index("feature").loc["early_val_loss"]
    assert row["family"] == "baseline" and row["spearman_rho"] == pytest.approx(1.0)
    noisy = monotone.copy(deep=True)
    rng = np.random.default_rng(0)
    noisy["val_loss"].loc[{"epoch": 1}] = early_loss + rng.normal(0, early_loss.std().item(), early_loss.size)
    row = stability_correlations(noisy, early_epoch=1).set_index("feature").loc["early_val_loss"]
    assert -1 <= row["ci_low"] < row["spearman_rho"] < row["ci_high"] <= 1


@pytest.mark.parametrize("name", TABLE_FIGURES)
@pytest.mark.filterwarnings("ignore::rnn_lyapunov.analysis.readout.ReadoutWarning")  # 1 failure in 12 runs
def test_every_table_writes_a_csv(sweep, tmp_path, name):
    path = tmp_path / f"{name}.csv"
    write_figure_table(name, sweep, path)
    assert len(path.read_text().splitlines()) > 1


def test_unknown_figure_name_lists_the_known_ones(sweep):
    with pytest.raises(InputError, match="unknown figure 'spectra'; known figures: .*spectra_by_architecture"):
        render_figure("spectra", sweep, [])


def test_unknown_task_lists_the_sweep_tasks(sweep):
    with pytest.raises(InputError, match="it holds: synthetic"):
        draw("spectra_by_architecture", sweep, dataset="char_text")


@pytest.mark.parametrize("name", [name for name in SWEEP_FIGURES if name not in CLV_FIGURES])
def test_missing_variable_is_named(sweep, name):
    with pytest.raises(InputError, match="val_loss"):
        draw(name, sweep.drop_vars("val_loss"))


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEP_FIGURES)
def test_sweep_figures_draw_from_a_single_run(sweep, name):
    assert png_size(draw(name, sweep.isel(run=[0]))) > 1_000


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in SWEEP_FIGURES if name not in CLV_FIGURES | CONFIG_FIGURES])
def test_sweep_figures_draw_a_bare_sweep(sweep, name):
    # Only lyapunov_exponents (run, epoch, exponent), val_loss (run, epoch) and the coordinates.
    assert png_size(draw(name, bare(sweep))) > 1_000


def test_a_bare_sweep_gets_the_kaplan_yorke_dimension_and_no_stderr(sweep):
    derived = sweep_data.with_derived_quantities(bare(sweep))
    assert derived["kaplan_yorke_dimension"].dims == ("run", "epoch")
    assert "lyapunov_stderr" not in derived  # nothing to compute it from: drawn without error bars
    # Where the synthetic sweep has no NaN padding its stored dimension is the same computation.
    stored = sweep["kaplan_yorke_dimension"].values
    finite = np.isfinite(stored)
    assert finite.any()
    np.testing.assert_allclose(derived["kaplan_yorke_dimension"].values[finite], stored[finite])
    # Every recorded spectrum, padded ones too, gets a dimension from its finite exponents.
    recorded = sweep_data.recorded_epoch_mask(sweep).values
    assert np.isfinite(derived["kaplan_yorke_dimension"].values[recorded]).all()
    assert np.isnan(derived["kaplan_yorke_dimension"].values[~recorded]).all()


def test_standard_errors_are_derived_from_the_per_trajectory_spectra(sweep):
    derived = sweep_data.with_derived_quantities(sweep.drop_vars("lyapunov_stderr"))
    assert derived["lyapunov_stderr"].dims == sweep["lyapunov_stderr"].dims
    np.testing.assert_allclose(derived["lyapunov_stderr"].values, sweep["lyapunov_stderr"].values, equal_nan=True)
    assert sweep_data.with_derived_quantities(sweep) is sweep  # nothing missing: nothing done


def test_standard_errors_leave_out_padded_trajectories(sweep):
    padded = sweep.copy(deep=True)
    padded["lyapunov_exponents_per_trajectory"][dict(run=0, trajectory=-1)] = np.nan
    derived = sweep_data.with_derived_quantities(padded.drop_vars("lyapunov_stderr"))
    rows = padded["lyapunov_exponents_per_trajectory"].isel(run=0, epoch=0).values[:-1]
    expected = rows.std(axis=0, ddof=1) / np.sqrt(len(rows))
    np.testing.assert_allclose(derived["lyapunov_stderr"].isel(run=0, epoch=0).values, expected)


def test_spectra_without_standard_errors_are_drawn_without_bands(sweep):
    ax = draw("spectra_by_architecture", bare(sweep)).axes[0]
    assert "no s.e." in ax.get_title()
    assert not ax.collections  # no fill_between bands
    assert draw("spectra_by_architecture", sweep).axes[0].collections


def test_a_bare_sweep_file_is_read_with_derived_quantities(sweep, tmp_path):
    path = tmp_path / "sweep.nc"
    write_netcdf_atomic(bare(sweep), path)
    loaded = load_figure_input("spectrum_during_training", path)
    assert "kaplan_yorke_dimension" in loaded
    render_figure("spectrum_during_training", loaded, [tmp_path / "figure.png"], dpi=30)
    assert (tmp_path / "figure.png").stat().st_size > 1_000


@pytest.mark.parametrize("step", sweep_data.STEP_DIMS)
def test_convergence_reads_the_step_dim_and_the_old_name(sweep, step):
    current = sweep_data.step_dim(sweep["lyapunov_running_estimate"])
    renamed = sweep.rename({current: step}) if current != step else sweep
    running_ax = draw("convergence", renamed).axes[0]
    assert running_ax.get_xlabel() == "steps accumulated after warm-up (steps)"
    lines = running_ax.get_lines()
    assert len(lines) == 3  # lambda_1, lambda_2, lambda_3
    np.testing.assert_array_equal(lines[0].get_xdata(), renamed[step].values)


def test_convergence_without_running_estimates_names_them(sweep):
    figure = draw("convergence", sweep.drop_vars("lyapunov_running_estimate"))
    assert any("lyapunov_running_estimate" in text.get_text() for text in figure.axes[0].texts)
    assert figure.axes[1].get_lines()  # the other panels still draw


def test_a_sweep_with_two_tasks_is_drawn_one_task_at_a_time(sweep):
    names = np.where(np.arange(sweep.sizes["run"]) % 2 == 0, "b_task", "a_task")
    mixed = sweep.assign_coords(dataset=("run", names))
    assert set(sweep_data.select_task(mixed)["dataset"].values) == {"a_task"}
    assert sweep_data.select_task(mixed, "b_task").sizes["run"] == sweep.sizes["run"] // 2


def test_hyperparameter_grid_draws_runs_without_an_init_scale(sweep):
    unscaled = sweep.assign_coords(init_scale=("run", np.full(sweep.sizes["run"], np.nan)))
    assert png_size(draw("hyperparameter_grid", unscaled)) > 1_000


@pytest.mark.parametrize("name", [name for name in SWEEP_FIGURES if name not in SHARED_LABEL_FIGURES])
def test_every_plot_axis_is_labelled(sweep, name):
    figure = draw(name, sweep)
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_xlabel() or ax.get_ylabel()
        elif ax.get_xlabel() == "":  # a twin axis shares its partner's x label
            assert any(other is not ax and other.bbox.bounds == ax.bbox.bounds and other.get_xlabel()
                       for other in figure.axes)
            assert ax.get_ylabel()
        else:
            assert ax.get_ylabel(), ax.get_xlabel()


def test_epochs_without_a_spectrum_are_skipped(sweep):
    # Like spectrum.epochs = [1, 3, 4]: no spectrum at epoch 2, though the losses are recorded.
    gap = sweep.copy(deep=True)
    for name in ("lyapunov_exponents", "lyapunov_exponents_per_trajectory", "lyapunov_stderr"):
        gap[name].loc[{"epoch": 2}] = np.nan
    early = sweep_data.early_spectrum_epoch(gap, 2)
    assert (early.drop_sel(run="gru-scale1.5-lr0.01").values == 3).all()
    assert np.isnan(early.sel(run="gru-scale1.5-lr0.01"))  # stopped after epoch 2: nothing left
    table = stability_correlations(gap, early_epoch=2)
    assert (table["n_runs"] == sweep.sizes["run"] - 1).all()  # the run that stopped at epoch 2 has none


def in_bits(sweep):
    """The sweep as written with ``spectrum.units: bits``: exponent variables / ln 2, units attributes."""
    factor = 1.0 / np.log(2.0)
    converted = sweep.copy()
    for name, variable in sweep.data_vars.items():
        if variable.attrs.get("units") == "nats per time step":
            converted[name] = (variable * factor).assign_attrs({**variable.attrs, "units": "bits per time step"})
    return converted


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in SWEEP_FIGURES if name not in NO_EXPONENT_AXES])
def test_exponent_axes_follow_the_units_of_the_file(sweep, name):
    bits = in_bits(sweep)
    assert bits["lyapunov_exponents"].attrs["units"] == "bits per time step"
    figure = draw(name, bits)
    labels = [text for ax in figure.axes for text in (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) if text]
    assert any("bits/step" in text for text in labels), labels
    assert not any("nats/step" in text for text in labels), labels


def test_hyperparameter_grid_picks_the_varying_hyperparameters_and_facets_the_third(sweep):
    figure = draw("hyperparameter_grid", sweep)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels if ax.get_title()] == [
        "architecture: rnn", "architecture: lstm", "architecture: gru"]
    assert panels[-1].get_xlabel() == "learning rate" and panels[0].get_ylabel().endswith("init scale $p$")
    assert figure._supxlabel is None  # nothing averaged: one run per cell


def test_hyperparameter_grid_over_dropout_and_learning_rate_averages_and_notes_the_rest(sweep):
    # A dropout x learning-rate sweep (init scale and architecture also vary): the two grid axes named.
    dropout = np.where(np.arange(sweep.sizes["run"]) % 3 == 0, 0.0, 0.2)
    varied = sweep.assign_coords(dropout=("run", dropout))
    figure = draw("hyperparameter_grid", varied, grid_axes=["dropout", "learning_rate"])
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert panels[-1].get_xlabel() == "dropout" and panels[0].get_ylabel().endswith("learning rate")
    note = " ".join(figure._supxlabel.get_text().split())
    assert "init scale $p$ (0.5 to 1.5, 2 values)" in note and "architecture" in note


@pytest.mark.filterwarnings("ignore::rnn_lyapunov.analysis.readout.ReadoutWarning")  # 1 failure in 12 runs
def test_readout_comparison_is_drawn_from_its_csv_without_refitting(sweep, tmp_path, monkeypatch):
    from rnn_lyapunov.figures import readout_comparison

    assert get_figure("readout_comparison").drawn_from_table
    table_path = tmp_path / "readout_comparison.csv"
    write_figure_table("readout_comparison", sweep, table_path, options={"failure_threshold": 1.0})
    table = load_table(table_path)
    baselines = set(table.loc[table["family"] == "baseline", "predictor"])
    assert {"hyperparameters", "early_val_loss"} <= baselines
    assert {"spearman_rho", "r2", "roc_auc"} <= set(table["metric"])

    def refit(*args, **kwargs):
        raise AssertionError("the figure recomputed its table instead of reading the CSV")

    monkeypatch.setattr(readout_comparison, "readout_table", refit)
    png, pdf = tmp_path / "readout.png", tmp_path / "readout.pdf"
    render_figure("readout_comparison", sweep, [png, pdf], dpi=40, options={"failure_threshold": 1.0},
                  table_path=table_path)
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0


def load_table(path):
    import pandas as pd

    return pd.read_csv(path)
