"""The figure registry: registration and its refusals, discovery (package scan, entry points), lookup."""

import importlib
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from rnn_lyapunov import registry as generic_registry
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures import registry
from rnn_lyapunov.figures.registry import (
    FigureLoadWarning, FigureRegistrationError, available_figures, default_figures, describe_figures, figure_files,
    figure_options, get_figure, register_figure, workflow_figures,
)
from rnn_lyapunov.figures.render import render_figure
from rnn_lyapunov.figures.synthetic import synthetic_sweep

CAPTION = "**A test figure.** The largest exponent of each run at each epoch."


@pytest.fixture
def fresh_registry(monkeypatch):
    """The built-in figures in a copy of the registry: whatever a test registers is gone afterwards."""
    registry.discover_figures()
    monkeypatch.setattr(registry.FIGURES, "entries", dict(registry.FIGURES.entries))
    return registry.FIGURES.entries


def largest_per_epoch(sweep, *, early_epoch=0):
    """A third-party figure: lambda_1 against epoch, one line per run."""
    from matplotlib.figure import Figure

    figure = Figure()
    ax = figure.add_subplot()
    for run in sweep["run"].values:
        ax.plot(sweep["epoch"].values, sweep["lyapunov_exponents"].sel(run=run).max("exponent").values)
    ax.axvline(early_epoch)
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"$\lambda_1$ (nats/step)")
    return figure


def another_figure(sweep):
    return largest_per_epoch(sweep)


def test_a_figure_registered_from_a_test_module_joins_the_registry(fresh_registry, tmp_path):
    drawn = register_figure("largest_per_epoch", needs="sweep", variables=("lyapunov_exponents",),
                            caption=CAPTION, options=("early_epoch",))(largest_per_epoch)
    assert "largest_per_epoch" in available_figures()
    assert {"spectra_by_architecture", "validation"} <= set(available_figures())  # the built-ins stay
    figure = get_figure("largest_per_epoch")
    assert figure.function is largest_per_epoch and figure.draw is drawn
    assert figure.source.startswith(f"{__name__}.largest_per_epoch (")
    assert describe_figures()["largest_per_epoch"]["needs"] == "sweep"
    assert describe_figures()["largest_per_epoch"]["summary"] == "A test figure"
    assert "results/figures/largest_per_epoch.png" in figure_files("results/figures")
    assert figure_options("largest_per_epoch", {"early_epoch": 2, "dpi": 80}) == {"early_epoch": 2}
    png = tmp_path / "largest_per_epoch.png"
    render_figure("largest_per_epoch", synthetic_sweep(), [png], dpi=30,
                  options=figure_options("largest_per_epoch", {"early_epoch": 2}))
    assert png.stat().st_size > 1_000


def test_a_figure_registered_with_default_false_is_drawn_only_when_listed(fresh_registry):
    register_figure("largest_per_epoch", needs="sweep", caption=CAPTION, default=False)(largest_per_epoch)
    assert "largest_per_epoch" in available_figures() and "largest_per_epoch" not in default_figures()
    assert describe_figures()["largest_per_epoch"]["default"] is False
    assert "results/figures/largest_per_epoch.png" not in figure_files("results/figures")
    assert "results/figures/largest_per_epoch.png" in figure_files("results/figures", ["largest_per_epoch"])
    assert workflow_figures(["largest_per_epoch"])[-1] == "largest_per_epoch"
    with pytest.raises(InputError, match="unknown figure 'largest_per_epochs'; known figures: .*largest_per_epoch"):
        workflow_figures(["largest_per_epochs"])


def test_options_left_unset_keep_the_functions_defaults(fresh_registry):
    register_figure("largest_per_epoch", needs="sweep", caption=CAPTION, options=("early_epoch",))(largest_per_epoch)
    assert figure_options("largest_per_epoch", {"early_epoch": None, "dpi": 80}) == {}
    assert figure_options("largest_per_epoch", {"early_epoch": 0}) == {"early_epoch": 0}


def test_a_duplicate_name_is_refused_naming_both_places(fresh_registry):
    register_figure("largest_per_epoch", needs="sweep", caption=CAPTION)(largest_per_epoch)
    with pytest.raises(FigureRegistrationError) as raised:
        register_figure("largest_per_epoch", needs="sweep", caption=CAPTION)(another_figure)
    message = str(raised.value)
    assert "already registered by" in message
    assert f"{__name__}.largest_per_epoch (" in message and f"{__name__}.another_figure (" in message
    assert __file__ in message
    assert get_figure("largest_per_epoch").function is largest_per_epoch  # the first one stays


def test_a_built_in_name_cannot_be_taken(fresh_registry):
    with pytest.raises(FigureRegistrationError, match=r"rnn_lyapunov\.figures\.convergence\.convergence"):
        register_figure("convergence", needs="sweep", caption=CAPTION)(another_figure)


def test_the_same_definition_imported_twice_is_harmless(fresh_registry, tmp_path, monkeypatch):
    (tmp_path / "twice_figure.py").write_text(textwrap.dedent('''
        from rnn_lyapunov.figures.registry import register_figure

        @register_figure("twice", needs="sweep", caption="**Twice.** Imported twice.")
        def twice(sweep):
            raise NotImplementedError
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("twice_figure")
    monkeypatch.delitem(sys.modules, "twice_figure")
    reimported = importlib.import_module("twice_figure")
    monkeypatch.delitem(sys.modules, "twice_figure")
    assert get_figure("twice").function is reimported.twice.__wrapped__


def test_an_unknown_needs_is_refused_listing_the_known_ones(fresh_registry):
    with pytest.raises(FigureRegistrationError, match="unknown needs 'runs'; a figure reads one of: sweep, validation"):
        register_figure("largest_per_epoch", needs="runs", caption=CAPTION)(largest_per_epoch)
    assert "largest_per_epoch" not in available_figures()


@pytest.mark.parametrize("arguments, message", [
    ({"caption": "  "}, "give it a caption"),
    ({"caption": CAPTION, "options": ("dpi",)}, r"does not take the option\(s\) \['dpi'\]"),
    ({"caption": CAPTION, "variables": "val_loss"}, "variables must be a tuple"),
    ({"caption": CAPTION, "table": "stability.csv"}, "table must be a function"),
    ({"caption": CAPTION, "default": "no"}, "default must be True .* or False"),
    ({"caption": CAPTION, "drawn_from_table": True}, "drawn_from_table=True needs a table function"),
])
def test_bad_registrations_are_refused(fresh_registry, arguments, message):
    with pytest.raises(FigureRegistrationError, match=message):
        register_figure("largest_per_epoch", needs="sweep", **arguments)(largest_per_epoch)


@pytest.mark.parametrize("name", ["Largest", "largest-per-epoch", "1st", "", None])
def test_names_that_are_not_file_stems_are_refused(name):
    with pytest.raises(FigureRegistrationError, match="is not allowed"):
        register_figure(name, needs="sweep", caption=CAPTION)


def test_an_unknown_name_lists_the_known_figures():
    with pytest.raises(InputError, match=r"unknown figure 'spectra'; known figures: .*spectra_by_architecture"):
        get_figure("spectra")
    with pytest.raises(InputError, match="Did you mean 'convergence'"):
        get_figure("convergance")


def test_an_entry_point_module_registers_its_figures(fresh_registry, tmp_path, monkeypatch):
    (tmp_path / "third_party_figures.py").write_text(textwrap.dedent('''
        from rnn_lyapunov.figures.registry import register_figure

        @register_figure("third_party", needs="validation", variables=("gaussian_exponents",),
                         caption="**Third party.** Registered through an entry point.")
        def third_party(dataset):
            raise NotImplementedError
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # forget the module afterwards
    points = [EntryPoint("third_party", "third_party_figures", registry.ENTRY_POINT_GROUP),
              EntryPoint("broken", "no_such_figure_module", registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(generic_registry, "entry_points",
                        lambda group: [point for point in points if point.group == group])
    monkeypatch.setattr(registry.FIGURES, "discovered", False)
    with pytest.warns(FigureLoadWarning, match="broken = no_such_figure_module .*rnn_lyapunov.figures"):
        names = available_figures()
    assert "third_party" in names and "convergence" in names
    assert get_figure("third_party").needs == "validation"


def test_a_figure_module_that_fails_to_import_is_skipped_with_a_warning(fresh_registry, tmp_path, monkeypatch):
    package = tmp_path / "scanned_figures"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text(textwrap.dedent('''
        from rnn_lyapunov.figures.registry import register_figure

        @register_figure("good_one", needs="sweep", caption="**Good.** It imports.")
        def good_one(sweep):
            raise NotImplementedError
    '''))
    (package / "bad.py").write_text("import no_such_module_for_a_figure\n")
    (package / "_private.py").write_text("raise RuntimeError('modules starting with _ are not scanned')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    monkeypatch.setattr(registry.FIGURES, "package", "scanned_figures")
    monkeypatch.setattr(generic_registry, "entry_points", lambda group: [])
    monkeypatch.setattr(registry.FIGURES, "discovered", False)
    with pytest.warns(FigureLoadWarning, match=r"scanned_figures\.bad was skipped: ModuleNotFoundError"):
        assert "good_one" in available_figures()


def test_every_built_in_figure_module_is_found_by_the_scan():
    # No hand-kept list: each module of rnn_lyapunov.figures that registers a figure is found.
    sources = {get_figure(name).source.split(" ")[0].rsplit(".", 1)[0] for name in available_figures()}
    assert {"rnn_lyapunov.figures.convergence", "rnn_lyapunov.figures.engine_validation"} <= sources
    assert set(describe_figures()) == set(available_figures())


def test_the_docs_figure_example_registers_and_draws(fresh_registry, tmp_path, monkeypatch):
    from docs_pages import ROOT, block_containing

    source = block_containing(ROOT / "docs/figures.md", "@register_figure(").code
    (tmp_path / "readme_figure.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    importlib.import_module("readme_figure")
    (name,) = set(available_figures()) - set(registry_names_before(fresh_registry))
    figure = get_figure(name).draw(synthetic_sweep(), **figure_options(name, {"early_epoch": 1, "dpi": 80}))
    (ax,) = figure.axes
    assert ax.get_xlabel() and ax.get_ylabel() and len(ax.get_lines()) > 1


def registry_names_before(registry_copy):
    """The names in the registry copy before the docs' example module registered (the built-ins)."""
    return [name for name, figure in registry_copy.items() if figure.source.startswith("rnn_lyapunov.")]
