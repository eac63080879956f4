"""The architecture registry and plugin discovery.

A plugin registers a :class:`~rnn_lyapunov.architectures.base.RecurrentArchitecture` subclass with
``@register_architecture("name")``. A bad plugin is refused when it registers (not a subclass, no
``cell``, ``linearised_cell`` or ``step``, no one-line ``description``, a name already taken by
another class), so the error points at the plugin rather than at a later training run.

Discovery is lazy (the first ``available_architectures`` / ``get_architecture`` /
``describe_architectures`` call) and idempotent. Plugins come from three places, in this order:

1. every module of the package ``rnn_lyapunov.plugins`` (the repository's top-level ``plugins/``);
2. the entry-point group ``rnn_lyapunov.architectures`` of installed distributions (the value is a
   module that registers on import, or ``module:Class``, registered under the entry point's name);
3. extra ``.py`` files given to :func:`load_plugin_paths` (the workflow config key ``plugin_paths``).

A built-in or entry-point plugin that fails to import emits a :class:`PluginLoadWarning` and is
skipped, so one broken third-party package does not disable the others; a file named explicitly in
``plugin_paths`` that fails raises :class:`~rnn_lyapunov.errors.InputError`. The core never
imports a plugin by name. Registering, discovery and lookup are the project's one
:class:`~rnn_lyapunov.registry.Registry` (:data:`ARCHITECTURES`), as for datasets and figures.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.registry import PluginSkippedWarning, RegistrationError, Registry

PLUGIN_PACKAGE = "rnn_lyapunov.plugins"
ENTRY_POINT_GROUP = "rnn_lyapunov.architectures"

_LOADED_PATHS: set[Path] = set()


class PluginLoadWarning(PluginSkippedWarning):
    """An architecture plugin could not be imported or registered; it was skipped."""


class PluginRegistrationError(RegistrationError):
    """A plugin class was refused at registration (the message says why and how to fix it)."""


def _check_plugin_class(name: str, cls) -> None:
    def refuse(reason: str):
        ARCHITECTURES.refuse(name, cls, reason)

    if not (isinstance(cls, type) and issubclass(cls, RecurrentArchitecture)):
        refuse("it must be a class that subclasses rnn_lyapunov.architectures.base.RecurrentArchitecture")
    if cls.cell is RecurrentArchitecture.cell and cls.linearised_cell is None and cls.step is RecurrentArchitecture.step:
        refuse("it does not define cell(self, layer, layer_input, *blocks) -> the layer's new state blocks "
               "(batch, hidden_size) (or linearised_cell, which returns them with a tangent map; or a whole "
               "step(self, state, x))")
    description = getattr(cls, "description", "")
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        refuse("set the class attribute description to a one-line summary, e.g. description = 'Elman RNN with tanh'")
    for attribute, signature in (("jacobian", "jacobian(self, state, x)"),
                                 ("linearised_cell", "linearised_cell(self, layer, layer_input, *blocks)"),
                                 ("forward_sequence", "forward_sequence(self, inputs, state)")):
        value = getattr(cls, attribute, None)
        if value is not None and not callable(value):
            refuse(f"{attribute} must be a method {signature} or absent")


def register_architecture(name: str):
    """Class decorator registering a RecurrentArchitecture subclass under ``name``.

    ``name``: lowercase letters, digits, ``_`` and ``-``, starting with a letter. Re-registering
    the same class (the same file imported twice) is harmless; another class under a taken name
    raises :class:`PluginRegistrationError` naming both sources.
    """
    ARCHITECTURES.check_name(name)

    def decorator(cls):
        _check_plugin_class(name, cls)
        ARCHITECTURES.add(name, cls)
        cls.architecture_name = name
        return cls

    return decorator


#: Every registered architecture class by name (discovered from ``PLUGIN_PACKAGE`` and ``ENTRY_POINT_GROUP``).
ARCHITECTURES: Registry[type[RecurrentArchitecture]] = Registry(
    "architecture", package=PLUGIN_PACKAGE, entry_point_group=ENTRY_POINT_GROUP,
    error=PluginRegistrationError, warning=PluginLoadWarning,
    name_pattern=r"^[a-z][a-z0-9_\-]*$", name_rule="lowercase letters, digits, '_' or '-', starting with a letter",
    adopt=lambda name, loaded: register_architecture(name)(loaded),
    how_to_add="To add one, register a RecurrentArchitecture subclass with @register_architecture (see "
               "docs/architectures.md, 'Add your own architecture') and list its file under plugin_paths.",
)


def discover_architectures() -> None:
    """Import the built-in plugins and the entry-point plugins (once; later calls do nothing)."""
    ARCHITECTURES.discover()


def _module_name_for(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    return f"rnn_lyapunov_local_plugin_{stem}_{digest}"


def load_plugin_paths(paths) -> list[str]:
    """Import architecture plugins from local ``.py`` files or folders of them.

    Args:
        paths: a path or a list of paths (str or Path); a folder means every ``*.py`` in it not
            starting with ``_``. Loading a file already loaded does nothing.

    Returns:
        The architecture names registered by these files (sorted).

    Raises:
        InputError: a path does not exist, is not a .py file, or the file fails to import or register.
    """
    discover_architectures()
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for entry in paths:
        path = Path(entry).expanduser().resolve()
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.py") if not p.name.startswith("_")))
        elif path.is_file() and path.suffix == ".py":
            files.append(path)
        else:
            raise InputError(f"plugin_paths entry {str(entry)!r} is not a .py file or a folder of them ({path} does not exist or has another suffix)")
    before = set(ARCHITECTURES.entries)
    for path in files:
        if path in _LOADED_PATHS:
            continue
        module_name = _module_name_for(path)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[module_name]
            raise InputError(f"architecture plugin file {path} failed to load: {type(error).__name__}: {error}") from error
        _LOADED_PATHS.add(path)
    return sorted(set(ARCHITECTURES.entries) - before)


def available_architectures() -> list[str]:
    """Sorted names of every registered architecture (after discovery)."""
    return ARCHITECTURES.names()


def get_architecture(name: str) -> type[RecurrentArchitecture]:
    """The class registered as ``name``; InputError (UnknownNameError) listing the known names if there is none."""
    return ARCHITECTURES.get(name)


def describe_architectures() -> dict[str, str]:
    """``{name: one-line description}`` for every registered architecture, sorted by name."""
    return {name: cls.description.strip() for name, cls in ARCHITECTURES.items()}


def architecture_options(cls: type[RecurrentArchitecture]) -> dict[str, object] | None:
    """The plugin's own constructor options and their defaults (beyond the common four).

    None when the plugin's ``__init__`` takes ``**options`` itself (any keyword is passed on).
    """
    common = {"self", "input_size", "hidden_size", "num_layers", "bias"}
    if cls.__init__ is RecurrentArchitecture.__init__:
        return {}
    options = {}
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            return None
        if parameter.name in common or parameter.kind is parameter.VAR_POSITIONAL:
            continue
        options[parameter.name] = None if parameter.default is parameter.empty else parameter.default
    return options
