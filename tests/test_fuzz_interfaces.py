"""Fuzzing the other entry points: ``from_torch``, the run-config validator and the file readers.

Each either succeeds with a usable result or raises the documented InputError (or
NonFiniteStateError); never another exception, a hang, or a NaN reported as an exponent. Run
with ``--hypothesis-show-statistics`` to see how many cases ran and how they ended.
"""

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rnn_lyapunov import from_torch, lyapunov_spectrum
from rnn_lyapunov.engine.lyapunov import DeadDirectionWarning
from rnn_lyapunov.errors import InputError, NonFiniteStateError
from rnn_lyapunov.io.inputs import read_inputs_file
from rnn_lyapunov.config.run_config import DEFAULTS, validate_run_config
from rnn_lyapunov.io.weights import interpret_state_dict, load_weights_file

FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
SPECIAL_FACTORS = [1.0, 1.0, 1.0, 0.0, 1e30, -1e30, math.nan, math.inf]


# --- from_torch --------------------------------------------------------------------------------

@st.composite
def torch_modules(draw):
    kind = draw(st.sampled_from(["rnn_tanh", "rnn_relu", "lstm", "gru"]))
    hidden_size = draw(st.integers(1, 4))
    num_layers = draw(st.integers(1, 2))
    options = {"bias": draw(st.booleans()), "batch_first": draw(st.booleans()),
               "bidirectional": draw(st.integers(0, 4)) == 0}
    if num_layers > 1 and draw(st.booleans()):
        options["dropout"] = 0.5  # torch warns about dropout with a single layer, so only with two
    if kind == "lstm" and hidden_size > 1 and draw(st.integers(0, 4)) == 0:
        options["proj_size"] = draw(st.integers(1, hidden_size - 1))
    if kind.startswith("rnn"):
        module = torch.nn.RNN(draw(st.integers(1, 3)), hidden_size, num_layers, nonlinearity=kind[4:], **options)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](draw(st.integers(1, 3)), hidden_size, num_layers, **options)
    module.train(draw(st.booleans()))
    module = module.to(draw(st.sampled_from([torch.float32, torch.float64])))
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.mul_(draw(st.sampled_from(SPECIAL_FACTORS)))
    return module


@pytest.mark.slow
@settings(max_examples=150, **FUZZ)
@given(torch_modules(), st.integers(1, 3), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_from_torch_gives_a_system_with_a_finite_spectrum_or_documented_error(module, batch, steps, seed):
    try:
        system = from_torch(module)
    except InputError:
        event("from_torch: InputError")
        return
    dtype = next(module.parameters()).dtype
    inputs = torch.randn(batch, steps, module.input_size, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            spectrum = lyapunov_spectrum(system.requires_grad_(False), inputs)
        except NonFiniteStateError:
            event("spectrum: NonFiniteStateError")
            return
        except InputError:
            event("spectrum: InputError")
            return
    assert {type(warning.message) for warning in caught} <= {DeadDirectionWarning}
    assert not torch.isnan(spectrum.per_trajectory).any() and not torch.isposinf(spectrum.per_trajectory).any()
    assert spectrum.per_trajectory.shape == (batch, system.state_size)
    event("spectrum: dead direction" if torch.isneginf(spectrum.per_trajectory).any() else "spectrum: finite")


# --- run-config validator ----------------------------------------------------------------------

ANY_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=6)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=6,
)


def plausible_or_any(key, default):
    """For a known key: the default, a value of the same kind, or anything at all."""
    same_kind = {bool: st.booleans(), int: st.integers(-3, 300), float: st.floats(-1.0, 2.0),
                 str: st.sampled_from(["rnn", "lstm", "gru", "adam", "sgd", "signal_copy", "all", "cpu", "uniform"])}
    options = [st.just(default), ANY_VALUE]
    if type(default) in same_kind:
        options.append(same_kind[type(default)])
    return st.one_of(*options)


@st.composite
def run_configs(draw):
    top_keys = [key for key in DEFAULTS if key != "spectrum"]
    config = {key: draw(plausible_or_any(key, DEFAULTS[key]))
              for key in draw(st.lists(st.sampled_from(top_keys), unique=True, max_size=5))}
    if draw(st.booleans()):
        spectrum_keys = draw(st.lists(st.sampled_from(sorted(DEFAULTS["spectrum"])), unique=True, max_size=4))
        config["spectrum"] = {key: draw(plausible_or_any(key, DEFAULTS["spectrum"][key])) for key in spectrum_keys}
    if draw(st.integers(0, 5)) == 0:
        config[draw(st.text(min_size=1, max_size=8))] = draw(ANY_VALUE)
    return config


@settings(max_examples=400, **FUZZ)
@given(st.one_of(run_configs(), ANY_VALUE))
def test_run_config_validator_returns_a_complete_config_or_input_error(config):
    try:
        validated = validate_run_config(config)
    except InputError as error:
        assert str(error).strip(), "an InputError needs a message"
        event("InputError")
        return
    assert set(validated) == set(DEFAULTS) and set(validated["spectrum"]) == set(DEFAULTS["spectrum"])
    event("valid")


@pytest.mark.parametrize("key, value", [("learning_rate", math.nan), ("learning_rate", math.inf),
                                        ("dropout", math.nan), ("grad_clip", math.nan), ("grad_clip", math.inf),
                                        ("momentum", math.nan)])
def test_run_config_refuses_non_finite_numbers(key, value):
    with pytest.raises(InputError, match=key):
        validate_run_config({key: value})


# --- file readers ------------------------------------------------------------------------------

@settings(max_examples=150, **FUZZ)
@given(st.binary(max_size=300), st.sampled_from([".pt", ".npy", ".nc"]))
def test_random_bytes_as_an_inputs_file_give_input_error(tmp_path_factory, content, suffix):
    path = tmp_path_factory.mktemp("inputs") / f"inputs{suffix}"
    path.write_bytes(content)
    with pytest.raises(InputError):
        read_inputs_file(path)


@settings(max_examples=150, **FUZZ)
@given(st.binary(max_size=300))
def test_random_bytes_as_a_weights_file_give_input_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("weights") / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(InputError):
        load_weights_file(path)


@settings(max_examples=100, **FUZZ)
@given(st.dictionaries(
    st.sampled_from(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "core.weight_hh_l0", "core.weight_ih_l0",
                     "readout.weight", "readout.bias", "other"]),
    st.lists(st.integers(0, 4), max_size=3).map(lambda shape: torch.zeros(shape)), max_size=5))
def test_any_state_dict_is_interpreted_or_refused_with_input_error(state_dict):
    try:
        weights = interpret_state_dict(state_dict)
    except InputError:
        event("InputError")
        return
    for size in (weights.hidden_size, weights.num_layers, weights.input_size, weights.output_size):
        assert size is None or (isinstance(size, int) and size >= 0)
    event(weights.layout)


@settings(max_examples=100, **FUZZ)
@given(st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.bool_, np.complex128]),
       st.lists(st.integers(0, 3), max_size=4), st.sampled_from([0.0, 1.0, math.nan, math.inf, 1e300]))
def test_any_npy_array_is_read_or_refused_with_input_error(tmp_path_factory, dtype, shape, fill):
    path = tmp_path_factory.mktemp("arrays") / "inputs.npy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # casting inf/NaN to an integer dtype
        np.save(path, np.full(shape, fill).astype(dtype))
    try:
        inputs = read_inputs_file(path)
    except InputError:
        event("InputError")
        return
    assert inputs.dim() == 3 and inputs.is_floating_point() and torch.isfinite(inputs).all()
    event("read")


@settings(max_examples=100, **FUZZ)
@given(st.sampled_from([b"", b"CDF\x01", b"CDF\x02", b"\x89HDF\r\n\x1a\n"]), st.binary(max_size=300))
def test_random_bytes_as_a_sweep_file_give_input_error(tmp_path_factory, magic, content):
    from rnn_lyapunov.io.sweep_file import load_sweep

    path = tmp_path_factory.mktemp("sweep") / "sweep.nc"
    path.write_bytes(magic + content)
    with pytest.raises(InputError):
        load_sweep(path)


@functools.lru_cache(maxsize=1)
def genuine_sweep_bytes() -> bytes:
    """The bytes of a small genuine sweep file (two runs); not a fixture, so hypothesis does not print them."""
    import tempfile

    import xarray as xr

    from rnn_lyapunov.io.sweep_file import write_sweep

    with tempfile.TemporaryDirectory() as directory:
        paths = []
        for seed in (0, 1):
            run = xr.Dataset({"lyapunov_exponents": (("epoch", "exponent"), np.full((2, 3), -0.1 * (seed + 1)))},
                             coords={"epoch": [0, 1], "exponent": [1, 2, 3], "run_id": f"run{seed}", "seed": seed})
            run.to_netcdf(f"{directory}/run{seed}.nc")
            paths.append(f"{directory}/run{seed}.nc")
        write_sweep(paths, f"{directory}/sweep.nc")
        with open(f"{directory}/sweep.nc", "rb") as handle:
            return handle.read()


@settings(max_examples=60, **FUZZ)
@given(st.floats(0.0, 0.999))
def test_truncated_sweep_file_gives_input_error(tmp_path_factory, cut):
    from rnn_lyapunov.io.sweep_file import load_sweep

    data = genuine_sweep_bytes()
    path = tmp_path_factory.mktemp("truncated") / "sweep.nc"
    path.write_bytes(data[: int(cut * len(data))])  # a copy interrupted part-way
    with pytest.raises(InputError):
        load_sweep(path)


def test_sweep_file_with_a_damaged_attribute_gives_input_error(tmp_path, monkeypatch):
    import xarray as xr

    from rnn_lyapunov.io.sweep_file import load_sweep

    (tmp_path / "sweep.nc").write_bytes(genuine_sweep_bytes())

    def open_damaged(*args, **kwargs):  # what netCDF4 raised for the fuzzed file (the byte's offset varies with the attributes)
        raise AttributeError("NetCDF: Can't open HDF5 attribute")

    monkeypatch.setattr(xr, "open_dataset", open_damaged)
    with pytest.raises(InputError):
        load_sweep(tmp_path / "sweep.nc")


@functools.lru_cache(maxsize=None)
def genuine_file_bytes(suffix: str) -> bytes:
    """A valid inputs file (.npy, .pt, .nc) or weights file (weights.pt) with fixed content."""
    import tempfile

    import xarray as xr

    values = np.linspace(-1.0, 1.0, 2 * 5 * 3).reshape(2, 5, 3)
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/file{suffix}"
        if suffix == ".npy":
            np.save(path, values)
        elif suffix == ".pt":
            torch.save(torch.from_numpy(values), path)
        elif suffix == ".nc":
            xr.Dataset({"inputs": (("batch", "time", "feature"), values)}).to_netcdf(path)
        else:
            with torch.random.fork_rng():  # the same bytes whichever test asks first
                torch.manual_seed(0)
                torch.save(torch.nn.GRU(3, 2).state_dict(), path)
        with open(path, "rb") as handle:
            return handle.read()


@settings(max_examples=150, **FUZZ)
@given(st.sampled_from([".npy", ".pt", ".nc", "weights.pt"]), st.floats(0.0, 0.999), st.integers(1, 255), st.booleans())
def test_damaged_inputs_or_weights_file_is_read_or_refused_with_input_error(tmp_path_factory, suffix, position, flip, truncate):
    data = bytearray(genuine_file_bytes(suffix))
    index = int(position * len(data))
    if truncate:
        del data[index:]  # an interrupted copy
    else:
        data[index] ^= flip  # a damaged byte
    path = tmp_path_factory.mktemp("damaged") / ("weights.pt" if suffix == "weights.pt" else f"inputs{suffix}")
    path.write_bytes(bytes(data))
    try:
        if suffix == "weights.pt":
            interpret_state_dict(load_weights_file(path))
        else:
            inputs = read_inputs_file(path)
            assert inputs.dim() == 3 and torch.isfinite(inputs).all()
    except InputError:
        event(f"{suffix}: InputError")
        return
    event(f"{suffix}: read")
