"""Spectrum-guided hyperparameter search with Optuna (the optional extra ``search``).

``run_search(config)`` runs an Optuna study over run-config keys, each trial a ``train_run`` with
spectra, pruned early when the spectrum predicts failure and scored by the final validation loss
or by a spectrum feature at an early epoch (Vogt et al. 2022). Names are imported lazily; without
Optuna installed, ``run_search`` raises an InputError naming the extra to install.
"""

from importlib import import_module

_PUBLIC_NAMES = {
    "run_search": "rnn_lyapunov.search.study",
    "open_study": "rnn_lyapunov.search.study",
    "write_search_sweep": "rnn_lyapunov.search.study",
    "objective_value": "rnn_lyapunov.search.study",
    "validate_search_config": "rnn_lyapunov.search.config",
    "load_search_config": "rnn_lyapunov.search.config",
    "feature_value": "rnn_lyapunov.search.pruners",
}

__all__ = sorted(_PUBLIC_NAMES)


def __getattr__(name):
    module_name = _PUBLIC_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'rnn_lyapunov.search' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
