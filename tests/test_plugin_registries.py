"""The one registry behind architectures, datasets and figures: each behaviour checked on all three.

Refusal at registration (with the registry's own subclass of RegistrationError), "did you mean" for
an unknown name, discovery of a new one-file module dropped into the package, and discovery through
an entry point of an installed distribution (faked by replacing ``entry_points``, as in
tests/test_registry.py).
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from types import ModuleType

import pytest

from rnn_lyapunov import registry as generic_registry
from rnn_lyapunov.architectures import registry as architecture_registry
from rnn_lyapunov.datasets import registry as dataset_registry
from rnn_lyapunov.errors import InputError, RnnLyapunovError
from rnn_lyapunov.figures import registry as figure_registry
from rnn_lyapunov.registry import PluginSkippedWarning, RegistrationError, Registry, UnknownNameError

# One valid plugin of each kind, in one file; "{register}" is the line that registers it (left out to
# test an entry point naming the bare class or function).
SOURCES = {
    "architecture": '''
        from rnn_lyapunov.architectures.base import RecurrentArchitecture
        from rnn_lyapunov.architectures.registry import register_architecture

        class Thing(RecurrentArchitecture):
            description = "a registry test architecture"

            def step(self, state, x):
                return state

        {register}
    ''',
    "dataset": '''
        from rnn_lyapunov.datasets.base import DatasetBuilder
        from rnn_lyapunov.datasets.registry import register_dataset

        class Thing(DatasetBuilder):
            description = "a registry test dataset"

            def build(self, *, seed, **options):
                raise NotImplementedError

        {register}
    ''',
    "figure": '''
        from rnn_lyapunov.figures.registry import register_figure

        def Thing(sweep):
            raise NotImplementedError

        {register}
    ''',
}
REGISTER_LINES = {
    "architecture": 'Thing = register_architecture("{name}")(Thing)',
    "dataset": 'Thing = register_dataset("{name}")(Thing)',
    "figure": 'Thing = register_figure("{name}", needs="sweep", caption="**Test.** A registry test figure.")(Thing)',
}


@dataclass
class Kind:
    name: str
    registry: Registry
    module: ModuleType               # the kind's registry module (its public functions)
    register: object                 # register(name, obj): the kind's decorator applied to obj
    get: object                      # the public lookup function
    misspelled: tuple[str, str]      # (a misspelling, the built-in name it is closest to)
    error: type
    warning: type

    def source(self, name: str, registered: bool = True) -> str:
        line = REGISTER_LINES[self.name].format(name=name) if registered else ""
        return textwrap.dedent(SOURCES[self.name]).replace("{register}", line)


KINDS = {
    "architecture": Kind(
        "architecture", architecture_registry.ARCHITECTURES, architecture_registry,
        lambda name, obj: architecture_registry.register_architecture(name)(obj),
        architecture_registry.get_architecture, ("lstn", "lstm"),
        architecture_registry.PluginRegistrationError, architecture_registry.PluginLoadWarning),
    "dataset": Kind(
        "dataset", dataset_registry.DATASETS, dataset_registry,
        lambda name, obj: dataset_registry.register_dataset(name)(obj),
        dataset_registry.get_dataset_builder, ("adding_problem", "adding"),
        dataset_registry.DatasetRegistrationError, dataset_registry.DatasetLoadWarning),
    "figure": Kind(
        "figure", figure_registry.FIGURES, figure_registry,
        lambda name, obj: figure_registry.register_figure(name, needs="sweep", caption="**T.** t")(obj),
        figure_registry.get_figure, ("convergance", "convergence"),
        figure_registry.FigureRegistrationError, figure_registry.FigureLoadWarning),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request, monkeypatch):
    """One registry after discovery, in a copy that forgets whatever the test registers."""
    chosen = KINDS[request.param]
    chosen.registry.discover()
    monkeypatch.setattr(chosen.registry, "entries", dict(chosen.registry.entries))
    return chosen


def _import_file(monkeypatch, path, module_name):
    """Import ``path`` as ``module_name`` (forgotten after the test)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    return module


def _forget_afterwards(monkeypatch, module_name):
    """Remove ``module_name`` from sys.modules when the test ends (it is not imported yet)."""
    monkeypatch.setitem(sys.modules, module_name, None)  # undone by deleting the key again
    del sys.modules[module_name]


def _rediscover(monkeypatch, kind, entry_point_list=()):
    """Discovery not yet run (built-ins kept), with ``entry_point_list`` as the installed entry points."""
    monkeypatch.setattr(kind.registry, "discovered", False)
    monkeypatch.setattr(generic_registry, "entry_points",
                        lambda group: [point for point in entry_point_list if point.group == group])


def test_the_error_and_warning_classes_are_one_family(kind):
    assert kind.registry.error is kind.error and kind.registry.warning is kind.warning
    assert issubclass(kind.error, RegistrationError) and issubclass(RegistrationError, InputError)
    assert issubclass(InputError, RnnLyapunovError) and issubclass(UnknownNameError, InputError)
    assert issubclass(kind.warning, PluginSkippedWarning)


def test_a_bad_entry_is_refused_when_it_registers(kind):
    with pytest.raises(kind.error, match=f"cannot register 42 as {kind.name} 'registry_test_bad'"):
        kind.register("registry_test_bad", 42)
    assert "registry_test_bad" not in kind.registry.entries


def test_a_bad_name_is_refused_when_it_registers(kind):
    with pytest.raises(kind.error, match=f"{kind.name} name '9 lives' is not allowed: use "):
        kind.register("9 lives", 42)


def test_a_second_definition_under_a_taken_name_is_refused_naming_both(kind, monkeypatch, tmp_path):
    (tmp_path / "first.py").write_text(kind.source("registry_test_twice"))
    (tmp_path / "second.py").write_text(kind.source("registry_test_twice"))
    _import_file(monkeypatch, tmp_path / "first.py", "registry_test_first")
    _import_file(monkeypatch, tmp_path / "first.py", "registry_test_first_again")  # same file: harmless
    with pytest.raises(kind.error, match=r"'registry_test_twice' is already registered by "
                                         r"registry_test_first(_again)?\.Thing \(.*first\.py\); .*second\.py.* Rename"):
        _import_file(monkeypatch, tmp_path / "second.py", "registry_test_second")


def test_an_unknown_name_lists_the_known_ones_and_the_closest(kind):
    misspelled, meant = kind.misspelled
    with pytest.raises(UnknownNameError, match=rf"unknown {kind.name} '{misspelled}'; known {kind.name}s: "
                                               rf".*{meant}.*Did you mean '{meant}'\?"):
        kind.get(misspelled)


def test_an_unhashable_name_is_an_unknown_name_not_a_type_error(kind):
    with pytest.raises(UnknownNameError, match=f"unknown {kind.name} \\['x'\\]"):
        kind.get(["x"])


def test_a_new_one_file_module_in_the_package_is_discovered(kind, monkeypatch, tmp_path):
    # Adding a plugin is adding one file to the registry's package: no list to edit.
    package = importlib.import_module(kind.registry.package)
    (tmp_path / "registry_test_one_file.py").write_text(kind.source("registry_test_one_file"))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    module_name = f"{kind.registry.package}.registry_test_one_file"
    _forget_afterwards(monkeypatch, module_name)
    _rediscover(monkeypatch, kind)
    assert "registry_test_one_file" in kind.registry.names()
    assert kind.registry.definition(kind.get("registry_test_one_file")).__module__ == module_name


@pytest.mark.parametrize("registered", [True, False], ids=["module", "module:attribute"])
def test_an_entry_point_plugin_is_discovered(kind, monkeypatch, tmp_path, registered):
    module_name = f"registry_test_entry_point_{kind.name}_{registered}"
    (tmp_path / f"{module_name}.py").write_text(kind.source("registry_test_entry_point", registered))
    monkeypatch.syspath_prepend(str(tmp_path))
    _forget_afterwards(monkeypatch, module_name)
    value = module_name if registered else f"{module_name}:Thing"
    _rediscover(monkeypatch, kind, [EntryPoint("registry_test_entry_point", value, kind.registry.entry_point_group)])
    if registered or kind.registry.adopt is not None:
        assert "registry_test_entry_point" in kind.registry.names()
    else:  # a bare function cannot become a figure: it has no caption
        with pytest.warns(kind.warning, match="neither a module nor a registered figure"):
            assert "registry_test_entry_point" not in kind.registry.names()


def test_a_broken_entry_point_warns_and_the_others_still_load(kind, monkeypatch):
    built_in = set(kind.registry.entries)
    broken = EntryPoint("broken", "registry_test_no_such_module", kind.registry.entry_point_group)
    _rediscover(monkeypatch, kind, [broken])
    with pytest.warns(kind.warning, match=rf"{kind.name} plugin broken = registry_test_no_such_module "
                                          rf"\(entry point group {kind.registry.entry_point_group}\) was skipped"):
        assert set(kind.registry.names()) == built_in


def test_discovery_reads_each_entry_point_group_once(kind, monkeypatch):
    groups = []
    _rediscover(monkeypatch, kind)
    monkeypatch.setattr(generic_registry, "entry_points", lambda group: groups.append(group) or [])
    kind.registry.names()
    kind.get(kind.misspelled[1])
    kind.registry.names()
    assert groups == [kind.registry.entry_point_group]
