"""The plugin example in the README's 'Add your own architecture' section works as printed."""

import re
from pathlib import Path

import pytest

from rnn_lyapunov import available_architectures, check_jacobian, create_model
from rnn_lyapunov.architectures import registry
from rnn_lyapunov.architectures.registry import load_plugin_paths

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_plugin_source() -> str:
    text = README.read_text()
    section = text.split("<!-- section: architectures -->", 1)[1].split("<!-- section:", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return next(block for block in blocks if "@register_architecture" in block)


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
