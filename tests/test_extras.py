"""The light core and the optional extras: what a core install can do, and what a missing extra says.

A missing package is simulated: ``sys.modules[name] = None`` in this process (Python then refuses
to import it, as when it is absent), or a meta-path finder that refuses it in a fresh interpreter.
The table in rnn_lyapunov/extras.py is checked against pyproject.toml, the file pip reads.
"""

import importlib
import json
import math
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import torch

from rnn_lyapunov.cli import commands as cli
from rnn_lyapunov.extras import EXTRAS, MissingExtraError, missing_extra, require

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# Distributions a core install must not pull in (the point of the light core).
NOT_CORE = ("snakemake", "seaborn", "matplotlib", "scikit-learn", "optuna", "lightning", "pygments")


def distribution(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")


def hide(monkeypatch, *names):
    """Make the packages ``names`` unimportable here, and forget ``rnn_lyapunov`` modules that need them."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)
    for module in [m for m in sys.modules if m.startswith(("rnn_lyapunov.figures", "rnn_lyapunov.lightning",
                                                            "rnn_lyapunov.search.sampler", "rnn_lyapunov.analysis.readout"))]:
        monkeypatch.delitem(sys.modules, module)


def run(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    return code, capsys.readouterr().err


def test_every_extra_in_the_table_is_an_extra_of_pyproject_with_the_same_packages():
    extras = PYPROJECT["optional-dependencies"]
    for extra, provided in EXTRAS.items():
        listed = {distribution(requirement) for requirement in extras[extra]}
        assert set(provided.values()) <= listed, extra
    core = {distribution(requirement) for requirement in PYPROJECT["dependencies"]}
    assert core.isdisjoint(NOT_CORE)
    assert {"torch", "numpy", "scipy", "tqdm"} <= core
    # The tests need every extra but the peers' benchmark (which skips without them).
    assert {"rnn-lyapunov[workflow,search,lightning]"} <= {r.replace(" ", "") for r in extras["test"]}


def test_search_without_optuna_exits_2_naming_the_search_extra(monkeypatch, capsys, tmp_path):
    hide(monkeypatch, "optuna")
    code, err = run(capsys, "search", "--config", tmp_path / "search.yaml")
    assert code == 2
    assert "the search (rnn-lyapunov search, rnn_lyapunov.search) needs optuna" in err
    assert "pip install 'rnn-lyapunov[search]'" in err and "internal error" not in err


def test_the_lightning_callback_without_lightning_names_the_lightning_extra(monkeypatch):
    hide(monkeypatch, "lightning")
    with pytest.raises(ImportError, match=re.escape("pip install 'rnn-lyapunov[lightning]'")) as raised:
        importlib.import_module("rnn_lyapunov.lightning")
    assert isinstance(raised.value, MissingExtraError) and raised.value.name == "lightning"


@pytest.mark.parametrize(("module", "package"), [("rnn_lyapunov.figures", "matplotlib"),
                                                  ("rnn_lyapunov.figures.heatmaps", "seaborn"),
                                                  ("rnn_lyapunov.analysis.readout", "sklearn"),
                                                  ("rnn_lyapunov.search.sampler", "optuna")])
def test_a_module_of_an_extra_without_it_names_the_extra(monkeypatch, module, package):
    hide(monkeypatch, package)
    extra = "search" if package == "optuna" else "workflow"
    with pytest.raises(MissingExtraError, match=re.escape(f"pip install 'rnn-lyapunov[{extra}]'")):
        importlib.import_module(module)


def test_a_workflow_dataset_without_the_workflow_extra_exits_2(monkeypatch, capsys, tmp_path):
    torch.save(torch.nn.RNN(8, 4, batch_first=True).state_dict(), tmp_path / "rnn.pt")
    hide(monkeypatch, "sklearn")
    monkeypatch.chdir(tmp_path)  # nothing prepared under results/data: the command builds the dataset
    code, err = run(capsys, "spectrum", "--architecture", "rnn", "--state-dict", tmp_path / "rnn.pt",
                    "--dataset", "sequential_digits", "--out", tmp_path / "s.nc")
    assert code == 2, err
    assert "scikit-learn" in err and "pip install 'rnn-lyapunov[workflow]'" in err
    assert not (tmp_path / "s.nc").exists()


def test_an_unguarded_import_of_an_extra_is_bad_input_and_any_other_missing_module_a_bug(monkeypatch, capsys):
    def needs(name):
        def handler(args):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return handler

    monkeypatch.setattr(cli, "_datasets", needs("seaborn.objects"))
    code, err = run(capsys, "datasets")
    assert code == 2 and "pip install 'rnn-lyapunov[workflow]'" in err
    monkeypatch.setattr(cli, "_datasets", needs("sklearn"))  # in two extras: both named
    code, err = run(capsys, "datasets")
    assert code == 2 and "rnn-lyapunov[workflow]" in err and "rnn-lyapunov[search]" in err
    monkeypatch.setattr(cli, "_datasets", needs("no_such_package"))
    code, err = run(capsys, "datasets")
    assert code == 1 and "internal error" in err
    assert missing_extra(ModuleNotFoundError("x", name="no_such_package")) is None


def test_require_refuses_a_package_the_table_does_not_list():
    with pytest.raises(ValueError, match="does not list"):
        require("search", "matplotlib", needed_by="test")
    require("workflow", "matplotlib", needed_by="test")  # installed here: no error


CORE_SCRIPT = textwrap.dedent("""
    import sys
    BLOCKED = {blocked!r}

    class Blocker:  # as if these packages were not installed
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

    sys.meta_path.insert(0, Blocker())
    import torch
    from torch import nn
    from rnn_lyapunov import SpectrumMonitor, from_torch, lyapunov_spectrum
    from rnn_lyapunov.cli.commands import main

    torch.manual_seed(0)
    rnn = nn.RNN(1, 2, bias=False, batch_first=True)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.diag(torch.tensor([0.5, 0.25])))
        rnn.weight_ih_l0.zero_()
    inputs = torch.zeros(1, 100, 1)  # the state stays at 0, where the Jacobian is diag(0.5, 0.25)
    print(lyapunov_spectrum(from_torch(rnn), inputs, warmup_steps=60).exponents.tolist())
    monitor = SpectrumMonitor(rnn, inputs, sys.argv[1], warmup_steps=60)
    monitor.record(0, train_loss=1.0)
    print(monitor.dataset()["lyapunov_exponents"].values.tolist())
    assert main(["architectures"]) == 0
    print("imported:", sorted(name for name in BLOCKED if name in sys.modules))
""")


@pytest.mark.slow  # a fresh interpreter importing torch and xarray: 3-10 s
def test_the_core_computes_spectra_and_records_a_monitor_without_any_extra(tmp_path):
    blocked = ("snakemake", "seaborn", "matplotlib", "sklearn", "optuna", "lightning", "pygments")
    result = subprocess.run([sys.executable, "-c", CORE_SCRIPT.format(blocked=blocked), str(tmp_path / "run.nc")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # J = diag(0.5, 0.25) at the fixed point 0 (tanh'(0) = 1): exponents log 0.5, log 0.25.
    assert json.loads(lines[0]) == pytest.approx([math.log(0.5), math.log(0.25)], abs=1e-12)
    assert json.loads(lines[1])[0] == pytest.approx([math.log(0.5), math.log(0.25)], abs=1e-12)  # epoch 0
    assert lines[-1] == "imported: []"
    assert (tmp_path / "run.nc").is_file()
