"""Checks of a filled run config that need the registries: what a job would otherwise refuse late.

``check_runnable(config)`` runs inside ``validate_run_config``, so the workflow's planning
(``snakemake -n``), ``rnn-lyapunov train``, a search's trials and ``train_run`` itself refuse the
same configs with the same messages: an architecture's own options, ``spectrum.n_exponents`` above
the spectrum's dimension, ``init: uniform`` without ``init_scale``, and a run too large for this
machine's memory, estimated before anything is allocated, and a ``flossing`` section the
Flosser would refuse (a NaN target, too many exponents, sequences no longer than their warm-up or
longer than the dataset's, an architecture whose step autograd cannot differentiate).
The recurrent core is built on PyTorch's ``meta`` device for this: its parameters have shapes but
no storage, so the check is exact for options and sizes and costs no memory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from rnn_lyapunov.errors import InputError

# Adam keeps two moments per parameter beside the parameter and its gradient.
COPIES_PER_PARAMETER = 4
# The engine holds the frame, its factorization's work tensors and the next frame.
FRAME_COPIES = 3


def physical_memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(size: float) -> str:
    return f"{size / 2**30:,.1f} GiB"


def _core_on_meta(config: dict):
    """The run's recurrent core with shapes but no storage; InputError for a bad option."""
    import torch

    from rnn_lyapunov.architectures.registry import architecture_options, get_architecture

    architecture = get_architecture(config["architecture"])
    options = dict(config["architecture_options"])
    allowed = architecture_options(architecture)
    unknown = [] if allowed is None else sorted(set(options) - set(allowed))
    if unknown:
        listed = ", ".join(f"{option}: {default!r}" for option, default in allowed.items()) or "none"
        raise InputError(f"config key architecture_options has unknown option(s) {', '.join(unknown)} for "
                         f"architecture {config['architecture']!r}; its options (with defaults): {listed}.")
    try:
        with torch.device("meta"):
            # input_size does not change the state, and the core's own checks run in its constructor.
            return architecture(1, config["hidden_size"], num_layers=config["num_layers"], bias=config["bias"],
                                **options)
    except InputError as error:
        raise InputError(f"config key architecture_options: {error}") from None
    except TypeError as error:
        raise InputError(f"config key architecture_options = {options!r} is not accepted by architecture "
                         f"{config['architecture']!r}: {error}. See `rnn-lyapunov architectures` for its options.") from None


def check_runnable(config: dict, memory_limit: int | None = None, *, gpu_requested: bool = False) -> None:
    """Refuse a filled run config that its job would refuse or could not hold in memory.

    ``memory_limit`` (bytes) defaults to the machine's physical memory. The estimate counts the
    core's parameters (with gradient and optimizer state) and the spectrum's frame
    (``spectrum.trajectories`` x dimension x ``n_exponents`` in float64); it is a lower bound,
    so a config it refuses can never run here. ``gpu_requested``: the job will ask its scheduler for
    a GPU (``resources.train.gpu``), so ``device: cuda`` is not refused where no GPU is seen now.
    """
    from rnn_lyapunov.architectures.hidden_only import tangent_size

    if config["init"] == "uniform" and config["init_scale"] is None:
        raise InputError("config key init = 'uniform' needs init_scale (the p of U[-p, p], e.g. init_scale: 0.5); "
                         "or choose init: default.")
    check_dataset(config)
    check_device(config["device"], gpu_requested=gpu_requested)
    limit = physical_memory_bytes() if memory_limit is None else memory_limit
    check_epochs(config, limit)
    spectrum = config["spectrum"]
    parameters = _parameter_count(config)
    bytes_per_value = 8 if spectrum["dtype"] == "float64" else 4
    if limit is not None and parameters * bytes_per_value * COPIES_PER_PARAMETER > limit:
        raise InputError(
            f"config keys hidden_size = {config['hidden_size']}, num_layers = {config['num_layers']}: the core has "
            f"{parameters:,} parameters, about {_gib(parameters * bytes_per_value * COPIES_PER_PARAMETER)} with "
            f"gradients and optimizer state, more than this machine's {_gib(limit)}; choose a smaller network.")
    dimension = tangent_size(_core_on_meta(config), spectrum["lstm_state"])
    n_exponents = spectrum["n_exponents"]
    if n_exponents is not None and n_exponents > dimension:
        raise InputError(
            f"config key spectrum.n_exponents = {n_exponents} is more than the spectrum has: the "
            f"{config['architecture']} core with hidden_size {config['hidden_size']} and num_layers "
            f"{config['num_layers']} has {dimension} exponents; allowed: 1 to {dimension}, or null for all.")
    check_flossing(config["flossing"], dimension, config["architecture"])
    if flossing_enabled(config["flossing"]):
        check_flossable(config)
    check_clv_settings(spectrum, time_steps=spectrum["steps"], state_size=dimension)
    frame = spectrum["trajectories"] * dimension * (n_exponents or dimension) * 8 * FRAME_COPIES
    if limit is not None and frame > limit:
        raise InputError(
            f"config keys spectrum.trajectories = {spectrum['trajectories']}, spectrum.n_exponents = {n_exponents}: "
            f"the spectrum's frame needs about {_gib(frame)}, more than this machine's {_gib(limit)}; measure fewer "
            "exponents or fewer trajectories.")


def _parameter_count(config: dict) -> int:
    """Parameters of the run's core, counted on the meta device (no memory is allocated)."""
    return sum(parameter.numel() for parameter in _core_on_meta(config).parameters())


def check_device(device: str, *, gpu_requested: bool = False) -> None:
    """Refuse ``device: cuda`` on a machine without a GPU, unless the job will be given one.

    A SLURM workflow is planned on a login node that has no GPU; there the job's own
    ``resolve_device`` refuses it, in the job, if the scheduler gave it none.
    """
    if not device.startswith("cuda") or gpu_requested:
        return
    import torch

    if not torch.cuda.is_available():
        raise InputError(f"config key device = {device!r}, but no CUDA GPU is visible on this machine; set "
                         "device: auto (the GPU when there is one) or device: cpu, or, for a workflow whose jobs "
                         "run on GPU nodes, request one with resources.train.gpu: 1.")


def check_epochs(config: dict, limit: int | None) -> None:
    """Refuse more epochs than the run's record can hold: each epoch keeps three metrics and each
    spectrum epoch ``spectrum.trajectories`` x ``n_exponents`` float64 exponents, in memory and in
    the per-run file."""
    epochs, spectrum = config["epochs"], config["spectrum"]
    n_spectra = epochs + 1 if spectrum["epochs"] == "all" else len({0, *spectrum["epochs"]})
    per_spectrum = spectrum["trajectories"] * (spectrum["n_exponents"] or config["hidden_size"]) * 8
    record = (epochs + 1) * 3 * 8 + n_spectra * per_spectrum
    if limit is not None and record > limit:
        raise InputError(
            f"config key epochs = {epochs:,} (spectrum.epochs = {spectrum['epochs']!r}): the run's record of metrics "
            f"and spectra needs about {_gib(record)}, more than this machine's {_gib(limit)}; train fewer epochs or "
            "list the spectrum epochs (spectrum.epochs: [0, 10, 100]).")


def check_dataset(config: dict) -> None:
    """Refuse bad ``dataset_options`` values and more spectrum trajectories than the validation
    set holds, from the dataset's resolved options, without building the data."""
    from rnn_lyapunov.datasets import get_dataset_builder

    builder = get_dataset_builder(config["dataset"])
    try:
        resolved = builder.check_options(config["dataset_options"])
    except InputError as error:
        raise InputError(f"config key dataset_options: {error}") from None
    shape = builder.validation_shape(_prepared_options(config) or resolved)
    if shape is None:
        return
    n_validation, length = shape
    flossing = config["flossing"]
    # Every dataset whose shape is known without its data has training sequences as long as these.
    if flossing_enabled(flossing) and flossing["steps"] > length:
        raise InputError(f"config key flossing.steps = {flossing['steps']} is longer than the sequences of dataset "
                         f"{config['dataset']!r} ({length} steps with these options), from which its windows are "
                         f"cut; allowed: flossing.warmup_steps + 1 to {length}, or longer dataset sequences.")
    spectrum = config["spectrum"]
    steps, trajectories = spectrum["steps"], spectrum["trajectories"]
    per_trajectory = 1 if steps is None else math.ceil(steps / length)
    if trajectories * per_trajectory > n_validation:
        fits = n_validation // per_trajectory
        how = (f"at most {fits} trajectories of {steps or length} steps fit" if fits else
               f"not one trajectory of {steps} steps fits; lower spectrum.steps to at most {n_validation * length}")
        raise InputError(
            f"config keys spectrum.trajectories = {trajectories}, spectrum.steps = {steps}: they need "
            f"{trajectories * per_trajectory} validation sequences of length {length}, but dataset "
            f"{config['dataset']!r} has {n_validation} with these options; {how}, or enlarge its validation set.")


def _prepared_options(config: dict) -> dict | None:
    """The options ``data_dir`` was prepared with (its metadata.json), or None where it is not prepared yet."""
    import json

    if config["data_dir"] is None:
        return None
    try:
        description = json.loads((Path(config["data_dir"]) / "metadata.json").read_text(encoding="utf-8"))
        return dict(description["metadata"]["options"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def flossing_enabled(flossing: dict) -> bool:
    """Whether a filled ``flossing`` section makes any update (before or during training)."""
    return flossing["before_training"] > 0 or (flossing["every_epochs"] > 0 and flossing["updates_per_episode"] > 0)


def check_flossing(flossing: dict, dimension: int, architecture: str) -> None:
    """Refuse a ``flossing`` section the Flosser would refuse mid-run; ``dimension``: the tangent
    dimension of the core (the number of exponents it has)."""
    import math

    n_exponents, target = flossing["n_exponents"], flossing["target"]
    values = target if isinstance(target, list) else [target]
    if not all(math.isfinite(value) for value in values):
        raise InputError(f"config key flossing.target = {target!r} is not finite; allowed: a finite number of nats "
                         "per step (e.g. 0.0), or a list of flossing.n_exponents finite numbers.")
    if n_exponents > dimension:
        raise InputError(f"config key flossing.n_exponents = {n_exponents} is more than the {architecture} core has: "
                         f"its tangent dimension is {dimension}; allowed: 1 to {dimension}.")
    if isinstance(target, list) and len(target) not in (1, n_exponents):
        raise InputError(f"config key flossing.target lists {len(target)} exponents but flossing.n_exponents = "
                         f"{n_exponents}; allowed: one number, or a list of {n_exponents} numbers.")
    if flossing["steps"] <= flossing["warmup_steps"]:
        raise InputError(f"config key flossing.steps = {flossing['steps']} is not longer than flossing.warmup_steps = "
                         f"{flossing['warmup_steps']}; allowed: steps > warmup_steps (no step would be averaged).")


# (architecture class, options, sizes, lstm_state) -> the reason it cannot be flossed, or None:
# a sweep's runs share one core, so it is probed once.
_FLOSSABLE: dict = {}


def check_flossable(config: dict) -> None:
    """Refuse flossing a core that autograd cannot differentiate, before any job runs.

    The core is built on the CPU at the run's size (in a forked RNG, so no random stream moves) and
    two steps of its exponents are taken on the tape; the verdict is the Flosser's own rule
    (``rnn_lyapunov.engine.differentiable.not_differentiable``), so planning and the first flossing
    update refuse the same architectures. An InputError names the keys, the values and the fix.
    """
    import json

    import torch

    from rnn_lyapunov.architectures.registry import get_architecture
    from rnn_lyapunov.architectures.hidden_only import spectrum_system
    from rnn_lyapunov.engine.differentiable import differentiable_exponents, not_differentiable

    architecture = get_architecture(config["architecture"])
    options = config["architecture_options"]
    key = (architecture, json.dumps(options, sort_keys=True, default=repr), config["hidden_size"],
           config["num_layers"], config["bias"], config["spectrum"]["lstm_state"])
    if key not in _FLOSSABLE:
        with torch.random.fork_rng(devices=[]):
            core = architecture(1, config["hidden_size"], num_layers=config["num_layers"], bias=config["bias"],
                                **options)
            dtype = next(core.parameters(), torch.zeros(())).dtype
            exponents = differentiable_exponents(spectrum_system(core, config["spectrum"]["lstm_state"]),
                                                 torch.zeros(1, 2, 1, dtype=dtype), n_exponents=1)
        _FLOSSABLE[key] = not_differentiable(exponents)
    if _FLOSSABLE[key]:
        flossing = config["flossing"]
        raise InputError(
            f"config key architecture = {config['architecture']!r} cannot be flossed, but the flossing section asks "
            f"for updates (flossing.before_training = {flossing['before_training']}, flossing.every_epochs = "
            f"{flossing['every_epochs']}, flossing.updates_per_episode = {flossing['updates_per_episode']}): "
            f"{_FLOSSABLE[key]}. Allowed: an architecture whose step autograd can differentiate (every one "
            "shipped here: rnn, lstm, gru, cornn, lru, selective_ssm), or no flossing "
            "(flossing.before_training: 0 and flossing.updates_per_episode: 0).")


def check_clv_settings(spectrum: dict, *, time_steps: int | None, state_size: int) -> None:
    """InputError naming the config keys when ``spectrum.clv_angles`` cannot run; ``time_steps`` None
    (``spectrum.steps: null``, the sequences' own length, unknown when planning) skips the length check."""
    if not spectrum["clv_angles"]:
        return
    vectors, transient = spectrum["clv_vectors"], spectrum["warmup_steps"]
    if vectors > state_size:
        raise InputError(f"config key spectrum.clv_vectors is {vectors} but the dynamics have {state_size} dimensions; "
                         f"set it to at most {state_size}.")
    if transient < 1:
        raise InputError("config key spectrum.clv_angles needs spectrum.warmup_steps >= 1: it is the forward warm-up and "
                         "the backward transient of the CLVs (without them the vectors are not covariant); set it to "
                         "a few tens of steps.")
    if time_steps is not None and time_steps <= 2 * transient:
        raise InputError(f"config key spectrum.clv_angles needs more than 2 x spectrum.warmup_steps = {2 * transient} "
                         f"steps (CLVs exist between the two transients) but the spectrum inputs have {time_steps}; "
                         "raise spectrum.steps or lower spectrum.warmup_steps.")
