"""LyapunovSpectrumCallback: spectra of a LightningModule's recurrent module, trained on the CPU."""

import copy
import csv
import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

pytest.importorskip("lightning")
import lightning  # noqa: E402

from rnn_lyapunov import from_torch, lyapunov_spectrum  # noqa: E402
from rnn_lyapunov.errors import InputError  # noqa: E402
from rnn_lyapunov.lightning import LyapunovSpectrumCallback  # noqa: E402

TRAINING_PAGE = Path(__file__).resolve().parents[1] / "docs" / "training.md"
# Lightning's own notices on a tiny CPU run, none of them about this package: a SLURM hint where
# `srun` exists, a torch-pytree deprecation inside Lightning, and advice on data-loader workers.
LIGHTNING_NOISE = [
    pytest.mark.filterwarnings("ignore:The `srun` command is available on your system"),
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:The '(train|val)_dataloader' does not have many workers"),
    pytest.mark.filterwarnings("ignore:The number of training batches .* is smaller than the logging interval"),
]


def quiet_lightning(test):
    for mark in LIGHTNING_NOISE:
        test = mark(test)
    return test


class Summer(lightning.LightningModule):
    """A GRU encoder and a linear head learning the sum of a sequence."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.GRU(3, 5, batch_first=True)
        self.head = torch.nn.Linear(5, 1)

    def forward(self, inputs):
        return self.head(self.encoder(inputs)[0][:, -1])

    def training_step(self, batch, batch_index):
        inputs, targets = batch
        loss = torch.nn.functional.mse_loss(self(inputs), targets)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_index):
        inputs, targets = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(inputs), targets))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.02)


def loaders():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(32, 12, 3, generator=generator)
    data = torch.utils.data.TensorDataset(inputs, inputs.sum(dim=(1, 2)).unsqueeze(1) / 10)
    return inputs, torch.utils.data.DataLoader(data, batch_size=16), torch.utils.data.DataLoader(data, batch_size=32)


def trainer(tmp_path, callback, epochs=2):
    from lightning.pytorch.loggers import CSVLogger

    return lightning.Trainer(max_epochs=epochs, accelerator="cpu", logger=CSVLogger(tmp_path, name="logs"),
                             enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
                             callbacks=[callback], log_every_n_steps=1)


def logged_rows(tmp_path):
    (path,) = Path(tmp_path, "logs").glob("version_*/metrics.csv")
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def logged(rows, name):
    return [float(row[name]) for row in rows if row.get(name)]


@quiet_lightning
def test_two_epochs_write_the_file_and_log_the_leading_exponent(tmp_path):
    inputs, train_loader, val_loader = loaders()
    model = Summer()
    callback = LyapunovSpectrumCallback("encoder", inputs[:4], tmp_path / "run.nc", epochs=[0, 2], warmup_steps=2)
    initial = lyapunov_spectrum(from_torch(copy.deepcopy(model.encoder).double()), inputs[:4].double(), warmup_steps=2)
    trainer(tmp_path, callback).fit(model, train_loader, val_loader)
    final = lyapunov_spectrum(from_torch(copy.deepcopy(model.encoder).double()), inputs[:4].double(), warmup_steps=2)

    written = xr.load_dataset(tmp_path / "run.nc")
    assert written["epoch"].values.tolist() == [0, 1, 2]
    for epoch, reference in ((0, initial), (2, final)):
        np.testing.assert_allclose(written["lyapunov_exponents"].sel(epoch=epoch), reference.exponents, atol=1e-12)
    assert np.isnan(written["lyapunov_exponents"].sel(epoch=1)).all()  # not a spectrum epoch
    rows = logged_rows(tmp_path)
    np.testing.assert_allclose(written["train_loss"][1:], logged(rows, "train_loss"), rtol=1e-6)
    np.testing.assert_allclose(written["val_loss"][1:], logged(rows, "val_loss"), rtol=1e-6)
    assert np.isnan(written["train_loss"][0]) and np.isnan(written["val_loss"][0])
    np.testing.assert_allclose(logged(rows, "largest_lyapunov_exponent"),
                               [initial.exponents[0], final.exponents[0]], rtol=1e-6)
    np.testing.assert_allclose(logged(rows, "kaplan_yorke_dimension"),
                               [initial.kaplan_yorke_dimension, final.kaplan_yorke_dimension], rtol=1e-6, atol=1e-6)
    assert written["architecture"].item() == "gru" and written["run_id"].item() == "run"


def test_bad_settings_and_a_missing_module_are_refused(tmp_path):
    inputs, *_ = loaders()
    with pytest.raises(InputError, match=r"spectrum.epochs = \[-1\] is not allowed"):
        LyapunovSpectrumCallback("encoder", inputs, tmp_path / "run.nc", epochs=[-1])
    callback = LyapunovSpectrumCallback("decoder", inputs, tmp_path / "run.nc")
    with pytest.raises(InputError, match="Summer has no attribute 'decoder'"):
        callback.recurrent_module(Summer())
    model = Summer()
    for finder in ("encoder", lambda module: module.encoder, model.encoder):
        assert LyapunovSpectrumCallback(finder, inputs, "x.nc").recurrent_module(model) is model.encoder
    with pytest.raises(InputError, match="module must be an attribute name"):
        LyapunovSpectrumCallback(3, inputs, "x.nc")


class FakeTrainer:
    """What the callback reads of a trainer, for the hooks called by hand."""

    def __init__(self, current_epoch, is_global_zero=True, **callback_metrics):
        self.current_epoch, self.is_global_zero, self.sanity_checking = current_epoch, is_global_zero, False
        self.callback_metrics = {name: torch.tensor(value) for name, value in callback_metrics.items()}


class LoggingModule(Summer):
    def log(self, name, value, **options):
        self.logged = [*getattr(self, "logged", []), (name, value)]


def test_only_rank_zero_computes_and_a_resumed_fit_continues_the_file(tmp_path):
    inputs, *_ = loaders()
    model, path = LoggingModule(), tmp_path / "run.nc"
    callback = LyapunovSpectrumCallback("encoder", inputs[:2], path, epochs=[0, 3])
    callback.on_train_start(FakeTrainer(0, is_global_zero=False), model)
    callback.on_train_epoch_end(FakeTrainer(0, is_global_zero=False, train_loss=1.0), model)
    assert not path.exists() and not hasattr(model, "logged")

    callback.on_train_start(FakeTrainer(0), model)
    for epoch in range(2):  # validation did not run: val_loss is an older value and is not recorded
        callback.on_train_epoch_start(FakeTrainer(epoch), model)
        callback.on_train_epoch_end(FakeTrainer(epoch, train_loss=1.0 - epoch / 10, val_loss=5.0), model)
    assert [name for name, _ in model.logged] == ["largest_lyapunov_exponent", "kaplan_yorke_dimension"]

    resumed = LyapunovSpectrumCallback("encoder", inputs[:2], path, epochs=[0, 3])
    resumed.on_train_start(FakeTrainer(2), model)  # a fit resumed from a checkpoint after 2 epochs
    resumed.on_train_epoch_start(FakeTrainer(2), model)
    resumed.on_validation_epoch_end(FakeTrainer(2), model)
    resumed.on_train_epoch_end(FakeTrainer(2, train_loss=0.7, val_loss_epoch=0.6), model)
    written = xr.load_dataset(path)
    np.testing.assert_allclose(written["train_loss"], [np.nan, 1.0, 0.9, 0.7])
    np.testing.assert_allclose(written["val_loss"], [np.nan, np.nan, np.nan, 0.6])
    assert np.isfinite(written["lyapunov_exponents"].sel(epoch=[0, 3])).all()
    assert len(model.logged) == 4 and model.logged[-2][1] == pytest.approx(written["lyapunov_exponents"][3, 0])


def test_without_lightning_the_import_error_says_what_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "rnn_lyapunov.lightning")
    for name in [name for name in sys.modules if name == "lightning" or name.startswith("lightning.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=re.escape("pip install 'rnn-lyapunov[lightning]'")):
        importlib.import_module("rnn_lyapunov.lightning")


@quiet_lightning
@pytest.mark.filterwarnings("ignore:Starting from v1.9.0, `tensorboardX` has been removed")  # the default logger
def test_the_docs_lightning_snippet_runs(tmp_path, monkeypatch):
    from docs_pages import block_containing

    snippet = block_containing(TRAINING_PAGE, "LyapunovSpectrumCallback(").code
    inputs, train_loader, val_loader = loaders()
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/training.md", "exec"), {"model": Summer(), "val_inputs": inputs,
                                                 "train_loader": train_loader, "val_loader": val_loader})
    written = xr.load_dataset(tmp_path / "results/spectra/my_run.nc")
    assert written["epoch"].values.tolist() == [0, 1, 2, 3, 4]
    assert np.isnan(written["lyapunov_exponents"].sel(epoch=3)).all()
    assert np.isfinite(written["lyapunov_exponents"].sel(epoch=[0, 1, 2, 4])).all()
