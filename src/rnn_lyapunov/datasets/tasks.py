"""The task table: for each kind of target, its shape, its loss and its metrics.

A dataset names its task (``SequenceDataset.task``); training, evaluation and the per-run file
look the task up here instead of comparing task names. Adding a task = one ``Task`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


def _cross_entropy_terms(logits: torch.Tensor, labels: torch.Tensor):
    loss = F.cross_entropy(logits, labels, reduction="sum")
    return loss, (logits.argmax(dim=-1) == labels).sum(), labels.numel()


@dataclass(frozen=True)
class Task:
    """How one task reads the model's outputs (batch, time, output_size).

    Attributes:
        targets: shape and dtype of the targets, for documentation and error messages.
        loss_terms: ``(outputs, targets) -> (summed loss, number correct or None, number of terms)``.
        loss_name: what the loss is, with units (stored in the per-run file).
        has_accuracy: whether ``val_accuracy`` is defined (NaN otherwise).
    """

    name: str
    targets: str
    loss_terms: Callable
    loss_name: str
    has_accuracy: bool


UNSCORED = -100  # a step without a target (cross_entropy's ignore_index): skipped by loss and accuracy


def _scored_steps_terms(outputs, labels):
    """Cross-entropy and accuracy over the steps whose label is not UNSCORED."""
    logits, labels = outputs.reshape(-1, outputs.shape[-1]), labels.reshape(-1)
    scored = labels != UNSCORED
    loss = F.cross_entropy(logits, labels, reduction="sum", ignore_index=UNSCORED)
    return loss, ((logits.argmax(dim=-1) == labels) & scored).sum(), int(scored.sum())


def _regression_terms(outputs, targets):
    return F.mse_loss(outputs[:, -1], targets, reduction="sum"), None, targets.numel()


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("classification_last_step", "int64 (n,): the class read from the last step's output",
         lambda outputs, targets: _cross_entropy_terms(outputs[:, -1], targets),
         "cross-entropy in nats per prediction", has_accuracy=True),
    Task("next_token", "int64 (n, time): the next token at every step",
         lambda outputs, targets: _cross_entropy_terms(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1)),
         "cross-entropy in nats per prediction", has_accuracy=True),
    Task("classification_every_step", f"int64 (n, time): a class at every step, {UNSCORED} where there is none",
         _scored_steps_terms, "cross-entropy in nats per scored step", has_accuracy=True),
    Task("regression_last_step", "float32 (n, output_size): read from the last step's output",
         _regression_terms, "mean squared error", has_accuracy=False),
)}
