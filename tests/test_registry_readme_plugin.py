"""The plugin example of docs/architectures.md ('Add your own architecture') works as printed."""

import pytest

from rnn_lyapunov import available_architectures, check_jacobian, create_model
from rnn_lyapunov.architectures import registry
from rnn_lyapunov.architectures.registry import load_plugin_paths

from docs_pages import ROOT, block_containing


def _readme_plugin_source() -> str:
    return block_containing(ROOT / "docs/architectures.md", "@register_architecture").code


@pytest.fixture
def isolated_registry(monkeypatch):
    available_architectures()
    monkeypatch.setattr(registry.ARCHITECTURES, "entries", dict(registry.ARCHITECTURES.entries))
    monkeypatch.setattr(registry, "_LOADED_PATHS", set(registry._LOADED_PATHS))


def test_readme_plugin_loads_builds_and_passes_check_jacobian(isolated_registry, tmp_path):
    source = _readme_plugin_source()
    assert len(source.splitlines()) <= 40
    path = tmp_path / "leaky_rnn.py"
    path.write_text(source)
    assert load_plugin_paths([path]) == ["leaky-rnn"]
    for num_layers in (1, 2):  # the base class stacks the example's one layer, cross-layer terms included
        model = create_model("leaky-rnn", input_size=3, hidden_size=8, output_size=1, num_layers=num_layers, alpha=0.2)
        assert check_jacobian(model.system()) <= 1e-10
