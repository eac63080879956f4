"""Every paper figure renders from the tiny synthetic sweep; sweep handling and error messages."""

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures import FIGURES, SWEEP_FIGURES, stability_correlations
from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures.render import load_figure_input, render_figure, write_stability_correlations
from rnn_lyapunov.figures.synthetic import synthetic_sweep
from rnn_lyapunov.io.storage import write_netcdf_atomic
from rnn_lyapunov.config.sweep import load_sweep

REPORT_DIR = Path(__file__).resolve().parents[1] / "workflow" / "report"


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
def test_rendered_png_is_not_blank(rendered):
    pixels = matplotlib.image.imread(rendered["spectra_by_architecture"][0])
    grey = pixels[..., :3].mean(axis=-1)
    assert grey.var() > 1e-3  # a blank (all white) image has zero variance
    assert (grey < 0.5).mean() > 0.005  # and some dark ink: lines, labels


def test_every_figure_has_a_report_caption():
    missing = [name for name in FIGURES if not (REPORT_DIR / f"{name}.rst").is_file()]
    assert not missing


def test_synthetic_sweep_round_trips_through_load_sweep(sweep, tmp_path):
    path = tmp_path / "sweep.nc"
    write_netcdf_atomic(sweep, path)
    loaded = load_figure_input("spectra_by_architecture", path)
    assert loaded.identical(load_sweep(path))
    np.testing.assert_array_equal(loaded["lyapunov_exponents"].values, sweep["lyapunov_exponents"].values)
    assert set(loaded["architecture"].values) == {"rnn", "lstm", "gru"}


def test_synthetic_sweep_has_the_sweep_schema(sweep):
    expected_dims = {
        "lyapunov_exponents": ("run", "epoch", "exponent"),
        "lyapunov_exponents_per_trajectory": ("run", "epoch", "trajectory", "exponent"),
        "lyapunov_stderr": ("run", "epoch", "exponent"),
        "kaplan_yorke_dimension": ("run", "epoch"),
        "lyapunov_running_estimate": ("run", "convergence_step", "trajectory", "exponent"),
        "train_loss": ("run", "epoch"), "val_loss": ("run", "epoch"), "val_accuracy": ("run", "epoch"),
    }
    for name, dims in expected_dims.items():
        assert sweep[name].dims == dims, name
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
    write_stability_correlations(sweep, path, early_epoch=0)
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["feature", "label", "early_epoch", "spearman_rho"]
    assert len(lines) == 1 + 4


def test_unknown_figure_name_lists_the_known_ones(sweep):
    with pytest.raises(InputError, match="known figures: spectra_by_architecture"):
        render_figure("spectra", sweep, [])


def test_unknown_task_lists_the_sweep_tasks(sweep):
    with pytest.raises(InputError, match="it holds: synthetic"):
        FIGURES["spectra_by_architecture"](sweep, dataset="char_text")


def test_missing_variable_is_named(sweep):
    with pytest.raises(InputError, match="lyapunov_running_estimate"):
        FIGURES["convergence"](sweep.drop_vars("lyapunov_running_estimate"))


def test_every_figure_has_a_workflow_rule_and_target():
    rules = (REPORT_DIR.parent / "rules" / "figures.smk").read_text()
    for name in FIGURES:
        assert f"rule figure_{name}:" in rules, name
        assert f'"{name}"' in rules, name  # listed in FIGURE_NAMES, hence in FIGURE_FILES


@pytest.mark.slow
def test_sweep_figures_draw_from_a_single_run(sweep):
    import io

    single = sweep.isel(run=[0])
    for name in SWEEP_FIGURES:
        buffer = io.BytesIO()
        FIGURES[name](single).savefig(buffer, format="png", dpi=30)
        assert buffer.tell() > 1_000, name


def test_a_sweep_with_two_tasks_is_drawn_one_task_at_a_time(sweep):
    names = np.where(np.arange(sweep.sizes["run"]) % 2 == 0, "b_task", "a_task")
    mixed = sweep.assign_coords(dataset=("run", names))
    assert set(sweep_data.select_task(mixed)["dataset"].values) == {"a_task"}
    assert sweep_data.select_task(mixed, "b_task").sizes["run"] == sweep.sizes["run"] // 2


def test_hyperparameter_grid_draws_runs_without_an_init_scale(sweep):
    import io

    unscaled = sweep.assign_coords(init_scale=("run", np.full(sweep.sizes["run"], np.nan)))
    buffer = io.BytesIO()
    FIGURES["hyperparameter_grid"](unscaled).savefig(buffer, format="png", dpi=30)
    assert buffer.tell() > 1_000


@pytest.mark.parametrize("name", ["spectra_by_architecture", "spectrum_during_training", "convergence",
                                  "stability_readout"])
def test_every_plot_axis_is_labelled(sweep, name):
    figure = FIGURES[name](sweep)
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
