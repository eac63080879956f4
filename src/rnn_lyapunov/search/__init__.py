"""Spectrum-guided hyperparameter search with Optuna (the optional extra ``search``).

``run_search(config)`` runs an Optuna study over run-config keys, each trial a ``train_run`` with
spectra, pruned early when the spectrum predicts failure and scored by the final validation loss
or by a spectrum feature at an early epoch (Vogt et al. 2022). Names are imported lazily; without
Optuna installed, ``run_search`` raises an InputError naming the extra to install.
"""

from rnn_lyapunov.lazy_exports import lazy_exports

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


__getattr__, __dir__ = lazy_exports('rnn_lyapunov.search', _PUBLIC_NAMES, globals())
