"""Public names imported on first use (PEP 562), so that importing a package stays cheap.

``import rnn_lyapunov`` must not pay for torch's friends (seaborn, snakemake, optuna) before a
name that needs them is used: ``rnn-lyapunov --help`` would otherwise take seconds.
"""

from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, public_names: dict[str, str], namespace: dict):
    """``(__getattr__, __dir__)`` for a package that re-exports ``{name: module}`` lazily.

    ``namespace`` is the package's ``globals()``: a name is cached there after its first import.
    """

    def __getattr__(name):
        module_name = public_names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module_name), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(public_names))

    return __getattr__, __dir__
