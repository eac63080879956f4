"""The one registry implementation behind architectures, datasets and figures.

Each of the three makes one :class:`Registry` and gives it what is particular to its entries (how
to check one, which package to scan, which entry-point group to read); everything else is the same
for all three:

- **discovery** (lazy, once): every module of the registry's package not starting with ``_`` is
  imported (no hand-kept list: adding a plugin is adding one file), then every entry point of its
  group. An entry point names a module, which registers what it defines when imported, or
  ``module:attribute``, which is registered under the entry point's name when the registry knows
  how (``adopt``). A plugin that fails to import or register warns (a subclass of
  :class:`PluginSkippedWarning`) and is skipped, so one broken plugin cannot hide the others.
- **refusal at registration**: a bad name, an entry its registry's check rejects, or a second
  definition under a taken name raises a subclass of :class:`RegistrationError` when the plugin
  registers, naming the plugin's source, so the error points at the plugin rather than at a later
  run. The same definition imported twice (a module loaded again, or by its file path) is harmless.
- **lookup**: an unknown name raises :class:`UnknownNameError` listing the known names and the
  closest one ("Did you mean ...?").

Both error classes are :class:`~rnn_lyapunov.errors.InputError`, so the command line reports them
as bad input (exit code 2).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Callable, Generic, NoReturn, TypeVar

from rnn_lyapunov.errors import InputError

Entry = TypeVar("Entry")


class RegistrationError(InputError):
    """A plugin was refused when it registered (the message says which, why and how to fix it)."""


class UnknownNameError(InputError):
    """No plugin is registered under a name (the message lists the known names and the closest)."""


class PluginSkippedWarning(RuntimeWarning):
    """A plugin module could not be imported or registered during discovery; it was skipped."""


def source_of(definition) -> str:
    """``module.qualname (file)`` of a class or function (decorator wrappers unwrapped), for messages."""
    definition = inspect.unwrap(definition)
    try:
        file = inspect.getsourcefile(definition) or "<unknown file>"
    except (TypeError, OSError):  # built-in, or defined in a REPL, notebook or `python -c`
        file = "<no source file>"
    return f"{definition.__module__}.{getattr(definition, '__qualname__', repr(definition))} ({file})"


def same_definition(first, second) -> bool:
    """True when two classes or functions are one definition imported twice: the same qualname in
    the same source file (the module name may differ: a plugin file loaded by its path)."""
    first, second = inspect.unwrap(first), inspect.unwrap(second)
    if first is second:
        return True
    try:
        files = [inspect.getsourcefile(definition) for definition in (first, second)]
    except (TypeError, OSError):  # built-in, or defined in a REPL, notebook or `python -c`
        return False
    if None in files:
        return False
    return first.__qualname__ == second.__qualname__ and Path(files[0]).resolve() == Path(files[1]).resolve()


class Registry(Generic[Entry]):
    """Names -> entries of one kind of plugin, filled by discovery and by its registration decorator.

    Args:
        kind: what an entry is, for messages (``"architecture"``).
        package: the package whose modules are imported on discovery (``"rnn_lyapunov.plugins"``).
        entry_point_group: the entry-point group read on discovery (``"rnn_lyapunov.architectures"``).
        error: the :class:`RegistrationError` subclass raised when a plugin is refused.
        warning: the :class:`PluginSkippedWarning` subclass warned when one is skipped.
        name_pattern, name_rule: what a name must match, and that rule in words.
        definition: the class or function an entry was made from (for "same definition twice"
            and for messages); the entry itself by default.
        adopt: ``adopt(name, loaded)`` registers what an entry point's ``module:attribute`` names
            when the attribute did not register itself on import; None when the registry cannot.
        how_to_add: a sentence appended to the unknown-name message.
        replace_reimported: when a definition is registered again (its module imported again),
            True stores the new entry (a reloaded figure module draws with its new code); False
            keeps the first (a model built from an architecture class stays an instance of it).
    """

    def __init__(self, kind: str, *, package: str, entry_point_group: str,
                 error: type[RegistrationError] = RegistrationError,
                 warning: type[PluginSkippedWarning] = PluginSkippedWarning,
                 name_pattern: str = r"^[a-z][a-z0-9_]*$",
                 name_rule: str = "lowercase letters, digits and '_', starting with a letter",
                 definition: Callable[[Entry], object] = lambda entry: entry,
                 adopt: Callable[[str, object], object] | None = None, how_to_add: str = "",
                 replace_reimported: bool = False):
        self.kind, self.package, self.entry_point_group = kind, package, entry_point_group
        self.error, self.warning = error, warning
        self.name_pattern, self.name_rule = re.compile(name_pattern), name_rule
        self.definition, self.adopt, self.how_to_add = definition, adopt, how_to_add
        self.replace_reimported = replace_reimported
        self.entries: dict[str, Entry] = {}
        self.discovered = False

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self.entries)} registered, package={self.package!r})"

    # --- registering ---------------------------------------------------------------------------

    def check_name(self, name) -> None:
        """Refuse a name that does not follow ``name_rule``."""
        if not isinstance(name, str) or not self.name_pattern.match(name):
            raise self.error(f"{self.kind} name {name!r} is not allowed: use {self.name_rule}")

    def refuse(self, name: str, definition, reason: str) -> NoReturn:
        """Raise the registry's error: ``cannot register <source> as <kind> <name>: <reason>``."""
        where = source_of(definition) if callable(definition) else repr(definition)
        raise self.error(f"cannot register {where} as {self.kind} {name!r}: {reason}")

    def add(self, name: str, entry: Entry) -> Entry:
        """Store ``entry`` under ``name`` (checked by the caller) and return what is registered.

        The same definition registered again (its module imported twice) is harmless (see
        ``replace_reimported``); another definition under a taken name is refused, naming both sources.
        """
        existing = self.entries.get(name)
        if existing is not None and not same_definition(self.definition(existing), self.definition(entry)):
            raise self.error(
                f"{self.kind} name {name!r} is already registered by {source_of(self.definition(existing))}; "
                f"{source_of(self.definition(entry))} tries to register it again. Rename one of them."
            )
        if existing is None or self.replace_reimported:
            self.entries[name] = entry
            return entry
        return existing

    # --- discovery -----------------------------------------------------------------------------

    def discover(self) -> None:
        """Import the package's modules, then the entry points' (once; later calls do nothing)."""
        if self.discovered:
            return
        self.discovered = True  # set first: the modules import their registry and register while we run
        self._import_package_modules()
        self._load_entry_points()

    def _skipped(self, what: str, error: BaseException) -> None:
        warnings.warn(f"{self.kind} plugin {what} was skipped: {type(error).__name__}: {error}",
                      self.warning, stacklevel=4)

    def _import_package_modules(self) -> None:
        try:
            package = importlib.import_module(self.package)
        except Exception as error:  # noqa: BLE001 - a broken install must not stop the entry-point plugins
            self._skipped(self.package, error)
            return
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
            if module_info.name.startswith("_"):
                continue
            module_name = f"{self.package}.{module_info.name}"
            try:
                importlib.import_module(module_name)
            except Exception as error:  # noqa: BLE001 - one broken plugin must not hide the others
                self._skipped(module_name, error)

    def _is_registered(self, loaded) -> bool:
        return any(same_definition(self.definition(entry), loaded) for entry in self.entries.values())

    def _load_entry_points(self) -> None:
        for entry_point in entry_points(group=self.entry_point_group):
            try:
                loaded = entry_point.load()
                if isinstance(loaded, ModuleType) or self._is_registered(loaded):
                    continue  # a module registers what it defines when imported
                if self.adopt is None:
                    raise self.error(f"it names {loaded!r}, which is neither a module nor a registered "
                                     f"{self.kind}; point it at a module that registers its {self.kind}s")
                self.adopt(entry_point.name, loaded)
            except Exception as error:  # noqa: BLE001 - one broken plugin must not hide the others
                self._skipped(f"{entry_point.name} = {entry_point.value} (entry point group "
                              f"{self.entry_point_group})", error)

    # --- looking up ----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Sorted names of every registered entry (after discovery)."""
        self.discover()
        return sorted(self.entries)

    def get(self, name: str) -> Entry:
        """The entry registered as ``name``; :class:`UnknownNameError` listing the known names otherwise."""
        self.discover()
        try:
            return self.entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name, reported like any unknown one
            pass
        known = sorted(self.entries)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        extra = f" {self.how_to_add}" if self.how_to_add else ""
        raise UnknownNameError(f"unknown {self.kind} {name!r}; known {self.kind}s: "
                               f"{', '.join(known) or '(none)'}.{hint}{extra}")

    def items(self) -> list[tuple[str, Entry]]:
        """``(name, entry)`` pairs sorted by name (after discovery)."""
        return [(name, self.entries[name]) for name in self.names()]
