"""docs/design.md's module map against the tree: every module listed exists, every one is listed,
the stated layer rule holds for the real imports, and no library module is over 300 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "rnn_lyapunov"
DESIGN = ROOT / "docs" / "design.md"
MAX_LINES = 300
# Split by another change under way; remove once training/monitor.py is under the limit.
LONG_MODULES_ALLOWED: set[str] = set()  # none: every library module is at most 300 lines
SKIPPED_FOLDERS = {"resources", "__pycache__"}


def module_map() -> dict[str, int]:
    """``{path: layer}`` from the rows ``| layer | `path`, `path` | job |`` of the module map."""
    text = DESIGN.read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            for path in re.findall(r"`([^`]+)`", cells[1]):
                assert path not in rows, f"{path} is listed twice in the module map"
                rows[path] = int(cells[0])
    return rows


def on_disk(path: str) -> Path:
    """A module-map path on disk: ``plugins/`` is the repository's top-level folder."""
    return ROOT / path if path.split("/")[0] == "plugins" else PACKAGE / path


def library_modules() -> list[str]:
    """Every module under src/rnn_lyapunov, as a path relative to it (``engine/lyapunov.py``)."""
    return sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
                  if not SKIPPED_FOLDERS & set(path.relative_to(PACKAGE).parts))


def unit_of(path: str) -> str:
    """What a layer holds: a folder (``engine/``) or a top-level module (``errors.py``)."""
    return path.split("/")[0] + "/" if "/" in path else path


def test_the_module_map_is_found_and_has_rows():
    assert len(module_map()) > 20


def test_every_module_in_the_map_exists():
    missing = [path for path in module_map() if not on_disk(path).exists()]
    assert not missing, f"docs/design.md lists {missing}, which do not exist: update the module map"


def test_every_library_module_is_in_the_map():
    listed = module_map()
    unlisted = []
    for module in library_modules():
        folder = unit_of(module)
        if module in listed or folder in listed:
            continue  # listed itself, or its folder is listed as a whole
        if module.endswith("/__init__.py") and any(path.startswith(folder) for path in listed):
            continue  # a folder listed module by module needs no row for its __init__
        unlisted.append(module)
    assert not unlisted, f"add {unlisted} to the module map in docs/design.md (or its folder as a whole)"


def test_a_folder_has_one_layer():
    layers: dict[str, set[int]] = {}
    for path, layer in module_map().items():
        layers.setdefault(unit_of(path), set()).add(layer)
    assert {unit: found for unit, found in layers.items() if len(found) > 1} == {}


def imported_units(path: Path) -> set[str]:
    """The units (folders and top-level modules) of rnn_lyapunov that ``path`` imports anywhere in it."""
    units = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "rnn_lyapunov" or len(parts) < 2:
                continue
            target = parts[1]
            if target == "plugins" or (PACKAGE / target).is_dir():
                units.add(target + "/")
            elif (PACKAGE / f"{target}.py").exists():
                units.add(f"{target}.py")
            else:  # a name of the package itself, e.g. ``from rnn_lyapunov import __version__``
                units.add("__init__.py")
    return units


def all_sources() -> dict[str, Path]:
    """``{map path: file}`` of the library modules and the built-in plugins."""
    sources = {module: PACKAGE / module for module in library_modules()}
    sources.update({f"plugins/{path.name}": path for path in (ROOT / "plugins").glob("*.py")})
    return sources


def test_every_import_follows_the_layer_rule():
    # The rule docs/design.md states: a module imports only from its own folder and from lower layers.
    layers = {unit_of(path): layer for path, layer in module_map().items()}
    broken = []
    for module, path in all_sources().items():
        own = unit_of(module)
        for unit in imported_units(path) - {own}:
            if layers.get(unit, -1) >= layers.get(own, -1) or unit not in layers:
                broken.append(f"{module} (layer {layers.get(own)}) imports {unit} (layer {layers.get(unit)})")
    assert not broken, "imports against the layer rule of docs/design.md:\n" + "\n".join(sorted(broken))


def test_the_rule_check_sees_an_import_upward(tmp_path):
    # The check above must see a function-level import and a ``from rnn_lyapunov import <module>``.
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from rnn_lyapunov import cli\n    import rnn_lyapunov.training.loop\n")
    assert imported_units(source) == {"cli/", "training/"}


def test_no_library_module_is_over_300_lines():
    lengths = {module: len((PACKAGE / module).read_text().splitlines()) for module in library_modules()}
    long = {module: lines for module, lines in lengths.items()
            if lines > MAX_LINES and module not in LONG_MODULES_ALLOWED}
    assert not long, f"split these into modules with one job each (at most {MAX_LINES} lines): {long}"
