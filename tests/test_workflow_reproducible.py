"""Reproducibility kept: the tiny workflow run twice from scratch, with --cores 1 and --cores 2,
writes per-run files that are identical but for their timestamps (values, coordinates, attributes)."""

import numpy as np
import pytest
import xarray as xr

from test_workflow import copy_workflow, snakemake

TIMESTAMPS = ("created",)  # the only attributes allowed to differ between two runs


def _without_timestamps(dataset: xr.Dataset) -> xr.Dataset:
    dataset = dataset.copy()
    dataset.attrs = {key: value for key, value in dataset.attrs.items() if key not in TIMESTAMPS}
    return dataset


@pytest.mark.slow
def test_two_fresh_runs_on_1_and_2_cores_give_identical_per_run_files(tmp_path):
    directories = []
    for cores in ("1", "2"):
        (tmp_path / f"cores{cores}").mkdir()
        directories.append(copy_workflow(tmp_path / f"cores{cores}"))
    for directory, cores in zip(directories, ("1", "2")):
        # The per-run files and the sweep only: the figures add minutes and are drawn from these.
        result = snakemake(directory, "results/spectra/sweep.nc", "--cores", cores, "--configfile",
                           "config/tests/tiny.yaml", timeout=170)
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = (sorted((directory / "results/spectra").glob("*.nc")) for directory in directories)
    assert [path.name for path in first] == [path.name for path in second] and len(first) == 7
    for one, other in zip(first, second):
        with xr.open_dataset(one) as a, xr.open_dataset(other) as b:
            a, b = _without_timestamps(a.load()), _without_timestamps(b.load())
            # run_created (one per run) in the sweep is a timestamp too
            a, b = (dataset.drop_vars([name for name in ("run_created",) if name in dataset]) for dataset in (a, b))
            xr.testing.assert_identical(a, b)
            for name in a.data_vars:  # bitwise, NaN where NaN: assert_identical compares with NaN == NaN
                assert np.array_equal(a[name].values, b[name].values, equal_nan=a[name].dtype.kind == "f"), name
