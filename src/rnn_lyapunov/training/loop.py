"""One reproducible training run that measures the Lyapunov spectrum as the network learns.

``train_run(config, run_dir, output_path)`` trains ``create_model(...)`` on a registered dataset
and, at initialisation (epoch 0) and after the chosen epochs, computes the spectrum of the
recurrent core driven by a fixed set of validation sequences (Vogt et al. 2022). After every
epoch it writes ``run_dir/checkpoint.pt`` atomically; started again with the same config it
resumes there and ends bitwise identical (on the CPU) to a run that was never interrupted. The
result is the per-run NetCDF file described in docs/design.md.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from rnn_lyapunov.errors import InputError, NonFiniteStateError
from rnn_lyapunov.config.run_config import load_run_config, validate_run_config
from rnn_lyapunov.io.run_file import run_dataset

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train.log"
CHECKPOINT_FORMAT = 1
EVALUATION_BATCH_SIZE = 512
# Keys that may change between a run and its resumption: extending a run is allowed.
RESUMABLE_KEYS = ("epochs",)


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


def spectrum_inputs(dataset, trajectories: int, steps: int | None) -> torch.Tensor:
    """The fixed inputs driving every spectrum of a run: float32 (trajectories, steps, input_size).

    Trajectory ``i`` reads validation sequence ``i``; when ``steps`` exceeds the sequence length
    it reads ``k = ceil(steps / length)`` consecutive sequences ``i*k .. i*k+k-1`` joined in time
    (for ``char_text`` that is contiguous text). ``steps=None`` means one sequence.
    """
    validation = dataset.validation
    length = validation.sequence_length
    per_trajectory = 1 if steps is None else math.ceil(steps / length)
    needed = trajectories * per_trajectory
    if needed > len(validation):
        raise InputError(
            f"config keys spectrum.trajectories x spectrum.steps need {needed} validation sequences of "
            f"length {length} but {dataset.name!r} has {len(validation)}; lower them (at most "
            f"{len(validation) // per_trajectory} trajectories of {steps} steps).")
    sequences = dataset.encode_inputs(validation.inputs[:needed])
    joined = sequences.reshape(trajectories, per_trajectory * length, dataset.input_size)
    return joined[:, : (length if steps is None else steps)].contiguous()


def compute_spectrum(core, inputs: torch.Tensor, spectrum_config: dict, logger=None):
    """Spectrum of a copy of ``core`` on ``inputs`` in the configured dtype; None if it diverged.

    The copy (``copy.deepcopy(core)``, cast to float64 if asked) keeps the training parameters and
    their gradients untouched.
    """
    from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum

    dtype = torch.float64 if spectrum_config["dtype"] == "float64" else torch.float32
    system = copy.deepcopy(core).to(dtype).requires_grad_(False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = lyapunov_spectrum(
                system, inputs.to(dtype), n_exponents=spectrum_config["n_exponents"],
                warmup_steps=spectrum_config["warmup_steps"],
                reorthonormalize_every=spectrum_config["reorthonormalize_every"],
                record_every=spectrum_config["record_every"])
        except NonFiniteStateError as error:
            if logger is not None:
                logger.warning("spectrum not computed, recording NaN: %s", error)
            result = None
    for warning in caught:
        if logger is not None:
            logger.warning("while computing the spectrum: %s", warning.message)
    return result


def _loss_terms(outputs, targets, task):
    """(summed loss, number of correct predictions or None, number of loss terms) for one batch."""
    functional = torch.nn.functional
    if task == "next_token":
        logits, labels = outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1)
    elif task == "classification_last_step":
        logits, labels = outputs[:, -1], targets
    else:
        predictions = outputs[:, -1]
        return functional.mse_loss(predictions, targets, reduction="sum"), None, targets.numel()
    loss = functional.cross_entropy(logits, labels, reduction="sum")
    return loss, (logits.argmax(dim=-1) == labels).sum(), labels.numel()


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
        loss, correct, terms = _loss_terms(outputs, data.targets[start:start + EVALUATION_BATCH_SIZE].to(device),
                                           dataset.task)
        loss_sum += float(loss)
        correct_sum += 0 if correct is None else int(correct)
        count += terms
    model.train(was_training)
    accuracy = math.nan if dataset.task == "regression_last_step" else correct_sum / count
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
        loss, _, terms = _loss_terms(outputs, train.targets[batch].to(device), dataset.task)
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


def _rng_states(generator) -> dict:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]),
        "python": random.getstate(),
        "shuffle": generator.get_state(),
    }


def _restore_rng_states(states: dict, generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(states["python"])
    generator.set_state(states["shuffle"])


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
        **config["architecture_options"])


def _make_optimizer(config, parameters):
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(parameters, lr=config["learning_rate"], momentum=config["momentum"])
    return torch.optim.Adam(parameters, lr=config["learning_rate"])


def _resumable_part(config: dict) -> dict:
    return {key: value for key, value in config.items() if key not in RESUMABLE_KEYS}


def _load_checkpoint(path: Path, config: dict):
    # Loaded to the CPU: RNG states must be CPU tensors; load_state_dict moves weights to the model's device.
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path} was written by an incompatible version; delete it to start the run afresh.")
    saved = _resumable_part(checkpoint["config"])
    differing = sorted(key for key in set(saved) | set(_resumable_part(config)) if saved.get(key) != config.get(key))
    if differing:
        raise InputError(
            f"{path} belongs to a run with a different config (keys {', '.join(differing)} differ); "
            "use a new run directory, or delete the checkpoint to start over. Only 'epochs' may change on resume.")
    if checkpoint["epoch"] > config["epochs"]:
        raise InputError(f"{path} is at epoch {checkpoint['epoch']}, beyond epochs = {config['epochs']}; "
                         "raise epochs or use a new run directory.")
    return checkpoint


def _open_log(run_dir: Path, run_id: str) -> tuple[logging.Logger, logging.Handler]:
    """The run's logger, appending to ``run_dir/train.log`` (a resumed run continues the same log)."""
    logger = logging.getLogger(f"rnn_lyapunov.training.loop.{run_id}")
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(run_dir / LOG_FILE, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger, handler


def train_run(config: dict, run_dir: str | os.PathLike, output_path: str | os.PathLike, *, progress=None):
    """Train one network, measuring its Lyapunov spectrum, and write the per-run NetCDF file.

    Args:
        config: a run config (see ``run_config.DEFAULTS``); validated and completed here.
        run_dir: directory for ``checkpoint.pt`` and ``train.log`` (created if needed). If it
            holds a checkpoint of the same config, the run resumes after that epoch.
        output_path: the per-run NetCDF file (written atomically at the end).
        progress: show a progress bar per epoch; None (default) shows it when stderr is a terminal.

    Returns:
        The ``xarray.Dataset`` written to ``output_path`` (variables listed in docs/design.md;
        exponents in nats per time step, sorted in descending order).
    """
    from rnn_lyapunov.devices import resolve_device
    from rnn_lyapunov.io.storage import save_torch_atomic, write_netcdf_atomic

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
        if spectrum_config["warmup_steps"] >= fixed_inputs.shape[1]:
            raise InputError(f"config key spectrum.warmup_steps = {spectrum_config['warmup_steps']} is not allowed; "
                             f"allowed: fewer than the {fixed_inputs.shape[1]} spectrum steps.")
        generator = _seed_everything(config["seed"])
        model = build_model(config, dataset).to(device)
        state_size = int(model.system().state_size)
        if (spectrum_config["n_exponents"] or 0) > state_size:
            raise InputError(f"config key spectrum.n_exponents = {spectrum_config['n_exponents']} is not allowed; "
                             f"allowed: at most the state size of this model, {state_size} (or null for all).")
        optimizer = _make_optimizer(config, model.parameters())
        spectrum_epochs = set(range(config["epochs"] + 1)) if spectrum_config["epochs"] == "all" \
            else {0, *spectrum_config["epochs"]}
        checkpoint_path = run_dir / CHECKPOINT_FILE
        if checkpoint_path.is_file():
            checkpoint = _load_checkpoint(checkpoint_path, config)
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            _restore_rng_states(checkpoint["rng"], generator)
            state = {key: checkpoint[key] for key in ("epoch", "metrics", "spectra", "running_estimate")}
            logger.info("resuming run %s after epoch %d", config["run_id"], state["epoch"])
        else:
            logger.info("starting run %s on %s with config %s", config["run_id"], device, config)
            state = {"epoch": -1, "metrics": {"train_loss": [], "val_loss": [], "val_accuracy": []},
                     "spectra": {}, "running_estimate": None}
        show = sys.stderr.isatty() if progress is None else bool(progress)
        n_batches = math.ceil(len(dataset.train) / config["batch_size"])
        for epoch in range(state["epoch"] + 1, config["epochs"] + 1):
            if epoch == 0:
                train_loss = math.nan
            else:
                with tqdm(total=n_batches, desc=f"{config['run_id']} epoch {epoch}/{config['epochs']}",
                          unit="batch", disable=not show, leave=False) as bar:
                    train_loss = train_one_epoch(model, optimizer, dataset, config, generator, device, bar)
            val_loss, val_accuracy = evaluate(model, dataset, "validation", device)
            for key, value in zip(state["metrics"], (train_loss, val_loss, val_accuracy)):
                state["metrics"][key].append(value)
            if epoch in spectrum_epochs:
                result = compute_spectrum(model.system(), fixed_inputs, spectrum_config, logger)
                state["spectra"][epoch] = None if result is None else result.per_trajectory
                if result is not None and result.history is not None:
                    state["running_estimate"] = {"epoch": epoch, "history": result.history,
                                                 "steps": result.history_steps}
            logger.info("epoch %d: train_loss %.6g val_loss %.6g val_accuracy %.4g%s", epoch, train_loss,
                        val_loss, val_accuracy, "" if epoch not in spectrum_epochs else
                        f" lambda_1 {_leading(state['spectra'][epoch]):.6g}")
            state["epoch"] = epoch
            save_torch_atomic({"format": CHECKPOINT_FORMAT, "config": config, "model": model.state_dict(),
                               "optimizer": optimizer.state_dict(), "rng": _rng_states(generator), **state},
                              checkpoint_path)
        result = run_dataset(config, state, state_size=state_size, task=dataset.task,
                             device=str(device), n_exponents=spectrum_config["n_exponents"])
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
