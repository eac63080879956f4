"""CLV angles recorded during training (spectrum.clv_angles) and the registered figure `clv_angles`."""

import math

import numpy as np
import pytest
import torch
import xarray as xr

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.training.clv_angles import angle_summaries
from test_training import tiny_config

CLV_SPECTRUM = {"clv_angles": True, "clv_vectors": 3, "steps": 60, "warmup_steps": 10}


def _clvs(vectors, growth_rates):
    """A CLV dataset (one trajectory, len(vectors) steps) in the layout of covariant_lyapunov_vectors."""
    vectors = np.asarray(vectors, dtype=float)[None]          # (1, step, state, vector)
    rates = np.asarray(growth_rates, dtype=float)[None]       # (1, step, vector)
    return xr.Dataset({"vectors": (("trajectory", "step", "state", "vector"), vectors),
                       "local_growth_rates": (("trajectory", "step", "vector"), rates)},
                      coords={"trajectory": [0], "step": np.arange(vectors.shape[1]),
                              "vector": np.arange(1, vectors.shape[-1] + 1)})


def _frame(angle):
    """Columns v1 = e1, v2 at ``angle`` from v1 in the (e1, e2) plane, v3 = -e3 (signs do not matter)."""
    return [[1.0, math.cos(angle), 0.0], [0.0, -math.sin(angle), 0.0], [0.0, 0.0, -1.0]]


def test_summaries_are_the_median_pair_angle_and_the_smallest_unstable_stable_angle():
    angles = [0.3, 1.1, 0.7, 0.2, 0.9]
    clvs = _clvs([_frame(a) for a in angles], [[0.5, -0.2, -1.0]] * len(angles))
    summary = angle_summaries(clvs)
    # one unstable CLV: span(v2, v3) contains v2, so the principal angle to v1 is the v1-v2 angle
    np.testing.assert_allclose(summary["clv_angle_1_2"], [np.median(angles)], rtol=1e-12)
    np.testing.assert_allclose(summary["clv_unstable_stable_angle"], [min(angles)], rtol=1e-12)
    stable = angle_summaries(_clvs([_frame(a) for a in angles], [[-0.1, -0.2, -1.0]] * len(angles)))
    assert np.isnan(stable["clv_unstable_stable_angle"]).all()  # no split: NaN, not an error


def _angle_sweep(seed=0, n_epochs=4, n_trajectories=5):
    """rnn and gru x 3 seeds with random CLV angles; the last gru run stops after epoch 2, one trajectory is NaN."""
    from rnn_lyapunov.engine.spectrum import Spectrum
    from rnn_lyapunov.io.run_file import run_dataset
    from rnn_lyapunov.io.sweep_file import combine_runs

    rng = np.random.default_rng(seed)
    runs, angles = [], {}
    for architecture in ("rnn", "gru"):
        for run_seed in range(3):
            last = 2 if (architecture, run_seed) == ("gru", 2) else n_epochs
            pair = rng.uniform(0.05, 1.5, size=(last + 1, n_trajectories))
            split = rng.uniform(0.01, 0.8, size=(last + 1, n_trajectories))
            pair[1, 0] = np.nan
            run_id = f"{architecture}-s{run_seed}"
            angles[run_id] = (pair, split)
            spectra = {epoch: Spectrum(per_trajectory=torch.full((n_trajectories, 3), -0.1, dtype=torch.float64))
                       for epoch in range(last + 1)}
            runs.append(run_dataset(
                spectra, {"val_loss": np.ones(last + 1)}, n_trajectories=n_trajectories, n_exponents=3,
                hyperparameters={"run_id": run_id, "architecture": architecture, "dataset": "synthetic", "seed": run_seed},
                clv_angles={epoch: {"clv_angle_1_2": pair[epoch], "clv_unstable_stable_angle": split[epoch]}
                            for epoch in range(last + 1)}))
    return combine_runs(runs), angles


def test_the_sweep_carries_each_runs_angles_along_run_epoch_and_trajectory():
    sweep, angles = _angle_sweep()
    assert sweep["clv_angle_1_2"].dims == ("run", "epoch", "trajectory")
    assert sweep["clv_angle_1_2"].attrs["units"] == "radians"
    for run_id, (pair, split) in angles.items():
        stored = sweep["clv_angle_1_2"].sel(run=run_id).values
        np.testing.assert_array_equal(stored[: pair.shape[0]], pair)
        assert np.isnan(stored[pair.shape[0]:]).all()
        np.testing.assert_array_equal(sweep["clv_unstable_stable_angle"].sel(run=run_id).values[: split.shape[0]], split)


def test_figure_draws_the_sweeps_angles_at_the_last_epoch_and_over_training():
    from rnn_lyapunov.figures.registry import get_figure

    sweep, angles = _angle_sweep()
    figure = get_figure("clv_angles").draw(sweep)
    first, course, split_axes = figure.axes[:3]
    for architecture in ("rnn", "gru"):
        runs = [run_id for run_id in angles if run_id.startswith(architecture)]
        # a run's value: the median over trajectories (NaN skipped) at its last epoch, in degrees
        expected = sorted(np.degrees(np.nanmedian(angles[run_id][0][-1])) for run_id in runs)
        points = next(c for c in first.collections if c.get_gid() == f"angle_1_2_last_deg:{architecture}")
        np.testing.assert_allclose(sorted(points.get_offsets()[:, 1]), expected, rtol=1e-12)
        expected_split = sorted(np.degrees(np.nanmedian(angles[run_id][1][-1])) for run_id in runs)
        points = next(c for c in split_axes.collections if c.get_gid() == f"unstable_stable_last_deg:{architecture}")
        np.testing.assert_allclose(sorted(points.get_offsets()[:, 1]), expected_split, rtol=1e-12)
        for run_id in runs:
            line = next(line for line in course.lines if line.get_gid() == f"run:{run_id}")
            pair = angles[run_id][0]
            np.testing.assert_array_equal(line.get_xdata(), np.arange(pair.shape[0]))
            np.testing.assert_allclose(line.get_ydata(), np.degrees(np.nanmedian(pair, axis=1)), rtol=1e-12)
    table = get_figure("clv_angles").make_table(sweep).set_index("run")
    pair = angles["gru-s2"][0]
    assert table.loc["gru-s2", "last_epoch"] == 2
    assert table.loc["gru-s2", "angle_1_2_change_deg"] == pytest.approx(
        np.degrees(np.nanmedian(pair[2]) - np.nanmedian(pair[0])), rel=1e-12)


def test_figure_on_a_sweep_without_angles_names_the_setting_to_turn_on():
    from rnn_lyapunov.figures.registry import get_figure
    from rnn_lyapunov.figures.synthetic import synthetic_sweep

    with pytest.raises(InputError, match=r"spectrum: \{clv_angles: true\}"):
        get_figure("clv_angles").draw(synthetic_sweep().drop_vars(["clv_angle_1_2", "clv_unstable_stable_angle"]))


def test_training_records_the_angles_of_the_trained_weights_and_nothing_by_default(tmp_path):
    from rnn_lyapunov.datasets import build_dataset
    from rnn_lyapunov.engine.covariant import covariant_lyapunov_vectors
    from rnn_lyapunov.training.checkpoints import load_checkpoint
    from rnn_lyapunov.training.loop import build_model, spectrum_inputs
    from rnn_lyapunov.config.run_config import validate_run_config

    config = tiny_config(epochs=1, spectrum=CLV_SPECTRUM)
    result = train_run_quietly(config, tmp_path / "run", tmp_path / "run.nc")
    assert result["clv_angle_1_2"].dims == ("epoch", "trajectory") and result.sizes["trajectory"] == 4
    # independently: the vectors of the trained weights, and arccos |v1 . v2| by hand
    validated = validate_run_config(config)
    dataset = build_dataset("signal_copy", seed=config["seed"], **config["dataset_options"])
    model = build_model(validated, dataset)
    model.load_state_dict(load_checkpoint(tmp_path / "run", validated)["model"])
    inputs = spectrum_inputs(dataset, 4, 60).double()
    clvs = covariant_lyapunov_vectors(model.system().double(), inputs, n_vectors=3, warmup_steps=10, backward_steps=10)
    vectors = clvs["vectors"].values
    by_hand = np.median(np.arccos(np.clip(np.abs(np.einsum("tsn,tsn->ts", vectors[..., 0], vectors[..., 1])), 0, 1)), axis=1)
    np.testing.assert_allclose(result["clv_angle_1_2"].sel(epoch=1).values, by_hand, rtol=1e-10, atol=1e-12)
    assert np.isfinite(result["clv_angle_1_2"].sel(epoch=0).values).all()
    default = train_run_quietly(tiny_config(epochs=1), tmp_path / "default", tmp_path / "default.nc")
    assert not {"clv_angle_1_2", "clv_unstable_stable_angle"} & set(default.data_vars)


def test_resumed_run_keeps_the_angles_of_the_epochs_before(tmp_path):
    whole = train_run_quietly(tiny_config(epochs=2, spectrum=CLV_SPECTRUM), tmp_path / "a", tmp_path / "a.nc")
    train_run_quietly(tiny_config(epochs=1, spectrum=CLV_SPECTRUM), tmp_path / "b", tmp_path / "b1.nc")
    resumed = train_run_quietly(tiny_config(epochs=2, spectrum=CLV_SPECTRUM), tmp_path / "b", tmp_path / "b.nc")
    np.testing.assert_array_equal(resumed["clv_angle_1_2"].values, whole["clv_angle_1_2"].values)


@pytest.mark.parametrize("spectrum, message", [
    ({"warmup_steps": 0}, "spectrum.warmup_steps >= 1"),
    ({"steps": 20}, "raise spectrum.steps"),
    ({"clv_vectors": 13}, "spectrum.clv_vectors is 13"),
])
def test_impossible_clv_settings_are_refused_before_training(tmp_path, spectrum, message):
    with pytest.raises(InputError, match=message):
        train_run_quietly(tiny_config(spectrum={**CLV_SPECTRUM, **spectrum}), tmp_path / "run", tmp_path / "run.nc")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def train_run_quietly(config, run_dir, output):
    from rnn_lyapunov.training.loop import train_run

    return train_run(config, run_dir, output, progress=False)
