"""Gradient flossing inside ``train_run``: the run config's ``flossing`` section at work.

:class:`RunFlossing` wraps a :class:`~rnn_lyapunov.training.flossing.Flosser` of the model's
recurrent core (never the readout) and feeds it windows of ``flossing.steps`` steps cut from the
training split's inputs, chosen by a generator of its own (seeded from the run's seed), so the
training's data order and every global RNG stream are those of the same run without flossing.
Each episode (``before_training`` updates after the epoch-0 spectrum; ``updates_per_episode``
after every ``every_epochs``-th epoch but the last) records the mean exponents on a fixed set of
evaluation windows before and after it and its losses. Its state (the flossing optimizer, the
generator, the episodes so far) travels in the run's checkpoint, so a killed run resumes bitwise.
"""

from __future__ import annotations

import numpy as np
import torch

from rnn_lyapunov.config.run_checks import flossing_enabled
from rnn_lyapunov.errors import RnnLyapunovError
from rnn_lyapunov.training.flossing import Flosser, FlossingDivergedError, episode, flossed_system

# Evaluation windows for the before/after exponents: the first training sequences, no RNG drawn.
EVALUATION_SEQUENCES = 8


class FlossingStoppedError(RnnLyapunovError):
    """A flossing update inside a training run went NaN; the run stopped at its last good checkpoint."""


class RunFlossing:
    """The flossing of one training run.

    Args:
        flossing: the filled ``flossing`` section of a validated run config.
        model: the run's ``SequenceModel``; only ``model.core``'s parameters are flossed.
        dataset: the run's ``SequenceDataset``; windows come from ``dataset.train.inputs``.
        seed: the run's seed (the window generator is seeded from ``[seed, 2]``).
        lstm_state: ``spectrum.lstm_state`` (which LSTM state the exponents are of).
        device: where the model lives.
    """

    def __init__(self, flossing: dict, model, dataset, *, seed: int, lstm_state: str, device):
        self.settings = flossing
        self.flosser = Flosser(flossed_system(model, lstm_state), n_exponents=flossing["n_exponents"],
                               target=flossing["target"], learning_rate=flossing["learning_rate"],
                               warmup_steps=flossing["warmup_steps"], optimizer=flossing["optimizer"])
        train = dataset.train
        if train.sequence_length < flossing["steps"]:
            from rnn_lyapunov.errors import InputError

            raise InputError(f"config key flossing.steps = {flossing['steps']} is longer than the training "
                             f"sequences of {dataset.name!r} ({train.sequence_length} steps); allowed: 1 to "
                             f"{train.sequence_length}.")
        self.inputs = dataset.encode_inputs(train.inputs)  # (n_train, time, input_size)
        self.device = device
        self.generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 2]).generate_state(1)[0]))
        self.evaluation = self.inputs[:EVALUATION_SEQUENCES, :flossing["steps"]].to(device)
        self.history: list[dict] = []

    def _window(self, update: int) -> torch.Tensor:
        """(batch_size, steps, input_size): random training sequences, each from a random start."""
        size, steps = self.settings["batch_size"], self.settings["steps"]
        rows = torch.randint(len(self.inputs), (size,), generator=self.generator)
        starts = torch.randint(self.inputs.shape[1] - steps + 1, (size,), generator=self.generator)
        return torch.stack([self.inputs[row, start:start + steps] for row, start in zip(rows, starts)]).to(self.device)

    def updates_after(self, epoch: int, last_epoch: int) -> int:
        """How many updates follow epoch ``epoch`` (0 = initialisation): before_training after epoch 0,
        updates_per_episode after every every_epochs-th epoch before the last."""
        if epoch == 0:
            return self.settings["before_training"]
        every = self.settings["every_epochs"]
        return self.settings["updates_per_episode"] if every and epoch % every == 0 and epoch < last_epoch else 0

    def run_episode(self, epoch: int, updates: int, logger) -> None:
        """``updates`` flossing updates after epoch ``epoch``, recorded in ``history``.

        Raises:
            FlossingStoppedError: an update went NaN (the weights are those before it; the caller
                does not checkpoint, so the last good checkpoint is the previous epoch's).
        """
        number = len(self.history)
        try:
            result = episode(self.flosser, self._window, updates, self.evaluation, where=f"episode {number} ")
        except FlossingDivergedError as error:
            raise FlossingStoppedError(
                f"flossing episode {number} (after epoch {epoch}) diverged: {error} The run stopped; its last good "
                "checkpoint is kept. Lower flossing.learning_rate or flossing.steps and run it again (delete the "
                "run directory's checkpoint.pt to start afresh with the new settings).") from None
        self.history.append({"epoch": epoch, "updates": updates, "before": result.before, "after": result.after,
                             "loss_mean": float(result.losses.mean()), "loss_last": float(result.losses[-1])})
        logger.info("flossing episode %d after epoch %d: %d updates, lambda_1 %.6g -> %.6g, mean loss %.6g", number,
                    epoch, updates, float(result.before[0]), float(result.after[0]), self.history[-1]["loss_mean"])

    def after_epoch(self, epoch: int, last_epoch: int, logger) -> None:
        """The episode due after epoch ``epoch``, if any (see :meth:`updates_after`)."""
        updates = self.updates_after(epoch, last_epoch)
        if updates:
            self.run_episode(epoch, updates, logger)

    def recorded_in(self, dataset):
        """The per-run ``dataset`` with the episodes' variables (``rnn_lyapunov.io.run_file.flossing_variables``)."""
        from rnn_lyapunov.io.run_file import flossing_variables

        return dataset.assign(flossing_variables(self.history, self.settings["n_exponents"]))

    def state_dict(self) -> dict:
        return {"optimizer": self.flosser.state_dict(), "generator": self.generator.get_state(),
                "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.flosser.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.history = list(state["history"])


def run_flossing(config: dict, model, dataset, device) -> RunFlossing | None:
    """The run's :class:`RunFlossing`, or None when its ``flossing`` section makes no update (then
    nothing is built and no RNG is touched: the run is bitwise the run without the section)."""
    if not flossing_enabled(config["flossing"]):
        return None
    return RunFlossing(config["flossing"], model, dataset, seed=config["seed"],
                       lstm_state=config["spectrum"]["lstm_state"], device=device)
