"""The architecture registry: refusing bad plugins at registration, lookup errors, discovery."""

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch

from rnn_lyapunov import registry as generic_registry
from rnn_lyapunov import available_architectures, register_architecture
from rnn_lyapunov.architectures import registry
from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.architectures.registry import (
    PluginLoadWarning,
    PluginRegistrationError,
    describe_architectures,
    get_architecture,
    load_plugin_paths,
)

BUILT_IN = {"rnn", "lstm", "gru", "cornn", "lru", "selective_ssm"}

PLUGIN_SOURCE = textwrap.dedent(
    '''
    import torch
    from rnn_lyapunov.architectures.base import RecurrentArchitecture
    from rnn_lyapunov.architectures.registry import register_architecture


    @register_architecture("{name}")
    class Leaky(RecurrentArchitecture):
        description = "leaky tanh RNN for a registry test"

        def cell(self, layer, layer_input, h):
            weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
            drive = torch.tanh(layer_input @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)
            return 0.5 * h + 0.5 * drive
    '''
)


@pytest.fixture
def isolated_registry(monkeypatch):
    """Discovery done once, then any registration made by the test is undone afterwards."""
    available_architectures()
    monkeypatch.setattr(registry.ARCHITECTURES, "entries", dict(registry.ARCHITECTURES.entries))
    monkeypatch.setattr(registry, "_LOADED_PATHS", set(registry._LOADED_PATHS))
    return registry


def _write_plugin(directory: Path, file_name: str, architecture_name: str) -> Path:
    path = directory / file_name
    path.write_text(PLUGIN_SOURCE.format(name=architecture_name))
    return path


def _minimal_class(description="a test architecture"):
    class Minimal(RecurrentArchitecture):  # a whole step instead of a cell is allowed too
        def step(self, state, x):
            return state

    Minimal.description = description
    return Minimal


def test_discovery_finds_the_built_in_plugins():
    assert BUILT_IN <= set(available_architectures())
    assert available_architectures() == sorted(available_architectures())


def test_describe_architectures_gives_one_line_per_name():
    descriptions = describe_architectures()
    assert list(descriptions) == available_architectures()
    assert all(text and "\n" not in text for text in descriptions.values())


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(InputError, match="unknown architecture 'lstn'.*gru, lru, lstm, rnn.*Did you mean 'lstm'"):
        get_architecture("lstn")


def test_duplicate_name_names_both_sources(isolated_registry):
    with pytest.raises(PluginRegistrationError) as raised:
        register_architecture("lstm")(_minimal_class())
    message = str(raised.value)
    assert "rnn_lyapunov.plugins.lstm.LSTM" in message and "lstm.py" in message
    assert "test_registry" in message and "Minimal" in message


def test_non_subclass_is_refused_at_registration(isolated_registry):
    class NotAnArchitecture(torch.nn.Module):
        description = "no"

        def step(self, state, x):
            return state

    with pytest.raises(PluginRegistrationError, match="must be a class that subclasses"):
        register_architecture("not-one")(NotAnArchitecture)


def test_class_without_cell_is_refused_at_registration(isolated_registry):
    class NoCell(RecurrentArchitecture):
        description = "missing cell"

    with pytest.raises(PluginRegistrationError, match=r"does not define cell\(self, layer, layer_input, \*blocks\)"):
        register_architecture("no-cell")(NoCell)


def test_class_with_only_a_step_or_a_linearised_cell_registers(isolated_registry):
    class OnlyLinearised(RecurrentArchitecture):
        description = "identity cell with its tangent map"

        def linearised_cell(self, layer, layer_input, h):
            return h, lambda input_rows, h_rows: h_rows

    register_architecture("only-step")(_minimal_class())
    register_architecture("only-linearised")(OnlyLinearised)
    assert callable(OnlyLinearised.jacobian) and callable(OnlyLinearised.step_with_tangents)


def test_linearised_cell_that_is_not_a_method_is_refused(isolated_registry):
    class NotCallable(RecurrentArchitecture):
        description = "linearised_cell is a number"
        linearised_cell = 3

        def cell(self, layer, layer_input, h):
            return h

    with pytest.raises(PluginRegistrationError, match="linearised_cell must be a method"):
        register_architecture("not-callable")(NotCallable)


def test_forward_sequence_that_is_not_a_method_is_refused(isolated_registry):
    class NotCallable(RecurrentArchitecture):
        description = "forward_sequence is a flag"
        forward_sequence = True

        def cell(self, layer, layer_input, h):
            return h

    with pytest.raises(PluginRegistrationError, match=r"forward_sequence must be a method forward_sequence\(self, inputs, state\)"):
        register_architecture("not-callable")(NotCallable)


@pytest.mark.parametrize("description", ["", "   ", "two\nlines", None])
def test_class_without_one_line_description_is_refused(isolated_registry, description):
    with pytest.raises(PluginRegistrationError, match="description"):
        register_architecture("no-description")(_minimal_class(description))


@pytest.mark.parametrize("name", ["", "LSTM", "9rnn", "my rnn", None])
def test_badly_formed_names_are_refused(name):
    with pytest.raises(PluginRegistrationError, match="not allowed"):
        register_architecture(name)


def test_plugin_file_from_plugin_paths_registers_and_builds(isolated_registry, tmp_path):
    path = _write_plugin(tmp_path, "leaky.py", "leaky-file")
    assert load_plugin_paths([str(path)]) == ["leaky-file"]
    core = get_architecture("leaky-file")(input_size=2, hidden_size=3)
    assert core.step(core.initial_state(4), torch.zeros(4, 2)).shape == (4, 3)
    assert describe_architectures()["leaky-file"] == "leaky tanh RNN for a registry test"


def test_loading_the_same_file_twice_is_not_a_duplicate(isolated_registry, tmp_path):
    path = _write_plugin(tmp_path, "leaky.py", "leaky-twice")
    load_plugin_paths(path)
    assert load_plugin_paths([path, tmp_path]) == []
    assert "leaky-twice" in available_architectures()


def test_plugin_folder_loads_every_file(isolated_registry, tmp_path):
    _write_plugin(tmp_path, "first.py", "leaky-first")
    _write_plugin(tmp_path, "second.py", "leaky-second")
    (tmp_path / "_private.py").write_text("raise RuntimeError('never imported')\n")
    assert load_plugin_paths([tmp_path]) == ["leaky-first", "leaky-second"]


def test_missing_plugin_path_is_an_input_error(isolated_registry, tmp_path):
    with pytest.raises(InputError, match="not a .py file"):
        load_plugin_paths([tmp_path / "absent.py"])


def test_plugin_file_that_fails_names_the_file(isolated_registry, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import a_module_that_does_not_exist\n")
    with pytest.raises(InputError, match="broken.py failed to load: ModuleNotFoundError"):
        load_plugin_paths([broken])


def test_plugin_file_reusing_a_built_in_name_is_refused(isolated_registry, tmp_path):
    path = _write_plugin(tmp_path, "clash.py", "gru")
    with pytest.raises(InputError, match="'gru' is already registered by rnn_lyapunov.plugins.gru.GRU"):
        load_plugin_paths([path])


def _fresh_discovery(monkeypatch, entry_point_list):
    """An empty registry that has not discovered anything yet; the built-in modules get re-imported."""
    import sys

    for module_name in [name for name in sys.modules if name.startswith(registry.PLUGIN_PACKAGE + ".")]:
        monkeypatch.delitem(sys.modules, module_name)
    monkeypatch.setattr(registry.ARCHITECTURES, "entries", {})
    monkeypatch.setattr(registry.ARCHITECTURES, "discovered", False)
    monkeypatch.setattr(generic_registry, "entry_points", lambda group: [ep for ep in entry_point_list if ep.group == group])


@pytest.mark.parametrize("value_style", ["module", "module:Class"])
def test_entry_point_plugin_is_discovered(monkeypatch, tmp_path, value_style):
    module_name = f"third_party_leaky_{value_style.replace(':', '_')}"
    _write_plugin(tmp_path, f"{module_name}.py", "leaky-entry-point")
    monkeypatch.syspath_prepend(str(tmp_path))
    value = module_name if value_style == "module" else f"{module_name}:Leaky"
    entry_point = EntryPoint(name="leaky-entry-point", value=value, group=registry.ENTRY_POINT_GROUP)
    _fresh_discovery(monkeypatch, [entry_point])
    names = available_architectures()
    assert "leaky-entry-point" in names and BUILT_IN <= set(names)


def test_entry_point_class_without_decorator_is_registered_under_its_name(monkeypatch, tmp_path):
    source = PLUGIN_SOURCE.format(name="unused").replace('@register_architecture("unused")\n', "")
    (tmp_path / "undecorated_plugin.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry_point = EntryPoint(name="undecorated", value="undecorated_plugin:Leaky", group=registry.ENTRY_POINT_GROUP)
    _fresh_discovery(monkeypatch, [entry_point])
    assert get_architecture("undecorated").__name__ == "Leaky"


def test_broken_entry_point_warns_and_the_others_still_load(monkeypatch):
    entry_point = EntryPoint(name="broken", value="a_module_that_does_not_exist", group=registry.ENTRY_POINT_GROUP)
    _fresh_discovery(monkeypatch, [entry_point])
    with pytest.warns(PluginLoadWarning, match="broken = a_module_that_does_not_exist.*skipped"):
        names = available_architectures()
    assert BUILT_IN <= set(names)


def test_discovery_runs_once(monkeypatch):
    calls = []
    _fresh_discovery(monkeypatch, [])
    monkeypatch.setattr(generic_registry, "entry_points", lambda group: calls.append(group) or [])
    available_architectures()
    describe_architectures()
    get_architecture("rnn")
    assert calls == [registry.ENTRY_POINT_GROUP]


def test_core_modules_never_import_a_plugin_by_name():  # the tests may; src/ may not
    source_folder = Path(registry.__file__).parent
    for path in source_folder.rglob("*.py"):
        text = path.read_text()
        for plugin in BUILT_IN:
            assert f"plugins.{plugin}" not in text and f"plugins import {plugin}" not in text, path


def test_built_in_file_loaded_again_by_path_is_not_a_duplicate(isolated_registry):
    import rnn_lyapunov.plugins as built_in_package

    built_in = get_architecture("gru")
    assert load_plugin_paths([Path(built_in_package.__path__[0]) / "gru.py"]) == []
    assert get_architecture("gru") is built_in
