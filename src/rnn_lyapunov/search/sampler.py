"""TPE whose random draws depend on the seed and the trial number only.

One seeded ``TPESampler`` per process repeats itself: a study continued after a kill draws the
first parameters again, and workers started together draw the same ones. Here each trial gets a
fresh ``TPESampler`` seeded from ``(seed, trial number)``: the storage hands out each number once,
so no two trials share a stream, and an uninterrupted single-worker search is reproducible.
TPE keeps no state between trials but its random stream (it reads the history from the study).
"""

from __future__ import annotations

import numpy as np

from rnn_lyapunov.extras import require

require("search", "optuna", needed_by="rnn_lyapunov.search.sampler")
import optuna  # noqa: E402 - after the check that names the extra to install


class TrialSeededTPESampler(optuna.samplers.BaseSampler):
    """``TPESampler(seed=f(seed, trial.number))`` for each trial; other arguments passed on."""

    def __init__(self, seed: int, **tpe_options):
        self._seed, self._options, self._current = seed, tpe_options, None

    def _sampler(self, trial) -> optuna.samplers.TPESampler:
        if self._current is None or self._current[0] != trial.number:
            seed = int(np.random.SeedSequence([self._seed, trial.number]).generate_state(1)[0])
            self._current = (trial.number, optuna.samplers.TPESampler(seed=seed, **self._options))
        return self._current[1]

    def before_trial(self, study, trial) -> None:
        self._sampler(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._sampler(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._sampler(trial).after_trial(study, trial, state, values)
