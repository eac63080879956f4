"""A training run's checkpoint: the only place that knows its file name, format and resumable keys.

After every epoch ``train_run`` writes ``<run_dir>/checkpoint.pt`` atomically: model and
optimizer state, every RNG state, the metrics and spectra so far, and the validated run config.
Started again with the same config, the run resumes there and ends bitwise identical (on the CPU)
to a run that was never interrupted. Only the keys in ``RESUMABLE_KEYS`` may differ on resume.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.io.readers import read_torch
from rnn_lyapunov.io.storage import save_torch_atomic

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
# Keys that may change between a run and its resumption: extending a run is allowed.
RESUMABLE_KEYS = ("epochs",)


def checkpoint_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CHECKPOINT_FILE


def rng_states(generator: torch.Generator) -> dict:
    """Every random state a run draws from (torch, CUDA, numpy, python, the data shuffle)."""
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # weights_only loading accepts tensors, not numpy arrays: the key array travels as int64.
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]),
        "python": random.getstate(),
        "shuffle": generator.get_state(),
    }


def restore_rng_states(states: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(states["python"])
    generator.set_state(states["shuffle"])


def save_checkpoint(run_dir, *, config: dict, model, optimizer, generator, progress: dict) -> None:
    """Write the checkpoint atomically; ``progress`` holds epoch, metrics, spectra, running estimate."""
    save_torch_atomic({"format": CHECKPOINT_FORMAT, "config": config, "model": model.state_dict(),
                       "optimizer": optimizer.state_dict(), "rng": rng_states(generator), **progress},
                      checkpoint_path(run_dir))


def _differing_keys(saved: dict, wanted: dict) -> list[str]:
    return sorted(key for key in set(saved) | set(wanted)
                  if key not in RESUMABLE_KEYS and saved.get(key) != wanted.get(key))


def load_checkpoint(run_dir, config: dict) -> dict:
    """The checkpoint of ``config``'s run, loaded to the CPU; InputError if it belongs to other settings."""
    path = checkpoint_path(run_dir)
    checkpoint = read_torch(path, what="checkpoint", remedy="Delete it to start the run afresh.")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path} was written by an incompatible version; delete it to start the run afresh.")
    differing = _differing_keys(checkpoint["config"], config)
    if differing:
        raise InputError(
            f"{path} belongs to a run with a different config (keys {', '.join(differing)} differ); "
            "use a new run directory, or delete the checkpoint to start over. Only 'epochs' may change on resume.")
    if checkpoint["epoch"] > config["epochs"]:
        raise InputError(f"{path} is at epoch {checkpoint['epoch']}, beyond epochs = {config['epochs']}; "
                         "raise epochs or use a new run directory.")
    return checkpoint


def discard_stale_checkpoint(run: dict, run_dir: str | os.PathLike, *, log=None) -> bool:
    """Delete the run's checkpoint if it belongs to other settings than ``run``; True if deleted.

    The workflow reruns a run when its settings change; its old checkpoint is then obsolete and
    ``train_run`` would refuse to resume from it. A checkpoint of the same settings (an interrupted
    job, ``snakemake --rerun-incomplete``) or one differing only in ``RESUMABLE_KEYS`` (``epochs``,
    if not below the checkpoint's epoch) is kept, so the run resumes. ``log``, if given, is called
    with one line saying why a checkpoint was deleted (unreadable, other settings, or past ``epochs``).
    """
    from rnn_lyapunov.config.run_config import validate_run_config

    path = checkpoint_path(run_dir)
    if not path.is_file():
        return False
    wanted = validate_run_config(run)
    try:
        checkpoint = read_torch(path, what="checkpoint")
        saved, saved_epoch = checkpoint["config"], int(checkpoint["epoch"])
    except (InputError, KeyError, TypeError, ValueError) as error:
        # An unreadable checkpoint is as useless as a stale one, but the log must say which it was.
        reason = f"discarded the unreadable checkpoint {path} ({error}); training from the start"
    else:
        differing = _differing_keys(saved, wanted) if isinstance(saved, dict) else ["config"]
        if not differing and saved_epoch <= wanted["epochs"]:
            return False
        reason = (f"discarded the checkpoint {path} of earlier settings (keys {', '.join(differing)} differ); "
                  "training from the start" if differing else
                  f"discarded the checkpoint {path} at epoch {saved_epoch}, past epochs = {wanted['epochs']}; "
                  "training from the start")
    path.unlink()
    if log is not None:
        log(reason)
    return True
