"""One wiring from the spectrum settings to the engine: training, the CLI and the monitor pass the same
``lyapunov_spectrum`` keywords for the same settings, as the settings table says, and refuse a bad
schedule before any work, in their own terms."""

import inspect

import numpy as np
import pytest
import torch

from rnn_lyapunov.cli import commands as cli
from rnn_lyapunov.config.engine_arguments import check_spectrum_schedule, engine_arguments
from rnn_lyapunov.config.run_config import DEFAULTS
from rnn_lyapunov.config.settings import SETTINGS
from rnn_lyapunov.engine import lyapunov
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.training.monitor import SpectrumMonitor
from rnn_lyapunov.training.spectra import compute_spectrum
from rnn_lyapunov.architectures.torch_interop import from_torch

# Every engine setting away from its default, so that a setting dropped on the way shows.
CHOSEN = {"spectrum.n_exponents": 3, "spectrum.warmup_steps": 2, "spectrum.reorthonormalize_every": 2,
          "spectrum.factorization": "qr", "spectrum.tangent_dtype": "float64", "spectrum.record_every": 4}
# What the settings table says each of them is passed as (written out: the table is the reference).
EXPECTED = {"n_exponents": 3, "warmup_steps": 2, "reorthonormalize_every": 2, "factorization": "qr",
            "tangent_dtype": "float64", "record_every": 4}


def test_the_chosen_values_cover_every_setting_with_an_engine_argument_of_lyapunov_spectrum():
    engine_settings = {setting.key: setting.engine_argument for setting in SETTINGS if setting.engine_argument}
    assert set(engine_settings) == set(CHOSEN)
    assert {engine_settings[key] for key in CHOSEN} == set(EXPECTED)
    assert set(EXPECTED) <= set(inspect.signature(lyapunov.lyapunov_spectrum).parameters)
    for key, value in CHOSEN.items():
        assert value != DEFAULTS["spectrum"][key.partition(".")[2]], key


def test_engine_arguments_maps_every_engine_setting_and_nothing_else():
    spectrum = {**DEFAULTS["spectrum"], **{key.partition(".")[2]: value for key, value in CHOSEN.items()}}
    assert engine_arguments(spectrum) == EXPECTED


@pytest.fixture
def recorded(monkeypatch):
    """The keywords of every lyapunov_spectrum call, which still runs."""
    calls = []
    real = lyapunov.lyapunov_spectrum

    def recording(system, inputs, **keywords):
        calls.append(keywords)
        return real(system, inputs, **keywords)

    monkeypatch.setattr(lyapunov, "lyapunov_spectrum", recording)
    return calls


def _gru():
    torch.manual_seed(0)
    return torch.nn.GRU(2, 4, batch_first=True)


def test_training_the_cli_and_the_monitor_pass_the_same_engine_keywords(recorded, tmp_path, capsys):
    settings = {key.partition(".")[2]: value for key, value in CHOSEN.items()}
    inputs = torch.randn(3, 12, 2, generator=torch.Generator().manual_seed(1))

    compute_spectrum(from_torch(_gru()), inputs, {**DEFAULTS["spectrum"], **settings})
    SpectrumMonitor(_gru(), inputs, tmp_path / "monitor.nc", **settings).record(0)
    torch.save(_gru().state_dict(), tmp_path / "gru.pt")
    np.save(tmp_path / "inputs.npy", inputs.numpy())
    flags = [part for key, value in CHOSEN.items()
             for part in (next(s.flag for s in SETTINGS if s.key == key), str(value))]
    code = cli.main(["spectrum", "--architecture", "gru", "--state-dict", str(tmp_path / "gru.pt"), "--inputs",
                     str(tmp_path / "inputs.npy"), "--out", str(tmp_path / "cli.nc"), "--quiet", *flags])
    assert code == 0, capsys.readouterr().err

    assert len(recorded) == 3
    for keywords in recorded:
        assert {key: value for key, value in keywords.items() if key != "progress"} == EXPECTED


@pytest.mark.parametrize("as_flags, named", [(False, "spectrum.warmup_steps"), (True, "--warmup-steps")])
def test_the_schedule_check_names_the_setting_in_the_callers_terms(as_flags, named):
    spectrum = {**DEFAULTS["spectrum"], "warmup_steps": 12}
    with pytest.raises(InputError, match=named.replace(".", r"\.")):
        check_spectrum_schedule(spectrum, time_steps=12, as_flags=as_flags)
    check_spectrum_schedule(spectrum, time_steps=13, as_flags=as_flags)
    with pytest.raises(InputError, match="n_exponents"):
        check_spectrum_schedule({**DEFAULTS["spectrum"], "n_exponents": 5}, state_size=4)
