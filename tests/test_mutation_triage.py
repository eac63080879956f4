"""The mutation triage file (mutation/equivalent.txt) stays current: each entry names a file and a
source line that still exist, so that a survivor recorded as equivalent goes stale loudly when the
code it names changes (docs/testing.md). Needs no mutation tool: it only reads files."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    """tools/mutation_report.py as a module (tools/ is not a package)."""
    if "mutation_report" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mutation_report", ROOT / "tools" / "mutation_report.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["mutation_report"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["mutation_report"]


def test_every_triaged_survivor_names_code_that_still_exists():
    tool = _tool()
    assert tool.stale_equivalents(tool.read_equivalents()) == []


def test_a_stale_or_malformed_entry_is_reported(tmp_path):
    tool = _tool()
    (tmp_path / "module.py").write_text("x = 1\ny = x + 2\n")
    entries = [tool.Equivalent("module.py", "core/NumberReplacer", "y = x + 2", "reason"),
               tool.Equivalent("module.py", "core/NumberReplacer", "y = x + 3", "reason"),
               tool.Equivalent("gone.py", "core/NumberReplacer", "y = x + 2", "reason")]
    problems = tool.stale_equivalents(entries, root=tmp_path)
    assert problems == ["module.py: no line 'y = x + 3' any more (core/NumberReplacer)",
                        "gone.py: file not found (core/NumberReplacer)"]
    triage = tmp_path / "equivalent.txt"
    triage.write_text("# comment\n\nmodule.py | core/NumberReplacer | y = x + 2\n")
    with pytest.raises(ValueError, match="expected 'path | operator | source line | reason'"):
        tool.read_equivalents(triage)
