"""What the architecture and figure registries share: finding plugin modules and naming their source.

Both registries import every module of a package (no hand-kept list) and every module named by an
entry-point group; a module that fails to import is reported through ``warn(what, error)`` and
skipped, so one broken plugin cannot hide the others. Both refuse a second definition under a
taken name but accept the same definition imported twice, and name the source file in errors.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

Warn = Callable[[str, BaseException], None]


def source_of(definition) -> str:
    """``module.qualname (file)`` of a class or function (decorator wrappers unwrapped), for messages."""
    definition = inspect.unwrap(definition)
    try:
        file = inspect.getsourcefile(definition) or "<unknown file>"
    except TypeError:
        file = "<built-in>"
    return f"{definition.__module__}.{definition.__qualname__} ({file})"


def same_definition(first, second) -> bool:
    """True when two classes or functions are one definition imported twice: the same qualname in
    the same source file (the module name may differ: a plugin file loaded by its path)."""
    first, second = inspect.unwrap(first), inspect.unwrap(second)
    if first is second:
        return True
    try:
        files = [inspect.getsourcefile(definition) for definition in (first, second)]
    except TypeError:
        return False
    if None in files:
        return False
    return first.__qualname__ == second.__qualname__ and Path(files[0]).resolve() == Path(files[1]).resolve()


def import_package_modules(package_name: str, warn: Warn) -> None:
    """Import every module of ``package_name`` not starting with ``_``, in name order."""
    try:
        package = importlib.import_module(package_name)
    except Exception as error:  # noqa: BLE001 - a broken install must not stop the entry-point plugins
        warn(package_name, error)
        return
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module_name = f"{package_name}.{module_info.name}"
        try:
            importlib.import_module(module_name)
        except Exception as error:  # noqa: BLE001 - one broken plugin must not hide the others
            warn(module_name, error)


def load_entry_points(group: str, warn: Warn, register: Callable | None = None) -> None:
    """Load every entry point of ``group``; ``register(name, loaded)`` is called on what each
    names (a module registers on import and needs none). Failures go to ``warn``."""
    for entry_point in entry_points(group=group):
        try:
            loaded = entry_point.load()
            if register is not None:
                register(entry_point.name, loaded)
        except Exception as error:  # noqa: BLE001 - one broken plugin must not hide the others
            warn(f"{entry_point.name} = {entry_point.value} (entry point group {group})", error)
