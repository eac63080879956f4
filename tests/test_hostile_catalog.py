"""The hostile-input catalog (tests/hostile_catalog.yaml): every bad input and fault there gets the
outcome the table states, and docs/hostile-inputs.md shows the same table.

    python tests/test_hostile_catalog.py    # rewrite the table in docs/hostile-inputs.md
"""

from __future__ import annotations

import copy
import errno
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

REPOSITORY = Path(__file__).resolve().parents[1]
CATALOG = yaml.safe_load((REPOSITORY / "tests/hostile_catalog.yaml").read_text(encoding="utf-8"))
DOCS_PAGE = REPOSITORY / "docs/hostile-inputs.md"
START, END = "<!-- hostile-catalog:start -->", "<!-- hostile-catalog:end -->"
AREAS = {"train": "run config", "workflow": "workflow config", "search": "search config", "cli": "command line",
         "api": "Python API", "fault": "fault"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "\\n")


def _shown_input(case) -> str:
    value = case["input"]
    if case["kind"] == "cli":
        return "`rnn-lyapunov " + " ".join(value) + "`"
    if case["kind"] in ("api", "fault") or isinstance(value, str):
        return f"`{value}`" if case["kind"] != "fault" else value.replace("_", " ")
    return "`" + yaml.safe_dump(value, default_flow_style=True, width=10**6).strip() + "`"


def _shown_outcome(case) -> str:
    expect = case["expect"]
    if expect.get("accepted"):
        return "accepted (no error)"
    if case["kind"] == "workflow":
        head = "`snakemake -n` refuses (exit 1)"
    else:
        head = f"exit {expect['exit']}" if "exit" in expect else expect["raises"]
    return f"{head}: \u201c{expect['message']}\u201d"


def catalog_table() -> str:
    rows = ["| id | area | bad input | expected outcome |", "| --- | --- | --- | --- |"]
    rows += [f"| {case['id']} | {AREAS[case['kind']]} | {_cell(_shown_input(case))} | {_cell(_shown_outcome(case))} |"
             for case in CATALOG]
    return "\n".join(rows)


def _deep_merge(base: dict, change: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _filled(value, tmp: Path):
    if isinstance(value, str):
        return value.replace("{tmp}", str(tmp))
    if isinstance(value, list):
        return [_filled(item, tmp) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, tmp) for key, item in value.items()}
    return value


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with weights, inputs (3 x 30 x 1), NaN inputs and a junk file; the working directory."""
    torch.save(torch.nn.RNN(1, 2).state_dict(), tmp_path / "rnn.pt")
    inputs = np.random.default_rng(0).normal(size=(3, 30, 1))
    np.save(tmp_path / "inputs.npy", inputs)
    inputs[1, 4, 0] = np.nan
    np.save(tmp_path / "nan_inputs.npy", inputs)
    (tmp_path / "junk.db").write_bytes(b"this is not a database, a NetCDF file or a torch file\n" * 10)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_cli(argv, capsys) -> tuple[int, str]:
    from rnn_lyapunov.cli import commands as cli

    try:
        code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    return code, capsys.readouterr().err


def _outcome_of(case, tmp: Path, capsys):
    """(exit code or None, exception or None, message) of running one case."""
    kind, value = case["kind"], _filled(case["input"], tmp)
    if kind == "train":
        text = value if isinstance(value, str) else yaml.safe_dump(value)
        (tmp / "run.yaml").write_text(text)
        return _run_cli(["train", "--config", tmp / "run.yaml", "--out", tmp / "run.nc", "--run-dir", tmp / "run"],
                        capsys) + (None,)
    if kind == "search":
        (tmp / "search.yaml").write_text(yaml.safe_dump(_deep_merge(_search_base(tmp), value)))
        return _run_cli(["search", "--config", tmp / "search.yaml", "--quiet"], capsys) + (None,)
    if kind == "cli":
        return _run_cli(value, capsys) + (None,)
    try:
        if kind == "workflow":
            _plan(_deep_merge(yaml.safe_load((REPOSITORY / "config/tests/tiny.yaml").read_text()), value))
        elif kind == "api":
            eval(value, _api_namespace(tmp))  # noqa: S307 - the expressions are this file's own table
        else:
            FAULTS[value](tmp)
    except Exception as error:  # noqa: BLE001 - the table says which exception each case must raise
        return None, str(error), error
    return None, "", None


def _plan(config: dict) -> None:
    """What `snakemake -n` runs on a config: the workflow schema, the plugins, then plan_workflow."""
    from rnn_lyapunov.architectures.registry import load_plugin_paths
    from rnn_lyapunov.config.schema import describe_errors, validator, workflow_schema
    from rnn_lyapunov.config.workflow_checks import plan_workflow
    from rnn_lyapunov.errors import InputError

    problems = describe_errors(validator(workflow_schema()).iter_errors(config))
    if problems:
        raise InputError("invalid workflow config:\n  " + "\n  ".join(problems))
    load_plugin_paths(config.get("plugin_paths") or [])
    plan_workflow(config)


def _search_base(tmp: Path) -> dict:
    return {"dataset": "signal_copy",
            "dataset_options": {"n_symbols": 3, "delay": 4, "n_train": 64, "n_validation": 32, "n_test": 32},
            "hidden_size": 4, "init": "uniform", "init_scale": 1.0, "batch_size": 32, "epochs": 2, "device": "cpu",
            "spectrum": {"epochs": "all", "n_exponents": 4, "trajectories": 3, "steps": 20, "warmup_steps": 2},
            "search": {"study_name": "catalog", "output_dir": str(tmp / "search"), "n_trials": 1,
                       "params": {"learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}}}}


def _api_namespace(tmp: Path) -> dict:
    import xarray as xr

    import rnn_lyapunov as rl
    from rnn_lyapunov.analysis.readout import evaluate_readout
    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.datasets import build_dataset
    from rnn_lyapunov.figures.hyperparameter_grid import hyperparameter_grid

    def nan_rnn():
        rnn = torch.nn.RNN(1, 3, batch_first=True)
        with torch.no_grad():
            rnn.weight_hh_l0[0, 0] = float("nan")
        return rnn

    return {"rl": rl, "torch": torch, "np": np, "xr": xr, "tmp": tmp, "nan_rnn": nan_rnn,
            "evaluate_readout": evaluate_readout, "hyperparameter_grid": hyperparameter_grid,
            "validate_run_config": validate_run_config, "build_dataset": build_dataset}


# --- faults: each simulates one and calls the code that meets it ---

def _dataset():
    import xarray as xr

    return xr.Dataset({"a": ("x", np.zeros(1024))})


def disk_full_enospc(tmp):
    import xarray as xr

    from rnn_lyapunov.io.storage import write_netcdf_atomic

    def full(self, path, **_):
        Path(path).write_bytes(b"x" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    original, xr.Dataset.to_netcdf = xr.Dataset.to_netcdf, full
    try:
        write_netcdf_atomic(_dataset(), tmp / "out.nc")
    finally:
        xr.Dataset.to_netcdf = original
        assert not list(tmp.glob("*out*")), "a partial file was left"


def disk_full_hdf_error(tmp):
    import shutil

    import xarray as xr

    from rnn_lyapunov.io.storage import write_netcdf_atomic

    def hdf_error(self, path, **_):
        raise RuntimeError("NetCDF: HDF error")

    original, usage = (xr.Dataset.to_netcdf, shutil.disk_usage), shutil.disk_usage(tmp)
    xr.Dataset.to_netcdf, shutil.disk_usage = hdf_error, lambda path: usage._replace(free=0)
    try:
        write_netcdf_atomic(_dataset(), tmp / "out.nc")
    finally:
        xr.Dataset.to_netcdf, shutil.disk_usage = original


def job_log_on_full_disk(tmp):
    import io

    from rnn_lyapunov.io.job_log import JobLog

    class Refusing(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    terminal = io.StringIO()
    log = JobLog(tmp / "job.log", fallback=terminal)
    log._file.close()
    log._file = Refusing()
    log.write("rnn-lyapunov: error: the message\n")
    assert terminal.getvalue().endswith("rnn-lyapunov: error: the message\n")


def corrupt_checkpoint(tmp):
    from rnn_lyapunov.training.checkpoints import discard_stale_checkpoint

    (tmp / "checkpoint.pt").write_bytes(b"garbage")
    reasons = []
    discard_stale_checkpoint({"run_id": "r", "spectrum": {"trajectories": 1}}, tmp, log=reasons.append)
    assert "unreadable checkpoint" in reasons[0] and not (tmp / "checkpoint.pt").exists()


def corrupt_run_file(tmp):
    from rnn_lyapunov.io.sweep_file import combine_runs

    (tmp / "bad.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 200)
    combine_runs([tmp / "bad.nc"])


def duplicate_run_ids(tmp):
    from rnn_lyapunov.io.run_file import run_dataset
    from rnn_lyapunov.io.storage import write_netcdf_atomic
    from rnn_lyapunov.io.sweep_file import combine_runs

    metrics = {"train_loss": [np.nan], "val_loss": [1.0], "val_accuracy": [np.nan]}
    for name in ("a.nc", "b.nc"):
        write_netcdf_atomic(run_dataset({}, metrics, n_trajectories=1, n_exponents=2,
                                        hyperparameters={"run_id": "same"}), tmp / name)
    combine_runs([tmp / "a.nc", tmp / "b.nc"])


def corrupt_prepared_data(tmp):
    from rnn_lyapunov.datasets import load_dataset, prepare_dataset

    prepare_dataset("signal_copy", tmp / "data", seed=0, n_train=4, n_validation=4, n_test=4)
    (tmp / "data/splits.pt").write_bytes(b"truncated")
    load_dataset("signal_copy", tmp / "data")


def truncated_sweep(tmp):
    from rnn_lyapunov import load_sweep

    (tmp / "sweep.nc").write_bytes(b"CDF\x01" + b"\0" * 10)
    load_sweep(tmp / "sweep.nc")


FAULTS = {function.__name__: function for function in (
    disk_full_enospc, disk_full_hdf_error, job_log_on_full_disk, corrupt_checkpoint, corrupt_run_file,
    duplicate_run_ids, corrupt_prepared_data, truncated_sweep)}


def test_the_catalog_has_at_least_60_cases_with_unique_ids_across_every_area():
    ids = [case["id"] for case in CATALOG]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    assert {case["kind"] for case in CATALOG} == set(AREAS)


def test_the_docs_page_shows_the_catalog():
    text = DOCS_PAGE.read_text(encoding="utf-8")
    shown = text.split(START)[1].split(END)[0].strip()
    assert shown == catalog_table(), "docs/hostile-inputs.md is stale: run python tests/test_hostile_catalog.py"


@pytest.mark.parametrize("case", CATALOG, ids=[case["id"] for case in CATALOG])
def test_each_case_gets_its_stated_outcome(case, workspace, capsys, monkeypatch):
    if case.get("without_gpu"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, message, error = _outcome_of(case, workspace, capsys)
    expect = case["expect"]
    if expect.get("accepted"):
        assert error is None and code in (None, 0), message
        return
    if "exit" in expect:
        assert code == expect["exit"], message
        last = message.strip().splitlines()[-1]
        assert "Traceback" not in message and "internal error" not in message, message
        assert expect["message"] in last, last
    else:
        assert error is not None, f"no error; expected {expect['raises']}"
        names = {cls.__name__ for cls in type(error).__mro__}
        assert expect["raises"] in names, f"{type(error).__name__}: {error}"
        if case["kind"] == "workflow":
            assert expect["raises"] == "InputError"
        assert expect["message"] in message, message


if __name__ == "__main__":
    page = DOCS_PAGE.read_text(encoding="utf-8")
    before, rest = page.split(START)
    DOCS_PAGE.write_text(f"{before}{START}\n{catalog_table()}\n{END}{rest.split(END)[1]}", encoding="utf-8")
    print(f"wrote {len(CATALOG)} cases to {DOCS_PAGE.relative_to(REPOSITORY)}", file=sys.stderr)
