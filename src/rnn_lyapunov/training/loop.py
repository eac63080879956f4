"""One reproducible training run that measures the Lyapunov spectrum as the network learns.

``train_run(config, run_dir, output_path)`` trains ``create_model(...)`` on a registered dataset
and, at initialisation (epoch 0) and after the chosen epochs, computes the spectrum of the
recurrent core driven by a fixed set of validation sequences (Vogt et al. 2022). After every
epoch it writes ``run_dir/checkpoint.pt`` atomically; started again with the same config it
resumes there and ends bitwise identical (on the CPU) to a run that was never interrupted. The
result is the per-run NetCDF file described in docs/design.md.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from rnn_lyapunov.architectures.hidden_only import tangent_size
from rnn_lyapunov.config.run_config import load_run_config, validate_run_config
from rnn_lyapunov.datasets.tasks import TASKS
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.training.clv_angles import check_clv_settings, compute_clv_angles
from rnn_lyapunov.training.flossing_run import run_flossing
from rnn_lyapunov.training.run_record import run_record
from rnn_lyapunov.training.spectra import compute_spectrum, spectrum_inputs
from rnn_lyapunov.training.checkpoints import (checkpoint_path, load_checkpoint, restore_rng_states,
                                               save_checkpoint)

# The run's history, appended by every attempt. Not a Snakemake log (the rule's log is another
# file): Snakemake deletes a job's log before a retry, and this must survive resumption.
LOG_FILE = "train.log"
EVALUATION_BATCH_SIZE = 512


def load_training_data(config: dict):
    """The run's :class:`~rnn_lyapunov.datasets.SequenceDataset`.

    From ``config["data_dir"]`` when set (prepared by ``prepare_dataset``; ``dataset_options``
    must then agree with the prepared ones), otherwise built in memory from ``seed`` and
    ``dataset_options``.
    """
    from rnn_lyapunov.datasets import build_dataset, load_dataset

    name, options = config["dataset"], config["dataset_options"]
    if config["data_dir"] is None:
        return build_dataset(name, seed=config["seed"], **options)
    dataset = load_dataset(name, config["data_dir"])
    prepared = dataset.metadata.get("options", {})
    conflicts = {key: value for key, value in options.items() if prepared.get(key) != value}
    if conflicts:
        raise InputError(
            f"config key dataset_options asks for {conflicts} but {config['data_dir']} was prepared with "
            f"{ {key: prepared.get(key) for key in conflicts} }; prepare the data again or drop those options.")
    return dataset


@torch.no_grad()
def evaluate(model, dataset, split: str = "validation", device="cpu") -> tuple[float, float]:
    """(mean loss, accuracy) on a split in eval mode; accuracy is NaN for regression.

    Loss: cross-entropy in nats per prediction (classification, next token) or mean squared error.
    """
    was_training = model.training
    model.eval()
    data = dataset.split(split)
    loss_sum, correct_sum, count = 0.0, 0, 0
    for start in range(0, len(data), EVALUATION_BATCH_SIZE):
        inputs = dataset.encode_inputs(data.inputs[start:start + EVALUATION_BATCH_SIZE]).to(device)
        outputs, _ = model(inputs)
        loss, correct, terms = TASKS[dataset.task].loss_terms(
            outputs, data.targets[start:start + EVALUATION_BATCH_SIZE].to(device))
        loss_sum += float(loss)
        correct_sum += 0 if correct is None else int(correct)
        count += terms
    model.train(was_training)
    accuracy = correct_sum / count if TASKS[dataset.task].has_accuracy else math.nan
    return loss_sum / count, accuracy


def train_one_epoch(model, optimizer, dataset, config, generator, device, progress_bar) -> float:
    """One pass over the shuffled training split; returns the mean training loss."""
    model.train()
    train = dataset.train
    order = torch.randperm(len(train), generator=generator)
    loss_sum, count = 0.0, 0
    for start in range(0, len(train), config["batch_size"]):
        batch = order[start:start + config["batch_size"]]
        outputs, _ = model(dataset.encode_inputs(train.inputs[batch]).to(device))
        loss, _, terms = TASKS[dataset.task].loss_terms(outputs, train.targets[batch].to(device))
        optimizer.zero_grad(set_to_none=True)
        (loss / terms).backward()
        if config["grad_clip"] is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
        optimizer.step()
        loss_sum += float(loss.detach())
        count += terms
        progress_bar.update(1)
        progress_bar.set_postfix(loss=f"{loss_sum / count:.4f}", refresh=False)
    return loss_sum / count


def _seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return the generator that shuffles the training data."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # An independent stream, so the data order does not echo the initialisation draws.
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]))


def build_model(config: dict, dataset):
    """``create_model`` from the config's architecture settings (draws from the global torch RNG)."""
    from rnn_lyapunov.architectures.model import create_model

    return create_model(
        config["architecture"], input_size=dataset.input_size, hidden_size=config["hidden_size"],
        output_size=dataset.output_size, num_layers=config["num_layers"], init=config["init"],
        init_scale=config["init_scale"], init_gain=config["init_gain"], dropout=config["dropout"],
        bias=config["bias"], **config["architecture_options"])


def learning_rate_at(config: dict, epoch: int) -> float:
    """The learning rate of training epoch ``epoch`` (>= 1): ``learning_rate * lr_decay^(epoch -
    lr_decay_start + 1)`` from ``lr_decay_start`` on, ``learning_rate`` before."""
    return config["learning_rate"] * config["lr_decay"] ** max(0, epoch - config["lr_decay_start"] + 1)


def _make_optimizer(config, parameters):
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(parameters, lr=config["learning_rate"], momentum=config["momentum"])
    return torch.optim.Adam(parameters, lr=config["learning_rate"])


def _open_log(run_dir: Path, run_id: str) -> tuple[logging.Logger, logging.Handler]:
    """The run's logger, appending to ``run_dir/train.log`` (a resumed run continues the same log)."""
    logger = logging.getLogger(f"rnn_lyapunov.training.loop.{run_id}")
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(run_dir / LOG_FILE, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger, handler


def train_run(config: dict, run_dir: str | os.PathLike, output_path: str | os.PathLike, *, progress=None,
              on_epoch=None):
    """Train one network, measuring its Lyapunov spectrum, and write the per-run NetCDF file.

    Args:
        config: a run config (see ``rnn_lyapunov.config.settings``); validated and completed here.
        run_dir: directory for the checkpoint and ``train.log`` (created if needed). If it holds a
            checkpoint of the same config, the run resumes after that epoch; ``train.log`` keeps
            the history of every attempt.
        output_path: the per-run NetCDF file (written atomically at the end).
        progress: show a progress bar per epoch; None (default) shows it when stderr is a terminal.
        on_epoch: optional ``on_epoch(epoch, metrics, spectrum)``, called after each epoch this call
            runs (not those restored from a checkpoint), once its checkpoint is saved: ``metrics`` is
            ``{"train_loss", "val_loss", "val_accuracy"}`` of that epoch (floats, NaN where not
            applicable), ``spectrum`` the epoch's :class:`~rnn_lyapunov.engine.spectrum.Spectrum`
            (nats per step) or None (no spectrum at that epoch, or it diverged). If it raises, the
            run stops: the per-run file is written for the epochs done and the exception propagates
            (how ``rnn_lyapunov.search`` prunes a trial).

    Returns:
        The ``xarray.Dataset`` written to ``output_path`` (variables listed in docs/design.md;
        exponents in nats per time step, sorted in descending order).
    """
    from rnn_lyapunov.config.engine_arguments import check_spectrum_schedule
    from rnn_lyapunov.devices import resolve_device
    from rnn_lyapunov.io.storage import write_netcdf_atomic

    config = validate_run_config(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    logger, log_handler = _open_log(run_dir, config["run_id"])
    threads_before = torch.get_num_threads()
    try:
        device = resolve_device(config["device"])
        if config["threads"] is not None:
            torch.set_num_threads(config["threads"])
        dataset = load_training_data(config)
        spectrum_config = config["spectrum"]
        fixed_inputs = spectrum_inputs(dataset, spectrum_config["trajectories"], spectrum_config["steps"]).to(device)
        generator = _seed_everything(config["seed"])
        model = build_model(config, dataset).to(device)
        # The dimension of the dynamics whose spectrum is taken: an h-only LSTM has N, not 2N.
        state_size = tangent_size(model.system(), spectrum_config["lstm_state"])
        # before any training, in the config's own terms
        check_spectrum_schedule(spectrum_config, time_steps=fixed_inputs.shape[1], state_size=state_size)
        check_clv_settings(spectrum_config, time_steps=fixed_inputs.shape[1], state_size=state_size)
        optimizer = _make_optimizer(config, model.parameters())
        flossing = run_flossing(config, model, dataset, device)  # None unless the config flosses
        # A predicate, not a set: epochs: 10**9 with spectrum.epochs: all must not build a set of 10**9 numbers.
        listed = {0, *spectrum_config["epochs"]} if spectrum_config["epochs"] != "all" else None

        def is_spectrum_epoch(epoch: int) -> bool:
            return listed is None or epoch in listed

        if checkpoint_path(run_dir).is_file():
            checkpoint = load_checkpoint(run_dir, config)
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            restore_rng_states(checkpoint["rng"], generator)
            if flossing is not None:  # its optimizer, its window generator and its episodes
                flossing.load_state_dict(checkpoint["flossing"])
            state = {key: checkpoint[key] for key in ("epoch", "metrics", "spectra", "running_estimate")}
            state["clv_angles"] = checkpoint.get("clv_angles", {})
            logger.info("resuming run %s after epoch %d", config["run_id"], state["epoch"])
        else:
            logger.info("starting run %s on %s with config %s", config["run_id"], device, config)
            state = {"epoch": -1, "metrics": {"train_loss": [], "val_loss": [], "val_accuracy": []},
                     "spectra": {}, "running_estimate": None, "clv_angles": {}}
        show = sys.stderr.isatty() if progress is None else bool(progress)
        n_batches = math.ceil(len(dataset.train) / config["batch_size"])
        for epoch in range(state["epoch"] + 1, config["epochs"] + 1):
            if epoch == 0:
                train_loss = math.nan
            else:
                # Set from the epoch, not stepped by a scheduler: a resumed run needs no scheduler state.
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate_at(config, epoch)
                with tqdm(total=n_batches, desc=f"{config['run_id']} epoch {epoch}/{config['epochs']}",
                          unit="batch", disable=not show, leave=False) as bar:
                    train_loss = train_one_epoch(model, optimizer, dataset, config, generator, device, bar)
            val_loss, val_accuracy = evaluate(model, dataset, "validation", device)
            for key, value in zip(state["metrics"], (train_loss, val_loss, val_accuracy)):
                state["metrics"][key].append(value)
            result = None
            if is_spectrum_epoch(epoch):
                result = compute_spectrum(model.system(), fixed_inputs, spectrum_config, logger)
                state["spectra"][epoch] = None if result is None else result.per_trajectory
                if result is not None and result.history is not None:
                    state["running_estimate"] = {"epoch": epoch, "history": result.history,
                                                 "steps": result.history_steps}
                if spectrum_config["clv_angles"]:
                    state["clv_angles"][epoch] = compute_clv_angles(model.system(), fixed_inputs, spectrum_config, logger)
            logger.info("epoch %d: train_loss %.6g val_loss %.6g val_accuracy %.4g%s", epoch, train_loss,
                        val_loss, val_accuracy, "" if not is_spectrum_epoch(epoch) else
                        f" lambda_1 {_leading(state['spectra'][epoch]):.6g}")
            if flossing is not None:  # after the epoch's spectrum: that one is of the network before the episode
                flossing.after_epoch(epoch, config["epochs"], logger)
            state["epoch"] = epoch
            save_checkpoint(run_dir, config=config, model=model, optimizer=optimizer, generator=generator,
                            progress=state if flossing is None else {**state, "flossing": flossing.state_dict()})
            if on_epoch is not None:
                try:
                    on_epoch(epoch, {key: values[-1] for key, values in state["metrics"].items()}, result)
                except Exception:
                    # A run its caller stopped (a pruned search trial) is data, not garbage: keep its epochs.
                    stopped = run_record(config, state, state_size=state_size, task=dataset.task,
                                         device=str(device), flossing=flossing)
                    write_netcdf_atomic(stopped, output_path, make_parents=True)
                    logger.info("stopped by on_epoch after epoch %d; wrote %s", epoch, output_path)
                    raise
        result = run_record(config, state, state_size=state_size, task=dataset.task, device=str(device),
                           flossing=flossing)
        write_netcdf_atomic(result, output_path, make_parents=True)
        logger.info("wrote %s", output_path)
        return result
    finally:
        logger.removeHandler(log_handler)
        log_handler.close()
        torch.set_num_threads(threads_before)


def _leading(per_trajectory) -> float:
    return math.nan if per_trajectory is None else float(per_trajectory.mean(dim=0)[0])


def train_from_config_file(path: str | os.PathLike, run_dir: str | os.PathLike,
                           output_path: str | os.PathLike, *, progress=None):
    """``train_run`` with the config read from a YAML/JSON file (the ``rnn-lyapunov train`` command)."""
    return train_run(load_run_config(path), run_dir, output_path, progress=progress)
